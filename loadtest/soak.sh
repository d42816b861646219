#!/usr/bin/env bash
# A soak of one node with a small budget: fleets of simulated builders of every protocol at once
# (gRPC, buildah's and BuildKit's use of OCI) for MINUTES minutes, the node read every SAMPLE_EVERY
# seconds: blob bytes against the budget, blobs/ and metadata/ on disk, RSS, open file descriptors,
# threads, evictions and collections, lookup, upload and download p99. Ends with the first and last
# windows of every series, its slope per hour and whether it stayed flat; exits with the soak's code
# (0 all good; 1 a build failed, an answer was unexplainable, nothing was evicted or the blob bytes
# stayed above the budget; 3 a resource grew, judged only for runs of 30 minutes or more).
#
#   ./mvnw -B -DskipTests package && loadtest/soak.sh [MINUTES]      # default 30
#
# It builds nothing: run the package step first. Settings (environment):
#   BUDGET=2GiB LIFECYCLE_INTERVAL=15s GC_GRACE=30s   the node's --max-disk-size, --lifecycle-interval, --gc-grace
#   (about two minutes of the fleets' uploads: roots are evicted all the time, and an evicted root's
#   blobs were last asked for longer ago than the asked grace, so eviction can free them)
#   SERVER_JAVA_OPTS="-Xms256m -Xmx256m -XX:+AlwaysPreTouch"   JVM options of the node: the heap is
#   committed and touched at the start, so that resident memory shows what else grows (RocksDB, direct
#   buffers, code) instead of the garbage collector taking its heap up to the maximum over many minutes
#   SAMPLE_EVERY=10  BUILDERS=2 (per protocol)  SOAK_ARGS=  (more options of `soak`, see its --help)
#   OUT_JSON=loadtest/results/soak.json  OUT_MD=loadtest/results/soak.md
#   START_TIMEOUT=60  seconds for the node to answer
#
# The node listens on 127.0.0.1 on ports free at the start, with its data in a folder under
# /var/tmp; it is stopped and the folder removed on exit, also after an error or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-30}
BUDGET=${BUDGET:-2GiB}
LIFECYCLE_INTERVAL=${LIFECYCLE_INTERVAL:-15s}
GC_GRACE=${GC_GRACE:-30s}
SAMPLE_EVERY=${SAMPLE_EVERY:-10}
BUILDERS=${BUILDERS:-2}
START_TIMEOUT=${START_TIMEOUT:-60}
OUT_JSON=${OUT_JSON:-loadtest/results/soak.json}
OUT_MD=${OUT_MD:-loadtest/results/soak.md}
read -r -a server_java_opts <<< "${SERVER_JAVA_OPTS--Xms256m -Xmx256m -XX:+AlwaysPreTouch}"
read -r -a soak_args <<< "${SOAK_ARGS:-}"

SERVER_JAR=server/target/layercache-server.jar
LOADTEST_JAR=loadtest/target/layercache-loadtest.jar

BENCH=soak
. loadtest/bench-lib.sh # log, die, free_port (its cleanup is replaced below: one node, its own folder)

[[ "$minutes" =~ ^[0-9]+$ ]] && [ "$minutes" -ge 1 ] || die "MINUTES must be a whole number of minutes, not '$minutes'"
for tool in java curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing"
done
for jar in "$SERVER_JAR" "$LOADTEST_JAR"; do
  [ -f "$jar" ] || die "$jar is missing: run ./mvnw -B -DskipTests package first (this script builds nothing)"
done

work=$(mktemp -d /var/tmp/layercache-soak.XXXXXX)
pid=""
cleanup() {
  local status=$?
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port http_port; free_port grpc_port
log "node: budget $BUDGET, lifecycle every $LIFECYCLE_INTERVAL, gc grace $GC_GRACE, JVM ${server_java_opts[*]:-defaults}; HTTP $http_port, gRPC $grpc_port, data in $work/data"
java "${server_java_opts[@]}" -jar "$SERVER_JAR" --bind-address 127.0.0.1 --http-port "$http_port" \
     --grpc-port "$grpc_port" --data-dir "$work/data" --max-disk-size "$BUDGET" \
     --lifecycle-interval "$LIFECYCLE_INTERVAL" --gc-grace "$GC_GRACE" > "$work/node.log" 2>&1 &
pid=$!
deadline=$((SECONDS + START_TIMEOUT))
until curl -sf -o /dev/null "http://127.0.0.1:$http_port/v2/"; do
  kill -0 "$pid" 2>/dev/null || { tail -20 "$work/node.log" >&2; die "the node exited while starting"; }
  [ "$SECONDS" -lt "$deadline" ] || { tail -20 "$work/node.log" >&2; die "the node did not answer within ${START_TIMEOUT}s"; }
  sleep 0.2
done

growth=()
[ "$minutes" -ge 30 ] && growth=(--fail-on-growth)
mkdir -p "$(dirname "$OUT_JSON")" "$(dirname "$OUT_MD")"
log "soak: $minutes min, $BUILDERS builders per protocol, the node (pid $pid) read every ${SAMPLE_EVERY}s"
status=0
java -jar "$LOADTEST_JAR" soak --registry "http://127.0.0.1:$http_port" --target "127.0.0.1:$grpc_port" \
     --server-pid "$pid" --data-dir "$work/data" --duration "${minutes}m" --sample-every "$SAMPLE_EVERY" \
     --builders "$BUILDERS" "${growth[@]}" --json "$OUT_JSON" --markdown "$OUT_MD" "${soak_args[@]}" || status=$?

# At the end, what the series cannot tell apart: the heap the node really holds (a full collection
# first: the series' "live heap" is what the old generation held after its last collection, garbage
# included until a mixed collection takes it), and what its file descriptors are.
if kill -0 "$pid" 2>/dev/null && command -v jcmd >/dev/null 2>&1; then
  histogram="${OUT_MD%.md}-histogram.txt"
  jcmd "$pid" GC.class_histogram > "$histogram" 2>&1 || true
  live=$(awk '$1 == "Total" {printf "%.1f", $3 / 1048576}' "$histogram")
  rss=$(awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status")
  fds=$(ls -l "/proc/$pid/fd" 2>/dev/null | awk 'NR > 1 {
      t = $NF
      if (t ~ /^socket:/) k = "sockets"; else if (t ~ /\.sst$/) k = "RocksDB tables"; else if (t ~ /\.log$/) k = "RocksDB logs";
      else if (t ~ /\/metadata\//) k = "RocksDB other";
      else if (t ~ /\/uploads\//) k = "upload files"; else if (t ~ /\/blobs\//) k = "blob files"; else if (t ~ /^(pipe|anon_inode):/) k = "pipes and epoll";
      else if (t ~ /\.(jar|so)$/ || t ~ /^\/(dev|proc|usr)\//) k = "JVM (jars, devices)";
      else k = "other"; n[k]++ } END { for (k in n) printf "%s%s %d", (c++ ? ", " : ""), k, n[k] }')
  tables=$(find "$work/data/metadata" -name '*.sst' | wc -l)
  {
    echo
    echo "At the end, after a full collection: live heap ${live:-?} MiB (classes: $histogram), resident memory ${rss:-?} MiB;"
    echo "open file descriptors: ${fds:-?}; RocksDB table files on disk: $tables."
  } | tee -a "$OUT_MD" >&2
fi

# What the node said of itself, besides its access log.
warnings=$(grep -v ' audit - ' "$work/node.log" | grep -cE ' (WARN|ERROR) ' || true)
log "node log: $warnings warnings and errors"
grep -v ' audit - ' "$work/node.log" | grep -E ' (WARN|ERROR) ' | head -10 >&2 || true
log "soak exit code $status; $OUT_JSON, $OUT_MD"
exit "$status"
