#!/bin/sh
# `cmake --install` into a temporary prefix: the programs, the units (which systemd-analyze must
# accept, naming programs that exist under that prefix), the settings templates and the docs.
set -eu
build=$1
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
for file in bin/baton bin/baton-core bin/baton-agent bin/baton-shim \
    lib/systemd/system/baton-core.service lib/systemd/system/baton-agent.service \
    share/doc/baton/examples/baton-agent.default share/doc/baton/operations.md; do
  [ -e "$prefix/$file" ] || { echo "install: $file is missing under $prefix" >&2; exit 1; }
done
grep -q "^ExecStart=$prefix/bin/baton-agent " "$prefix/lib/systemd/system/baton-agent.service" || {
  echo "install: baton-agent.service does not start $prefix/bin/baton-agent" >&2; exit 1; }
grep -q "^KillMode=process$" "$prefix/lib/systemd/system/baton-agent.service" || {
  echo "install: baton-agent.service must stop the agent only (KillMode=process)" >&2; exit 1; }
"$prefix/bin/baton-agent" --help >/dev/null
if command -v systemd-analyze >/dev/null; then
  (cd "$prefix/lib/systemd/system" && systemd-analyze verify ./baton-core.service ./baton-agent.service)
else
  echo "*** systemd-analyze is missing: the units were not verified ***"
fi
echo "install: ok"
