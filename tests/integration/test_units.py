"""EXEC as one unit of work at a real proxy: another client's commands on the same proxy do
not interleave with it, and a write of it that misses its quorum answers its own error in
EXEC's array while the other entries answer as usual."""

from __future__ import annotations

import asyncio
import re
from typing import cast

import pytest
import redis
import redis.asyncio

from tests.integration.conftest import Cluster, start_proxy
from tests.support.processes import wait_for
from tests.support.redis_servers import StartNodes

pytestmark = pytest.mark.integration

ROUNDS = 60
"""Requests of the long transaction that each ask the replicas (a GET of a key it did not
write), each followed by an APPEND of one letter to the contended key."""


def test_another_clients_commands_do_not_interleave_with_a_long_exec(
    shared_cluster: Cluster,
) -> None:
    """B appends `b` and reads the key in a loop, before, during and after A's EXEC, which
    appends `a` ROUNDS times with round trips in between. In a serial order no `b` comes
    between two `a`s, none is lost, and B sees either none of the transaction or all of it."""

    async def scenario() -> tuple[list[object], list[bytes], int, bytes]:
        a = redis.asyncio.Redis(port=shared_cluster.proxy.port)
        b = redis.asyncio.Redis(port=shared_cluster.proxy.port)
        try:
            await a.flushall()
            seen: list[bytes] = []
            finished = asyncio.Event()

            async def other_client() -> None:
                after = 0
                while after < 5:
                    done = finished.is_set()
                    await b.append("k", "b")
                    seen.append(await b.get("k"))
                    after += done

            other = asyncio.create_task(other_client())
            while len(seen) < 3:  # B is running before EXEC is sent
                await asyncio.wait([other], timeout=0.01)
            async with a.pipeline(transaction=True) as pipe:
                for round_ in range(ROUNDS):
                    pipe.get(f"other-{round_}")
                    pipe.append("k", "a")
                replies = await pipe.execute()
            finished.set()
            await other
            return replies, seen, len(seen), await a.get("k")
        finally:
            await a.aclose()
            await b.aclose()

    replies, seen, appended, final = asyncio.run(scenario())
    before = cast(int, replies[1]) - 1
    assert replies == [entry for n in range(ROUNDS) for entry in (None, before + n + 1)]
    transaction = b"b" * before + b"a" * ROUNDS
    assert re.fullmatch(re.escape(transaction) + b"b+", final), final
    assert final.count(b"b") == appended  # no append of B was lost
    serial = re.compile(b"b+|" + re.escape(transaction) + b"b*")
    assert all(serial.fullmatch(value) for value in seen), seen


def test_a_write_that_misses_its_quorum_answers_its_own_error_in_execs_array(
    redis_nodes: StartNodes,
) -> None:
    """W=3 and R=1 with one replica down: every write of the transaction misses its quorum,
    every read still answers, and the reads see the transaction's own writes."""
    nodes = redis_nodes(3)
    proxy = start_proxy(nodes, "--w", "3", "--r", "1")
    try:
        with proxy.client() as client:
            client.set("k", "before")
            nodes[0].kill()
            assert wait_for(lambda: _replica_down(client))
            with client.pipeline(transaction=True) as pipe:
                pipe.get("k").set("k", "after").append("k", "!").ping().get("k")
                pipe.execute_command("SELECT", 1).set("j", "one").get("j")
                pipe.execute_command("SELECT", 0)
                replies = pipe.execute(raise_on_error=False)
            missed = re.compile(r"NOQUORUM write quorum not reached: [0-2] of 3 required replicas")
            assert replies[0] == b"before"
            for index in (1, 2, 6):
                assert isinstance(replies[index], redis.ResponseError), replies
                assert missed.match(str(replies[index])), replies[index]
            assert replies[3:6] == [True, b"after!", True]
            assert replies[7:] == [b"one", True]
            assert client.get("k") in (b"before", b"after!")  # a missed quorum is no rollback
    finally:
        proxy.stop()


def _replica_down(client: redis.Redis) -> bool:
    try:
        client.set("probe", "x")
    except redis.ResponseError:
        return True
    return False
