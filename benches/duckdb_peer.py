"""heavytune's rewritten plans against DuckDB, the peer a user would reach for (issue 10).

The production-scale forms of the corpus's expensive correlation queries (benches/peer_queries/)
run on DuckDB as written and on heavytune's embedded engine, original and rewritten
(`heavytune bench ab --timeout`), over the same data in one run: DuckDB reads the Parquet parts
of the heavytune database that `heavytune load` wrote. Each DuckDB run that passes --timeout is
interrupted (`Connection.interrupt`) and counted as not finished.

    python benches/duckdb_peer.py --heavytune target/release/heavytune --csv prod.csv \
        --out reports/duckdb_peer.json

Needs the `duckdb` package (pip install duckdb).
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import duckdb

sys.path.insert(0, os.path.dirname(__file__))
import records  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def duckdb_runs(con, sql, runs, warmup, timeout):
    """Seconds of each measured run (None for one interrupted at the timeout) and the rows."""
    times, rows = [], None
    for i in range(warmup + runs):
        timer = threading.Timer(timeout, con.interrupt)
        start = time.perf_counter()
        timer.start()
        try:
            result = con.execute(sql).fetchall()
            elapsed = time.perf_counter() - start
        except duckdb.InterruptException:
            result, elapsed = None, None
        finally:
            timer.cancel()
        if result is not None:
            rows = len(result)
        if i >= warmup:
            times.append(elapsed)
        if elapsed is None:
            break  # as bench ab does: an original that timed out is not run again
    return times, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--heavytune", required=True, help="the heavytune binary")
    ap.add_argument("--csv", required=True, help="production-shape wide CSV (heavytune synth --out)")
    ap.add_argument("--out", help="JSON record to write")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per run of an original query")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "db")
        subprocess.run([args.heavytune, "--db", db, "--quiet", "load", "--input", args.csv], check=True)
        con = duckdb.connect()
        con.execute(f"SET threads TO {os.cpu_count()}")
        for table in ("pnl", "strategies"):
            parts = sorted(glob.glob(os.path.join(db, f"{table}.*", "*.parquet")))
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet({parts!r})")
        results = []
        for path in sorted(glob.glob(os.path.join(HERE, "peer_queries", "*.sql"))):
            name = os.path.splitext(os.path.basename(path))[0]
            sql = "\n".join(l for l in open(path).read().splitlines() if not l.startswith("--"))
            d_times, d_rows = duckdb_runs(con, sql, args.runs, args.warmup, args.timeout)
            d_done = [t for t in d_times if t is not None]
            ab = subprocess.run(
                [args.heavytune, "--db", db, "--quiet", "bench", "ab", "--sql", path, "--runs", str(args.runs),
                 "--warmup", str(args.warmup), "--timeout", str(args.timeout), "--json", "--out-dir",
                 os.path.join(tmp, "ab")],
                check=True, capture_output=True, text=True)
            rec = json.loads(ab.stdout)
            rewritten = rec["rewritten"]["seconds"]["median"]
            duck = statistics.median(d_done) if len(d_done) == len(d_times) and d_done else None
            row = {
                "query": name,
                "rules_fired": rec["rules_fired"],
                "duckdb_seconds_median": duck,
                "duckdb_runs": d_times,
                "duckdb_finished": duck is not None,
                "duckdb_rows": d_rows,
                "heavytune_rows": rec["rows"],
                "heavytune_original_seconds_median": rec["original"]["seconds"]["median"] if rec["original"]["finished"] else None,
                "heavytune_original_finished": rec["original"]["finished"],
                "heavytune_rewritten_seconds_median": rewritten,
                "heavytune_rewritten_runs": rec["rewritten"]["times"],
                "rewrite_speedup": rec["speedup"],
                "rewrite_speedup_at_least": rec["speedup_at_least"],
                "equal": rec["equal"],
                "equal_checked_on": rec["equal_checked_on"],
                "duckdb_over_heavytune_rewritten": (duck / rewritten) if duck else None,
                "duckdb_over_heavytune_rewritten_at_least": None if duck else args.timeout / rewritten,
            }
            results.append(row)
            print(json.dumps(row), flush=True)
        ratios = [r["duckdb_over_heavytune_rewritten"] or r["duckdb_over_heavytune_rewritten_at_least"] for r in results]
        record = {
            "what": "issue 10: user-written correlation queries, DuckDB as written against heavytune's rewritten plans, same data, same run",
            "command": " ".join(["python", "benches/duckdb_peer.py"] + sys.argv[1:]),
            "machine": records.machine(),
            "duckdb_version": duckdb.__version__,
            "heavytune": subprocess.run([args.heavytune, "--version"], capture_output=True, text=True).stdout.strip(),
            "runs": args.runs,
            "warmup": args.warmup,
            "timeout_seconds": args.timeout,
            "queries": results,
            "duckdb_over_heavytune_min": min(ratios),
            "duckdb_over_heavytune_median": statistics.median(ratios),
        }
        records.write(args.out, record)
        print(json.dumps({k: record[k] for k in ("duckdb_over_heavytune_min", "duckdb_over_heavytune_median")}))


if __name__ == "__main__":
    main()
