"""Proxies for the hardening tests: real `leaderless proxy` processes over three real
redis-server nodes, started with whatever flags a test needs and stopped at its teardown."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import hiredis
import pytest
import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode

from tests.integration.conftest import ProxyProcess, start_proxy
from tests.support.redis_servers import StartNodes

StartProxy = Callable[..., ProxyProcess]


@pytest.fixture
def nodes(redis_nodes: StartNodes) -> list[LocalRedisNode]:
    return redis_nodes(3)


@pytest.fixture
def proxy_with(nodes: list[LocalRedisNode]) -> Iterator[StartProxy]:
    """Call with extra `leaderless proxy` flags to get a running proxy over `nodes`."""
    started: list[ProxyProcess] = []

    def start(*flags: str) -> ProxyProcess:
        proxy = start_proxy(nodes, *flags)
        started.append(proxy)
        return proxy

    try:
        yield start
    finally:
        for proxy in started:
            proxy.stop()


def info(client: redis.Redis, section: str = "leaderless") -> dict[str, object]:
    return client.info(section)  # type: ignore[no-any-return]


def rss_kib(pid: int) -> int:
    """The process's resident set size, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the proxy sends until it closes the connection (socket timeout: it did not)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def command(*args: str | bytes) -> bytes:
    """A request as RESP."""
    parts = [arg.encode() if isinstance(arg, str) else arg for arg in args]
    return f"*{len(parts)}\r\n".encode() + b"".join(
        b"$%d\r\n%s\r\n" % (len(part), part) for part in parts
    )


class RawClient:
    """A bare connection: one request, one decoded reply (errors come back as values)."""

    def __init__(self, port: int) -> None:
        self.sock = connect(port)
        self.reader = hiredis.Reader()

    def call(self, *args: str | bytes) -> object:
        self.sock.sendall(command(*args))
        while (reply := self.reader.gets()) is False:
            data = self.sock.recv(65536)
            assert data, "the proxy closed the connection"
            self.reader.feed(data)
        return reply

    def close(self) -> None:
        self.sock.close()
