"""Graceful shutdown: SIGTERM stops accepting clients, lets requests in flight finish (within
a bound), commits the hints it holds, and exits 0."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from tests.hints.test_handoff import pending_hints
from tests.integration.conftest import start_proxy
from tests.support.processes import wait_for
from tests.support.redis_servers import StartNodes

pytestmark = pytest.mark.integration


def test_sigterm_finishes_requests_in_flight_keeps_hints_and_exits_0(
    redis_nodes: StartNodes, tmp_path: Path
) -> None:
    nodes = redis_nodes(3)
    hints = tmp_path / "hints"
    proxy = start_proxy(nodes, "--hints-dir", str(hints), "--timeout-ms", "10000")
    try:
        nodes[2].kill()
        with proxy.client() as client:
            for n in range(20):
                client.set(f"k{n}", "v")  # each leaves a hint for the dead node
            nodes[1].pause()  # now a write cannot reach W=2 until it resumes
            in_flight = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
            in_flight.sendall(b"*3\r\n$3\r\nSET\r\n$6\r\nlast-k\r\n$1\r\nv\r\n")
            assert wait_for(lambda: client.info("leaderless")["writes"] == 21)
        proxy.process.send_signal(signal.SIGTERM)
        assert wait_for(lambda: "shutting down" in proxy.output.text())
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
        nodes[1].resume()
        assert in_flight.recv(100) == b"+OK\r\n"  # the request in flight got its answer
        in_flight.close()
        assert proxy.process.wait(timeout=30) == 0
    finally:
        proxy.stop()
    assert pending_hints(hints) == 21
