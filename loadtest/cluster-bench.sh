#!/usr/bin/env bash
# One node against a cluster: a standalone layercache node (embedded storage) next to NODES nodes
# sharing one bucket on an S3-compatible server, all on this machine, measured by the `cluster`
# subcommand in one run: the gRPC fleet workload against one node and against the NODES nodes
# behind the client library's round robin; a blob read from the bucket against the same read from
# a node's disk (the hot tier); a push to a cluster node (write-through) against the same push to
# the standalone node; and the bucket requests per build, counted by the nodes and by the server.
#
#   ./mvnw -B -DskipTests package && loadtest/cluster-bench.sh
#
# On 127.0.0.1, ports chosen free, everything in one temporary folder under /var/tmp: the S3
# server (`s3-server`: s3proxy 4.1.0 on its filesystem store, the server the server's tests use,
# run as a process of its own with its request counters on), the standalone node and the cluster
# nodes, each with its own data folder. The S3 server's own speed and CPU are part of every
# cluster figure.
#
# Settings (environment): NODES=3 ROUNDS=3 FLEET_SECONDS=30 FLEET_WARMUP=5 BUILDERS=8 PROJECTS=8
# STEPS=6 SIZES=4k,1m,16m,64m REPEATS=2 IDLE_SECONDS=10; SERVER_JAVA_OPTS (JVM options of every
# node, default -Xmx512m), S3_JAVA_OPTS (-Xmx512m); CLUSTER_ARGS (more `cluster` options);
# OUT_JSON=loadtest/results/cluster.json, OUT_MD (also write the tables there); START_TIMEOUT=90.
# Needs java and curl. With the defaults a run took 7 minutes here.
# Every process it starts is stopped and the folder removed on exit, also after an error or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

NODES=${NODES:-3}
ROUNDS=${ROUNDS:-3}
FLEET_SECONDS=${FLEET_SECONDS:-30}
FLEET_WARMUP=${FLEET_WARMUP:-5}
BUILDERS=${BUILDERS:-8}
PROJECTS=${PROJECTS:-8}
STEPS=${STEPS:-6}
SIZES=${SIZES:-4k,1m,16m,64m}
REPEATS=${REPEATS:-2}
IDLE_SECONDS=${IDLE_SECONDS:-10}
OUT_JSON=${OUT_JSON:-loadtest/results/cluster.json}
OUT_MD=${OUT_MD:-}
START_TIMEOUT=${START_TIMEOUT:-90}
SERVER_JAR=server/target/layercache-server.jar
LOADTEST_JAR=loadtest/target/layercache-loadtest.jar

BENCH=cluster-bench
. loadtest/bench-lib.sh
for tool in java curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing"
done
for jar in "$SERVER_JAR" "$LOADTEST_JAR"; do
  [ -f "$jar" ] || die "$jar is missing: run ./mvnw -B -DskipTests package first (this script builds nothing)"
done

make_work /var/tmp layercache-cluster-bench

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), load average $load_start; commit $commit"

# The bucket's server. Its credentials are the benchmark's own (BucketServer), on 127.0.0.1 only.
free_port s3_port; free_port s3_metrics
read -r -a s3_opts <<< "${S3_JAVA_OPTS:--Xmx512m}"
java "${s3_opts[@]}" -jar "$LOADTEST_JAR" s3-server --dir "$work/bucket" --port "$s3_port" \
     --metrics-port "$s3_metrics" > "$work/s3.log" 2>&1 &
s3_pid=$!; pids+=("$s3_pid")
wait_for "http://127.0.0.1:$s3_metrics/metrics" "$s3_pid" "the S3 server" "$work/s3.log"

read -r -a java_opts <<< "${SERVER_JAVA_OPTS:--Xmx512m}"
start_node() { # name, then extra server options; sets node_pid, node_http, node_grpc
  local name=$1; shift
  free_port node_http; free_port node_grpc
  AWS_ACCESS_KEY_ID=layercache-bench AWS_SECRET_ACCESS_KEY=layercache-bench-secret AWS_REGION=us-east-1 \
    java "${java_opts[@]}" -jar "$SERVER_JAR" --bind-address 127.0.0.1 --http-port "$node_http" \
         --grpc-port "$node_grpc" --data-dir "$work/$name" "$@" > "$work/$name.log" 2>&1 &
  node_pid=$!; pids+=("$node_pid")
}

# All nodes start at once (each takes some seconds), then each is waited for.
start_node single
single_pid=$node_pid; single_http=$node_http; single_grpc=$node_grpc
node_urls=(); node_grpcs=(); node_pids=()
for i in $(seq 1 "$NODES"); do
  start_node "node$i" --s3-bucket layercache-bench --s3-endpoint "http://127.0.0.1:$s3_port" \
      --s3-region us-east-1 --s3-path-style true
  node_urls+=("http://127.0.0.1:$node_http"); node_grpcs+=("127.0.0.1:$node_grpc"); node_pids+=("$node_pid")
done
wait_for "http://127.0.0.1:$single_http/readyz" "$single_pid" "the standalone node" "$work/single.log"
for i in $(seq 1 "$NODES"); do
  wait_for "${node_urls[$((i - 1))]}/readyz" "${node_pids[$((i - 1))]}" "node $i" "$work/node$i.log"
done
log "S3 server pid $s3_pid port $s3_port; standalone node pid $single_pid; cluster nodes pids ${node_pids[*]}"

join() { local IFS=,; echo "$*"; }
mkdir -p "$(dirname "$OUT_JSON")"
read -r -a extra <<< "${CLUSTER_ARGS:-}"
status=0
java -jar "$LOADTEST_JAR" cluster \
     --single "http://127.0.0.1:$single_http" --single-grpc "127.0.0.1:$single_grpc" --single-pid "$single_pid" \
     --nodes "$(join "${node_urls[@]}")" --nodes-grpc "$(join "${node_grpcs[@]}")" --node-pids "$(join "${node_pids[@]}")" \
     --s3-metrics "http://127.0.0.1:$s3_metrics/metrics" --s3-pid "$s3_pid" \
     --rounds "$ROUNDS" --fleet-seconds "$FLEET_SECONDS" --fleet-warmup "$FLEET_WARMUP" --builders "$BUILDERS" \
     --projects "$PROJECTS" --steps "$STEPS" --sizes "$SIZES" --repeats "$REPEATS" --idle-seconds "$IDLE_SECONDS" \
     --context "commit $commit; $(nproc) cores; load average $load_start at the start" \
     --json "$OUT_JSON" "${extra[@]}" > "$work/cluster.md" || status=$?
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
{
  echo "Measured at commit $commit on $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo);"
  echo "load average $load_start at the start, $load_end at the end."
  echo
  cat "$work/cluster.md"
} > "$work/tables.md"
cat "$work/tables.md"
if [ -n "$OUT_MD" ]; then cp "$work/tables.md" "$OUT_MD"; fi
log "load average at the end: $load_end"
for f in "$work"/single.log "$work"/node*.log; do
  if grep -q WARN "$f"; then
    log "warnings of $(basename "$f" .log):"; grep WARN "$f" | head -10 >&2
  fi
done
exit "$status"
