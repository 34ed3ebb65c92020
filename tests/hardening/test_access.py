"""Who may connect and for how long: requirepass and named users (AUTH, HELLO AUTH, NOAUTH
before), protected mode, the idle-client timeout and maxclients, over TCP."""

from __future__ import annotations

import hiredis
import pytest
from leaderless.proxy.app.cli import main

from tests.hardening.conftest import RawClient, StartProxy, connect, info, read_until_closed
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration

WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."


def error(reply: object) -> str:
    assert isinstance(reply, hiredis.ReplyError), reply
    return str(reply)


def test_named_users_and_the_default_user(proxy_with: StartProxy) -> None:
    proxy = proxy_with("--requirepass", "pw-default", "--user", "alice:pw-alice")
    assert wait_for(lambda: "clients must AUTH (requirepass, user alice)" in proxy.output.text())
    anonymous = RawClient(proxy.port)
    for request in (("GET", "k"), ("SET", "k", "v"), ("PING",), ("INFO",), ("CLIENT", "ID")):
        assert error(anonymous.call(*request)) == "NOAUTH Authentication required."
    assert error(anonymous.call("AUTH", "alice", "pw-default")) == WRONGPASS
    assert error(anonymous.call("AUTH", "mallory", "pw-alice")) == WRONGPASS
    assert error(anonymous.call("HELLO", "3", "AUTH", "alice", "nope")) == WRONGPASS
    assert anonymous.call("AUTH", "alice", "pw-alice") == b"OK"
    assert anonymous.call("PING") == b"PONG"
    assert anonymous.call("RESET") == b"RESET"  # back to the default user, not logged in
    assert error(anonymous.call("PING")) == "NOAUTH Authentication required."
    anonymous.close()

    alice = proxy.client(username="alice", password="pw-alice")
    assert alice.set("k", "v")
    assert b" user=alice " in alice.execute_command("CLIENT", "INFO")
    default = proxy.client(password="pw-default")
    assert default.get("k") == b"v"
    assert b" user=default " in default.execute_command("CLIENT", "INFO")
    resp3 = proxy.client(protocol=3, username="alice", password="pw-alice")  # HELLO 3 AUTH
    assert resp3.get("k") == b"v"


def test_users_without_requirepass_disable_the_default_user(proxy_with: StartProxy) -> None:
    proxy = proxy_with("--user", "alice:pw-alice", "--user", "bob:pw-bob")
    client = RawClient(proxy.port)
    assert error(client.call("GET", "k")) == "NOAUTH Authentication required."
    assert error(client.call("AUTH", "anything")) == WRONGPASS
    assert error(client.call("AUTH", "default", "anything")) == WRONGPASS
    assert error(client.call("GET", "k")) == "NOAUTH Authentication required."
    client.close()
    assert proxy.client(username="bob", password="pw-bob").ping()


@pytest.mark.parametrize("address", ["0.0.0.0:0", "[::]:0", "10.1.2.3:6380", "db.example:6380"])
def test_protected_mode_refuses_an_open_address_without_a_password(
    address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    nodes = [f"redis://127.0.0.1:{port}" for port in (1, 2, 3)]  # never dialled: refused first
    argv = ["proxy", "--listen", address, *(f"--node={node}" for node in nodes)]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error == (
        f"leaderless: error: protected mode: listen.address = {address} is not a loopback "
        "address and no password is set; set listen.requirepass (--requirepass) or "
        "listen.users (--user), or set listen.protected_mode = false (--protected-mode no) "
        "to allow it\n"
    )


def test_idle_clients_are_closed(proxy_with: StartProxy) -> None:
    proxy = proxy_with("--idle-timeout-s", "1")
    with connect(proxy.port) as idle:
        idle.sendall(b"PING\r\n")
        assert read_until_closed(idle) == b"+PONG\r\n"  # the proxy closes it after 1-2 s
    assert proxy.client().ping()


def test_maxclients(proxy_with: StartProxy) -> None:
    proxy = proxy_with("--max-clients", "3")
    open_ = [connect(proxy.port) for _ in range(3)]
    try:
        for sock in open_:
            sock.sendall(b"PING\r\n")
            assert sock.recv(100) == b"+PONG\r\n"
        with connect(proxy.port) as extra:
            assert read_until_closed(extra) == b"-ERR max number of clients reached\r\n"
    finally:
        for sock in open_:
            sock.close()
    client = proxy.client()
    assert wait_for(lambda: info(client, "clients")["connected_clients"] == 1)
    assert info(client, "stats")["rejected_connections"] == 1
