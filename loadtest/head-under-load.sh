#!/usr/bin/env bash
# A blob's HEAD on a quiet server and while other clients move big blobs through the same server:
# what a pusher's existence check costs when the node is busy, the usual state of a CI fleet's
# cache. side-by-side.sh measures the quiet rate against nginx; this adds the busy one, where the
# event loops' layout (concurrent/Transport: 4 per core) is what decides (BENCHMARKS.md, "HEAD
# while blobs move").
#
# Targets, each started fresh on 127.0.0.1 with its data in one temporary folder:
#   layercache  the node of AFTER_JAR (default: this checkout's server/target/layercache-server.jar)
#   before      with BEFORE_JAR set, a node of that jar (another build, or the same with other
#               settings: AFTER_ARGS and BEFORE_ARGS are more flags for each node) beside it
#   nginx       a 4 KiB file and the big blob as static files (worker_processes auto, sendfile on,
#               as in side-by-side.sh); left out with NGINX=0, and with UPLOADERS > 0 (it takes no
#               uploads)
# Each round measures every target in turn (the order reversed every other round): hey's HEAD of a
# 4 KiB blob with CONNS connections for DURATION seconds on the quiet target, then again while
# DOWNLOADERS clients fetch the BLOB_MIB MiB blob again and again and UPLOADERS clients upload it
# again and again (monolithic PUT; the node hashes, writes and fsyncs each copy, then drops it as
# a blob it has). Output: a Markdown table per target and mode, median and range over the rounds.
#
#   ./mvnw -B -DskipTests package && loadtest/head-under-load.sh
#   BEFORE_JAR=/path/to/other/layercache-server.jar UPLOADERS=2 loadtest/head-under-load.sh
#   BEFORE_JAR=server/target/layercache-server.jar BEFORE_ARGS="--event-loops 2" loadtest/head-under-load.sh
#
# Settings (environment): ROUNDS=3 DURATION=5 CONNS=8 DOWNLOADERS=2 UPLOADERS=0 BLOB_MIB=1024
# NGINX=1 AFTER_JAR BEFORE_JAR AFTER_ARGS BEFORE_ARGS WORK_PARENT=/var/tmp. Needs hey, curl, nginx (unless left out) and
# about BLOB_MIB x (2 + nodes) MiB of disk under WORK_PARENT. Every process it starts is stopped
# and the folder removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH=head-under-load
START_TIMEOUT=60
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-8}
DOWNLOADERS=${DOWNLOADERS:-2}
UPLOADERS=${UPLOADERS:-0}
BLOB_MIB=${BLOB_MIB:-1024}
AFTER_JAR=${AFTER_JAR:-server/target/layercache-server.jar}
. loadtest/bench-lib.sh

for tool in hey curl sha256sum java; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
with_nginx=$([ "${NGINX:-1}" = 1 ] && [ "$UPLOADERS" -eq 0 ] && echo 1 || echo 0)
[ "$with_nginx" = 0 ] || command -v nginx >/dev/null || die "nginx is not installed (NGINX=0 leaves it out)"
for jar in "$AFTER_JAR" ${BEFORE_JAR:+"$BEFORE_JAR"}; do
  [ -f "$jar" ] || die "$jar is missing: run ./mvnw -B -DskipTests package first (this script builds nothing)"
done

make_work "${WORK_PARENT:-/var/tmp}" layercache-head-load
log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
head -c 4096 /dev/urandom > "$work/small"
head -c $((BLOB_MIB << 20)) /dev/urandom > "$work/big"
small_digest=sha256:$(sha256sum "$work/small" | cut -d' ' -f1)
big_digest=sha256:$(sha256sum "$work/big" | cut -d' ' -f1)

# upload BASE FILE DIGEST: one monolithic upload (POST, then PUT of the whole body)
upload() {
  local location sep
  location=$(curl -sf -D - -o /dev/null -X POST "$1/blobs/uploads/" \
    | awk -F': ' 'tolower($1)=="location"{print $2}' | tr -d '\r')
  case "$location" in http*) ;; *) location="${1%%/v2/*}$location" ;; esac
  sep='?'; case "$location" in *\?*) sep='&' ;; esac
  curl -sf -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' -T "$2" "$location${sep}digest=$3"
}

targets=()
declare -A head_url big_url base_url
start_node() { # NAME JAR [more flags]
  local name=$1 jar=$2 http grpc pid
  shift 2
  free_port http; free_port grpc
  java -jar "$jar" --bind-address 127.0.0.1 --http-port "$http" --grpc-port "$grpc" \
    --data-dir "$work/$name-data" --min-free-disk 0 "$@" > "$work/$name.log" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_for "http://127.0.0.1:$http/readyz" "$pid" "$name" "$work/$name.log"
  base_url[$name]="http://127.0.0.1:$http/v2/bench/load"
  upload "${base_url[$name]}" "$work/small" "$small_digest" || die "$name refused the small blob"
  upload "${base_url[$name]}" "$work/big" "$big_digest" || die "$name refused the big blob"
  head_url[$name]="${base_url[$name]}/blobs/$small_digest"
  big_url[$name]="${base_url[$name]}/blobs/$big_digest"
  targets+=("$name")
  log "$name: pid $pid, port $http ($jar${1:+ $*})"
}
read -r -a after_args <<< "${AFTER_ARGS:-}"
read -r -a before_args <<< "${BEFORE_ARGS:-}"
start_node layercache "$AFTER_JAR" "${after_args[@]}"
[ -z "${BEFORE_JAR:-}" ] || start_node before "$BEFORE_JAR" "${before_args[@]}"

if [ "$with_nginx" = 1 ]; then
  mkdir -p "$work/www"
  ln "$work/small" "$work/www/small"; ln "$work/big" "$work/www/big"
  chmod 755 "$work" "$work/www"; chmod 644 "$work/small" "$work/big" # nginx's workers (nobody) read them
  start_nginx # bench-lib.sh
  head_url[nginx]="http://127.0.0.1:$nginx_port/small"
  big_url[nginx]="http://127.0.0.1:$nginx_port/big"
  targets+=(nginx)
  log "nginx: port $nginx_port"
fi

# heads URL SECONDS: "rate p50_ms p99_ms" of hey's HEADs
heads() {
  hey -z "${2}s" -c "$CONNS" -m HEAD -disable-compression "$1" | awk '
    /Requests\/sec/ {rate = $2}
    /^ *50% in/ {p50 = $3 * 1000}
    /^ *99% in/ {p99 = $3 * 1000}
    /^ *\[[0-9]+\]/ && $1 !~ /\[200\]/ {bad += $2}
    END {if (bad > 0) {print "hey: " bad " answers were not 200" > "/dev/stderr"; exit 1}; printf "%.0f %.1f %.1f\n", rate, p50, p99}'
}

# busy TARGET SECONDS: hey's HEADs while the movers run; prints "rate p50 p99 down_MB/s up_MB/s"
busy() {
  local target=$1 movers=() down="$work/down.$1" up="$work/up.$1" stop="$work/run.$1" result t0 t1 s
  : > "$down"; : > "$up"; touch "$stop"
  for _ in $(seq 1 "$DOWNLOADERS"); do
    (while [ -f "$stop" ]; do
      curl -sf -o /dev/null -w '%{size_download}\n' "${big_url[$target]}" >> "$down" || true
    done) 2>/dev/null & movers+=($!)
  done
  for _ in $(seq 1 "$UPLOADERS"); do
    (while [ -f "$stop" ]; do
      upload "${base_url[$target]}" "$work/big" "$big_digest" && echo $((BLOB_MIB << 20)) >> "$up" || true
    done) 2>/dev/null & movers+=($!)
  done
  sleep 2 # the transfers under way before the HEADs start
  t0=$(date +%s.%N)
  result=$(heads "${head_url[$target]}" "$2")
  t1=$(date +%s.%N)
  rm -f "$stop"
  for p in "${movers[@]}"; do pkill -P "$p" -x curl 2>/dev/null || true; done
  wait "${movers[@]}" 2>/dev/null || true
  # Whole transfers that ended during the HEADs' time and the 2 s before: a rough rate, for scale.
  s=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a + 2}')
  echo "$result $(awk -v s="$s" '{b += $1} END {printf "%.0f", b / 1e6 / s}' "$down")" \
    "$(awk -v s="$s" '{b += $1} END {printf "%.0f", b / 1e6 / s}' "$up")"
}

declare -A rows
order=("${targets[@]}")
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) -eq 0 ]; then
    reversed=(); for ((i = ${#targets[@]} - 1; i >= 0; i--)); do reversed+=("${targets[$i]}"); done
    order=("${reversed[@]}")
  else
    order=("${targets[@]}")
  fi
  for target in "${order[@]}"; do
    heads "${head_url[$target]}" 2 > /dev/null # warm-up
    quiet=$(heads "${head_url[$target]}" "$DURATION")
    loaded=$(busy "$target" $((DURATION * 2)))
    log "round $round, $target: quiet $quiet | while blobs move $loaded (HEADs/s p50_ms p99_ms [MB/s downloaded, uploaded])"
    rows[$target.quiet]+="$quiet"$'\n'
    rows[$target.loaded]+="$loaded"$'\n'
  done
done

# summary LINES COLUMN: "median (min–max)" of a column
summary() {
  printf '%s' "$1" | awk -v c="$2" 'NF {v[n++] = $c} END {
    for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) {t = v[i]; v[i] = v[j]; v[j] = t}
    printf "%s (%s–%s)", v[int((n - 1) / 2)], v[0], v[n - 1]}'
}
echo "## HEAD of a 4 KiB blob, $CONNS connections (hey), quiet and while blobs move ($DOWNLOADERS clients downloading, $UPLOADERS uploading a $BLOB_MIB MiB blob, again and again)"
echo "median (range) of $ROUNDS rounds; machine: $(nproc) cores"
echo
echo "| target | quiet: HEADs/s | quiet: p99, ms | busy: HEADs/s | busy: p50, ms | busy: p99, ms | busy: downloaded, MB/s | busy: uploaded, MB/s |"
echo "|---|---|---|---|---|---|---|---|"
for target in "${targets[@]}"; do
  q=${rows[$target.quiet]}; l=${rows[$target.loaded]}
  echo "| $target | $(summary "$q" 1) | $(summary "$q" 3) | $(summary "$l" 1) | $(summary "$l" 2) | $(summary "$l" 3) | $(summary "$l" 4) | $(summary "$l" 5) |"
done
log "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
