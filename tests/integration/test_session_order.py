"""The order a client's requests take effect in, at the edge where it is easiest to lose: the
moment a read-then-write command finishes. A session runs in this process over three real
redis-server nodes (the state `serve` builds), and the test feeds it bytes at exactly that
moment, which no network timing could do reliably."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import hiredis
from leaderless.config.settings import ReplicationSettings, Settings
from leaderless.proxy.server import open_state
from leaderless.proxy.session import ClientSession

from tests.support.redis_servers import StartNodes

DEADLINE_S = 10.0


class _ClientEnd:
    """The client's side of the session's transport: it keeps what the session writes."""

    def __init__(self) -> None:
        self.received = b""

    def write(self, data: bytes) -> None:
        self.received += data

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 1) if name == "peername" else None

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


def command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


def replies(data: bytes) -> list[object]:
    """The complete replies in `data`."""
    reader = hiredis.Reader()
    reader.feed(data)
    found = []
    while (reply := reader.gets()) is not False:
        found.append(reply)
    return found


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.001)  # a turn of the loop while the replicas answer


def test_a_request_arriving_as_a_read_then_write_finishes_goes_after_those_waiting_for_it(
    redis_nodes: StartNodes,
) -> None:
    """DEL k, then SET k early parked behind it; SET k late arrives in the very turn the DEL
    finishes, before the parked SET has started. It must still take effect after it."""
    nodes = redis_nodes(3)
    settings = Settings(
        replication=ReplicationSettings(
            nodes=tuple(node.address for node in nodes), n=3, w=2, r=2, proxy_id=1
        )
    )

    async def scenario() -> bytes:
        state = await open_state(settings)
        try:
            session = ClientSession(state)
            client = _ClientEnd()
            session.connection_made(client)
            session.data_received(command(b"DEL", b"k"))
            barrier = session._barrier
            assert barrier is not None
            barrier.add_done_callback(
                lambda _: session.data_received(command(b"SET", b"k", b"late"))
            )
            session.data_received(command(b"SET", b"k", b"early"))
            await until(lambda: client.received.count(b"\r\n") == 3)
            assert client.received == b":0\r\n+OK\r\n+OK\r\n"
            session.data_received(command(b"GET", b"k"))
            await until(lambda: client.received.count(b"\r\n") == 5)
            return client.received[len(b":0\r\n+OK\r\n+OK\r\n") :]
        finally:
            await state.coordinator.close()

    assert asyncio.run(scenario()) == b"$4\r\nlate\r\n"


def test_a_unit_of_work_runs_after_what_other_clients_started_and_before_what_they_send_next(
    redis_nodes: StartNodes,
) -> None:
    """B's APPEND is in flight when A's EXEC arrives: the unit waits for it, so its GET sees
    it. B's SET arrives while the unit waits, and takes effect after the unit's own SET. C's
    pipelined SETs (one run, see `_execute_run`) arrive as the unit starts, and take effect
    after it too."""
    nodes = redis_nodes(3)
    settings = Settings(
        replication=ReplicationSettings(
            nodes=tuple(node.address for node in nodes), n=3, w=2, r=2, proxy_id=1
        )
    )

    async def scenario() -> list[bytes]:
        state = await open_state(settings)
        try:
            sessions, clients = [], []
            for _ in range(3):
                sessions.append(ClientSession(state))
                clients.append(_ClientEnd())
                sessions[-1].connection_made(clients[-1])
            a, b, c = sessions
            b.data_received(command(b"APPEND", b"k", b"b"))
            barrier = b._barrier
            assert barrier is not None
            barrier.add_done_callback(  # B's APPEND has answered: the unit is starting
                lambda _: c.data_received(
                    command(b"SET", b"j", b"c1") + command(b"SET", b"j", b"c2")
                )
            )
            a.data_received(
                command(b"MULTI")
                + command(b"GET", b"k")
                + command(b"GET", b"j")
                + command(b"SET", b"k", b"unit")
                + command(b"SET", b"j", b"unit")
                + command(b"EXEC")
            )
            b.data_received(command(b"SET", b"k", b"after"))
            await until(lambda: len(replies(clients[0].received)) == 6)
            await until(lambda: len(replies(clients[1].received)) == 2)
            await until(lambda: len(replies(clients[2].received)) == 2)
            a.data_received(command(b"MGET", b"k", b"j"))
            await until(lambda: len(replies(clients[0].received)) == 7)
            return [client.received for client in clients]
        finally:
            await state.coordinator.close()

    a_replies, b_replies, c_replies = asyncio.run(scenario())
    exec_reply = b"*4\r\n$1\r\nb\r\n$-1\r\n+OK\r\n+OK\r\n"
    final = b"*2\r\n$5\r\nafter\r\n$2\r\nc2\r\n"
    assert a_replies == b"+OK\r\n" + b"+QUEUED\r\n" * 4 + exec_reply + final
    assert (b_replies, c_replies) == (b":1\r\n+OK\r\n", b"+OK\r\n+OK\r\n")
