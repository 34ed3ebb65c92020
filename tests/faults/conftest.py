"""The `fault_cluster` fixture: backends with AOF, a fault route before each, two proxies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.harness import AOF, FaultCluster
from tests.support.fault_proxy import FaultProxy
from tests.support.redis_servers import StartNodes

PROXIES = 2


@pytest.fixture
def fault_cluster(redis_nodes: StartNodes) -> Iterator[FaultCluster]:
    nodes = redis_nodes(3, extra_args=AOF)
    with FaultProxy() as faults:
        cluster = FaultCluster(nodes, [faults.route("127.0.0.1", node.port) for node in nodes])
        try:
            cluster.start_proxies(PROXIES)
            yield cluster
        finally:
            cluster.stop()
