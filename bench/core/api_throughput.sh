#!/usr/bin/env bash
# GET /v2/bundles with 100 bundles loaded, on loopback with wrk: requests/s and p99, against the
# same server's GET /v2/members (a trivial route: same HTTP stack, no bundle JSON) in the same
# run, alternating. Goal: /v2/bundles at 10,000 requests/s or more with p99 under 10 ms (2 cores).
# usage: bench/core/api_throughput.sh   (BUILD=<build folder> default build/ of this checkout;
#        BUNDLES=100, ROUNDS=3, DURATION=10s, CONNECTIONS=32, WRK_THREADS=1, CORE_THREADS=2)
# wrk itself needs CPU on the same 2 cores: one wrk thread by default, so the core keeps most of it.
# Exit status 0 when the goal is met, 1 when not.
set -euo pipefail
source "$(dirname "$0")/common.sh"
BUNDLES=${BUNDLES:-100}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
WRK_THREADS=${WRK_THREADS:-1}
CORE_THREADS=${CORE_THREADS:-2}
command -v wrk > /dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

start_core --threads "$CORE_THREADS"
mkdir "$WORK/bundles"
for i in $(seq 1 "$BUNDLES"); do
  zip=$(python3 "$(dirname "$0")/make_bundle.py" "$WORK/bundles" "bench$i")
  load_bundle "$zip" "$WORK/bundles/bench$i.conf"
done
bundles_bytes=$(curl -sSf "$CORE_URL/v2/bundles" | wc -c)
members_bytes=$(curl -sSf "$CORE_URL/v2/members" | wc -c)
echo "baton-core $CORE_URL ($CORE_THREADS threads): $BUNDLES bundles loaded;" \
  "GET /v2/bundles = $bundles_bytes bytes, GET /v2/members = $members_bytes bytes"

# "requests/s p99_ms" of one wrk run against a path.
measure() {
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$CORE_URL$1" > "$WORK/wrk.txt"
  awk '
    /Requests\/sec/ { rps = $2 }
    $1 == "99%" {
      v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
      p99 = unit == "us" ? v / 1000 : unit == "s" ? v * 1000 : v
    }
    / Non-2xx or 3xx responses/ { bad = 1 }
    END { if (bad) { print "non-2xx answers" > "/dev/stderr"; exit 1 } printf "%.0f %.2f\n", rps, p99 }
  ' "$WORK/wrk.txt"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
  if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
bundles_rps=(); bundles_p99=(); members_rps=(); members_p99=()
for ((round = 1; round <= ROUNDS; round++)); do
  for turn in 1 2; do
    if (( (round + turn) % 2 == 0 )); then
      read -r rps p99 < <(measure /v2/bundles); bundles_rps+=("$rps"); bundles_p99+=("$p99")
      printf 'round %d  GET /v2/bundles  %7s requests/s  p99 %6s ms\n' "$round" "$rps" "$p99"
    else
      read -r rps p99 < <(measure /v2/members); members_rps+=("$rps"); members_p99+=("$p99")
      printf 'round %d  GET /v2/members  %7s requests/s  p99 %6s ms\n' "$round" "$rps" "$p99"
    fi
  done
done
b_rps=$(median "${bundles_rps[@]}"); b_p99=$(median "${bundles_p99[@]}")
m_rps=$(median "${members_rps[@]}"); m_p99=$(median "${members_p99[@]}")
ratio=$(awk -v b="$b_rps" -v m="$m_rps" 'BEGIN { printf "%.2f", b / m }')
echo "GET /v2/bundles ($BUNDLES bundles): median $b_rps requests/s, p99 $b_p99 ms |" \
  "GET /v2/members: median $m_rps requests/s, p99 $m_p99 ms | ratio $ratio |" \
  "$CONNECTIONS connections, wrk threads $WRK_THREADS, load $(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v r="$b_rps" -v p="$b_p99" 'BEGIN { exit !(r >= 10000 && p < 10) }'; then
  echo "goal: >= 10,000 requests/s and p99 < 10 ms: met"
else
  echo "goal: >= 10,000 requests/s and p99 < 10 ms: NOT met"; exit 1
fi
