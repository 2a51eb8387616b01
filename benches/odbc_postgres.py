#!/usr/bin/env python3
"""The ODBC engine against PostgreSQL on the production shape, in one run:

1. load: `heavytune load --engine odbc://...` (the wide CSV parsed, the long tables created
   from schema/postgresql.sql and filled with parameter arrays through psqlODBC, the index
   built, ANALYZE, in one transaction) against PostgreSQL's own `COPY ... FROM STDIN` of the
   same long rows through psql (the same DDL, index and ANALYZE in one transaction), rounds
   alternating;
2. the per-strategy stages (ULTA, metrics, standardization) of `heavytune run --table pnl`
   inside PostgreSQL against the embedded engine (DataFusion) over the same data, rows/s;
3. the rows per ODBC batch (fetch, and parameter arrays), HEAVYTUNE_ODBC_BATCH_ROWS, and the
   rows per INSERT statement (a multi-row VALUES list bound to arrays),
   HEAVYTUNE_ODBC_ROWS_PER_INSERT.

The script starts a throw-away server with .ci/postgres and stops it at the end.

    python3 benches/odbc_postgres.py --bin target/release/heavytune --csv prod.csv \\
        --out reports/odbc_postgres.json [--rounds 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, env=None, stdin=None):
    p = subprocess.run(cmd, capture_output=True, env={**os.environ, **(env or {})}, stdin=stdin)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode()[-2000:]}")
    return p.stdout


def timed(cmd, env=None, stdin=None):
    t = time.perf_counter()
    out = run(cmd, env, stdin)
    return time.perf_counter() - t, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--csv", required=True, help="production-shape wide CSV (heavytune synth)")
    ap.add_argument("--out")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-rows", default="8192,32768")
    ap.add_argument("--rows-per-insert", default="1,100,1000")
    a = ap.parse_args()
    binary, csv = os.path.abspath(a.bin), os.path.abspath(a.csv)

    pg = tempfile.mkdtemp(prefix="heavytune-pg-bench.")
    run(["bash", os.path.join(ROOT, ".ci/postgres"), "start", pg])
    try:
        env = {}
        with open(os.path.join(pg, "env")) as f:
            for line in f:
                k, v = line.removeprefix("export ").strip().split("=", 1)
                env[k] = v.strip("'")
        port, password = env["HEAVYTUNE_TEST_PG_PORT"], env["HEAVYTUNE_TEST_PG_PASSWORD"]
        env["HEAVYTUNE_PASSWORD"] = password
        psql_env = {"PGPASSWORD": password}
        psql = ["psql", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q"]
        run(psql + ["-d", "postgres", "-c", "CREATE DATABASE bench_odbc"], psql_env)
        run(psql + ["-d", "postgres", "-c", "CREATE DATABASE bench_copy"], psql_env)
        url = f"odbc://{env['HEAVYTUNE_TEST_PG']};Database=bench_odbc"

        work = tempfile.mkdtemp(prefix="heavytune-bench.")
        db = os.path.join(work, "db")
        run([binary, "--db", db, "--quiet", "load", "--input", csv])
        # The long rows, as COPY reads them (not timed).
        long_csv = os.path.join(work, "pnl.csv")
        strat_csv = os.path.join(work, "strategies.csv")
        with open(long_csv, "wb") as f:
            f.write(run([binary, "--db", db, "sql", "--csv",
                         "SELECT strategy_id, seq, trade_date, zone, pnl FROM pnl ORDER BY strategy_id, seq"]))
        with open(strat_csv, "wb") as f:
            f.write(run([binary, "--db", db, "sql", "--csv",
                         "SELECT strategy_id, name, file_label FROM strategies ORDER BY strategy_id"]))
        rows = int(json.loads(run([binary, "--db", db, "sql", "--json", "SELECT COUNT(*) AS n FROM pnl"]))[0]["n"])
        with open(os.path.join(ROOT, "schema/postgresql.sql")) as f:
            schema = f.read()
        tables, index = schema.split("CREATE INDEX", 1)
        copy_sql = (
            "BEGIN;\nDROP TABLE IF EXISTS pnl;\nDROP TABLE IF EXISTS strategies;\n" + tables +
            f"\\copy strategies FROM '{strat_csv}' WITH (FORMAT csv, HEADER true)\n"
            f"\\copy pnl FROM '{long_csv}' WITH (FORMAT csv, HEADER true)\n"
            "CREATE INDEX" + index + "\nCOMMIT;\nANALYZE strategies;\nANALYZE pnl;\n")
        copy_file = os.path.join(work, "copy.sql")
        with open(copy_file, "w") as f:
            f.write(copy_sql)

        loads = []
        for r in range(a.rounds):
            t_odbc, _ = timed([binary, "--engine", url, "--quiet", "load", "--input", csv], env)
            t_copy, _ = timed(psql + ["-d", "bench_copy", "-f", copy_file], psql_env)
            loads.append({"odbc_seconds": t_odbc, "copy_seconds": t_copy})
            print(f"load round {r}: odbc {t_odbc:.2f} s, COPY {t_copy:.2f} s", file=sys.stderr)
        # The parse of the wide CSV inside heavytune's load, for the record: the embedded load
        # of the same file (parse + Parquet write).
        t_embedded_load, _ = timed([binary, "--db", os.path.join(work, "db2"), "--quiet", "load", "--input", csv])

        quick = ["run", "--table", "pnl", "--json", "--no-plots", "--algorithms", "rs", "--min-size", "35",
                 "--max-size", "35", "--generations", "1", "--population", "2", "--ulta"]
        stages = []
        for r in range(a.rounds):
            out = {}
            for name, engine in [("postgres_odbc", ["--engine", url]), ("embedded", ["--db", db])]:
                t, o = timed([binary, *engine, "--quiet", *quick, "--out", os.path.join(work, "out")], env)
                v = json.loads(o)
                out[name] = {k: v["timings"][k] for k in ("load", "ulta", "strategy_metrics", "standardize")}
                out[name]["wall_seconds"] = t
                out[name]["best"] = v["sizes"][0]["strategies"]
            stages.append(out)
            print(f"stages round {r}: {json.dumps({k: v['strategy_metrics'] for k, v in out.items()})}", file=sys.stderr)

        batches = []
        for n in [int(x) for x in a.batch_rows.split(",")]:
            benv = {**env, "HEAVYTUNE_ODBC_BATCH_ROWS": str(n)}
            t_load, _ = timed([binary, "--engine", url, "--quiet", "load", "--input", csv], benv)
            f = json.loads(run([binary, "--engine", url, "--quiet", "bench", "fetch", "--table", "pnl", "--runs", "2",
                                "--warmup", "1", "--json", "--out", os.path.join(work, "fetch")], benv))
            batches.append({"batch_rows": n, "load_seconds": t_load, "fetch": f})
            print(f"batch {n}: load {t_load:.2f} s, fetch {json.dumps(f)[:200]}", file=sys.stderr)
        # psqlODBC keeps a whole result in memory unless told to read it through a cursor.
        declare = json.loads(run([binary, "--engine", url + ";UseDeclareFetch=1;Fetch=8192", "--quiet", "bench", "fetch",
                                  "--table", "pnl", "--runs", "2", "--warmup", "1", "--json", "--out",
                                  os.path.join(work, "fetch")], env))
        print(f"UseDeclareFetch=1: fetch {json.dumps(declare)[:200]}", file=sys.stderr)
        inserts = []
        for k in [int(x) for x in a.rows_per_insert.split(",")]:
            t_load, _ = timed([binary, "--engine", url, "--quiet", "load", "--input", csv],
                              {**env, "HEAVYTUNE_ODBC_ROWS_PER_INSERT": str(k)})
            inserts.append({"rows_per_insert": k, "load_seconds": t_load, "rows_per_second": rows / t_load})
            print(f"rows per insert {k}: load {t_load:.2f} s", file=sys.stderr)
    finally:
        subprocess.run(["bash", os.path.join(ROOT, ".ci/postgres"), "stop", pg])

    med = lambda xs: statistics.median(xs)
    odbc_load, copy_load = med([l["odbc_seconds"] for l in loads]), med([l["copy_seconds"] for l in loads])

    def stage(side, key):
        return med([s[side][key] for s in stages])

    record = {
        "machine": records.machine(),
        "command": "python3 benches/odbc_postgres.py --bin target/release/heavytune --csv prod.csv "
                   f"--out reports/odbc_postgres.json --rounds {a.rounds} --batch-rows {a.batch_rows} "
                   f"--rows-per-insert {a.rows_per_insert}",
        "server": "PostgreSQL (Debian postgresql, .ci/postgres: fsync off), psqlODBC (odbc-postgresql), 127.0.0.1",
        "rows": rows,
        "load": {
            "odbc_seconds": odbc_load, "copy_seconds": copy_load,
            "odbc_rows_per_second": rows / odbc_load, "copy_rows_per_second": rows / copy_load,
            "odbc_over_copy": odbc_load / copy_load,
            "embedded_load_seconds": t_embedded_load,
            "rounds": loads,
        },
        "stages": {
            side: {
                **{f"{k}_seconds": stage(side, k) for k in ("ulta", "strategy_metrics", "standardize")},
                "stages_rows_per_second": rows / sum(stage(side, k) for k in ("ulta", "strategy_metrics", "standardize")),
            }
            for side in ("postgres_odbc", "embedded")
        },
        "same_best_portfolio": all(s["postgres_odbc"]["best"] == s["embedded"]["best"] for s in stages),
        "stage_rounds": stages,
        "batch_rows": batches,
        "rows_per_insert": inserts,
        "fetch_use_declare_fetch": {"connection_string_adds": "UseDeclareFetch=1;Fetch=8192", "fetch": declare},
    }
    p, e = record["stages"]["postgres_odbc"], record["stages"]["embedded"]
    record["stages"]["postgres_over_embedded"] = {
        k: p[f"{k}_seconds"] / e[f"{k}_seconds"] for k in ("ulta", "strategy_metrics", "standardize")}
    records.write(a.out, record)
    print(json.dumps({"load": {k: v for k, v in record["load"].items() if k != "rounds"},
                      "stages": record["stages"], "same_best_portfolio": record["same_best_portfolio"]}, indent=2))


if __name__ == "__main__":
    main()
