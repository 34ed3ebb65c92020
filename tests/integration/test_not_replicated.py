"""The commands of other data types and pub/sub, through the proxy: refused by name and
reason, the connection kept, EXEC aborted when one is queued, and absent from COMMAND."""

from __future__ import annotations

import pytest
import redis
from leaderless.proxy.commands.table import COMMAND_TABLE

from tests.integration.conftest import Cluster
from tests.support.compat import call, connect, request

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("command", "family"),
    [
        (("HSET", "h", "f", "v"), "hashes are not supported, only strings"),
        (("lpush", "l", "a"), "lists are not supported, only strings"),
        (("SADD", "s", "m"), "sets are not supported, only strings"),
        (("ZADD", "z", "1", "m"), "sorted sets are not supported, only strings"),
        (("XADD", "x", "*", "f", "v"), "streams are not supported, only strings"),
        (("PFADD", "p", "a"), "HyperLogLogs are not supported, only strings"),
        (("GEOADD", "g", "0", "0", "m"), "geospatial indexes are not supported, only strings"),
        (("SETBIT", "b", "7", "1"), "bit operations on string values are not supported"),
        (("SUBSCRIBE", "channel"), "publish/subscribe is not supported"),
        (("PUBLISH", "channel", "message"), "publish/subscribe is not supported"),
    ],
)
def test_a_command_not_replicated_is_refused_by_name_and_the_connection_stays(
    shared_cluster: Cluster, command: tuple[str, ...], family: str
) -> None:
    name = command[0].lower()
    expected = f"-ERR '{name}' is not replicated by leaderless yet: {family}; see README\r\n"
    with shared_cluster.client() as client:
        with pytest.raises(redis.ResponseError) as refused:
            client.execute_command(*command)
        assert f"-{refused.value}\r\n" == expected.replace("-ERR ", "-", 1)
        assert client.ping() is True
    assert call(shared_cluster.proxy.port, *command) == expected.encode()


def test_one_queued_in_a_transaction_aborts_exec(shared_cluster: Cluster) -> None:
    call(shared_cluster.proxy.port, "DEL", "k")
    with connect(shared_cluster.proxy.port) as connection:
        for command in (("MULTI",), ("SET", "k", "v"), ("HSET", "h", "f", "v")):
            connection.send(request(*command))
            connection.read_reply()
        connection.send(request("EXEC"))
        assert connection.read_reply() == (
            b"-EXECABORT Transaction discarded because of previous errors.\r\n"
        )
    assert call(shared_cluster.proxy.port, "GET", "k") == b"$-1\r\n"


def test_command_leaves_them_out(shared_cluster: Cluster) -> None:
    port = shared_cluster.proxy.port
    assert call(port, "COMMAND", "COUNT") == b":%d\r\n" % len(COMMAND_TABLE)
    assert call(port, "COMMAND", "INFO", "hset", "subscribe") == b"*2\r\n$-1\r\n$-1\r\n"
    assert call(port, "COMMAND", "DOCS", "hset") == b"*0\r\n"
