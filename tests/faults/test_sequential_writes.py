"""One client writing a key through two proxies in turn, each write sent only after the
previous one was acknowledged: the last acknowledged value must be the one read back.

No fault is injected: the two proxies' clocks are this machine's clock. A write through the
second proxy in the same millisecond as the first one's gets the timestamp (same ms, logical
0, its proxy id); with a lower proxy id than the first proxy's it is older and the replicas
refuse it. The proxy must then see what blocked it, move its clock past it and write again
(Coordinator.write), never answer OK for a write that no replica shows.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import start_proxy
from tests.support.redis_servers import StartNodes

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ROUNDS = 3000  # bounded; the first lost write ends the test


def test_a_write_acknowledged_after_another_supersedes_it_across_proxies(
    redis_nodes: StartNodes,
) -> None:
    nodes = redis_nodes(3)
    first = start_proxy(nodes, "--proxy-id", "2")
    second = start_proxy(nodes, "--proxy-id", "1")
    try:
        with first.client() as a, second.client() as b:
            for n in range(ROUNDS):
                assert a.set("k", f"{n}a")
                assert b.set("k", f"{n}b")
                assert a.get("k") == f"{n}b".encode(), f"round {n}: the acknowledged SET is lost"
    finally:
        first.stop()
        second.stop()
