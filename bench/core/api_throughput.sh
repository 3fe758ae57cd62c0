#!/usr/bin/env bash
# GET /v2/bundles with 100 bundles loaded, on loopback with wrk: requests/s and p99.
# Goal: 10,000 requests/s with p99 under 10 ms on 2 cores.
# usage: BUILD=build-core bench/core/api_throughput.sh   (BUNDLES, DURATION, CONNECTIONS,
#        WRK_THREADS, CORE_THREADS to vary)
set -euo pipefail
source "$(dirname "$0")/common.sh"
BUNDLES=${BUNDLES:-100}
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-32}
WRK_THREADS=${WRK_THREADS:-2}
CORE_THREADS=${CORE_THREADS:-2}
command -v wrk > /dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

start_core --threads "$CORE_THREADS"
mkdir "$WORK/bundles"
for i in $(seq 1 "$BUNDLES"); do
  zip=$(python3 "$(dirname "$0")/make_bundle.py" "$WORK/bundles" "bench$i")
  load_bundle "$zip" "$WORK/bundles/bench$i.conf"
done
body=$(curl -sSf "$CORE_URL/v2/bundles" | wc -c)
echo "baton-core $CORE_URL: $BUNDLES bundles loaded, GET /v2/bundles = $body bytes"
wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$CORE_URL/v2/bundles" | tee "$WORK/wrk.txt"
rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")
echo "RESULT GET /v2/bundles ($BUNDLES bundles, $CONNECTIONS connections, core threads $CORE_THREADS): $rps requests/s, p99 $p99"
