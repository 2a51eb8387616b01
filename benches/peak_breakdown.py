#!/usr/bin/env python3
"""What a command's peak resident memory is made of: runs it, reads /proc/PID/smaps_rollup
every millisecond and, at each new peak, /proc/PID/smaps, then sums the peak's mappings by
kind: anonymous memory (heap, arenas, stacks), the binary's code and read-only data, and other
files (shared libraries). Rounds alternate between the commands given, so they see the same
machine state; prints one JSON object per command (each round's figures and the medians).

    python3 benches/peak_breakdown.py --rounds 5 --out reports/x.json \\
        --cmd "default=target/release/heavytune run --input prod.csv --out /tmp/o --quiet --no-plots" \\
        --cmd "local=target/release/heavytune run --input prod.csv --out /tmp/o --quiet --no-plots --stats local"
"""
import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time

import records


def smaps_kinds(text, binary):
    """Resident KiB of the mappings in `text` (a /proc/PID/smaps), by kind."""
    kinds = {"anonymous": 0, "binary_code": 0, "binary_data": 0, "other_files": 0}
    name, perm = None, None
    for line in text.splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            parts = line.split(None, 5)
            perm, name = parts[1], parts[5] if len(parts) > 5 else ""
        elif line.startswith("Rss:"):
            rss = int(line.split()[1])
            anon_kinds = ("", "[heap]", "[stack]", "[anon]")
            if name in anon_kinds or name.startswith("[anon"):
                kinds["anonymous"] += rss
            elif os.path.realpath(name) == binary:
                kinds["binary_code" if "x" in perm else "binary_data"] += rss
            else:
                kinds["other_files"] += rss
    return kinds


def evict(path):
    """Drops a file's pages from the page cache, so that the next run maps it as a first run
    after a reboot would: how much of the binary is cached, and in which folio sizes, sets how
    much code each page fault maps (fault-around maps the cached pages around it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def measure(argv, cold=False):
    binary = os.path.realpath(shutil.which(argv[0]) or argv[0])
    if cold:
        evict(binary)
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    best, kinds = 0, None
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/smaps_rollup") as f:
                rss = int(re.search(r"^Rss:\s+(\d+)", f.read(), re.M).group(1))
            if rss > best:
                with open(f"/proc/{p.pid}/smaps") as f:
                    k = smaps_kinds(f.read(), binary)
                best, kinds = rss, k
        except (OSError, AttributeError):
            pass
        time.sleep(0.001)
    if p.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed (exit {p.returncode}): {p.stderr.read().decode()[-2000:]}")
    return {"peak_rss_mib": best / 1024, **{f"{k}_mib": v / 1024 for k, v in (kinds or {}).items()}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cmd", action="append", required=True, help="LABEL=COMMAND LINE (repeat)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out")
    ap.add_argument("--cold", action="store_true", help="evict each command's binary from the page cache before each run")
    a = ap.parse_args()
    cmds = [c.split("=", 1) for c in a.cmd]
    runs = {label: [] for label, _ in cmds}
    for r in range(a.rounds):
        for label, line in cmds:
            m = measure(shlex.split(line), a.cold)
            runs[label].append(m)
            print(f"round {r + 1} {label}: " + ", ".join(f"{k} {v:.1f}" for k, v in m.items()), file=sys.stderr)
    results = []
    for label, line in cmds:
        ms = runs[label]
        results.append({
            "label": label, "command": line, "rounds": ms,
            "median": {k: statistics.median(m[k] for m in ms) for k in ms[0]},
            "max_peak_rss_mib": max(m["peak_rss_mib"] for m in ms),
        })
    out = {"machine": records.machine(), "cold": a.cold, "results": results}
    records.write(a.out, out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
