"""Fixtures shared by the anti-entropy tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.anti_entropy.support import load_scripts
from tests.support.redis_servers import StartNodes


@pytest.fixture
def node(redis_nodes: StartNodes) -> Iterator[redis.Redis]:
    """One real redis-server with the proxy's scripts loaded, as a client."""
    (server,) = redis_nodes(1)
    with server.client() as client:
        load_scripts(client)
        yield client
