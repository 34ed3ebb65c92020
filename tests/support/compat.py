"""Comparing the proxy with the reference server byte for byte: raw RESP on sockets, request
sequences as data, and the transcripts of both.

A `Case` is a sequence of steps sent on a fresh raw socket, in RESP2 or (after `HELLO 3`) in
RESP3; `mismatches` runs cases on both servers, flushing both before each, and describes every
sequence whose normalised reply bytes differ. Only what is inherently different is normalised,
each normaliser saying why (client ids, TTL countdowns, command counts)."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"
SOCKET_TIMEOUT = 10.0
LARGE_VALUE_TIMEOUT = 60.0
NOW_S = int(time.time())
FUTURE_S = NOW_S + 1000  # EXAT/PXAT targets: about 1000 s ahead when the sequences run
FUTURE_MS = NOW_S * 1000 + 1_000_000


# -- raw RESP on a socket -------------------------------------------------------------------


def request(*args: bytes | str | int) -> bytes:
    """A request as clients send it: a RESP array of bulk strings."""
    parts = [arg if isinstance(arg, bytes) else str(arg).encode() for arg in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


class ConnectionClosed(Exception):
    """The peer closed the connection before a whole reply arrived."""


class RawConnection:
    """One client socket that reads replies as raw bytes, one whole reply at a time."""

    def __init__(self, port: int, timeout: float = SOCKET_TIMEOUT) -> None:
        self.sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
        self.stream = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _line(self) -> bytes:
        line = self.stream.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionClosed(f"closed after {line!r}")
        return line

    def read_reply(self) -> bytes:
        """One RESP2 or RESP3 reply, aggregates included, exactly as received."""
        line = self._line()
        kind, length = line[:1], line[1:-2]
        if kind in (b"$", b"=", b"!"):  # bulk, verbatim, bulk error
            if int(length) < 0:
                return line
            body = self.stream.read(int(length) + 2)
            if len(body) != int(length) + 2:
                raise ConnectionClosed(f"closed inside {line!r}")
            return line + body
        if kind in (b"*", b"~", b">", b"%", b"|"):  # array, set, push, map, attribute
            count = int(length)
            if count < 0:
                return line
            items = count * 2 if kind in (b"%", b"|") else count
            reply = line + b"".join(self.read_reply() for _ in range(items))
            return reply + self.read_reply() if kind == b"|" else reply
        return line  # + - : _ , # ( : one line

    def closed_by_peer(self) -> bool:
        """Whether the peer closed the connection (waits up to the socket timeout)."""
        try:
            return self.stream.read(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


@contextmanager
def connect(port: int, timeout: float = SOCKET_TIMEOUT) -> Iterator[RawConnection]:
    connection = RawConnection(port, timeout)
    try:
        yield connection
    finally:
        connection.close()


def call(port: int, *args: bytes | str | int) -> bytes:
    with connect(port) as connection:
        connection.send(request(*args))
        return connection.read_reply()


# -- normalisers: only for what must differ between a proxy and one redis-server -------------

Normaliser = Callable[[bytes], bytes]


def any_client_id(reply: bytes) -> bytes:
    """Client ids count connections per server; the proxy's and Redis's differ."""
    return re.sub(rb"^:[1-9][0-9]*\r\n$", b":<client id>\r\n", reply)


def any_hello_id(reply: bytes) -> bytes:
    """HELLO's map carries the client id (see any_client_id); the other fields must match."""
    return re.sub(rb"\$2\r\nid\r\n:[1-9][0-9]*\r\n", b"$2\r\nid\r\n:<client id>\r\n", reply)


COUNTDOWN_BOUNDS = (100, 500, 1000, 100_000, 500_000, 1_000_000)


def countdown(reply: bytes) -> bytes:
    """TTL/PTTL count down while the requests travel; a positive one becomes the expiry the
    sequence set (every expiry in CASES is one of COUNTDOWN_BOUNDS, in s or ms)."""
    match = re.fullmatch(rb":([1-9][0-9]*)\r\n", reply)
    if match is None:
        return reply
    left = int(match[1])
    bound = next((b for b in COUNTDOWN_BOUNDS if left <= b), None)
    return reply if bound is None else b":<at most %d>\r\n" % bound


def any_count(reply: bytes) -> bytes:
    """COMMAND COUNT: the proxy serves a subset of 6.2's commands by design."""
    return re.sub(rb"^:[1-9][0-9]*\r\n$", b":<count>\r\n", reply)


# -- the table of request sequences ---------------------------------------------------------


@dataclass(frozen=True)
class Step:
    data: bytes  # written as is, in one write
    replies: int = 1
    normalise: Normaliser | None = None


@dataclass(frozen=True)
class Case:
    name: str
    steps: tuple[Step, ...]
    closes: bool = False  # the server closes the connection after the last reply


def c(*args: bytes | str | int, normalise: Normaliser | None = None) -> Step:
    return Step(request(*args), 1, normalise)


def ttl(key: str) -> Step:
    return c("TTL", key, normalise=countdown)


def pttl(key: str) -> Step:
    return c("PTTL", key, normalise=countdown)


def raw(data: bytes, replies: int = 1) -> Step:
    return Step(data, replies)


def case(name: str, *steps: Step, closes: bool = False) -> Case:
    return Case(name, steps, closes)


HELLO_3 = c("HELLO", 3, normalise=any_hello_id)


def run_case(port: int, protocol: int, sequence: Case) -> list[tuple[bytes, bytes]]:
    """(request, normalised reply bytes) per step; a failure ends the transcript with what
    happened instead of a reply, so both servers' transcripts stay comparable."""
    steps = (HELLO_3, *sequence.steps) if protocol == 3 else sequence.steps
    transcript: list[tuple[bytes, bytes]] = []
    with connect(port) as connection:
        for step in steps:
            try:
                connection.send(step.data)
                replies = [connection.read_reply() for _ in range(step.replies)]
            except (OSError, ConnectionClosed) as failure:
                transcript.append((step.data, f"<{type(failure).__name__}: {failure}>".encode()))
                return transcript
            if step.normalise is not None:
                replies = [step.normalise(reply) for reply in replies]
            transcript.append((step.data, b"".join(replies)))
        if sequence.closes:
            closed = connection.closed_by_peer()
            transcript.append((b"<after the last reply>", b"<closed>" if closed else b"<open>"))
    return transcript


def shorten(data: bytes, limit: int = 400) -> str:
    text = repr(data)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(data)} bytes)"


def differences(
    name: str, ours: Sequence[tuple[bytes, bytes]], theirs: Sequence[tuple[bytes, bytes]]
) -> str:
    lines = [f"== {name}"]
    for index in range(max(len(ours), len(theirs))):
        mine = ours[index] if index < len(ours) else (b"", b"<no step>")
        reference = theirs[index] if index < len(theirs) else (b"", b"<no step>")
        if mine != reference:
            lines.append(f"   request:   {shorten(mine[0] or reference[0])}")
            lines.append(f"   proxy:     {shorten(mine[1])}")
            lines.append(f"   reference: {shorten(reference[1])}")
    return "\n".join(lines)


def mismatches(proxy_port: int, reference_port: int, protocol: int, cases: Sequence[Case]) -> str:
    """Every case whose transcripts differ, described; "" when all match."""
    found = []
    for sequence in cases:
        for port in (proxy_port, reference_port):
            assert call(port, "FLUSHALL") == b"+OK\r\n"
        ours = run_case(proxy_port, protocol, sequence)
        theirs = run_case(reference_port, protocol, sequence)
        if ours != theirs:
            found.append(differences(sequence.name, ours, theirs))
    if not found:
        return ""
    return f"{len(found)} of {len(cases)} sequences differ:\n" + "\n".join(found)
