#!/usr/bin/env bash
# `baton bundle create` against `zip -q -r -6` on the same 500 MB folder of mixed files, in the
# same run, alternating who goes first. The goal: baton's median time <= zip's (ratio <= 1.0).
#   bench/bundle/bundle_create.sh [BUILD_DIR (default: build/ of this checkout)] [ROUNDS (5)]
# The folder is generated once (python3, fixed seed) under $BATON_BENCH_DATA (default
# /tmp/baton-bench-bundle) and reused:
#   logs      150 MB of log text that deflates well (2 x 50 MB, 50 x 1 MB)
#   binaries  150 MB of random bytes that do not (2 x 50 MB, 100 x 0.5 MB)
#   small     ~100 MB in 20,000 small files (sources, configs, a few small binaries)
#   jars      100 MB in 5 jars (zips of class-like data: already compressed)
# Both write to the same disk; the outputs are removed between rounds. Exit status 0 when the
# goal is met, 1 when not.
set -euo pipefail

build=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build}
rounds=${2:-5}
baton=$(cd "$build" && pwd)/bin/baton
data=${BATON_BENCH_DATA:-/tmp/baton-bench-bundle}
source_folder=$data/app
out=$data/out

[[ -x $baton ]] || { echo "no $baton: build the baton target first" >&2; exit 2; }
command -v zip >/dev/null || { echo "zip is not installed (apt-get install zip)" >&2; exit 2; }

if [[ ! -f $data/.complete ]]; then
  echo "generating $source_folder (once)..."
  rm -rf "$data"
  mkdir -p "$source_folder"
  python3 - "$source_folder" <<'PY'
import io, os, random, sys, zipfile
root = sys.argv[1]
rng = random.Random(20240501)
words = ("request served user session cache miss hit backend upstream timeout retry "
         "GET POST PUT /api/v1/orders /api/v1/users /health status=200 status=404 status=500 "
         "INFO WARN DEBUG ERROR latency_ms bytes_sent trace_id span_id").split()

def log_text(size):
    lines, total, n = [], 0, 0
    while total < size:
        line = "2024-05-01T%02d:%02d:%02d.%03dZ %s [%s] %s %d\n" % (
            n // 3600 % 24, n // 60 % 60, n % 60, rng.randrange(1000),
            rng.choice(words[14:18]), "worker-%d" % rng.randrange(16),
            " ".join(rng.choice(words) for _ in range(8)), rng.randrange(100000))
        lines.append(line); total += len(line); n += 1
    return "".join(lines).encode()[:size]

def write(path, data, mode=0o644):
    path = os.path.join(root, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)

MB = 1000 * 1000
write("bundle.conf", b'''version = "1"
name = "bench"
compatibilityVersion = "1"
system = "bench"
nrOfCpus = 1
memory = 512M
diskSpace = 1G
roles = ["web"]
components {
  app {
    description = "benchmark payload"
    file-system-type = "universal"
    start-command = ["app/bin/start"]
  }
}
''')
write("app/bin/start", b"#!/bin/sh\nexec java -jar app/lib/app-0.jar\n", 0o755)
big_log = log_text(50 * MB)
write("app/logs/big-1.log", big_log)
write("app/logs/big-2.log", log_text(50 * MB))
for i in range(50):
    write("app/logs/rotated/app-%02d.log" % i, log_text(1 * MB))
write("app/data/blob-1.bin", rng.randbytes(50 * MB))
write("app/data/blob-2.bin", rng.randbytes(50 * MB))
for i in range(100):
    write("app/data/chunks/chunk-%03d.bin" % i, rng.randbytes(MB // 2))
source = log_text(8 * MB)
for i in range(20000):
    size = rng.randrange(500, 9500)
    if i % 10 == 0:
        data = rng.randbytes(size)
    else:
        start = rng.randrange(len(source) - size)
        data = source[start:start + size]
    write("app/src/pkg%02d/mod%03d/file%05d.%s" % (i % 40, i % 500, i,
          "bin" if i % 10 == 0 else "txt"), data)
for j in range(5):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as jar:
        total = 0
        k = 0
        while buffer.tell() < 20 * MB:
            payload = rng.randbytes(3000) + log_text(3000)
            jar.writestr("com/example/pkg%d/Class%05d.class" % (j, k), payload)
            k += 1
    write("app/lib/app-%d.jar" % j, buffer.getvalue())
PY
  touch "$data/.complete"
fi
echo "source: $source_folder, $(du -sb "$source_folder" | cut -f1) bytes," \
     "$(find "$source_folder" -type f | wc -l) files"

mkdir -p "$out/baton" "$out/zip"
now() { date +%s.%N; }
# Seconds between two `date +%s.%N` stamps (awk: no bc needed).
elapsed() { awk -v start="$1" -v end="$2" 'BEGIN { printf "%.3f", end - start }'; }
run_baton() {
  rm -f "$out"/baton/*.zip
  local start end
  start=$(now)
  "$baton" bundle create "$source_folder" -o "$out/baton" > /dev/null
  end=$(now)
  elapsed "$start" "$end"
}
run_zip() {
  rm -f "$out"/zip/*.zip
  local start end
  start=$(now)
  (cd "$data" && zip -q -r -6 "$out/zip/app.zip" app)
  end=$(now)
  elapsed "$start" "$end"
}

baton_times=()
zip_times=()
# Warm the page cache once, untimed.
run_baton > /dev/null
for ((round = 1; round <= rounds; round++)); do
  if ((round % 2 == 1)); then
    b=$(run_baton); z=$(run_zip)
  else
    z=$(run_zip); b=$(run_baton)
  fi
  baton_times+=("$b"); zip_times+=("$z")
  printf 'round %d  baton %6.2f s  zip %6.2f s\n' "$round" "$b" "$z"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
  if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
baton_median=$(median "${baton_times[@]}")
zip_median=$(median "${zip_times[@]}")
ratio=$(awk -v b="$baton_median" -v z="$zip_median" 'BEGIN { printf "%.3f", b / z }')
baton_zip=$(ls "$out"/baton/*.zip)
printf 'baton  median %6.2f s  output %s bytes (%s)\n' "$baton_median" \
  "$(stat -c %s "$baton_zip")" "$(basename "$baton_zip")"
printf 'zip    median %6.2f s  output %s bytes\n' "$zip_median" "$(stat -c %s "$out/zip/app.zip")"
printf 'ratio  %s (baton time / zip time; goal <= 1.0), %d cores, load %s: ' "$ratio" "$(nproc)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v r="$ratio" 'BEGIN { exit !(r <= 1.0) }'; then echo "met"; else echo "NOT met"; exit 1; fi
