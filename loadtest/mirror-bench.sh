#!/usr/bin/env bash
# The pull-through mirror against its upstream: an image pulled through a layercache node that
# mirrors CNCF Distribution (Debian's docker-registry), next to the same pull straight from
# Distribution, cold (the node's first sight of the image: fetch, verify, store while serving) and
# warm (from the node's store), one puller and CONCURRENCY at once (the `mirror-pull` subcommand).
#
#   ./mvnw -B -DskipTests package && loadtest/mirror-bench.sh
#
# On 127.0.0.1, ports chosen free, everything in one temporary folder: Distribution (filesystem
# storage, in-memory blob descriptor cache, no access log) and a node started with
# `--mirror bench.test=http://127.0.0.1:PORT`. Each round pushes a new image of LAYERS_MIB random
# layers to Distribution before its clock starts.
#
# Settings (environment): ROUNDS=9 WARMUP=3 CONCURRENCY=8 LAYERS_MIB=2,8,32,64,1;
# SERVER_JAVA_OPTS (JVM options of the node); OUT_JSON=loadtest/results/mirror-pull.json;
# START_TIMEOUT=60. Needs java, curl and docker-registry, and about
# (2 x ROUNDS + WARMUP + 1) x the image's size of disk, twice (upstream and node).
# Every process it starts is stopped and the folder removed on exit, also after an error or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-9}
WARMUP=${WARMUP:-3}
CONCURRENCY=${CONCURRENCY:-8}
LAYERS_MIB=${LAYERS_MIB:-2,8,32,64,1}
OUT_JSON=${OUT_JSON:-loadtest/results/mirror-pull.json}
START_TIMEOUT=${START_TIMEOUT:-60}
SERVER_JAR=server/target/layercache-server.jar
LOADTEST_JAR=loadtest/target/layercache-loadtest.jar

BENCH=mirror-bench
. loadtest/bench-lib.sh
for tool in java curl docker-registry; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (docker-registry: apt-get install docker-registry)"
done
for jar in "$SERVER_JAR" "$LOADTEST_JAR"; do
  [ -f "$jar" ] || die "$jar is missing: run ./mvnw -B -DskipTests package first (this script builds nothing)"
done

make_work /var/tmp layercache-mirror-bench

free_port dist_port
cat > "$work/distribution.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $work/distribution
http:
  addr: 127.0.0.1:$dist_port
EOF
docker-registry serve "$work/distribution.yml" > "$work/distribution.log" 2>&1 &
dist_pid=$!; pids+=("$dist_pid")
wait_for "http://127.0.0.1:$dist_port/v2/" "$dist_pid" "Distribution" "$work/distribution.log"

free_port lc_http; free_port lc_grpc
read -r -a java_opts <<< "${SERVER_JAVA_OPTS:-}"
java "${java_opts[@]}" -jar "$SERVER_JAR" --bind-address 127.0.0.1 --http-port "$lc_http" --grpc-port "$lc_grpc" \
     --data-dir "$work/node" --mirror "bench.test=http://127.0.0.1:$dist_port" > "$work/node.log" 2>&1 &
lc_pid=$!; pids+=("$lc_pid")
wait_for "http://127.0.0.1:$lc_http/healthz" "$lc_pid" "the node" "$work/node.log"

log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
log "Distribution $(docker-registry --version | awk '{print $NF}') pid $dist_pid port $dist_port; node pid $lc_pid port $lc_http"
mkdir -p "$(dirname "$OUT_JSON")"
java -jar "$LOADTEST_JAR" mirror-pull --mirror "http://127.0.0.1:$lc_http" --upstream "http://127.0.0.1:$dist_port" \
     --mirror-name bench.test --mirror-pid "$lc_pid" --upstream-pid "$dist_pid" --layers-mib "$LAYERS_MIB" \
     --rounds "$ROUNDS" --warmup "$WARMUP" --concurrency "$CONCURRENCY" --json "$OUT_JSON"
log "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if grep -q WARN "$work/node.log"; then
  log "the node's warnings:"; grep WARN "$work/node.log" | head -20 >&2
fi
