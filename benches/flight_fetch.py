#!/usr/bin/env python3
"""Fetching the production-shape `pnl` table (2,094,608 rows) over Arrow Flight SQL on loopback
against reading it in process, in one run: `heavytune serve` on a free 127.0.0.1 port over a
database folder, then `heavytune bench fetch` through `flightsql://` and through the embedded
engine, alternately, each fetch round a child process of its own (so each peak memory is that
path's alone). The server's own peak memory is read from /proc when it is stopped.

    python3 benches/flight_fetch.py --bin target/release/heavytune --csv prod.csv \\
        --out reports/flight_fetch.json [--rounds 3] [--runs 5]

Without --db the script loads --csv into a temporary database folder first.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile

import resource

import records

USER = "bench"
PASSWORD = "bench-password"


def cpu_of(pid):
    """User + system CPU seconds of a running process (from /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def bench(binary, db, engine, runs, extra_env):
    cmd = [binary, "--db", db, "--engine", engine, "--quiet", "bench", "fetch", "--table", "pnl",
           "--runs", str(runs), "--warmup", "1", "--json", "--out", os.path.join(db, "bench")]
    p = subprocess.run(cmd, capture_output=True, env={**os.environ, **extra_env})
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {p.stderr.decode()}")
    return json.loads(p.stdout)


def peak_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--csv", help="production-shape wide CSV to load (without --db)")
    ap.add_argument("--db", help="a database folder that already holds pnl")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out")
    a = ap.parse_args()
    tmp = None
    db = a.db
    if db is None:
        if not a.csv:
            sys.exit("give --csv (loaded into a temporary folder) or --db")
        tmp = tempfile.TemporaryDirectory()
        db = tmp.name
        subprocess.run([a.bin, "--db", db, "load", "--input", a.csv, "--quiet"], check=True)
    env = {"HEAVYTUNE_PASSWORD": PASSWORD}
    server = subprocess.Popen([a.bin, "--db", db, "serve", "--listen", "127.0.0.1:0", "--user", USER],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, **env})
    try:
        line = server.stdout.readline().decode().strip()
        address = line.removeprefix("listening on ")
        remote = f"flightsql://{USER}@{address}"
        rounds = {"flightsql": [], "embedded": []}
        cpu = {"server": 0.0, "client": 0.0}
        for _ in range(a.rounds):
            s0, c0 = cpu_of(server.pid), children_cpu()
            rounds["flightsql"].append(bench(a.bin, db, remote, a.runs, env))
            cpu["server"] += cpu_of(server.pid) - s0
            cpu["client"] += children_cpu() - c0
            rounds["embedded"].append(bench(a.bin, db, "embedded", a.runs, {}))
        server_peak = peak_of(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    summary = {}
    for path, recs in rounds.items():
        summary[path] = {
            "rows": recs[0]["rows"],
            "arrow_bytes": recs[0]["arrow_bytes"],
            "median_seconds": statistics.median(r["seconds"]["median"] for r in recs),
            "mb_per_second": statistics.median(r["mb_per_second"] for r in recs),
            "peak_rss_mib": statistics.median(r["peak_rss_bytes"] for r in recs) / 2**20,
            "wire_bytes_per_fetch": recs[0]["wire_bytes_per_fetch"],
            "bytes_copied_after_receive": sum(r["bytes_copied_after_receive"] or 0 for r in recs)
            if recs[0]["bytes_copied_after_receive"] is not None else None,
            "round_medians_seconds": [r["seconds"]["median"] for r in recs],
        }
    record = {
        "bench": "flight_fetch",
        "machine": records.machine(),
        "cpu": rounds["embedded"][0]["machine"],
        "command": " ".join(sys.argv),
        "rounds": a.rounds,
        "runs_per_round": a.runs,
        "paths": summary,
        "server_peak_rss_mib": server_peak / 2**20 if server_peak else None,
        # CPU per fetch over the wire (warm-up fetches included; the client's start-up too).
        "flightsql_cpu_ms_per_fetch": {k: 1000 * v / (a.rounds * (a.runs + 1)) for k, v in cpu.items()},
        "flightsql_over_embedded_time": summary["flightsql"]["median_seconds"] / summary["embedded"]["median_seconds"],
        "records": rounds,
    }
    records.write(a.out, record)
    print(json.dumps({k: v for k, v in record.items() if k != "records"}, indent=2))


if __name__ == "__main__":
    main()
