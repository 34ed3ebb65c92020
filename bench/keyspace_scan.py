"""Benchmark of a whole keyspace iteration: SCAN through the proxy against SCAN of one replica.

    .venv/bin/python bench/keyspace_scan.py [--keys 1000000] [--count 1000 --count 100]
        [--value-bytes 100] [--loaders 4]

It starts three redis-servers with a `leaderless proxy` over them (N = 3, W = R = 2), loads
--keys keys through the proxy (pipelined SETs, 1000 per pipeline, from --loaders threads), then
for each --count times one whole SCAN iteration from cursor 0 back to 0, directly on replica 0
(which lists the records and the proxy's internal keys) and through the proxy (which scans
N - W + 1 = 2 replicas and reads each page's keys at quorum), and one KEYS * of each. Each line
gives the seconds, the calls, the keys returned and, through the proxy, the distinct keys,
which must be --keys: the run fails otherwise. The servers come from the binary `leaderless up`
would run, and are stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import redis
from leaderless.bench.proxy import Processes
from leaderless.config.loader import load_settings
from leaderless.proxy.app.local_nodes import find_node_server

PIPELINE = 1000


def load(port: int, keys: int, value: bytes, loaders: int) -> float:
    """Seconds to SET keys key:0 .. key:keys-1 through the proxy, `loaders` connections at once."""

    def load_share(first: int) -> None:
        client = redis.Redis(port=port, socket_timeout=60)
        for start in range(first * PIPELINE, keys, PIPELINE * loaders):
            pipe = client.pipeline(transaction=False)
            for index in range(start, min(start + PIPELINE, keys)):
                pipe.set(b"key:%d" % index, value)
            pipe.execute()
        client.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=load_share, args=(i,)) for i in range(loaders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def full_scan(port: int, count: int) -> dict[str, object]:
    """One iteration from cursor 0 back to 0 with COUNT `count`."""
    client = redis.Redis(port=port, socket_timeout=600)
    distinct: set[bytes | str] = set()
    returned = calls = 0
    started = time.perf_counter()
    cursor = None
    while cursor != 0:
        cursor, page = client.scan(cursor or 0, count=count)
        calls += 1
        returned += len(page)
        distinct.update(page)
    seconds = time.perf_counter() - started
    client.close()
    return {
        "seconds": round(seconds, 2),
        "calls": calls,
        "returned": returned,
        "distinct": len(distinct),
    }


def keys_all(port: int) -> dict[str, object]:
    client = redis.Redis(port=port, socket_timeout=600)
    started = time.perf_counter()
    found = client.keys("*")
    seconds = time.perf_counter() - started
    client.close()
    return {"seconds": round(seconds, 2), "returned": len(found)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--count", type=int, action="append", help="SCAN COUNT; repeatable")
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--loaders", type=int, default=4)
    args = parser.parse_args()
    counts = args.count or [1000, 100]
    server = find_node_server(load_settings(None, {}, os.environ).local_nodes.redis_server)
    print(server.startup_line(), flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="leaderless-scan-bench-") as scratch,
        Processes(server.path) as processes,
    ):
        replicas = [processes.node(Path(scratch) / f"replica{i}") for i in range(3)]
        proxy = processes.proxy(replicas, len(replicas), 1)
        seconds = load(proxy.port, args.keys, b"v" * args.value_bytes, args.loaders)
        print(json.dumps({"load": {"keys": args.keys, "seconds": round(seconds, 2)}}), flush=True)
        for count in counts:
            direct = full_scan(replicas[0].port, count)
            proxied = full_scan(proxy.port, count)
            print(
                json.dumps({"scan": {"count": count, "replica": direct, "proxy": proxied}}),
                flush=True,
            )
            if proxied["distinct"] != args.keys:
                raise SystemExit(f"the proxy's iteration listed {proxied['distinct']} keys")
        print(
            json.dumps(
                {"keys": {"replica": keys_all(replicas[0].port), "proxy": keys_all(proxy.port)}}
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
