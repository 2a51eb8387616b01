#!/usr/bin/env python3
"""`heavytune run` against the legacy tool's way of computing, on the same production-shape CSV.

The legacy script itself is not in this repository, so its stages are rebuilt here the way
LEGACY_SPEC.md describes them, with the same libraries (pandas read_csv, np.corrcoef over all
strategies, per-strategy pandas metrics, per-portfolio numpy fitness with lookups in the full
correlation matrix). Each side runs as a child process; wall time and peak RSS come from wait4.
The legacy search time is the measured fitness rate times heavytune's evaluation count (the
same legacy budgets): running 190,000 evaluations at ~hundreds per second would take minutes.

    python3 benches/run_vs_legacy_numpy.py --bin target/release/heavytune --csv prod.csv \
        --out reports/run_vs_legacy_numpy.json
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

LEGACY = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np, pandas as pd
t_import = time.perf_counter() - t0
csv, evals = sys.argv[1], int(sys.argv[2])
t = time.perf_counter()
df = pd.read_csv(csv).fillna(0)
t_load = time.perf_counter() - t
cols = list(df.columns[3:])
mat = df[cols].to_numpy().astype(float)
t = time.perf_counter()
corr = np.nan_to_num(np.corrcoef(mat.T))
t_corr = time.perf_counter() - t
t = time.perf_counter()
rows = []
for c in cols:
    r = df[c]
    eq = r.cumsum()
    mdd = (eq.cummax() - eq).max()
    pos, neg = r[r > 0], r[r < 0]
    w = len(pos) / len(r)
    pf = pos.sum() / abs(neg.sum()) if len(neg) else float("inf")
    exp = w * (pos.mean() if len(pos) else 0) - (1 - w) * (abs(neg).mean() if len(neg) else 0)
    rows.append((c, r.sum(), mdd, w, pf, exp))
metrics = pd.DataFrame(rows, columns=["strategy", "ROI", "Max Drawdown", "Win Percentage", "Profit Factor", "Expectancy"])
t_metrics = time.perf_counter() - t
rng = np.random.default_rng(42)
def fitness(sol):
    p = mat[:, sol].mean(axis=1)
    roi = p.sum()
    eq = np.cumsum(p)
    mdd = np.max(np.maximum.accumulate(eq) - eq)
    base = roi / mdd if mdd > 1e-6 else (roi * 100 if roi > 0 else (roi * 10 if roi < 0 else 0))
    sub = corr[np.ix_(sol, sol)]
    k = len(sol)
    avg = (sub.sum() - np.trace(sub)) / (k * (k - 1)) if k > 1 else 0.0
    return base - 10 * avg
sols = [list(rng.choice(len(cols), 50, replace=False)) for _ in range(evals)]
t = time.perf_counter()
for s in sols:
    fitness(s)
t_eval = time.perf_counter() - t
print(json.dumps({"import": t_import, "load": t_load, "corr_matrix": t_corr, "strategy_metrics": t_metrics,
                  "evaluations": evals, "eval_seconds": t_eval, "evals_per_second": evals / t_eval}))
"""


def child(cmd):
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{cmd[0]} failed: {err.decode()}")
    return json.loads(out), wall, usage.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--evals", type=int, default=3000, help="legacy fitness evaluations to time")
    ap.add_argument("--runs", type=int, default=3, help="heavytune runs (the median is kept)")
    ap.add_argument("--out")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for _ in range(a.runs):
            res, wall, rss = child([a.bin, "run", "--input", a.csv, "--out", tmp, "--json", "--quiet"])
            runs.append({"wall": wall, "peak_rss_mib": rss, "timings": res["timings"],
                         "evaluations": res["evaluations"], "evaluations_per_second": res["evaluations_per_second"],
                         "best": res["best"]})
        runs.sort(key=lambda r: r["wall"])
        ht = runs[len(runs) // 2]
    leg, leg_wall, leg_rss = child([sys.executable, "-c", LEGACY, a.csv, str(a.evals)])
    search = ht["evaluations"] / leg["evals_per_second"]
    legacy_total = leg["load"] + leg["corr_matrix"] + leg["strategy_metrics"] + search
    record = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "csv": a.csv,
        "heavytune": ht,
        "legacy_numpy": {**leg, "wall_measured_part": leg_wall, "peak_rss_mib": leg_rss,
                         "search_seconds_at_measured_rate": search, "total_estimate": legacy_total},
        "speedup_total": legacy_total / ht["wall"],
        "speedup_fitness_rate": ht["evaluations_per_second"] / leg["evals_per_second"],
    }
    text = json.dumps(record, indent=2)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
