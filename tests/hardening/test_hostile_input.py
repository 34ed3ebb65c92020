"""Hostile clients over TCP: malformed, truncated, oversized and random RESP; slow writers;
clients that never read; thousands of connections opened and dropped. The proxy answers
protocol errors and closes only that connection, keeps serving everyone else, and its memory
stays bounded. Every test is bounded in count and in time, and loopback-only."""

from __future__ import annotations

import random
import socket

import hiredis
import pytest

from tests.hardening.conftest import (
    RawClient,
    StartProxy,
    command,
    connect,
    info,
    read_until_closed,
    rss_kib,
)
from tests.integration.conftest import ProxyProcess
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration

MAX_BULK = 65536
MAX_ARGS = 64
MAX_OUTPUT = 1024 * 1024
LIMITS = (
    *("--max-bulk-bytes", str(MAX_BULK)),
    *("--max-args", str(MAX_ARGS)),
    *("--max-output-bytes", str(MAX_OUTPUT)),
)
RSS_GROWTH_LIMIT_KIB = 32 * 1024
FUZZ_SEED = 20240604
FUZZ_CASES = 400


@pytest.fixture
def proxy(proxy_with: StartProxy) -> ProxyProcess:
    return proxy_with(*LIMITS)


def replies(data: bytes) -> list[object]:
    """`data` as RESP replies; hiredis raises ProtocolError if it is anything else."""
    reader = hiredis.Reader()
    reader.feed(data)
    found = []
    while (reply := reader.gets()) is not False:
        found.append(reply)
    assert not reader.has_data(), f"a partial reply was left: {data[-80:]!r}"
    return found


def assert_serving(port: int) -> None:
    client = RawClient(port)
    try:
        assert client.call("PING") == b"PONG"
        assert client.call("SET", "alive", "yes") == b"OK"
        assert client.call("GET", "alive") == b"yes"
    finally:
        client.close()


@pytest.mark.parametrize(
    ("request_bytes", "error"),
    [
        (b"*abc\r\n", "invalid multibulk length"),
        (b"*%d\r\n" % (MAX_ARGS + 1), "invalid multibulk length"),
        (b"*1\r\n+PING\r\n", "expected '$', got '+'"),
        (b"*1\r\n$-5\r\n", "invalid bulk length"),
        (b"*2\r\n$3\r\nGET\r\n$%d\r\n" % (MAX_BULK + 1), "invalid bulk length"),
        (b'SET "unbalanced\r\n', "unbalanced quotes in request"),
        (b"A" * (80 * 1024), "too big inline request"),
        (b"*1\r\n" + b"$" * (80 * 1024), "too big bulk count string"),
    ],
)
def test_protocol_errors_close_only_that_connection(
    proxy: ProxyProcess, request_bytes: bytes, error: str
) -> None:
    bystander = RawClient(proxy.port)
    assert bystander.call("SET", "k", "v") == b"OK"
    with connect(proxy.port) as hostile:
        hostile.sendall(command("PING") + request_bytes)
        answer = replies(read_until_closed(hostile))
    assert answer[0] == b"PONG"  # what came before the fault is served
    assert isinstance(answer[1], hiredis.ReplyError)
    assert str(answer[1]).startswith("ERR Protocol error: "), answer
    assert error in str(answer[1])
    assert len(answer) == 2
    assert bystander.call("GET", "k") == b"v"
    bystander.close()


def _fuzz_case(rng: random.Random) -> bytes:
    """One hostile request stream: random bytes, or valid requests mangled."""
    valid = [
        command("SET", f"k{rng.randrange(20)}", rng.randbytes(rng.randrange(40))),
        command("GET", f"k{rng.randrange(20)}"),
        command("MGET", *(f"k{i}" for i in range(rng.randrange(1, 5)))),
        command("PING"),
        command("ECHO", rng.randbytes(10)),
        b"PING\r\n",
        b"*1\r\n$4\r\nPING\r\n",
    ]
    stream = bytearray(b"".join(rng.choice(valid) for _ in range(rng.randrange(1, 6))))
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 2000))
    if kind == 1:  # flipped bytes
        for _ in range(rng.randrange(1, 6)):
            stream[rng.randrange(len(stream))] = rng.randrange(256)
    elif kind == 2:  # truncated
        del stream[rng.randrange(len(stream)) :]
    elif kind == 3:  # random bytes inserted
        at = rng.randrange(len(stream) + 1)
        stream[at:at] = rng.randbytes(rng.randrange(1, 50))
    elif kind == 4:  # lengths that lie, or exceed the limits
        header = (
            rng.choice([b"*", b"$"])
            + str(rng.choice([-(2**63), -2, 0, MAX_ARGS + 1, MAX_BULK + 1, 2**63, 10**30])).encode()
        )
        stream += header + b"\r\n" + rng.randbytes(rng.randrange(100))
    else:  # a deep or wide nesting of RESP types a client should never send
        stream += rng.choice([b"*1\r\n*1\r\n*1\r\n", b"%1\r\n", b"~2\r\n", b">3\r\n", b"_\r\n"])
    return bytes(stream)


def _run_fuzz(port: int, rng: random.Random, cases: int) -> int:
    """Send `cases` hostile streams, each on its own connection; the number of protocol errors."""
    protocol_errors = 0
    for case in range(cases):
        payload = _fuzz_case(rng)
        with connect(port) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            try:
                answer = replies(read_until_closed(sock))
            except hiredis.ProtocolError as error:
                raise AssertionError(f"case {case}: not RESP from the proxy: {error}") from None
        errors = [i for i, reply in enumerate(answer) if "Protocol error" in str(reply)]
        assert errors in ([], [len(answer) - 1]), f"case {case}: {payload!r} -> {answer!r}"
        protocol_errors += bool(errors)
        if case % 50 == 0:
            assert_serving(port)
    return protocol_errors


def test_fuzzed_resp_gets_replies_or_a_protocol_error(proxy: ProxyProcess) -> None:
    rng = random.Random(FUZZ_SEED)  # a failure replays with the same seed
    _run_fuzz(proxy.port, rng, FUZZ_CASES // 4)  # warm up: caches, buffers, allocator arenas
    before = rss_kib(proxy.process.pid)
    protocol_errors = _run_fuzz(proxy.port, rng, FUZZ_CASES)
    after = rss_kib(proxy.process.pid)
    assert protocol_errors > FUZZ_CASES // 10  # the fuzzer does reach the error paths
    assert after - before < RSS_GROWTH_LIMIT_KIB, (before, after)
    assert_serving(proxy.port)


def test_a_slow_writer_is_served(proxy: ProxyProcess) -> None:
    bystander = RawClient(proxy.port)
    request = command("SET", "slow", "one byte at a time") + command("GET", "slow")
    with connect(proxy.port) as slow:
        for index, byte in enumerate(request):
            slow.sendall(bytes([byte]))
            if index % 10 == 0:
                assert bystander.call("PING") == b"PONG"  # paces the writer by ~a round trip
        reader = hiredis.Reader()
        answers: list[object] = []
        while len(answers) < 2:
            reader.feed(slow.recv(4096))
            while (reply := reader.gets()) is not False:
                answers.append(reply)
    assert answers == [b"OK", b"one byte at a time"]
    bystander.close()


def test_a_client_that_never_reads_is_disconnected(proxy: ProxyProcess) -> None:
    control = RawClient(proxy.port)
    value = b"x" * (64 * 1024)
    assert control.call("SET", "big", value) == b"OK"
    observer = proxy.client()
    baseline = info(observer, "clients")["connected_clients"]
    greedy = socket.socket()
    greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    greedy.connect(("127.0.0.1", proxy.port))
    try:
        requests = 300  # 300 x 64 KiB of replies: far beyond the kernel's buffers and the limit
        greedy.sendall(command("GET", "big") * requests)
        assert wait_for(lambda: info(observer, "clients")["connected_clients"] == baseline, 30)
    finally:
        greedy.close()
    assert wait_for(lambda: "unsent replies exceed max_output_bytes" in proxy.output.text())
    assert control.call("GET", "big") == value
    control.close()
    assert_serving(proxy.port)


def test_thousands_of_connections_opened_and_dropped(proxy: ProxyProcess) -> None:
    rng = random.Random(FUZZ_SEED)
    partial = command("SET", "k", "v")
    before = rss_kib(proxy.process.pid)
    for _ in range(6):
        batch = [connect(proxy.port) for _ in range(500)]
        for sock in batch:
            choice = rng.randrange(3)
            if choice == 1:
                sock.sendall(partial[: rng.randrange(1, len(partial))])
            elif choice == 2:
                sock.sendall(command("PING"))  # and never read the reply
        for sock in batch:
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            sock.close()  # half of them with a reset, as a crashed client does
    client = proxy.client()
    assert wait_for(lambda: info(client, "clients")["connected_clients"] == 1)
    assert info(client, "stats")["total_connections_received"] >= 3000
    assert rss_kib(proxy.process.pid) - before < RSS_GROWTH_LIMIT_KIB
    assert_serving(proxy.port)
