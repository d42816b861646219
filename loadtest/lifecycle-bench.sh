#!/usr/bin/env bash
# The lifecycle on a large store: writes BLOBS blobs and ROOTS roots straight into a data folder
# (SyntheticStore), starts a node on it and reports how long it took to answer /readyz with 2xx
# and how long the start-up consistency pass (in the background after that) took,
# then measures HEAD-blob p99 latency without and during a garbage collection over the store.
#
#   ./mvnw -B -DskipTests package && loadtest/lifecycle-bench.sh [BLOBS] [ROOTS]
set -euo pipefail
cd "$(dirname "$0")/.."
blobs=${1:-1000000}
roots=${2:-100000}
work=$(mktemp -d /var/tmp/lifecycle-bench.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
jar=server/target/layercache-server.jar
lt=loadtest/target/layercache-loadtest.jar

java -cp "$jar" dev.layercache.server.tools.SyntheticStore "$work/data" "$blobs" "$roots"
t0=$(date +%s.%N)
java -jar "$jar" --bind-address 127.0.0.1 --http-port 5430 --grpc-port 9430 --data-dir "$work/data" \
     > "$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 3000); do curl -sf -o /dev/null http://127.0.0.1:5430/readyz && break; sleep 0.05; done
t1=$(date +%s.%N)
echo "node ready (/readyz 2xx) after $(echo "$t1 - $t0" | bc) s: $(curl -s http://127.0.0.1:5430/readyz)"
# The start-up check runs in the background once the node is ready: wait for its end.
for _ in $(seq 1 6000); do
  curl -s http://127.0.0.1:5430/api/v1/store | jq -e '.startup_check.running == false' >/dev/null && break
  sleep 0.1
done
t2=$(date +%s.%N)
echo "start-up check over after $(echo "$t2 - $t0" | bc) s"
curl -s http://127.0.0.1:5430/api/v1/store | jq -c '{startup_check, usage}'

echo "--- HEAD blob, no collection running"
java -jar "$lt" http --workloads head-blob,get-manifest --target node=http://127.0.0.1:5430 --server-pid "$pid" --rounds 1 --duration 15 --warmup 5 \
     --json "$work/idle.json" > /dev/null 2>&1
jq -c '.rounds[] | select(.round == 1) | {workload} + (.figures | {requests_per_s, p50_ms, p99_ms, "p99.9_ms", max_ms})' "$work/idle.json"

echo "--- HEAD blob while POST /api/v1/gc runs"
(curl -s -X POST http://127.0.0.1:5430/api/v1/gc > "$work/gc.json") &
gc=$!
java -jar "$lt" http --workloads head-blob,get-manifest --target node=http://127.0.0.1:5430 --server-pid "$pid" --rounds 1 --duration 15 --warmup 0 \
     --json "$work/busy.json" > /dev/null 2>&1
jq -c '.rounds[] | select(.round == 1) | {workload} + (.figures | {requests_per_s, p50_ms, p99_ms, "p99.9_ms", max_ms})' "$work/busy.json"
wait "$gc"
jq -c 'del(.digests)' "$work/gc.json"
