#!/usr/bin/env python3
"""Two builds of the slim `kernels_bench` binary, run alternately on one machine: for each round
the old binary then the new one (`--device cpu`, same flags), then the medians and ratios of
the CPU's full evaluations/s and swaps/s.

    python3 benches/kernels_ab.py --old OLD/kernels_bench --new NEW/kernels_bench \\
        --rounds 3 --out reports/kernels_cpu_layout.json
"""
import argparse
import json
import subprocess
import tempfile

import records


def run(binary, seconds):
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        subprocess.run([binary, "--device", "cpu", "--seconds", str(seconds), "--out", f.name],
                       check=True, capture_output=True)
        return json.load(open(f.name))["cpu"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--out")
    a = ap.parse_args()
    olds, news = [], []
    for _ in range(a.rounds):
        olds.append(run(a.old, a.seconds))
        news.append(run(a.new, a.seconds))
    result = {}
    for key in ["full_evaluations_per_second", "swaps_per_second"]:
        r = result[key] = records.old_new(olds, news, key, "")
        print(f"{key:<28} old {r['old']:12.0f}  new {r['new']:12.0f}  new/old {r['new_over_old']:.2f}")
    records.write(a.out, {"machine": records.machine(), "old": a.old, "new": a.new, "rounds": a.rounds,
                          "seconds": a.seconds, "results": result})


if __name__ == "__main__":
    main()
