"""A replica connection switching databases inline: SELECT written just before a request for
another database, its reply kept from every receiver, a NOSCRIPT fallback sent again in its
own database, and a refused SELECT dropping the connection. A transport double records the
bytes; replies are fed as a replica would send them."""

from __future__ import annotations

import asyncio

from leaderless.replication.backend import Deliver, _ReplyStream, pack_command


class RecordingTransport:
    def __init__(self) -> None:
        self.written = b""
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True


def select(db: int) -> bytes:
    return pack_command((b"SELECT", b"%d" % db))


async def open_stream() -> tuple[_ReplyStream, RecordingTransport, list[tuple[str, object]]]:
    stream = _ReplyStream(lambda stream, exc: None)
    transport = RecordingTransport()
    stream.connection_made(transport)  # type: ignore[arg-type]
    return stream, transport, []


def receiver(got: list[tuple[str, object]], name: str) -> Deliver:
    return lambda reply: got.append((name, reply))


def test_requests_for_database_0_go_as_they_are_and_others_behind_a_select() -> None:
    async def run() -> None:
        stream, transport, got = await open_stream()
        get = pack_command((b"GET", b"k"))
        stream.send(receiver(got, "zero"), get)
        stream.send(receiver(got, "three"), get, db=3)
        stream.send(receiver(got, "three again"), get, db=3)
        stream.send(receiver(got, "back"), get)
        await asyncio.sleep(0)  # the batch is written at the end of the loop turn
        assert transport.written == get + select(3) + get + get + select(0) + get
        stream.data_received(b"$1\r\na\r\n+OK\r\n$1\r\nb\r\n$1\r\nc\r\n+OK\r\n$1\r\nd\r\n")
        assert got == [("zero", b"a"), ("three", b"b"), ("three again", b"c"), ("back", b"d")]
        assert stream.db == 0

    asyncio.run(run())


def test_a_noscript_fallback_goes_again_in_the_database_of_its_request() -> None:
    async def run() -> None:
        stream, transport, got = await open_stream()
        stream.send(receiver(got, "script"), b"EVALSHA..", b"ARGS", b"EVAL..", 5)
        stream.send(receiver(got, "zero"), b"GET..")
        await asyncio.sleep(0)
        transport.written = b""
        stream.data_received(b"+OK\r\n-NOSCRIPT No matching script.\r\n")
        await asyncio.sleep(0)
        assert transport.written == select(5) + b"EVAL..ARGS"
        stream.data_received(b"+OK\r\n$1\r\nz\r\n+OK\r\n:1\r\n")
        assert got == [("zero", b"z"), ("script", 1)]

    asyncio.run(run())


def test_a_refused_select_drops_the_connection() -> None:
    async def run() -> None:
        stream, transport, got = await open_stream()
        stream.send(receiver(got, "two"), b"GET..", db=2)
        stream.data_received(b"-ERR DB index is out of range\r\n")
        assert transport.aborted
        assert got == []

    asyncio.run(run())
