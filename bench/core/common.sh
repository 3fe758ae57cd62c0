# Shared by the core benchmarks: start baton-core on port 0 with a temporary data folder and
# read its URL from the first line of its stdout. Source it; it sets WORK and CORE_URL.
BUILD=${BUILD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
CORE_BIN=${CORE_BIN:-$BUILD/bin/baton-core}
[ -x "$CORE_BIN" ] || { echo "no baton-core at $CORE_BIN (set BUILD=<build folder>)" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/baton-core-bench-XXXXXX")
CORE_PID=
cleanup() {
  [ -n "$CORE_PID" ] && kill "$CORE_PID" 2>/dev/null && wait "$CORE_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

start_core() {  # extra flags...
  mkfifo "$WORK/out"
  "$CORE_BIN" --port 0 --data "$WORK/data" --log-level warn "$@" > "$WORK/out" &
  CORE_PID=$!
  exec 3< "$WORK/out"
  read -r line <&3
  CORE_URL=${line#baton-core listening on }
  [[ $CORE_URL == http://* ]] || { echo "baton-core did not start: $line" >&2; exit 1; }
}

load_bundle() {  # <zip> <conf file>
  curl -sSf -o /dev/null -F "bundleConf=<$2" -F "bundle=@$1;filename=$(basename "$1")" \
    "$CORE_URL/v2/bundles"
}
