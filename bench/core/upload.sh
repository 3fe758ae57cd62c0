#!/usr/bin/env bash
# POST /v2/bundles of a 1 GiB bundle against sha256sum + cp of the same file, in the same run.
# The core hashes while it writes, fsyncs the file, reads bundle.conf from the zip and commits.
# usage: BUILD=build-core bench/core/upload.sh   (SIZE in bytes to vary)
set -euo pipefail
source "$(dirname "$0")/common.sh"
SIZE=${SIZE:-1073741824}
now() { date +%s.%N; }
cpu_of() {  # user+system seconds of a process so far
  awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' /proc/"$1"/stat
}

mkdir "$WORK/bundles"
zip=$(python3 "$(dirname "$0")/make_bundle.py" "$WORK/bundles" big "$SIZE")
conf="$WORK/bundles/big.conf"
bytes=$(stat -c %s "$zip")
cat "$zip" > /dev/null  # page cache warm for both sides

start=$(now); sha256sum "$zip" > /dev/null; cp "$zip" "$WORK/copy.zip"; end=$(now)
baseline=$(echo "$end - $start" | bc)
rm -f "$WORK/copy.zip"
baseline_cpu=$( { /usr/bin/time -f "%U %S" sha256sum "$zip" > /dev/null; } 2>&1 | awk '{print $1 + $2}')
baseline_cpu=$(echo "$baseline_cpu + $( { /usr/bin/time -f "%U %S" cp "$zip" "$WORK/copy.zip"; } 2>&1 | awk '{print $1 + $2}')" | bc)
start=$(now); sha256sum "$zip" > /dev/null; cp "$zip" "$WORK/copy2.zip"; sync "$WORK/copy2.zip"; end=$(now)
baseline_sync=$(echo "$end - $start" | bc)
rm -f "$WORK/copy.zip" "$WORK/copy2.zip"

start_core --max-upload-bytes $((SIZE * 2))
cpu_before=$(cpu_of "$CORE_PID")
start=$(now); load_bundle "$zip" "$conf"; end=$(now)
upload=$(echo "$end - $start" | bc)
core_cpu=$(echo "$(cpu_of "$CORE_PID") - $cpu_before" | bc)
rss=$(awk '/VmHWM/ {print $2, $3}' /proc/"$CORE_PID"/status)

printf 'bundle: %s bytes\n' "$bytes"
printf 'sha256sum + cp:          %6.2f s\n' "$baseline"
printf 'sha256sum + cp + sync:   %6.2f s\n' "$baseline_sync"
printf 'POST /v2/bundles (curl): %6.2f s  (%.0f MiB/s)\n' "$upload" "$(echo "$bytes / 1048576 / $upload" | bc -l)"
printf 'CPU seconds: sha256sum + cp %.2f, baton-core during the upload %.2f\n' "$baseline_cpu" "$core_cpu"
printf 'core peak resident memory: %s\n' "$rss"
echo "RESULT upload/(sha256sum+cp) = $(echo "scale=2; $upload / $baseline" | bc), upload/(sha256sum+cp+sync) = $(echo "scale=2; $upload / $baseline_sync" | bc)"
