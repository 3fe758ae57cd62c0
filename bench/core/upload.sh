#!/usr/bin/env bash
# POST /v2/bundles of a 1 GiB bundle against sha256sum + cp of the same file, in the same run.
# The core hashes while it writes, fsyncs the file, reads bundle.conf from the zip and commits.
# usage: bench/core/upload.sh   (BUILD=<build folder>, default build/; SIZE in bytes to vary)
set -euo pipefail
source "$(dirname "$0")/common.sh"
SIZE=${SIZE:-1073741824}
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }  # arithmetic without bc, which ./dev does not install
cpu_of() {  # user+system seconds of a process so far
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' /proc/"$1"/stat
}

mkdir "$WORK/bundles"
zip=$(python3 "$(dirname "$0")/make_bundle.py" "$WORK/bundles" big "$SIZE")
conf="$WORK/bundles/big.conf"
bytes=$(stat -c %s "$zip")
cat "$zip" > /dev/null  # page cache warm for both sides

start=$(now); sha256sum "$zip" > /dev/null; cp "$zip" "$WORK/copy.zip"; end=$(now)
baseline=$(calc "$end - $start")
rm -f "$WORK/copy.zip"
baseline_cpu=$( { /usr/bin/time -f "%U %S" sha256sum "$zip" > /dev/null; } 2>&1 | awk '{print $1 + $2}')
baseline_cpu=$(calc "$baseline_cpu + $( { /usr/bin/time -f "%U %S" cp "$zip" "$WORK/copy.zip"; } 2>&1 | awk '{print $1 + $2}')")
start=$(now); sha256sum "$zip" > /dev/null; cp "$zip" "$WORK/copy2.zip"; sync "$WORK/copy2.zip"; end=$(now)
baseline_sync=$(calc "$end - $start")
rm -f "$WORK/copy.zip" "$WORK/copy2.zip"

start_core --max-upload-bytes $((SIZE * 2))
cpu_before=$(cpu_of "$CORE_PID")
start=$(now); load_bundle "$zip" "$conf"; end=$(now)
upload=$(calc "$end - $start")
core_cpu=$(calc "$(cpu_of "$CORE_PID") - $cpu_before")
rss=$(awk '/VmHWM/ {print $2, $3}' /proc/"$CORE_PID"/status)

printf 'bundle: %s bytes\n' "$bytes"
printf 'sha256sum + cp:          %6.2f s\n' "$baseline"
printf 'sha256sum + cp + sync:   %6.2f s\n' "$baseline_sync"
printf 'POST /v2/bundles (curl): %6.2f s  (%.0f MiB/s)\n' "$upload" "$(calc "$bytes / 1048576 / $upload")"
printf 'CPU seconds: sha256sum + cp %.2f, baton-core during the upload %.2f\n' "$baseline_cpu" "$core_cpu"
printf 'core peak resident memory: %s\n' "$rss"
printf 'RESULT upload/(sha256sum+cp) = %.2f, upload/(sha256sum+cp+sync) = %.2f, load %s\n' \
  "$(calc "$upload / $baseline")" "$(calc "$upload / $baseline_sync")" "$(cut -d' ' -f1-3 /proc/loadavg)"
