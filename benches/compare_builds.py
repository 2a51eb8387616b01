#!/usr/bin/env python3
"""The criterion benches of two builds, run back to back on one machine: for each bench
(fitness, load, rewrite) the first build's binary, then the second's, alternating `--rounds`
times. Prints and writes every benchmark's mean time (the median over rounds) side by side
with the ratio new / old.

Build the bench binaries of each version first (`cargo bench --no-run` in a checkout of each;
cargo prints their paths), copy them into one folder per version named `fitness`, `load` and
`rewrite`, then:

    python3 benches/compare_builds.py --old DIR_OF_OLD --new DIR_OF_NEW \\
        --out reports/structure_benches.json [--benches fitness,load,rewrite] [--rounds 3] [--filter NAME]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import records

UNITS = {"ps": 1e-12, "ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
LINE = re.compile(r"^(?P<name>\S.*?)\s+time:\s+\[(?P<lo>[\d.]+) (?P<lu>\S+) (?P<mid>[\d.]+) (?P<mu>\S+) (?P<hi>[\d.]+) (?P<hu>\S+)\]")


def run(binary, filter_):
    """Runs one criterion binary; returns {benchmark: mean seconds} (criterion's middle estimate)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, CARGO_TARGET_DIR=tmp)
        args = [binary, "--bench"] + ([filter_] if filter_ else [])
        p = subprocess.run(args, cwd=tmp, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{binary} failed:\n{p.stderr[-4000:]}")
    out, name = {}, None
    for line in p.stdout.splitlines():
        m = LINE.match(line.strip()) if "time:" in line else None
        if m:
            out[m["name"]] = float(m["mid"]) * UNITS[m["mu"]]
        elif "time:" in line and name:
            m = LINE.match(name + " " + line.strip())
            if m:
                out[name] = float(m["mid"]) * UNITS[m["mu"]]
        elif line.strip() and not line.startswith(" "):
            name = line.strip()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--benches", default="fitness,load,rewrite")
    ap.add_argument("--filter", help="criterion's name filter, passed to every binary")
    ap.add_argument("--rounds", type=int, default=1,
                    help="old and new alternate this many times per bench; the medians are kept")
    ap.add_argument("--out")
    a = ap.parse_args()
    rows = []
    for bench in a.benches.split(","):
        olds, news = [], []
        for _ in range(a.rounds):
            olds.append(run(os.path.join(a.old, bench), a.filter))
            news.append(run(os.path.join(a.new, bench), a.filter))
        for name in olds[0]:
            if all(name in r for r in olds + news):
                r = {"bench": bench, "name": name, **records.old_new(olds, news, name, "seconds")}
                rows.append(r)
                print(f"{bench:<8} {name:<70} old {r['old_seconds']:.6g} s  new {r['new_seconds']:.6g} s"
                      f"  new/old {r['new_over_old']:.3f}")
    records.write(a.out, {"machine": records.machine(), "old": a.old, "new": a.new, "rounds": a.rounds,
                          "filter": a.filter, "results": rows})


if __name__ == "__main__":
    main()
