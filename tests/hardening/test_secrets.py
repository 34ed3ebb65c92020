"""Secrets (node passwords in URLs, requirepass, users' passwords) never appear in the proxy's
output, in INFO, in CLIENT INFO or in error replies, whatever clients and nodes do."""

from __future__ import annotations

from pathlib import Path

import hiredis
import pytest
from leaderless.config.loader import SettingsError, load_settings
from leaderless.proxy.app.local_nodes import LocalRedisNode

from tests.hardening.conftest import RawClient
from tests.integration.conftest import ProxyProcess
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration

NODE_SECRET = "node-secret-5f1c"
WRONG_NODE_SECRET = "wrong-node-secret-77aa"
CLIENT_SECRET = "client-secret-9b2e"
ALICE_SECRET = "alice-secret-3d4f"
SECRETS = (NODE_SECRET, WRONG_NODE_SECRET, CLIENT_SECRET, ALICE_SECRET)


def test_secrets_stay_out_of_output_info_and_errors(nodes: list[LocalRedisNode]) -> None:
    for node in nodes:
        with node.client() as client:
            client.config_set("requirepass", NODE_SECRET)
    urls = [
        f"redis://:{NODE_SECRET}@127.0.0.1:{nodes[0].port}",
        f"redis://default:{NODE_SECRET}@127.0.0.1:{nodes[1].port}",
        f"redis://:{WRONG_NODE_SECRET}@127.0.0.1:{nodes[2].port}",  # this node refuses us
    ]
    args = ["--listen", "127.0.0.1:0", "--timeout-ms", "500", "--requirepass", CLIENT_SECRET]
    args += ["--user", f"alice:{ALICE_SECRET}"]
    for url in urls:
        args += ["--node", url]
    proxy = ProxyProcess(args)
    proxy.start()
    seen: list[object] = []
    try:
        client = RawClient(proxy.port)
        for request in (
            ("GET", "k"),
            ("AUTH", CLIENT_SECRET[:-1]),
            ("AUTH", "alice", CLIENT_SECRET),
            ("AUTH", "default", ALICE_SECRET),
            ("HELLO", "3", "AUTH", "alice", CLIENT_SECRET),
            ("AUTH", CLIENT_SECRET),
            ("AUTH", "alice", ALICE_SECRET),
            ("SET", "k", "v"),
            ("GET", "k"),
            ("CONFIG", "GET", "requirepass"),
            ("INFO", "everything"),
            ("CLIENT", "INFO"),
            ("HELLO", "3"),
            ("INFO", "leaderless"),
        ):
            seen.append(client.call(*request))
        client.close()
        nodes[0].kill()  # the proxy logs the replica going down and requests failing
        failing = RawClient(proxy.port)
        seen.append(failing.call("AUTH", "alice", ALICE_SECRET))
        seen.append(failing.call("SET", "k", "v2"))  # one node killed, one refusing: no quorum
        seen.append(failing.call("INFO"))
        failing.close()
    finally:
        proxy.stop()
    assert wait_for(lambda: (proxy.output.text(), proxy.output.ended)[1])
    output = proxy.output.text()
    assert "replica 2: 127.0.0.1:" in output  # the refusing node is reported, by address
    assert any(isinstance(reply, hiredis.ReplyError) for reply in seen)
    replies = repr(seen)
    assert "# Leaderless" in replies
    for secret in SECRETS:
        assert secret not in output
        assert secret not in replies


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[listen]\nrequirepass = 987654321\n", "must be a string"),
        (f'[listen]\nusers = ["alice{ALICE_SECRET}"]\n', "a user is written NAME:PASSWORD"),
        ('[listen]\nusers = {"alice" = 987654321}\n', "needs a non-empty name"),
        (f'[replication]\nnodes = ["redis://a:{NODE_SECRET}@h:x"]\n', "port must be a number"),
    ],
)
def test_settings_errors_do_not_repeat_secrets(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "leaderless.toml"
    path.write_text(text)
    with pytest.raises(SettingsError) as caught:
        load_settings(path, {})
    assert expected in str(caught.value)
    for secret in (*SECRETS, "987654321"):
        assert secret not in str(caught.value)
