#!/usr/bin/env python3
"""clang-tidy over every project source of a build, remembering clean results.

    tools/tidy.py BUILD_DIR [--jobs N] [--cache DIR]

A source is checked again only when what clang-tidy would see changes: the key is the SHA-256 of
the clang-tidy version, .clang-tidy, the compile command (paths made relative) and the
preprocessed translation unit (so an edited header re-checks every file that includes it). Only
clean results are cached; a source with findings fails every run until it is fixed. Exit status
0 when every source is clean.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def project_sources(build):
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    for entry in entries:
        path = os.path.realpath(entry["file"])
        relative = os.path.relpath(path, ROOT)
        if relative.startswith("..") or relative.split(os.sep)[0].startswith(("build", ".")):
            continue
        yield relative, entry


def preprocess_command(entry):
    words = shlex.split(entry["command"])
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
            continue
        if word in ("-o", "-c"):
            skip = word == "-o"
            continue
        out.append(word)
    return out + ["-E", "-P", "-o", "-"]


def key_of(relative, entry, salt):
    digest = hashlib.sha256(salt)
    digest.update(relative.encode())
    digest.update(entry["command"].replace(ROOT, "").encode())
    preprocessed = subprocess.run(preprocess_command(entry), cwd=entry["directory"],
                                  capture_output=True, check=False)
    if preprocessed.returncode != 0:
        return None  # let clang-tidy report it
    digest.update(preprocessed.stdout.replace(ROOT.encode(), b""))
    return digest.hexdigest()


def check(relative, entry, build, cache, salt):
    key = key_of(relative, entry, salt)
    if key and os.path.exists(os.path.join(cache, key)):
        return relative, True, True, ""
    result = subprocess.run(["clang-tidy", "-p", build, "--quiet", os.path.join(ROOT, relative)],
                            capture_output=True, text=True, check=False)
    findings = "\n".join(line for line in result.stdout.splitlines() if line.strip())
    clean = result.returncode == 0 and "warning:" not in findings and "error:" not in findings
    if clean and key:
        with open(os.path.join(cache, key), "w") as f:
            f.write(relative + "\n")
    return relative, clean, False, findings


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache", default=os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "baton-tidy"))
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    os.makedirs(args.cache, exist_ok=True)

    version = subprocess.run(["clang-tidy", "--version"], capture_output=True, check=True).stdout
    with open(os.path.join(ROOT, ".clang-tidy"), "rb") as f:
        salt = version + f.read()

    sources = sorted(dict(project_sources(build)).items())  # a file built twice is checked once
    failed, cached = [], 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(check, relative, entry, build, args.cache, salt)
                   for relative, entry in sources]
        for future in concurrent.futures.as_completed(futures):
            relative, clean, hit, findings = future.result()
            cached += hit
            if not clean:
                failed.append(relative)
                print(findings or f"{relative}: clang-tidy failed", flush=True)
    print(f"clang-tidy: {len(sources)} sources, {cached} unchanged since a clean check, "
          f"{len(failed)} with findings")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
