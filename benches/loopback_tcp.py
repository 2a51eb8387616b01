#!/usr/bin/env python3
"""The ceiling of a loopback transfer on this machine: 50 MB sent over TCP on 127.0.0.1 and
received into a buffer allocated once, no framing, no decoding (one copy on each side, in the
kernel). The baseline of the Flight SQL fetch in reports/README.md.

    python3 benches/loopback_tcp.py [--out reports/loopback_tcp.json]
"""
import argparse
import socket
import statistics
import threading
import time

import records

N = 50_000_000
ROUNDS = 7


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    a = ap.parse_args()
    data = b"x" * N
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        c, _ = srv.accept()
        for _ in range(ROUNDS):
            c.sendall(data)
        c.close()

    threading.Thread(target=serve, daemon=True).start()
    client = socket.create_connection(srv.getsockname())
    buf = bytearray(N)
    view = memoryview(buf)
    seconds = []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        got = 0
        while got < N:
            got += client.recv_into(view[got:], N - got)
        seconds.append(time.perf_counter() - t)
    median = statistics.median(seconds)
    record = {"bench": "loopback_tcp", "machine": records.machine(), "bytes": N, "seconds": seconds,
              "median_seconds": median, "mb_per_second": N / median / 1e6}
    records.write(a.out, record)
    print(f"{N / 1e6:.0f} MB over loopback TCP: median {median * 1000:.1f} ms, {N / median / 1e6:.0f} MB/s")


if __name__ == "__main__":
    main()
