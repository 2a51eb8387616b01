#!/usr/bin/env python3
"""`heavytune run` on one production-shape CSV, every variant as a child process, the variants
interleaved round by round so that they see the same machine state; wall time and peak RSS from
wait4. Variants: the default path (per-strategy statistics in the engine), `--stats local`,
`--threads 1` and `2`, and `--batch 1 / 8 / 64 / 512`; with several `--bin`, each binary runs
each variant (before/after comparisons of two builds, measured back to back). The README's
main job is the default variant.

    python3 benches/run_paths.py --bin target/release/heavytune --csv prod.csv \\
        --out reports/run_paths.json [--bin OTHER] [--rounds 3] [--variants default,local]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import records

VARIANTS = {
    "default": [],
    "local": ["--stats", "local"],
    "ulta": ["--ulta"],
    "ulta_local": ["--ulta", "--stats", "local"],
    "threads1": ["--threads", "1"],
    "threads2": ["--threads", "2"],
    "batch1": ["--batch", "1"],
    "batch8": ["--batch", "8"],
    "batch64": ["--batch", "64"],
    "batch512": ["--batch", "512"],
}


def measure(binary, csv, variant):
    """One run in a fresh Python child, so RUSAGE_CHILDREN's peak is that run's alone."""
    code = (
        "import json,sys,resource,subprocess,time;"
        "t=time.perf_counter();p=subprocess.run(sys.argv[1:],capture_output=True);w=time.perf_counter()-t;"
        "sys.stderr.write(p.stderr.decode());"
        "print(json.dumps({'rc':p.returncode,'wall':w,'rss':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024,"
        "'out':p.stdout.decode()}))"
    )
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [binary, "run", "--input", csv, "--out", tmp, "--json", "--quiet", "--no-plots"] + VARIANTS[variant]
        p = subprocess.run([sys.executable, "-c", code] + cmd, capture_output=True)
        if p.returncode != 0:
            sys.exit(p.stderr.decode())
        r = json.loads(p.stdout)
        if r["rc"] != 0:
            sys.exit(f"{' '.join(cmd)} failed (exit {r['rc']})")
        res = json.loads(r["out"])
        return {"wall": r["wall"], "peak_rss_mib": r["rss"], "timings": res["timings"],
                "best": res["best"], "evaluations_per_second": res["evaluations_per_second"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", action="append", required=True, help="a heavytune binary (repeat to compare)")
    ap.add_argument("--label", action="append", help="a name per --bin (default: the path)")
    ap.add_argument("--csv", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out")
    ap.add_argument("--same-cache", action="store_true",
                    help="first evict every binary from the page cache and read each once, so that all are "
                         "cached alike (how much of a binary is cached, in which folio sizes, changes how much "
                         "code each page fault maps: several MiB of peak RSS)")
    a = ap.parse_args()
    labels = a.label or a.bin
    if a.same_cache:
        for b in a.bin:
            fd = os.open(b, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
        for b in a.bin:
            with open(b, "rb") as f:
                while f.read(1 << 20):
                    pass
    variants = a.variants.split(",")
    runs = {(l, v): [] for l in labels for v in variants}
    for r in range(a.rounds):
        for v in variants:
            for b, l in zip(a.bin, labels):
                m = measure(b, a.csv, v)
                runs[(l, v)].append(m)
                print(f"round {r + 1} {l} {v}: {m['wall']:.3f} s, {m['peak_rss_mib']:.0f} MiB", file=sys.stderr)
    results = []
    for (l, v), ms in runs.items():
        walls = [m["wall"] for m in ms]
        results.append({
            "binary": l, "variant": v, "args": VARIANTS[v],
            "wall_median": statistics.median(walls), "wall_min": min(walls), "wall_max": max(walls),
            "peak_rss_mib_median": statistics.median(m["peak_rss_mib"] for m in ms),
            "peak_rss_mib_max": max(m["peak_rss_mib"] for m in ms),
            "search_median": statistics.median(m["timings"]["search"] for m in ms),
            "stats_median": statistics.median(m["timings"]["ulta"] + m["timings"]["strategy_metrics"] + m["timings"]["standardize"] for m in ms),
            "best": ms[0]["best"], "runs": ms,
        })
    record = {
        "machine": records.machine(),
        "csv": a.csv, "rounds": a.rounds, "same_cache": a.same_cache, "results": results,
    }
    text = json.dumps(record, indent=2)
    for r in results:
        print(f"{r['binary']:<40} {r['variant']:<10} median {r['wall_median']:.3f} s "
              f"(min {r['wall_min']:.3f}, max {r['wall_max']:.3f}), peak median {r['peak_rss_mib_median']:.0f} MiB (max {r['peak_rss_mib_max']:.0f}), "
              f"stats {r['stats_median']:.3f} s, search {r['search_median']:.3f} s")
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
