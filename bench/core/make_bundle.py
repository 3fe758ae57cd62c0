#!/usr/bin/env python3
"""Make a ConductR-style bundle zip for the core benchmarks, without the baton CLI.

usage: make_bundle.py <folder> <name> [payload bytes]

Writes <folder>/<name>-v1-<sha256>.zip holding <name>-v1/bundle.conf and
<name>-v1/<name>/bin/run followed by a stored (uncompressed) random payload file, and prints
the zip's path. The bundle.conf text is written beside it as <folder>/<name>.conf.
"""
import hashlib
import os
import sys
import zipfile

CONF = """version = "1"
name = "{name}"
compatibilityVersion = "1"
system = "{name}"
nrOfCpus = 0.1
memory = 67108864
diskSpace = 10000000
roles = ["web"]
tags = ["1.0.0"]
components {{
  {name} {{
    description = "benchmark component"
    file-system-type = "universal"
    start-command = ["{name}/bin/run"]
    endpoints {{
      web {{
        bind-protocol = "http"
        bind-port = 0
        service-name = "{name}"
        acls = [{{ http {{ requests = [{{ path-beg = "/{name}" }}] }} }}]
      }}
    }}
  }}
}}
"""


def main():
    folder, name = sys.argv[1], sys.argv[2]
    payload = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    top = name + "-v1"
    conf = CONF.format(name=name)
    temp = os.path.join(folder, "." + name + ".zip")
    with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(top + "/bundle.conf", conf)
        info = zipfile.ZipInfo(top + "/" + name + "/bin/run")
        info.external_attr = 0o100755 << 16
        z.writestr(info, "#!/bin/sh\nexec sleep 1000\n")
        if payload:
            info = zipfile.ZipInfo(top + "/" + name + "/payload.bin")
            info.external_attr = 0o100644 << 16
            with z.open(info, "w", force_zip64=payload >= (1 << 31)) as out:
                left = payload
                chunk = os.urandom(1 << 20)
                while left > 0:
                    # Vary the chunk cheaply so the payload does not repeat.
                    piece = chunk[: min(left, len(chunk))]
                    out.write(piece)
                    left -= len(piece)
                    chunk = hashlib.sha256(chunk[:64]).digest() + chunk[32:]
    digest = hashlib.sha256()
    with open(temp, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    path = os.path.join(folder, "{}-{}.zip".format(top, digest.hexdigest()))
    os.rename(temp, path)
    with open(os.path.join(folder, name + ".conf"), "w") as f:
        f.write(conf)
    print(path)


if __name__ == "__main__":
    main()
