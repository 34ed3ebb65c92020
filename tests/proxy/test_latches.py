"""Key latches: read-then-write commands of one key take turns; other keys do not wait."""

from __future__ import annotations

import asyncio

from leaderless.proxy.latches import KeyLatches


async def hold(latches: KeyLatches, keys: list[bytes], log: list[str], name: str) -> None:
    async with latches.holding(0, keys):
        log.append(f"{name} in")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        log.append(f"{name} out")


def test_commands_of_one_key_take_turns_in_arrival_order() -> None:
    async def main() -> list[str]:
        latches, log = KeyLatches(), []
        await asyncio.gather(*(hold(latches, [b"k"], log, name) for name in "abc"))
        assert not latches.held(0, b"k")
        return log

    assert asyncio.run(main()) == ["a in", "a out", "b in", "b out", "c in", "c out"]


def test_other_keys_and_other_databases_do_not_wait() -> None:
    async def main() -> list[str]:
        latches, log = KeyLatches(), []

        async def other_db() -> None:
            async with latches.holding(1, [b"k"]):
                log.append("db1 in")

        await asyncio.gather(
            hold(latches, [b"k"], log, "a"), hold(latches, [b"j"], log, "b"), other_db()
        )
        return log

    assert asyncio.run(main())[:3] == ["a in", "b in", "db1 in"]


def test_several_keys_in_any_order_cannot_wait_for_each_other() -> None:
    async def main() -> list[str]:
        latches, log = KeyLatches(), []
        await asyncio.wait_for(
            asyncio.gather(
                hold(latches, [b"x", b"y"], log, "a"), hold(latches, [b"y", b"x"], log, "b")
            ),
            5,
        )
        return log

    assert asyncio.run(main()) == ["a in", "a out", "b in", "b out"]


def test_a_waiter_cancelled_passes_its_turn_on() -> None:
    async def main() -> list[str]:
        latches, log = KeyLatches(), []
        first = asyncio.ensure_future(hold(latches, [b"k"], log, "a"))
        cancelled = asyncio.ensure_future(hold(latches, [b"k"], log, "b"))
        last = asyncio.ensure_future(hold(latches, [b"k"], log, "c"))
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.wait_for(asyncio.gather(first, last), 5)
        assert not latches.held(0, b"k")
        return log

    assert asyncio.run(main()) == ["a in", "a out", "c in", "c out"]
