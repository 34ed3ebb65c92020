"""`--workers K`'s pure parts (each worker's proxy id, settings and share of max_clients, the
start-up lines) and the parent's port reservation, on loopback sockets."""

from __future__ import annotations

import random
import signal
import socket
from pathlib import Path

import pytest
from leaderless.config.loader import load_settings
from leaderless.config.settings import Settings
from leaderless.proxy.app.workers import (
    exit_status,
    reserve_port,
    worker_proxy_ids,
    worker_settings,
)
from leaderless.proxy.server import Started, startup_lines

NODES = ["redis://127.0.0.1:7001", "redis://127.0.0.1:7002", "redis://127.0.0.1:7003"]


def settings_with(**overrides: object) -> Settings:
    return load_settings(None, {"replication.nodes": NODES, **overrides})


def test_a_given_proxy_id_numbers_the_workers_from_it() -> None:
    assert worker_proxy_ids(100, 3, random.Random(1)) == [100, 101, 102]
    assert worker_proxy_ids(65533, 3, random.Random(1)) == [65533, 65534, 65535]


@pytest.mark.parametrize("seed", range(20))
def test_random_proxy_ids_are_distinct_16_bit_ids(seed: int) -> None:
    ids = worker_proxy_ids(None, 64, random.Random(seed))
    assert len(set(ids)) == 64
    assert all(0 <= proxy_id < 1 << 16 for proxy_id in ids)


def test_each_worker_gets_the_port_its_id_its_hints_folder_and_a_share_of_clients() -> None:
    settings = settings_with(
        **{
            "listen.address": "127.0.0.1:0",
            "listen.workers": 3,
            "listen.max_clients": 10,
            "hints.dir": "/var/lib/leaderless/hints",
        }
    )
    workers = [worker_settings(settings, index, 200 + index, 6390) for index in range(3)]
    assert [w.listen.max_clients for w in workers] == [4, 3, 3]
    assert [w.replication.proxy_id for w in workers] == [200, 201, 202]
    assert [w.hints.dir for w in workers] == [
        str(Path("/var/lib/leaderless/hints") / f"worker-{index}") for index in range(3)
    ]
    for worker in workers:
        assert worker.listen.address == "127.0.0.1:6390"
        assert worker.listen.workers == 3  # so that each binds with SO_REUSEPORT
        assert worker.replication.nodes == settings.replication.nodes
        assert worker.limits == settings.limits


def test_workers_share_clients_evenly_and_together_admit_max_clients() -> None:
    for workers in range(1, 9):
        for max_clients in range(workers, 40):
            settings = settings_with(
                **{"listen.workers": workers, "listen.max_clients": max_clients}
            )
            shares = [
                worker_settings(settings, index, index, 1).listen.max_clients
                for index in range(workers)
            ]
            assert sum(shares) == max_clients
            assert max(shares) - min(shares) <= 1


def test_hints_in_memory_stay_in_memory() -> None:
    settings = settings_with(**{"listen.workers": 2})
    assert worker_settings(settings, 1, 7, 1).hints.dir is None


def test_an_ipv6_listen_address_keeps_its_brackets() -> None:
    settings = settings_with(**{"listen.address": "[::1]:0", "listen.workers": 2})
    assert worker_settings(settings, 0, 7, 6390).listen.address == "[::1]:6390"


UP = ("127.0.0.1:7001 up (valkey 8.1.8)", "127.0.0.1:7002 up (valkey 8.1.8)")


def test_a_single_proxy_prints_its_own_id() -> None:
    settings = settings_with(**{"replication.nodes": NODES[:2], "replication.n": 2})
    lines = startup_lines(settings, [Started(10, 42, 6380, UP, 3)])
    assert lines == [
        "leaderless proxy listening on 127.0.0.1:6380 (N=2 W=2 R=2, timeout 1000 ms, proxy id 42)",
        "  replica 0: 127.0.0.1:7001 up (valkey 8.1.8)",
        "  replica 1: 127.0.0.1:7002 up (valkey 8.1.8)",
        "  hints: kept in memory only (hints.dir unset), 3 pending",
        "  clock: no NTP server configured (replication.ntp_servers), so the clock's offset "
        "is not checked",
    ]


def test_workers_print_one_block_with_every_worker() -> None:
    settings = settings_with(
        **{
            "replication.nodes": NODES[:2],
            "replication.n": 2,
            "listen.workers": 2,
            "hints.dir": "hints",
            "replication.ntp_servers": ["pool.ntp.org"],
        }
    )
    down = (UP[0], "127.0.0.1:7002 down (connection refused)")
    lines = startup_lines(settings, [Started(10, 42, 6380, UP, 3), Started(11, 43, 6380, down, 1)])
    assert lines == [
        "leaderless proxy listening on 127.0.0.1:6380 (N=2 W=2 R=2, timeout 1000 ms, 2 workers)",
        "  worker 0: pid 10, proxy id 42",
        "  worker 1: pid 11, proxy id 43",
        "  replica 0: 127.0.0.1:7001 up (valkey 8.1.8)",
        "  replica 1: worker 0: 127.0.0.1:7002 up (valkey 8.1.8); "
        "worker 1: 127.0.0.1:7002 down (connection refused)",
        "  hints: kept in hints, a folder worker-<i> per worker, 4 pending",
    ]


def test_exit_status_in_words() -> None:
    assert exit_status(0) == "exited with status 0"
    assert exit_status(3) == "exited with status 3"
    assert exit_status(-signal.SIGKILL) == "was killed by SIGKILL"


# The port reservation, on real loopback sockets.


def listener(port: int, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def test_a_reserved_port_takes_workers_and_then_nothing_else() -> None:
    port, reserved = reserve_port("127.0.0.1", 0)
    try:
        assert port != 0
        with listener(port, reuse_port=True), listener(port, reuse_port=True):  # two workers
            with pytest.raises(OSError, match="in use"):
                listener(port, reuse_port=False).close()
            with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
                reserve_port("127.0.0.1", port)  # a second proxy on the same port
    finally:
        for held in reserved:
            held.close()
    listener(port, reuse_port=False).close()  # released


@pytest.mark.parametrize("reuse_port", [False, True])
def test_a_port_something_listens_on_is_refused(reuse_port: bool) -> None:
    with listener(0, reuse_port=reuse_port) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}: .*in use"):
            reserve_port("127.0.0.1", port)
