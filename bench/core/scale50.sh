#!/usr/bin/env bash
# `baton run --scale 50` of a component that signals at once, on one agent, until all 50 are
# started, against spawning the same 50 components directly, alternating in the same run.
# Goal: under 1 s. usage: bench/core/scale50.sh [ROUNDS (5)]
#   (BUILD=<build folder>, SCALE=50, PAUSE=5 seconds after each stop, NR_OF_CPUS=0.1: the
#   bundle's nrOfCpus; the agent offers SCALE x NR_OF_CPUS cpus so that all fit on it. Running as
#   root with cgroups, nrOfCpus is each instance's CPU quota: 0.1 = 10 ms per 100 ms period,
#   which the component's own start uses. AGENT_OPTIONS: more agent flags, e.g.
#   "--spare-shims=0" to time the agent without its pre-started shims.)
# Baton: a private sandbox (BATON_HOME in a temporary folder, a free core port, a free block of
# endpoint ports) with one agent; the bundle runs build/bin/baton-testcomponent --signal-http
# --sleep with `readiness { check = signal }`: it PUTs $CONDUCTR_STATUS at once. Timed: the whole
# `baton run --scale 50 ID` command (the CLI returns when the core shows 50 started), then
# `baton stop` (untimed) before the next round. Baseline: build/bench/scale_direct_spawn
# (direct_spawn.cpp) posix_spawns the same 50 components (no agent, shim or cgroup) with
# CONDUCTR_STATUS pointing at a trivial HTTP server of its own, timed until all 50 PUTs arrived.
# Exit status 0 when the goal is met, 1 when not.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-$(cd "$here/../.." && pwd)/build}
ROUNDS=${1:-5}
SCALE=${SCALE:-50}
NR_OF_CPUS=${NR_OF_CPUS:-0.1}
PAUSE=${PAUSE:-5}
agent_cpus=$(awk -v s="$SCALE" -v c="$NR_OF_CPUS" 'BEGIN { v = s * c; print (v < 1 ? 1 : v) }')
baton=$BUILD/bin/baton
component=$BUILD/bin/baton-testcomponent
for program in "$baton" "$component" "$BUILD/bin/baton-core" "$BUILD/bin/baton-agent" \
  "$BUILD/bench/scale_direct_spawn"; do
  [ -x "$program" ] || { echo "no $program: build first (./dev build)" >&2; exit 2; }
done

export BATON_HOME
BATON_HOME=$(mktemp -d "${TMPDIR:-/tmp}/baton-scale-bench-XXXXXX")
cleanup() {
  "$baton" sandbox stop > /dev/null 2>&1 || true
  rm -rf "$BATON_HOME"
}
trap cleanup EXIT

# A free core port, and a block of 1,000 endpoint ports of which none is bound now.
read -r core_port ports_from < <(python3 - <<'PY'
import random, socket
def free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port)); return True
        except OSError:
            return False
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); core = s.getsockname()[1]
while True:
    base = random.randrange(20000, 30000, 1000)
    if all(free(p) for p in range(base, base + 1000, 50)):
        break
print(core, base)
PY
)
export BATON_PORT=$core_port
"$baton" sandbox run --core-port "$core_port" --ports-from "$ports_from" --agents 1 \
  --agent-option="--cpus=$agent_cpus" ${AGENT_OPTIONS:+--agent-option="$AGENT_OPTIONS"} > /dev/null

mkdir -p "$BATON_HOME/signal"
cat > "$BATON_HOME/signal/bundle.conf" <<CONF
version = "1"
name = "signal"
compatibilityVersion = "1"
system = "signal"
nrOfCpus = $NR_OF_CPUS
memory = 16777216
diskSpace = 1000000
roles = ["web"]
readiness { check = signal }
components {
  main {
    description = "signals at once, then sleeps"
    file-system-type = "universal"
    start-command = ["$component", "--signal-http", "--sleep"]
    endpoints { web { bind-protocol = "http", bind-port = 0 } }
  }
}
CONF
id=$("$baton" -q load "$BATON_HOME/signal")

now() { date +%s.%N; }
elapsed() { awk -v start="$1" -v end="$2" 'BEGIN { printf "%.3f", end - start }'; }
run_baton() {
  local start end
  start=$(now)
  "$baton" run --scale "$SCALE" "$id" > /dev/null
  end=$(now)
  local started
  started=$(curl -sf "http://127.0.0.1:$core_port/v2/bundles" | python3 -c '
import json, sys
print(sum(1 for b in json.load(sys.stdin) for e in b.get("bundleExecutions", []) if e.get("isStarted")))')
  [ "$started" = "$SCALE" ] || { echo "baton: $started of $SCALE started" >&2; exit 2; }
  "$baton" stop "$id" > /dev/null
  sleep "$PAUSE"  # the agent removes the stopped instances' folders meanwhile
  elapsed "$start" "$end"
}
run_direct() {
  "$BUILD/bench/scale_direct_spawn" "$component" "$SCALE"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
  if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
run_baton > /dev/null  # warm-up: extraction, first start
baton_times=()
direct_times=()
for ((round = 1; round <= ROUNDS; round++)); do
  if ((round % 2 == 1)); then b=$(run_baton); d=$(run_direct); else d=$(run_direct); b=$(run_baton); fi
  baton_times+=("$b"); direct_times+=("$d")
  printf 'round %d  baton run --scale %d: %6.3f s   direct spawn: %6.3f s\n' "$round" "$SCALE" "$b" "$d"
done
b=$(median "${baton_times[@]}")
d=$(median "${direct_times[@]}")
ratio=$(awk -v b="$b" -v d="$d" 'BEGIN { printf "%.2f", b / d }')
printf 'baton run --scale %d (nrOfCpus %s, agent --cpus %s) median %s s | direct spawn median %s s' \
  "$SCALE" "$NR_OF_CPUS" "$agent_cpus" "$b" "$d"
printf ' | ratio %s | load %s%s\n' "$ratio" "$(cut -d' ' -f1-3 /proc/loadavg)" "${AGENT_OPTIONS:+ | agent $AGENT_OPTIONS}"
if awk -v b="$b" 'BEGIN { exit !(b < 1.0) }'; then echo "goal: under 1 s: met"; else
  echo "goal: under 1 s: NOT met"; exit 1; fi
