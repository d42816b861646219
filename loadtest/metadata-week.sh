#!/usr/bin/env bash
# Metadata over a simulated week: FleetWeek starts a node in-process on a fresh data folder and
# drives it through its HTTP API as a CI fleet would for DAYS simulated days (buildah-style
# per-step tags, BuildKit cache exports, a cleanup job deleting tags, a small disk budget that
# evicts all the time). At the end of each day it stops the node, counts the records of every
# metadata table, measures the metadata folder, and times the next start. It runs twice: with
# the history and expiry bounds tight enough to act within the week, and with them turned off.
#
#   ./mvnw -B -DskipTests package && loadtest/metadata-week.sh [DAYS] [BUILDS-PER-HOUR] [MAX-DISK-SIZE]
#
# KEEP=1 keeps the data folders and the node logs (the script prints where).
set -euo pipefail
cd "$(dirname "$0")/.."
days=${1:-7}
rate=${2:-440}
budget=${3:-48MiB}
work=$(mktemp -d /var/tmp/metadata-week.XXXXXX)
cleanup() { [ "${KEEP:-0}" = 1 ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT
jar=server/target/layercache-server.jar

run() {
    local name=$1
    shift
    mkdir -p "$work/$name"
    echo "=== $name: --max-disk-size $budget $*"
    # The node's log goes to a file (collections are logged at INFO), without the per-write audit lines.
    java -Dorg.slf4j.simpleLogger.logFile="$work/$name/server.log" -Dorg.slf4j.simpleLogger.log.layercache.audit=warn \
         -cp "$jar" dev.layercache.server.tools.FleetWeek "$work/$name/data" --days "$days" --builds-per-hour "$rate" \
         -- --max-disk-size "$budget" "$@" > "$work/$name/out.txt"
    grep '^fleet week\|^day ' "$work/$name/out.txt"
    echo "node warnings: $(grep -c ' WARN ' "$work/$name/server.log" || true)"
}

run bounded --history-max-age 2d --history-max-records 2000 --untagged-max-age 3h
run unbounded --history-max-age 0s --history-max-records 0 --untagged-max-age 0s

for name in bounded unbounded; do
    echo
    echo "### $name"
    sed -n '/^| day/,$p' "$work/$name/out.txt"
done
