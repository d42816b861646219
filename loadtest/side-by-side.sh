#!/usr/bin/env bash
# Side by side: layercache against CNCF Distribution (Debian's docker-registry), with nginx serving
# the same files as the ceiling for downloads and small requests; then layercache's gRPC API, the
# machine's single-core SHA-256 rate, and the server's resident memory while it moves big blobs.
# Regenerates BENCHMARKS.md between its side-by-side markers and loadtest/results/side-by-side.json.
#
#   ./mvnw -B -DskipTests package        # this script builds nothing: it runs the two jars
#   loadtest/side-by-side.sh             # 11.5 minutes here with the defaults below
#
# Settings (environment):
#   ROUNDS=5          interleaved rounds measured per workload (after a warm-up run per target)
#   BIG_MIB=1024      blob size of the upload, download and gRPC blob throughput figures
#   MEMORY_MIB=4096   blob size of the memory phase (0 skips it): a fresh node takes one blob of
#                     this size over OCI and one over gRPC and serves each back, VmRSS sampled
#   DURATION=4        seconds per round of a request workload; WARMUP=3 seconds of warm-up
#   LC_JAVA_OPTS=     JVM options of the layercache node (none: the JVM's defaults, as the tables say)
#   MEMORY_JAVA_OPTS=-Xmx256m  JVM options of the memory phase's node: the heap docs/operations.md recommends
#                     for a node (without it the JVM sizes its heap from the machine's RAM, a
#                     quarter of 24 GiB here, and the resident set follows the heap, not the blobs)
#   OUT_MD=BENCHMARKS.md  OUT_JSON=loadtest/results/side-by-side.json
#
# Needs: java, curl, jq, openssl, docker-registry (apt-get install docker-registry), nginx, and
# free disk for every uploaded blob (checked before anything starts). Every server listens on
# 127.0.0.1 with its data in one temporary folder; all of it is stopped and removed on exit.
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
jvm_options=${LC_JAVA_OPTS:-"none, so the JVM sizes its heap from the machine's RAM"}
MEMORY_JAVA_OPTS=${MEMORY_JAVA_OPTS--Xmx256m}

SERVER_JAR=server/target/layercache-server.jar
LOADTEST_JAR=loadtest/target/layercache-loadtest.jar

BENCH=side-by-side
. loadtest/bench-lib.sh

# ------------------------------------------------------------------ tools
for tool in java curl jq openssl docker-registry nginx timeout awk; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (java: a JDK 17; docker-registry and nginx: apt-get install docker-registry nginx)"
done
for jar in "$SERVER_JAR" "$LOADTEST_JAR"; do
  [ -f "$jar" ] || die "$jar is missing: run ./mvnw -B -DskipTests package first"
done
grep -q -- '<!-- side-by-side:begin -->' "$OUT_MD" || die "$OUT_MD has no <!-- side-by-side:begin --> marker"

# ------------------------------------------------------------------ disk
# Nothing is deleted while a phase runs: every uploaded blob stays on disk until the end.
small_up=$(( BIG_MIB < 256 ? BIG_MIB : 256 ))
main_mib=$(( 2 * (2 * ROUNDS * BIG_MIB + 2 * small_up + BIG_MIB) + (ROUNDS + 1) * BIG_MIB + 2 * BIG_MIB ))
memory_mib=$(( MEMORY_MIB > 0 ? 4 * MEMORY_MIB : 0 ))
need_mib=$(( (main_mib > memory_mib ? main_mib : memory_mib) + 2048 ))
work_parent=${TMPDIR:-/tmp}
free_mib=$(df -Pm "$work_parent" | awk 'NR == 2 {print $4}')
[ "$free_mib" -ge "$need_mib" ] || die "needs about $((need_mib / 1024)) GiB free in $work_parent, has $((free_mib / 1024)) GiB: lower ROUNDS, BIG_MIB or MEMORY_MIB"

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
             --grpc-port "$lc_grpc" --data-dir "$work/$1")
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

free_port nginx_port
mkdir -p "$work/nginx/logs" "$work/nginx/tmp"
cat > "$work/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  default_type application/octet-stream;
  client_body_temp_path $work/nginx/tmp/body;
  proxy_temp_path $work/nginx/tmp/proxy;
  fastcgi_temp_path $work/nginx/tmp/fastcgi;
  uwsgi_temp_path $work/nginx/tmp/uwsgi;
  scgi_temp_path $work/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/www;
  }
}
EOF
commands+=("nginx -p \$WORK/nginx -c \$WORK/nginx/nginx.conf -e \$WORK/nginx/logs/error.log   # daemon off; worker_processes auto; sendfile on; tcp_nopush on; access_log off; root \$WORK/www")
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/logs/error.log" > "$work/nginx.log" 2>&1 &
nginx_pid=$!; pids+=("$nginx_pid")
wait_for "http://127.0.0.1:$nginx_port/small" "$nginx_pid" "nginx" "$work/nginx/logs/error.log"
log "nginx pid $nginx_pid, port $nginx_port"

sample_rss "$lc_pid" "$work/rss-main" &
pids+=($!)

# ------------------------------------------------------------------ OCI, interleaved
log "http: layercache, Distribution and nginx, $ROUNDS rounds"
run java -jar "$LOADTEST_JAR" http \
    --target "layercache=http://127.0.0.1:$lc_http" --target "distribution=http://127.0.0.1:$dist_port" \
    --static "nginx=http://127.0.0.1:$nginx_port" --server-pid "$lc_pid,$dist_pid,$nginx_pid" \
    --rounds "$ROUNDS" --duration "$DURATION" --warmup "$WARMUP" --blob-mib "$BIG_MIB" \
    --download-file "$work/www/blob" --static-download /blob --static-small /small \
    --json "$work/http.json" > "$work/http.md"

# ------------------------------------------------------------------ gRPC
log "grpc: layercache"
run java -jar "$LOADTEST_JAR" grpc --target "127.0.0.1:$lc_grpc" --http "http://127.0.0.1:$lc_http" \
    --server-pid "$lc_pid" --concurrency 32 --duration "$GRPC_DURATION" --warmup "$GRPC_WARMUP" \
    --rounds "$ROUNDS" --blob-mib "$BIG_MIB" --json "$work/grpc.json" > "$work/grpc.md"

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
  log "memory: a fresh node moves ${MEMORY_MIB} MiB blobs both ways"
  read -r -a lc_java_opts <<< "$MEMORY_JAVA_OPTS"
  jvm_options=${MEMORY_JAVA_OPTS:-"none, so the JVM sizes its heap from the machine's RAM"}
  start_layercache mem
  sample_rss "$lc_pid" "$work/rss-mem" &
  pids+=($!)
  run java -jar "$LOADTEST_JAR" http --target "layercache=http://127.0.0.1:$lc_http" --server-pid "$lc_pid" \
      --workloads download --download-seconds 0 --rounds 1 --blob-mib "$MEMORY_MIB" --work-dir "$work" \
      --json "$work/memory-http.json" > /dev/null
  run java -jar "$LOADTEST_JAR" grpc --target "127.0.0.1:$lc_grpc" --http "http://127.0.0.1:$lc_http" \
      --server-pid "$lc_pid" --duration 1 --warmup 1 --keys 100 --rounds 1 --blob-mib "$MEMORY_MIB" \
      --json "$work/memory-grpc.json" > /dev/null
  touch "$work/rss-mem.stop"
  mem_rss_kib=$(cat "$work/rss-mem" 2>/dev/null || echo 0)
  mem_hwm_kib=$(vm_hwm "$lc_pid")
  memory_json=$(jq -n --argjson mib "$MEMORY_MIB" --argjson rss "$mem_rss_kib" --argjson hwm "$mem_hwm_kib" \
    --argjson mrss "$main_rss_kib" --argjson mhwm "$main_hwm_kib" \
    --arg note "A fresh node (JVM options: $jvm_options) took a blob of ${MEMORY_MIB} MiB over OCI (\`POST\`, one \`PUT\` with the body) and served it twice (\`GET\`), then took two more over gRPC (\`WriteBlob\`) and served one of them twice (\`ReadBlob\`) and once over OCI (curl); VmRSS sampled every 0.1 s from /proc, VmHWM read at the end." \
    '{big_mib: $mib, rss_peak_MiB: ($rss / 1024), hwm_MiB: ($hwm / 1024), main_rss_peak_MiB: ($mrss / 1024), main_hwm_MiB: ($mhwm / 1024), note: $note}')
else
  memory_json=$(jq -n --argjson mrss "$main_rss_kib" --argjson mhwm "$main_hwm_kib" \
    '{main_rss_peak_MiB: ($mrss / 1024), main_hwm_MiB: ($mhwm / 1024)}')
fi

# ------------------------------------------------------------------ the tables
java_version=$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
os_name=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}")
record java -jar "$LOADTEST_JAR" compare --http "$work/http.json" --grpc "$work/grpc.json" --facts "$work/facts.json" \
    --update "$OUT_MD" --json "$OUT_JSON"
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
    memory: $memory, commands: $ARGS.positional}' \
  --args "${commands[@]}" > "$work/facts.json"

mkdir -p "$(dirname "$OUT_JSON")"
java -jar "$LOADTEST_JAR" compare --http "$work/http.json" --grpc "$work/grpc.json" --facts "$work/facts.json" \
    --update "$OUT_MD" --json "$OUT_JSON"
log "done in $((SECONDS - started)) s: $OUT_MD and $OUT_JSON"
