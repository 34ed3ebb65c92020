"""The failure detector: a replica that keeps its connection but stops answering (SIGSTOP) is
seen as suspect, then down, is not waited on, and is back in service once it answers again."""

from __future__ import annotations

import pytest

from tests.integration.conftest import Cluster
from tests.integration.test_replication import replica_state, stored_value
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration


def test_a_hung_replica_goes_suspect_then_down_and_comes_back(cluster: Cluster) -> None:
    hung = cluster.nodes[2]
    seen: set[str] = set()
    with cluster.client() as client:
        hung.pause()
        try:
            writes = iter(range(100_000))

            def declared_down() -> bool:
                client.set("k", f"v{next(writes)}")  # every write succeeds meanwhile
                seen.add(replica_state(client, 2))
                return "down" in seen

            assert wait_for(declared_down)
            assert "suspect" in seen
            assert client.get("k") is not None
        finally:
            hung.resume()
        assert wait_for(lambda: replica_state(client, 2) == "up")
        client.set("after", "resumed")
    assert wait_for(lambda: stored_value(hung, b"after") == b"resumed")
