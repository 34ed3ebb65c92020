"""The fault proxy in front of a real redis-server: each fault does what it says, and heal()
brings the route back."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support.fault_proxy import FaultProxy, Route
from tests.support.redis_servers import StartNodes

pytestmark = pytest.mark.integration


@pytest.fixture
def node(redis_nodes: StartNodes) -> LocalRedisNode:
    return redis_nodes(1)[0]


@pytest.fixture
def route(node: LocalRedisNode) -> Iterator[Route]:
    with FaultProxy() as faults:
        yield faults.route("127.0.0.1", node.port)


def client(route: Route, timeout: float = 2.0) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1", port=route.port, socket_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )


def test_passes_traffic_through(route: Route) -> None:
    with client(route) as c:
        assert c.set("k", "v")
        assert c.get("k") == b"v"
        assert c.get("x" * 100_000) is None  # a request larger than one chunk


def test_delay_holds_every_reply(route: Route) -> None:
    with client(route) as c:
        c.ping()
        route.delay(300)
        started = time.monotonic()
        assert c.ping()
        assert time.monotonic() - started >= 0.3
        route.heal()
        assert c.ping()


@pytest.mark.parametrize("fault", ["drop", "reset"])
def test_drop_and_reset_cut_open_and_new_connections(route: Route, fault: str) -> None:
    with client(route) as open_one, client(route) as new_one:
        open_one.ping()
        getattr(route, fault)()
        with pytest.raises(redis.ConnectionError):
            open_one.ping()
        with pytest.raises(redis.ConnectionError):
            new_one.ping()
        route.heal()
        assert new_one.ping()


def test_blackhole_answers_nothing_and_heal_resets_what_it_swallowed(route: Route) -> None:
    with (
        socket.create_connection(("127.0.0.1", route.port)) as swallowing,
        client(route) as idle,
    ):
        idle.ping()
        route.blackhole()
        swallowing.settimeout(0.3)
        swallowing.sendall(b"PING\r\n")
        with pytest.raises(TimeoutError):
            swallowing.recv(100)
        route.heal()
        swallowing.settimeout(5)
        with pytest.raises(ConnectionResetError):
            swallowing.recv(100)  # its stream lost bytes: reset, as TCP would give up
        assert idle.ping()  # silent through the partition: untouched


def test_one_way_applies_requests_but_loses_replies(route: Route, node: LocalRedisNode) -> None:
    with client(route, timeout=0.3) as c, node.client() as direct:
        c.ping()
        route.one_way()
        with pytest.raises(redis.TimeoutError):
            c.set("k", "applied")
        assert direct.get("k") == b"applied"


def test_a_dead_upstream_resets_the_connection(route: Route, node: LocalRedisNode) -> None:
    node.kill()
    with client(route) as c, pytest.raises(redis.ConnectionError):
        c.ping()
    node.restart()
    with client(route) as c:
        assert c.ping()
