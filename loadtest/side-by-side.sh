#!/usr/bin/env bash
# Side by side: layercache against CNCF Distribution (Debian's docker-registry), with nginx serving
# the same files as the ceiling for downloads and small requests; then layercache's gRPC API, the
# machine's own ceilings measured in the same run (one core's SHA-256 rate, Java's and openssl's;
# the disk's durable write rate), small requests with wrk and hey against nginx, start-up on a
# large store, and the server's resident memory while it moves big blobs and serves requests.
# Every issue-24 target is a ratio against a ceiling measured in this one run; `compare` judges them.
# Regenerates BENCHMARKS.md between its side-by-side markers and loadtest/results/side-by-side.json.
#
#   ./mvnw -B -DskipTests package        # this script builds nothing: it runs the two jars
#   loadtest/side-by-side.sh             # about 16 minutes here with the defaults below
#
# Settings (environment):
#   ROUNDS=5          interleaved rounds measured per workload (after a warm-up run per target)
#   BIG_MIB=1024      blob size of the upload, download and gRPC blob throughput figures
#   MEMORY_MIB=4096   blob size of the memory phase (0 skips it): a fresh node takes one blob of
#                     this size over OCI and one over gRPC and serves each back while wrk asks it
#                     for a manifest, VmRSS sampled
#   DURATION=4        seconds per round of a request workload; WARMUP=3 seconds of warm-up
#   WRK_THREADS=2 WRK_CONNECTIONS=32  wrk's threads and connections (hey: the same connections),
#                     the same for layercache and nginx
#   LC_JAVA_OPTS=     JVM options of the layercache node (none: the JVM's defaults, as the tables say)
#   LC_ARGS=          extra server arguments of every node (none); on a disk with less than 10% free
#                     beyond what the run needs, LC_ARGS='--min-free-disk 0' (else the node evicts)
#   MEMORY_JAVA_OPTS= JVM options of the memory phase's node: none by default, the README's plain
#                     `java -jar` (issue 24: under 512 MiB without asking the user for JVM flags)
#   CONTAINER_IMAGE=  an image of the server (deploy/Dockerfile) to measure under CONTAINER_MEMORY_MIB=1024
#                     in the memory phase, when a docker daemon answers; otherwise the row says why not
#   STARTUP_BLOBS=1000000 STARTUP_ROOTS=100000  size of the start-up phase's synthetic store (0 skips)
#   STARTUP_STORE=/var/tmp/layercache-startup-stores  where that store is written once and kept (about
#                     13 minutes and 4 GiB for a million blobs here); each run starts a node on a copy
#   STARTUP_PROBE=3   seconds after ready that a blob whose file was removed is still probed (HEAD)
#   SMALL_BLOBS_BASELINE=934  blobs/s the small-blobs target is 3x of; SMALL_BLOBS_BASELINE_SOURCE says where
#                     it comes from (the issue's side-by-side figure; BENCHMARKS.md published 731)
#   PROFILE=0         1: async-profiler (ASYNC_PROFILER_LIB) attached to the node for each phase,
#                     flame graphs in PROFILE_DIR=loadtest/results/profiles/side-by-side-PHASE.html
#   OUT_MD=BENCHMARKS.md  OUT_JSON=loadtest/results/side-by-side.json
#
# Needs: java, jcmd (PROFILE=1), curl, jq, openssl, docker-registry (apt-get install docker-registry),
# nginx, wrk and hey (apt-get install wrk hey), and free disk for every uploaded blob (checked
# before anything starts). Every server listens on 127.0.0.1 with its data in one temporary
# folder; all of it is stopped and removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
BIG_MIB=${BIG_MIB:-1024}
MEMORY_MIB=${MEMORY_MIB:-4096}
DURATION=${DURATION:-4}
WARMUP=${WARMUP:-3}
GRPC_DURATION=${GRPC_DURATION:-5}
GRPC_WARMUP=${GRPC_WARMUP:-10}
START_TIMEOUT=${START_TIMEOUT:-60}      # seconds for each server to answer
PHASE_TIMEOUT=${PHASE_TIMEOUT:-1800}    # seconds for each benchmark command
OUT_MD=${OUT_MD:-BENCHMARKS.md}
OUT_JSON=${OUT_JSON:-loadtest/results/side-by-side.json}
read -r -a lc_java_opts <<< "${LC_JAVA_OPTS:-}"   # JVM options of the layercache node: none by default
read -r -a lc_args <<< "${LC_ARGS:-}"             # extra server arguments of every node: none by default
jvm_options=${LC_JAVA_OPTS:-"none, so the JVM sizes its heap from the machine's RAM"}
MEMORY_JAVA_OPTS=${MEMORY_JAVA_OPTS:-}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
CONTAINER_IMAGE=${CONTAINER_IMAGE:-}
CONTAINER_MEMORY_MIB=${CONTAINER_MEMORY_MIB:-1024}
STARTUP_BLOBS=${STARTUP_BLOBS:-1000000}
STARTUP_ROOTS=${STARTUP_ROOTS:-100000}
STARTUP_PROBE=${STARTUP_PROBE:-3}
STARTUP_STORE=${STARTUP_STORE:-/var/tmp/layercache-startup-stores}
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-300}  # seconds for the start-up phase's node to be ready
SMALL_BLOBS_BASELINE=${SMALL_BLOBS_BASELINE:-934}
SMALL_BLOBS_BASELINE_SOURCE=${SMALL_BLOBS_BASELINE_SOURCE:-"issue 24's side-by-side run before the work (BENCHMARKS.md had published 731)"}
PROFILE=${PROFILE:-0}
ASYNC_PROFILER_LIB=${ASYNC_PROFILER_LIB:-/var/tmp/i24/ap/libasyncProfiler.so}
PROFILE_DIR=${PROFILE_DIR:-loadtest/results/profiles}

SERVER_JAR=server/target/layercache-server.jar
LOADTEST_JAR=loadtest/target/layercache-loadtest.jar

BENCH=side-by-side
. loadtest/bench-lib.sh

# ------------------------------------------------------------------ tools
for tool in java curl jq openssl docker-registry nginx wrk hey timeout awk sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (java: a JDK 17; the others: apt-get install docker-registry nginx wrk hey)"
done
if [ "$PROFILE" = 1 ]; then
  command -v jcmd >/dev/null 2>&1 || die "PROFILE=1 needs jcmd (a JDK)"
  [ -f "$ASYNC_PROFILER_LIB" ] || die "PROFILE=1: no async-profiler at ASYNC_PROFILER_LIB=$ASYNC_PROFILER_LIB"
  mkdir -p "$PROFILE_DIR"
  PROFILE_DIR=$(cd "$PROFILE_DIR" && pwd)   # the agent writes from the server's working directory
fi
for jar in "$SERVER_JAR" "$LOADTEST_JAR"; do
  [ -f "$jar" ] || die "$jar is missing: run ./mvnw -B -DskipTests package first"
done
grep -q -- '<!-- side-by-side:begin -->' "$OUT_MD" || die "$OUT_MD has no <!-- side-by-side:begin --> marker"

# ------------------------------------------------------------------ disk
# Nothing is deleted while a phase runs: every uploaded blob stays on disk until the end.
small_up=$(( BIG_MIB < 256 ? BIG_MIB : 256 ))
main_mib=$(( 2 * (2 * ROUNDS * BIG_MIB + 2 * small_up + BIG_MIB) + (ROUNDS + 1) * BIG_MIB + 2 * BIG_MIB ))
memory_mib=$(( MEMORY_MIB > 0 ? 4 * MEMORY_MIB : 0 ))
startup_mib=$(( STARTUP_BLOBS * 5 / 1024 ))   # one 4 KiB block per synthetic blob, and metadata, kept
[ -e "${STARTUP_STORE:-/var/tmp/layercache-startup-stores}/$STARTUP_BLOBS-$STARTUP_ROOTS/.complete" ] && startup_mib=0
need_mib=$(( (main_mib > memory_mib ? main_mib : memory_mib) + startup_mib + 2048 ))
work_parent=${TMPDIR:-/tmp}
free_mib=$(df -Pm "$work_parent" | awk 'NR == 2 {print $4}')
[ "$free_mib" -ge "$need_mib" ] || die "needs about $((need_mib / 1024)) GiB free in $work_parent, has $((free_mib / 1024)) GiB: lower ROUNDS, BIG_MIB or MEMORY_MIB"
# A node keeps min-free-disk (10% of its file system by default) free by evicting: on a fuller
# disk it would drop the blobs the benchmark just pushed, and every later step would fail on it.
if [[ " ${LC_ARGS:-} " != *" --min-free-disk "* ]]; then
  fs_mib=$(df -Pm "$work_parent" | awk 'NR == 2 {print $2}')
  [ "$free_mib" -ge $(( need_mib + fs_mib / 10 )) ] || die "needs about $((need_mib / 1024)) GiB free in $work_parent beyond the node's min-free-disk (10% of the file system, $((fs_mib / 10240)) GiB), has $((free_mib / 1024)) GiB: free some, or LC_ARGS='--min-free-disk 0'"
fi

# ------------------------------------------------------------------ clean-up
make_work "$work_parent" side-by-side
chmod 755 "$work"   # nginx's workers (nobody) read the files it serves

commands=()
# Records a command for the report, the temporary folder written as $WORK.
record() {
  local c
  c=$(printf '%q ' "$@"); c=${c% }; c=${c//\\,/,}
  commands+=("${c//$work/\$WORK}")
}
# Runs a benchmark command under the phase timeout, recorded.
run() {
  record "$@"
  timeout --kill-after=10 "$PHASE_TIMEOUT" "$@"
}


start_layercache() { # name -> sets lc_pid lc_http lc_grpc
  free_port lc_http; free_port lc_grpc
  local cmd=(java "${lc_java_opts[@]}" -jar "$SERVER_JAR" --bind-address 127.0.0.1 --http-port "$lc_http"
             --grpc-port "$lc_grpc" --data-dir "$work/$1" "${lc_args[@]}")
  record "${cmd[@]}"
  "${cmd[@]}" > "$work/$1.log" 2>&1 &
  lc_pid=$!; pids+=("$lc_pid")
  wait_for "http://127.0.0.1:$lc_http/v2/" "$lc_pid" "layercache ($1)" "$work/$1.log"
}

# Peak VmRSS (KiB) of a process, sampled every 0.1 s without forking, into a file, until it exits
# or the file's sibling .stop appears.
sample_rss() { # pid file
  local peak=0 key value _ fd
  exec {fd}<> <(:)
  while [ -r "/proc/$1/status" ] && [ ! -e "$2.stop" ]; do
    while read -r key value _; do
      if [ "$key" = "VmRSS:" ]; then
        if [ "$value" -gt "$peak" ]; then peak=$value; echo "$peak" > "$2"; fi
        break
      fi
    done < "/proc/$1/status" || true
    read -r -t 0.1 -u "$fd" _ || true
  done
}
vm_hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# ------------------------------------------------------------------ small requests with wrk and hey
. loadtest/side-by-side-lib.sh

started=$SECONDS
load_start=$(cut -d' ' -f1 /proc/loadavg)
date_utc=$(date -u '+%Y-%m-%d %H:%M UTC')
log "work folder $work; ROUNDS=$ROUNDS BIG_MIB=$BIG_MIB MEMORY_MIB=$MEMORY_MIB (about $((need_mib / 1024)) GiB of disk)"

# ------------------------------------------------------------------ the files nginx serves
mkdir -p "$work/www"
head -c $((BIG_MIB << 20)) /dev/urandom > "$work/www/blob"
head -c 4096 /dev/urandom > "$work/www/small"
sync "$work/www/blob"   # no write-back of it during the measurements
chmod 755 "$work/www"; chmod 644 "$work/www/blob" "$work/www/small"

# ------------------------------------------------------------------ servers
start_layercache lc
log "layercache pid $lc_pid, HTTP $lc_http, gRPC $lc_grpc"

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
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$dist_port
EOF
commands+=("docker-registry serve \$WORK/distribution.yml   # filesystem storage, inmemory blob descriptor cache, no access log")
docker-registry serve "$work/distribution.yml" > "$work/distribution.log" 2>&1 &
dist_pid=$!; pids+=("$dist_pid")
wait_for "http://127.0.0.1:$dist_port/v2/" "$dist_pid" "Distribution" "$work/distribution.log"
log "Distribution pid $dist_pid, port $dist_port"

commands+=("nginx -p \$WORK/nginx -c \$WORK/nginx/nginx.conf -e \$WORK/nginx/logs/error.log   # daemon off; worker_processes auto; sendfile on; tcp_nopush on; access_log off; root \$WORK/www")
start_nginx # bench-lib.sh
log "nginx pid $nginx_pid, port $nginx_port"

# The Java ceilings next to nginx and the OCI download: bare Netty answering every request as
# layercache answers a 4 KiB blob's HEAD (with layercache's 4 event loops per core, and with 1),
# and bare grpc-java streaming from memory as ReadBlob streams a blob (HttpFloorServer,
# GrpcFloorServer). Each is what our code would reach if it cost nothing.
start_floor() { # name port-variable command... -> sets floor_pid
  local name=$1 port_var=$2; shift 2
  free_port "$port_var"
  local cmd=(java -jar "$LOADTEST_JAR" "$@" --port "${!port_var}")
  record "${cmd[@]}"
  "${cmd[@]}" > "$work/$name.log" 2>&1 &
  floor_pid=$!; pids+=("$floor_pid")
  local deadline=$((SECONDS + START_TIMEOUT))
  until grep -q "listening" "$work/$name.log"; do
    kill -0 "$floor_pid" 2>/dev/null || { tail -20 "$work/$name.log" >&2; die "$name exited while starting"; }
    [ "$SECONDS" -lt "$deadline" ] || die "$name did not start within ${START_TIMEOUT}s"
    sleep 0.2
  done
}
start_floor http-floor netty_port http-floor-server; netty_pid=$floor_pid
start_floor http-floor-1 netty1_port http-floor-server --loops-per-core 1; netty1_pid=$floor_pid
start_floor grpc-floor grpc_floor_port grpc-floor-server; grpc_floor_pid=$floor_pid
log "floors: Netty pids $netty_pid (port $netty_port), $netty1_pid (port $netty1_port); grpc-java pid $grpc_floor_pid (port $grpc_floor_port)"

sample_rss "$lc_pid" "$work/rss-main" &
pids+=($!)

# ------------------------------------------------------------------ OCI, interleaved
log "http: layercache, Distribution and nginx, $ROUNDS rounds"
prof_start "$lc_pid"
run java -jar "$LOADTEST_JAR" http \
    --target "layercache=http://127.0.0.1:$lc_http" --target "distribution=http://127.0.0.1:$dist_port" \
    --static "nginx=http://127.0.0.1:$nginx_port" --server-pid "$lc_pid,$dist_pid,$nginx_pid" \
    --rounds "$ROUNDS" --duration "$DURATION" --warmup "$WARMUP" --blob-mib "$BIG_MIB" \
    --download-file "$work/www/blob" --static-download /blob --static-small /small \
    --json "$work/http.json" > "$work/http.md"
prof_stop "$lc_pid" http

# ------------------------------------------------------------------ small requests: wrk and hey
# The same tool, threads and connections for layercache and nginx's 4 KiB file: GET with wrk,
# HEAD with hey (wrk waits for a body after HEAD). Rounds interleaved, the order reversed every
# other round, after a warm-up of each.
log "small requests: wrk (GET) and hey (HEAD) against layercache and nginx, $ROUNDS rounds"
lc_url="http://127.0.0.1:$lc_http"
push_image "$lc_url" bench/wrk "$work/wrk" 50
nginx_small="http://127.0.0.1:$nginx_port/small"
small_workloads=(
  "get-manifest layercache wrk $lc_url/v2/bench/wrk/manifests/t1 $lc_pid -s $work/wrk/accept.lua"
  "tags-list layercache wrk $lc_url/v2/bench/wrk/tags/list $lc_pid"
  "head-blob layercache hey $lc_url/v2/bench/wrk/blobs/$small_layer $lc_pid"
  "static-get nginx wrk $nginx_small $nginx_pid"
  "static-head nginx hey $nginx_small $nginx_pid"
  "head-floor netty hey http://127.0.0.1:$netty_port/v2/bench/wrk/blobs/$small_layer $netty_pid"
  "head-floor-1 netty hey http://127.0.0.1:$netty1_port/v2/bench/wrk/blobs/$small_layer $netty1_pid")
record wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${DURATION}s" --latency -s "$work/wrk/accept.lua" "$lc_url/v2/bench/wrk/manifests/t1"
record wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${DURATION}s" --latency "$lc_url/v2/bench/wrk/tags/list"
record wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${DURATION}s" --latency "$nginx_small"
record hey -z "${DURATION}s" -c "$WRK_CONNECTIONS" -m HEAD -disable-compression "$lc_url/v2/bench/wrk/blobs/$small_layer"
record hey -z "${DURATION}s" -c "$WRK_CONNECTIONS" -m HEAD -disable-compression "$nginx_small"
record hey -z "${DURATION}s" -c "$WRK_CONNECTIONS" -m HEAD -disable-compression "http://127.0.0.1:$netty_port/v2/bench/wrk/blobs/$small_layer"
record hey -z "${DURATION}s" -c "$WRK_CONNECTIONS" -m HEAD -disable-compression "http://127.0.0.1:$netty1_port/v2/bench/wrk/blobs/$small_layer"
prof_start "$lc_pid"
saved_duration=$DURATION
DURATION=$WARMUP
for w in "${small_workloads[@]}"; do
  read -r -a a <<< "$w"
  small_round 0 "${a[@]}"
done
DURATION=$saved_duration
: > "$work/small-rounds.jsonl"   # the warm-up is not reported
for round in $(seq 1 "$ROUNDS"); do
  order=("${small_workloads[@]}")
  if [ $((round % 2)) = 0 ]; then
    order=(); for ((i = ${#small_workloads[@]} - 1; i >= 0; i--)); do order+=("${small_workloads[i]}"); done
  fi
  for w in "${order[@]}"; do
    read -r -a a <<< "$w"
    small_round "$round" "${a[@]}"
  done
done
prof_stop "$lc_pid" small-requests
jq -s --argjson rounds "$ROUNDS" --argjson duration "$DURATION" --argjson threads "$WRK_THREADS" \
  --argjson connections "$WRK_CONNECTIONS" --arg wrk "$(wrk -v 2>&1 | awk 'NR == 1 {print $2}')" \
  --arg hey "$(dpkg-query -W -f '${Version}' hey 2>/dev/null || echo unknown)" \
  '{settings: {rounds: $rounds, duration_s: $duration, threads: $threads, connections: $connections,
               wrk: $wrk, hey: $hey}, rounds: .}' "$work/small-rounds.jsonl" > "$work/small.json"

# ------------------------------------------------------------------ gRPC
log "grpc: layercache"
prof_start "$lc_pid"
run java -jar "$LOADTEST_JAR" grpc --target "127.0.0.1:$lc_grpc" --http "http://127.0.0.1:$lc_http" \
    --server-pid "$lc_pid" --concurrency 32 --duration "$GRPC_DURATION" --warmup "$GRPC_WARMUP" \
    --rounds "$ROUNDS" --blob-mib "$BIG_MIB" --floor "127.0.0.1:$grpc_floor_port" \
    --json "$work/grpc.json" > "$work/grpc.md"
prof_stop "$lc_pid" grpc

touch "$work/rss-main.stop"
main_rss_kib=$(cat "$work/rss-main" 2>/dev/null || echo 0)
main_hwm_kib=$(vm_hwm "$lc_pid")

log "openssl speed sha256"
commands+=("openssl speed -bytes 1048576 -seconds 3 sha256")
openssl_sha=$(openssl speed -bytes 1048576 -seconds 3 sha256 2>/dev/null \
  | awk '$1 == "sha256" {v = $NF; sub(/k$/, "", v); printf "%.1f", v / 1000}')

log "floor: loopback TCP into SHA-256, then also written to a file and fsynced (direct, then page cache)"
run java -jar "$LOADTEST_JAR" floor --dir "$work" --mib "$BIG_MIB" --rounds "$ROUNDS" \
    --json "$work/floor.json" > /dev/null
floor_json=$(jq --argjson rounds "$ROUNDS" '.rows[0] + {rounds: $rounds}' "$work/floor.json")
durable_floor_json=$(jq --argjson rounds "$ROUNDS" '.rows[1] + {rounds: $rounds}' "$work/floor.json")
durable_page_cache_json=$(jq --argjson rounds "$ROUNDS" '.rows[2] + {rounds: $rounds}' "$work/floor.json")

log "disk floor: direct writes then fsync, in the data directory's file system"
run java -jar "$LOADTEST_JAR" disk-floor --dir "$work" --mib "$BIG_MIB" --rounds "$ROUNDS" \
    --json "$work/disk-floor.json" > /dev/null
disk_floor_json=$(jq --argjson rounds "$ROUNDS" '.rows[0] + {rounds: $rounds}' "$work/disk-floor.json")

# The main phase's servers and data go before the memory phase needs the disk.
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
rm -rf "$work/lc" "$work/distribution"

# ------------------------------------------------------------------ memory
memory_json='{}'
if [ "$MEMORY_MIB" -gt 0 ]; then
  log "memory: a fresh node (JVM options: ${MEMORY_JAVA_OPTS:-none}) moves ${MEMORY_MIB} MiB blobs both ways while wrk asks it for a manifest"
  read -r -a lc_java_opts <<< "$MEMORY_JAVA_OPTS"
  jvm_options=${MEMORY_JAVA_OPTS:-"none: the README's plain \`java -jar\`, the JVM sizing its heap from the machine's RAM"}
  start_layercache mem
  sample_rss "$lc_pid" "$work/rss-mem" &
  pids+=($!)
  push_image "http://127.0.0.1:$lc_http" bench/wrk "$work/mem-wrk" 1
  small_requests_loop "$work/mem-small" "http://127.0.0.1:$lc_http/v2/bench/wrk/manifests/t1" "$work/mem-wrk/accept.lua" &
  small_loop_pid=$!; pids+=("$small_loop_pid")
  record wrk -t1 -c8 -d2s -s "$work/mem-wrk/accept.lua" "http://127.0.0.1:$lc_http/v2/bench/wrk/manifests/t1"
  prof_start "$lc_pid"
  run java -jar "$LOADTEST_JAR" http --target "layercache=http://127.0.0.1:$lc_http" --server-pid "$lc_pid" \
      --workloads download --download-seconds 0 --rounds 1 --blob-mib "$MEMORY_MIB" --work-dir "$work" \
      --json "$work/memory-http.json" > /dev/null
  run java -jar "$LOADTEST_JAR" grpc --target "127.0.0.1:$lc_grpc" --http "http://127.0.0.1:$lc_http" \
      --server-pid "$lc_pid" --duration 1 --warmup 1 --keys 100 --rounds 1 --blob-mib "$MEMORY_MIB" \
      --json "$work/memory-grpc.json" > /dev/null
  prof_stop "$lc_pid" memory
  touch "$work/rss-mem.stop" "$work/mem-small.stop"
  wait "$small_loop_pid" 2>/dev/null || true
  mem_rss_kib=$(cat "$work/rss-mem" 2>/dev/null || echo 0)
  mem_hwm_kib=$(vm_hwm "$lc_pid")
  # requests, seconds, non-2xx of every wrk run during the transfers
  small_during=$(awk '{r += $1; s += $2; b += $3} END {printf "{\"requests\": %d, \"seconds\": %.1f, \"non_2xx\": %d}", r, s, b}' "$work/mem-small")
  memory_json=$(jq -n --argjson mib "$MEMORY_MIB" --argjson rss "$mem_rss_kib" --argjson hwm "$mem_hwm_kib" \
    --argjson mrss "$main_rss_kib" --argjson mhwm "$main_hwm_kib" --argjson small "$small_during" \
    --arg jvm "${MEMORY_JAVA_OPTS:-}" \
    --arg note "A fresh node (JVM options: $jvm_options) took a blob of ${MEMORY_MIB} MiB over OCI (\`POST\`, one \`PUT\` with the body) and served it twice (\`GET\`), then took two more over gRPC (\`WriteBlob\`) and served one of them twice (\`ReadBlob\`) and once over OCI (curl), while wrk (1 thread, 8 connections) asked it for a manifest by tag throughout; VmRSS sampled every 0.1 s from /proc, VmHWM read at the end." \
    '{big_mib: $mib, jvm_options: $jvm, rss_peak_MiB: ($rss / 1024), hwm_MiB: ($hwm / 1024),
      main_rss_peak_MiB: ($mrss / 1024), main_hwm_MiB: ($mhwm / 1024), small_requests_during: $small, note: $note}')
  kill "$lc_pid" 2>/dev/null || true; wait "$lc_pid" 2>/dev/null || true
  rm -rf "$work/mem"
else
  memory_json=$(jq -n --argjson mrss "$main_rss_kib" --argjson mhwm "$main_hwm_kib" \
    '{main_rss_peak_MiB: ($mrss / 1024), main_hwm_MiB: ($mhwm / 1024)}')
fi

# The container image under its memory limit: only where a docker daemon answers and an image is named.
if ! docker info > /dev/null 2>&1; then
  container_json='{"not_measured": "no docker daemon"}'
elif [ -z "$CONTAINER_IMAGE" ]; then
  container_json='{"not_measured": "CONTAINER_IMAGE not set (an image built from deploy/Dockerfile)"}'
elif [ "$MEMORY_MIB" -le 0 ]; then
  container_json='{"not_measured": "MEMORY_MIB=0"}'
else
  log "memory: the image $CONTAINER_IMAGE under --memory ${CONTAINER_MEMORY_MIB}m moves ${MEMORY_MIB} MiB blobs both ways"
  free_port c_http; free_port c_grpc
  cname="side-by-side-$$"
  record docker run -d --name "$cname" --network host --memory "${CONTAINER_MEMORY_MIB}m" \
    -e LAYERCACHE_BIND_ADDRESS=127.0.0.1 -e LAYERCACHE_HTTP_PORT="$c_http" -e LAYERCACHE_GRPC_PORT="$c_grpc" "$CONTAINER_IMAGE"
  docker run -d --name "$cname" --network host --memory "${CONTAINER_MEMORY_MIB}m" \
    -e LAYERCACHE_BIND_ADDRESS=127.0.0.1 -e LAYERCACHE_HTTP_PORT="$c_http" -e LAYERCACHE_GRPC_PORT="$c_grpc" \
    "$CONTAINER_IMAGE" > /dev/null
  c_pid=$(docker inspect -f '{{.State.Pid}}' "$cname")
  wait_for "http://127.0.0.1:$c_http/v2/" "$c_pid" "the container" /dev/null
  sample_rss "$c_pid" "$work/rss-container" &
  c_sampler=$!
  run java -jar "$LOADTEST_JAR" http --target "container=http://127.0.0.1:$c_http" --server-pid "$c_pid" \
      --workloads download --download-seconds 0 --rounds 1 --blob-mib "$MEMORY_MIB" --work-dir "$work" \
      --json "$work/container-http.json" > /dev/null || true
  run java -jar "$LOADTEST_JAR" grpc --target "127.0.0.1:$c_grpc" --http "http://127.0.0.1:$c_http" \
      --server-pid "$c_pid" --duration 1 --warmup 1 --keys 100 --rounds 1 --blob-mib "$MEMORY_MIB" \
      --json "$work/container-grpc.json" > /dev/null || true
  touch "$work/rss-container.stop"; wait "$c_sampler" 2>/dev/null || true
  c_oom=$(docker inspect -f '{{.State.OOMKilled}}' "$cname")
  c_hwm_kib=$(vm_hwm "$c_pid" 2>/dev/null || echo 0)
  docker rm -f "$cname" > /dev/null 2>&1 || true
  container_json=$(jq -n --arg image "$CONTAINER_IMAGE" --argjson limit "$CONTAINER_MEMORY_MIB" \
    --argjson rss "$(cat "$work/rss-container" 2>/dev/null || echo 0)" --argjson hwm "${c_hwm_kib:-0}" \
    --argjson oom "$c_oom" \
    '{image: $image, limit_MiB: $limit, rss_peak_MiB: ($rss / 1024), hwm_MiB: ($hwm / 1024), oom_killed: $oom}')
fi
memory_json=$(jq --argjson c "$container_json" '. + {container: $c}' <<< "$memory_json")

# ------------------------------------------------------------------ start-up at scale
# A store written straight into a data folder (pushing a million blobs would take an hour of
# fsyncs); then seconds from the process's start to /readyz 2xx, while a blob whose file was
# removed before the start is asked for again and again: it must never be a 200.
startup_json='{}'
if [ "$STARTUP_BLOBS" -gt 0 ]; then
  # Writing a million small files takes minutes (13 here under load): the store is written once
  # into STARTUP_STORE and each run starts on a copy, its blob files hard-linked (the node may
  # delete files; it never writes into a committed blob) and its metadata copied.
  store="$STARTUP_STORE/$STARTUP_BLOBS-$STARTUP_ROOTS"
  synthetic_ms=null
  if [ ! -e "$store/.complete" ]; then
    log "start-up: writing $STARTUP_BLOBS blobs and $STARTUP_ROOTS roots into $store (SyntheticStore, once)"
    rm -rf "$store.partial"; mkdir -p "$STARTUP_STORE"
    t0=$(date +%s%N)
    run java -cp "$SERVER_JAR" dev.layercache.server.tools.SyntheticStore "$store.partial" "$STARTUP_BLOBS" "$STARTUP_ROOTS" > /dev/null
    synthetic_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "$synthetic_ms" > "$store.partial/.complete"
    rm -rf "$store"; mv "$store.partial" "$store"
  else
    log "start-up: reusing $store"
  fi
  t0=$(date +%s%N)
  mkdir "$work/big"
  for f in "$store"/*; do
    if [ "$(basename "$f")" = blobs ]; then cp -al "$f" "$work/big/"; else cp -a "$f" "$work/big/"; fi
  done
  copy_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  written_ms=$(cat "$store/.complete")
  # SyntheticStore's blob i is "synthetic blob i" and 200 spaces, linked in bench/r(i % 100).
  gone=$(printf 'synthetic blob 0%200s' '' | sha256sum | cut -d' ' -f1)
  kept=$(printf 'synthetic blob 1%200s' '' | sha256sum | cut -d' ' -f1)
  rm "$work/big/blobs/sha256/${gone:0:2}/$gone"   # a link: the kept store still has it
  free_port lc_http; free_port lc_grpc
  cmd=(java -jar "$SERVER_JAR" --bind-address 127.0.0.1 --http-port "$lc_http" --grpc-port "$lc_grpc" --data-dir "$work/big"
       "${lc_args[@]}")
  record "${cmd[@]}"
  t0=$(date +%s%N)
  "${cmd[@]}" > "$work/big.log" 2>&1 &
  lc_pid=$!; pids+=("$lc_pid")
  prof_start "$lc_pid" 2>/dev/null || true   # too early for jcmd now and then: the start is measured regardless
  ready_ms=""; ready_deadline=$((SECONDS + STARTUP_TIMEOUT)); probe_until=""
  gone_statuses=""; gone_200=0; probes=0
  while [ "$SECONDS" -lt "$ready_deadline" ]; do
    kill -0 "$lc_pid" 2>/dev/null || { tail -20 "$work/big.log" >&2; die "the start-up node exited"; }
    code=$(curl -s -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$lc_http/v2/bench/r0/blobs/sha256:$gone" || true)
    probes=$((probes + 1))
    [ "$code" = 200 ] && gone_200=$((gone_200 + 1))
    case " $gone_statuses " in *" $code "*) ;; *) gone_statuses="$gone_statuses $code" ;; esac
    if [ -z "$ready_ms" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$lc_http/readyz" || true)" = 200 ]; then
      ready_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
      probe_until=$((SECONDS + STARTUP_PROBE))
    fi
    [ -n "$probe_until" ] && [ "$SECONDS" -ge "$probe_until" ] && break
    sleep 0.05
  done
  [ -n "$ready_ms" ] || log "start-up: not ready within ${STARTUP_TIMEOUT}s"
  kept_code=$(curl -s -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$lc_http/v2/bench/r1/blobs/sha256:$kept" || true)
  gone_code=$(curl -s -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$lc_http/v2/bench/r0/blobs/sha256:$gone" || true)
  prof_stop "$lc_pid" startup
  startup_json=$(jq -n --argjson blobs "$STARTUP_BLOBS" --argjson roots "$STARTUP_ROOTS" \
    --argjson synthetic "$synthetic_ms" --argjson written "$written_ms" --argjson copy "$copy_ms" --argjson ready "${ready_ms:-null}" --argjson timeout "$STARTUP_TIMEOUT" \
    --arg statuses "${gone_statuses# }" --argjson gone200 "$gone_200" --argjson probes "$probes" \
    --argjson kept "$kept_code" --argjson gone_after "$gone_code" --argjson probe "$STARTUP_PROBE" \
    '{blobs: $blobs, roots: $roots, synthetic_store_s: ($written / 1000),
      synthetic_store_this_run: ($synthetic != null), copy_s: ($copy / 1000),
      ready_s: (if $ready == null then null else $ready / 1000 end), timeout_s: $timeout,
      removed_blob: {probes: $probes, statuses: ($statuses | split(" ")), ok_answers: $gone200,
                     status_at_end: $gone_after, probed_after_ready_s: $probe},
      present_blob_status: $kept}')
  kill "$lc_pid" 2>/dev/null || true; wait "$lc_pid" 2>/dev/null || true
  rm -rf "$work/big"
fi

# ------------------------------------------------------------------ the tables
java_version=$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
os_name=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}")
record java -jar "$LOADTEST_JAR" compare --http "$work/http.json" --grpc "$work/grpc.json" --small "$work/small.json" \
    --facts "$work/facts.json" --update "$OUT_MD" --json "$OUT_JSON"
jq -n \
  --arg date "$date_utc" \
  --argjson nproc "$(nproc)" \
  --arg cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
  --arg ram "$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)" \
  --arg kernel "$(uname -r)" --arg os "$os_name" --arg java "$java_version" \
  --arg distribution "$(docker-registry --version | awk '{print $NF}')" \
  --arg nginx "$(nginx -v 2>&1 | sed 's|.*nginx/||')" \
  --arg load "$load_start at the start, $(cut -d' ' -f1 /proc/loadavg) at the end" \
  --argjson openssl "${openssl_sha:-null}" \
  --argjson memory "$memory_json" \
  --argjson startup "$startup_json" \
  --argjson small_blobs_baseline "$(jq -n --argjson v "$SMALL_BLOBS_BASELINE" --arg s "$SMALL_BLOBS_BASELINE_SOURCE" '{blobs_per_s: $v, source: $s}')" \
  --argjson floor "${floor_json:-null}" \
  --argjson disk_floor "${disk_floor_json:-null}" \
  --argjson durable_floor "${durable_floor_json:-null}" \
  --argjson durable_page_cache "${durable_page_cache_json:-null}" \
  --argjson run_seconds "$((SECONDS - started))" \
  --argjson rounds "$ROUNDS" --argjson big "$BIG_MIB" \
  '{date: $date, run_seconds: $run_seconds,
    machine: {nproc: $nproc, cpu: $cpu, ram: $ram, kernel: $kernel, os: $os, java: $java,
              distribution: $distribution, nginx: $nginx, load: $load},
    settings: {rounds: $rounds, big_mib: $big},
    sha256_openssl_MB_per_s: $openssl, loopback_floor: $floor, disk_floor: $disk_floor,
    durable_floor: $durable_floor, durable_floor_page_cache: $durable_page_cache,
    memory: $memory, startup: $startup, small_blobs_baseline: $small_blobs_baseline,
    commands: $ARGS.positional}' \
  --args "${commands[@]}" > "$work/facts.json"

mkdir -p "$(dirname "$OUT_JSON")"
java -jar "$LOADTEST_JAR" compare --http "$work/http.json" --grpc "$work/grpc.json" --small "$work/small.json" \
    --facts "$work/facts.json" --update "$OUT_MD" --json "$OUT_JSON"
log "done in $((SECONDS - started)) s: $OUT_MD and $OUT_JSON"
