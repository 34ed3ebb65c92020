"""The relay passes a client's traffic unchanged and counts the server's error replies."""

from __future__ import annotations

from collections import Counter

import pytest
import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode

from tests.clients.recording_relay import RecordingRelay

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("protocol", [2, 3])
def test_the_relay_counts_errors_top_level_and_inside_exec(
    valkey_reference: LocalRedisNode, protocol: int
) -> None:
    relay = RecordingRelay(valkey_reference.port)
    try:
        client = redis.Redis(port=relay.port, protocol=protocol, socket_timeout=10)
        assert client.set("k", "v") is True
        assert client.get("k") == b"v"
        with pytest.raises(redis.ResponseError):
            client.execute_command("NOSUCH", "x")
        with pytest.raises(redis.ResponseError):
            client.execute_command("INCR", "k")
        pipe = client.pipeline(transaction=True)
        pipe.incr("k").set("k", "w")
        assert pipe.execute(raise_on_error=False)[1] is True
        client.close()
        errors = relay.take_errors()
        errors.pop("unknown subcommand 'MAINT_NOTIFICATIONS'", None)  # redis-py's RESP3 hello
        assert errors == Counter(
            {"unknown command 'NOSUCH'": 1, "ERR value is not an integer or out of range": 2}
        )
        assert relay.take_errors() == Counter()
    finally:
        relay.close()
