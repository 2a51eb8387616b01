#!/usr/bin/env python3
"""Side-by-side: pandas.read_csv vs `heavytune load` of the same production-shape file.

Both run as child processes, alternately, N times each; wall time and peak RSS come from
os.wait4 for each child. Writes a JSON record (default reports/load_vs_pandas.json).

usage: benches/load_vs_pandas.py --bin target/release/heavytune --csv prod.csv [--runs 5]
"""
import argparse, json, os, platform, statistics, subprocess, sys, tempfile, time

PANDAS = "import pandas, sys; pandas.read_csv(sys.argv[1])"


def run(cmd):
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed: {err}")
    return wall, usage.ru_maxrss / 1024.0  # KiB -> MiB


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default="reports/load_vs_pandas.json")
    a = ap.parse_args()
    import pandas  # noqa: F401  (fail early when missing)

    db = tempfile.mkdtemp(prefix="heavytune-bench-db-")
    ht = [a.bin, "--quiet", "--db", db, "load", "--input", a.csv]
    pd = [sys.executable, "-c", PANDAS, a.csv]
    run(ht), run(pd)  # warm the page cache for both
    res = {"heavytune": [], "pandas": []}
    for _ in range(a.runs):
        res["heavytune"].append(run(ht))
        res["pandas"].append(run(pd))
    # pandas' figure includes starting Python and importing pandas: measure that alone too.
    imp = [run([sys.executable, "-c", "import pandas"]) for _ in range(a.runs)]
    summary = {}
    for k, v in res.items():
        walls = [w for w, _ in v]
        summary[k] = {"wall_s_min": min(walls), "wall_s_median": statistics.median(walls),
                      "peak_rss_mib_max": max(m for _, m in v)}
    imp_med = statistics.median(w for w, _ in imp)
    summary["pandas_import_only_s_median"] = imp_med
    summary["speedup_median"] = summary["pandas"]["wall_s_median"] / summary["heavytune"]["wall_s_median"]
    summary["speedup_median_vs_read_csv_only"] = (summary["pandas"]["wall_s_median"] - imp_med) / summary["heavytune"]["wall_s_median"]
    summary.update(machine=f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
                   csv=a.csv, csv_bytes=os.path.getsize(a.csv), runs=a.runs,
                   pandas_version=__import__("pandas").__version__, command=" ".join(sys.argv))
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
