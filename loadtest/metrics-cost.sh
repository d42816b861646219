#!/usr/bin/env bash
# What counting costs: small OCI requests/s on two nodes of this build side by side, one with
# metrics (the default) and one with metrics-enabled=false, measured in interleaved rounds by
# `layercache-loadtest http`. Prints the medians and the ratio; writes metrics-cost.json.
#
#   ./mvnw -B -DskipTests package && loadtest/metrics-cost.sh [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
seconds=${2:-8}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

start() { # name port grpc-port enabled
  java -jar server/target/layercache-server.jar --bind-address 127.0.0.1 --http-port "$2" --grpc-port "$3" \
       --data-dir "$work/$1" --metrics-enabled "$4" > "$work/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$2/v2/" >/dev/null && return; sleep 0.2; done
  echo "node $1 did not start" >&2; cat "$work/$1.log" >&2; exit 1
}
start on 5410 9410 true
start off 5411 9411 false
java -jar loadtest/target/layercache-loadtest.jar http --workloads head-blob,get-manifest \
     --target on=http://127.0.0.1:5410 --target off=http://127.0.0.1:5411 \
     --server-pid "${pids[0]},${pids[1]}" --rounds "$rounds" --duration "$seconds" --json metrics-cost.json
