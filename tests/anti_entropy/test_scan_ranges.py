"""SCAN_RANGES on a real redis-server, driven by RangeScan as the sidecar drives it: exactly the
records of the wanted ranges whatever else the keyspace holds, keys written and deleted during
a pass, and keys Redis returns twice because its hash table shrank during a pass."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
import redis
from leaderless.proxy.app.local_nodes import start_on_free_port
from leaderless.replication.hlc import Timestamp
from leaderless.replication.merkle import RANGES, range_of
from leaderless.replication.range_scan import RangeScan
from leaderless.replication.record import HEADER_LEN, Record, encode_record
from leaderless.replication.scripts import (
    FLUSH,
    SCAN_RANGES,
    TAKE_LEASE,
    WRITE_IF_NEWER,
    write_if_newer_args,
)

from tests.anti_entropy.support import (
    EXPIRED_GRACE_MS,
    deletion,
    load_scripts,
    now_ms,
    value,
    write,
)
from tests.support.processes import wait_for
from tests.support.redis_servers import REDIS_6_2, pinned_server

pytestmark = pytest.mark.integration
EVERY_RANGE = range(RANGES)


def run_pass(
    client: redis.Redis, scan: RangeScan, between: Callable[[], None] = lambda: None
) -> tuple[dict[bytes, bytes], list[bytes]]:
    """Run `scan` to its end, calling `between` after each step. Returns what it found and
    every key the replica returned, repeats included."""
    found: dict[bytes, bytes] = {}
    returned: list[bytes] = []
    while not scan.done:
        reply = client.evalsha(SCAN_RANGES.sha, 0, *scan.request())
        returned += reply[2::2]
        new = scan.feed(reply)[1]
        assert not new.keys() & found.keys()
        found.update(new)
        between()
    return found, returned


def load(client: redis.Redis, records: dict[bytes, Record]) -> dict[bytes, bytes]:
    """Write the records through WRITE_IF_NEWER, pipelined; returns their headers."""
    pipe = client.pipeline(transaction=False)
    for key, record in records.items():
        encoded = encode_record(record, range_of(key))
        pipe.evalsha(
            WRITE_IF_NEWER.sha, 1, key, *write_if_newer_args([key], [encoded], EXPIRED_GRACE_MS)
        )
    assert all(applied == [1] for applied in pipe.execute())
    return {key: encode_record(r, range_of(key))[:HEADER_LEN] for key, r in records.items()}


def in_ranges(headers: dict[bytes, bytes], wanted: Iterable[int]) -> dict[bytes, bytes]:
    ranges = set(wanted)
    return {key: header for key, header in headers.items() if range_of(key) in ranges}


def test_a_pass_finds_the_records_of_the_wanted_ranges_and_nothing_else(
    node: redis.Redis,
) -> None:
    t = now_ms()
    records = {
        b"k%d" % i: deletion(t)
        if i % 10 == 0
        else value(t, b"v%d" % i, expires_at_ms=t + 3_600_000 if i % 10 == 1 else 0)
        for i in range(300)
    }
    headers = load(node, records)
    node.evalsha(FLUSH.sha, 0, Timestamp(t - 1, 0, 1).pack())  # a flush mark; deletes nothing
    node.evalsha(TAKE_LEASE.sha, 0, b"s1", b"sidecar", 60_000)
    node.set(b"foreign", b"not a record")
    node.set(b"foreign-long", b"\x01" + bytes(40))
    node.hset(b"foreign-hash", b"field", b"value")
    wanted = set(random.Random(5).sample(sorted(map(range_of, records)), 100))
    wanted |= {0, RANGES - 1}
    assert run_pass(node, RangeScan(wanted, count=7))[0] == in_ranges(headers, wanted)
    assert run_pass(node, RangeScan(EVERY_RANGE))[0] == headers
    assert run_pass(node, RangeScan(()))[0] == {}


def test_the_script_reads_the_bitmap_as_range_bitmap_writes_it(node: redis.Redis) -> None:
    ranges = [0, 1, 6, 7, 8, 255, 256, 32767, 32768, 65528, 65535]
    for range_id in ranges:  # set directly: the scan reads the range from the record only
        node.set(b"r%d" % range_id, encode_record(value(now_ms(), b"v"), range_id))
    for range_id in ranges:
        assert list(run_pass(node, RangeScan({range_id}))[0]) == [b"r%d" % range_id]
    assert run_pass(node, RangeScan(set(EVERY_RANGE) - set(ranges)))[0] == {}


def test_keys_written_and_deleted_during_a_pass(node: redis.Redis) -> None:
    """Keys present throughout are found once with their header; keys deleted before are not
    found; keys deleted, rewritten or added meanwhile are found at most once."""
    t = now_ms()
    headers = load(node, {b"k%d" % i: value(t, b"old") for i in range(2000)})
    keys = list(headers)
    gone, steady, churn = keys[:100], keys[100:1000], keys[1000:]
    node.delete(*gone)  # as an expiry or a purge does
    rng = random.Random(3)
    added: list[bytes] = []

    def meanwhile() -> None:
        for _ in range(5):
            key = rng.choice(churn)
            if rng.random() < 0.5:
                node.delete(key)
            else:
                write(node, key, value(t + rng.randrange(1, 10**6), b"newer"))
            added.append(b"added%d" % len(added))
            write(node, added[-1], value(t, b"added"))

    wanted = set(random.Random(4).sample(EVERY_RANGE, RANGES // 2))
    found, returned = run_pass(node, RangeScan(wanted, count=20), meanwhile)
    expected = in_ranges({key: headers[key] for key in steady}, wanted)
    assert {key: found.get(key) for key in expected} == expected
    others = set(found) - set(expected)
    assert others <= set(in_ranges(dict.fromkeys(churn + added, b""), wanted))
    assert len(returned) == len(set(returned))  # no shrink here: SCAN repeated nothing


@pytest.fixture
def redis_6_2_node(tmp_path: Path) -> Iterator[redis.Redis]:
    """One Redis 6.2 node: its dict shrinks as the case below needs, and it answers DEBUG
    HTSTATS (Valkey 8 has another hash table and refuses DEBUG by default)."""
    with (
        start_on_free_port(tmp_path / "node", executable=pinned_server(REDIS_6_2)) as server,
        server.client() as client,
    ):
        load_scripts(client)
        yield client


def test_a_key_returned_again_after_the_keyspace_shrank_is_found_once(
    redis_6_2_node: redis.Redis,
) -> None:
    """Redis returns a key twice when its hash table shrinks between two steps and the cursor
    stands inside a bucket of the smaller table that the pass had partly covered: here, 4096
    buckets become 512 (8 to 1) while 7 of the 8 are covered."""
    node = redis_6_2_node
    headers = load(node, {b"k%d" % i: value(now_ms(), b"v") for i in range(4000)})
    assert wait_for(lambda: _table(node) == (4096, False))
    scan = RangeScan(EVERY_RANGE, count=1)
    found: dict[bytes, bytes] = {}
    returned: list[bytes] = []
    # SCAN's cursor counts buckets with its bits reversed: its top 3 bits of 12, reversed, are
    # how many of the 8 buckets that become one the pass has covered. Stop at 7.
    while (int(scan.request()[0]) >> 9) & 7 != 7:
        reply = node.evalsha(SCAN_RANGES.sha, 0, *scan.request())
        returned += reply[2::2]
        found.update(scan.feed(reply)[1])
        assert not scan.done
    kept = set(returned[-300:])  # the partly covered bucket's keys are among the last returned
    kept.update([key for key in headers if key not in found][: 380 - len(kept)])
    node.delete(*(key for key in headers if key not in kept))  # 380 keys left: under 10 %
    assert wait_for(lambda: _table(node) == (512, False))
    rest, repeated = run_pass(node, scan)
    assert set(repeated) & set(returned), "the shrink repeated no key: nothing was tested"
    assert not rest.keys() & found.keys()
    assert {**found, **rest}.keys() >= kept


def _table(client: redis.Redis) -> tuple[int, bool]:
    """The size of the keyspace's hash table, and whether it is being rehashed."""
    stats = client.execute_command("DEBUG", "HTSTATS", 0).decode()
    keyspace = stats.split("[Expires HT]")[0]
    size = re.search(r"table size: (\d+)", keyspace)
    assert size is not None, stats
    return int(size.group(1)), "rehashing target" in keyspace
