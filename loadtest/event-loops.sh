#!/usr/bin/env bash
# Nothing slow on an event loop: what bad credentials and big transfers cost everybody else.
#
#   1. `auth-flood`: an authorised client's HEAD of a blob (32 keep-alive connections, its
#      credentials checked once before), with no flood, during a flood of FLOOD_RATE wrong passwords
#      per second that are all different (each needs a bcrypt check at cost COST), and during the
#      same flood repeating one wrong password; the user exists, so the guesses are at a real hash.
#   2. `grpc-transfers`: GetEntry (8 in flight) on a quiet node and while 4 clients move BLOB_MIB
#      blobs (2 write fresh blobs, 2 read one blob again and again).
#
# Each phase starts fresh nodes on free ports of 127.0.0.1 with their data in one temporary folder. With
# BEFORE_JAR (a server jar of another build, say main's) each phase runs a node of each build side
# by side, in interleaved rounds; the ratios in the output are per node, against its own idle.
#
#   ./mvnw -B -DskipTests package && loadtest/event-loops.sh
#   BEFORE_JAR=/path/to/main/layercache-server.jar loadtest/event-loops.sh
#
# Settings (environment): PHASES="auth-flood grpc-transfers" (either or both); ROUNDS=5 DURATION=5 COST=12 FLOOD_RATE=200 (auth-flood);
# GRPC_ROUNDS=3 GRPC_DURATION=10 BLOB_MIB=1024 (grpc-transfers: needs about
# (2 + 2 x GRPC_ROUNDS x GRPC_DURATION / 4) x BLOB_MIB of disk per node); OUT_DIR=loadtest/results;
# CLIENT_NICE=10 runs the grpc-transfers client at that nice level (its transfer clients stand for
# builders on other machines; on one machine they take the cores the node needs); SERVER_JAVA_OPTS
# are JVM options for the nodes (say -Xlog:gc:file=gc.log:uptime to see the collector's pauses);
# TRANSFERS_ELSEWHERE=1 moves the blobs through a third node, so that the nodes looked up do no
# transfer work at all: the lookups' tail that is left is the machine's (cores shared), not a node's.
# Every process it starts is stopped and the folder removed on exit, also after an error or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
COST=${COST:-12}
FLOOD_RATE=${FLOOD_RATE:-200}
GRPC_ROUNDS=${GRPC_ROUNDS:-3}
GRPC_DURATION=${GRPC_DURATION:-10}
BLOB_MIB=${BLOB_MIB:-1024}
OUT_DIR=${OUT_DIR:-loadtest/results}
PHASES=${PHASES:-auth-flood grpc-transfers}
AFTER_JAR=server/target/layercache-server.jar
LOADTEST_JAR=loadtest/target/layercache-loadtest.jar
BENCH=event-loops
START_TIMEOUT=60
. loadtest/bench-lib.sh

for jar in "$AFTER_JAR" "$LOADTEST_JAR" ${BEFORE_JAR:+"$BEFORE_JAR"}; do
  [ -f "$jar" ] || die "$jar is missing: run ./mvnw -B -DskipTests package first (this script builds nothing)"
done

make_work /var/tmp layercache-loops

# start NAME JAR [more server flags]: a node on free ports; sets $started to its pid, $http_port
# and $grpc_port to its ports
started="" http_port="" grpc_port=""
start() {
  local name=$1 jar=$2
  shift 2
  free_port http_port; free_port grpc_port
  java ${SERVER_JAVA_OPTS:-} -jar "$jar" --bind-address 127.0.0.1 --http-port "$http_port" \
       --grpc-port "$grpc_port" --data-dir "$work/$name" "$@" > "$work/$name.log" 2>&1 &
  started=$!
  pids+=("$started")
  wait_for "http://127.0.0.1:$http_port/healthz" "$started" "node $name" "$work/$name.log"
}
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  pids=()
}

mkdir -p "$OUT_DIR"
log "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. auth-flood
if [[ " $PHASES " == *" auth-flood "* ]]; then
java -jar "$LOADTEST_JAR" auth-flood --write-htpasswd "$work/htpasswd" --cost "$COST"
targets=() node_pids=()
start after "$AFTER_JAR" --auth-htpasswd "$work/htpasswd"
targets+=(--target "after=http://127.0.0.1:$http_port"); node_pids+=("$started")
if [ -n "${BEFORE_JAR:-}" ]; then
  start before "$BEFORE_JAR" --auth-htpasswd "$work/htpasswd"
  targets+=(--target "before=http://127.0.0.1:$http_port"); node_pids+=("$started")
fi
log "auth-flood: ${ROUNDS} rounds of ${DURATION} s per mode, cost ${COST}, ${FLOOD_RATE} wrong passwords/s"
java -jar "$LOADTEST_JAR" auth-flood "${targets[@]}" --server-pid "$(IFS=,; echo "${node_pids[*]}")" \
     --rounds "$ROUNDS" --duration "$DURATION" --flood-rate "$FLOOD_RATE" --json "$OUT_DIR/auth-flood.json"
log "load average after auth-flood: $(cut -d' ' -f1-3 /proc/loadavg)"
stop_all
fi

# 2. grpc-transfers
if [[ " $PHASES " == *" grpc-transfers "* ]]; then
targets=() node_pids=()
start after-grpc "$AFTER_JAR"
targets+=(--target "after=127.0.0.1:$grpc_port"); node_pids+=("$started")
if [ -n "${BEFORE_JAR:-}" ]; then
  start before-grpc "$BEFORE_JAR"
  targets+=(--target "before=127.0.0.1:$grpc_port"); node_pids+=("$started")
fi
transfers_to=()
if [ -n "${TRANSFERS_ELSEWHERE:-}" ]; then
  # The floor: the blobs move through a third node, so the nodes looked up do no transfer work.
  start transfer-sink "$AFTER_JAR"
  transfers_to=(--transfers-to "127.0.0.1:$grpc_port")
fi
log "grpc-transfers: ${GRPC_ROUNDS} rounds of ${GRPC_DURATION} s per mode, ${BLOB_MIB} MiB blobs${TRANSFERS_ELSEWHERE:+, moved through another node}"
${CLIENT_NICE:+nice -n "$CLIENT_NICE"} java -jar "$LOADTEST_JAR" grpc-transfers "${targets[@]}" --server-pid "$(IFS=,; echo "${node_pids[*]}")" \
     --rounds "$GRPC_ROUNDS" --duration "$GRPC_DURATION" --blob-mib "$BLOB_MIB" "${transfers_to[@]}" \
     --json "$OUT_DIR/grpc-transfers.json"
log "load average after grpc-transfers: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
