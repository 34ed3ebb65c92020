"""The state the commands see: `ProxyState`, shared by every session of one proxy process and
passed to each, and `Context`, one client's own (the session adds the transport around it)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from leaderless.config.settings import Settings
from leaderless.replication.coordinator import Coordinator
from leaderless.replication.ntp import ClockCheck

DIALECT_VERSION = "7.2.4"
"""The Redis version whose replies the proxy gives, whatever its replicas run (INFO, HELLO)."""


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class ProxyState:
    """The settings, the coordinator, the clients and the visible counters."""

    settings: Settings
    coordinator: Coordinator
    proxy_id: int
    clock_check: ClockCheck
    wall_ms: Callable[[], int] = wall_ms
    """The wall clock (unix ms) this proxy stamps writes with and judges expiry by."""
    port: int = 0
    config_file: str = ""
    run_id: str = field(default_factory=lambda: os.urandom(20).hex())
    started_at: float = field(default_factory=time.monotonic)
    clients: dict[int, Context] = field(default_factory=dict)
    next_client_id: int = 1
    connections_received: int = 0
    commands_processed: int = 0
    rejected_connections: int = 0
    command_calls: dict[str, list[int]] = field(default_factory=dict)
    """Per command name: [calls, failed calls, rejected calls], for INFO commandstats."""

    def backend_versions(self) -> list[str]:
        """Each replica's version as last seen ("" while it has not answered)."""
        return [backend.version for backend in self.coordinator.backends]


class Context:
    def __init__(self, state: ProxyState) -> None:
        self.state = state
        self.protocol = 2
        self.client_id = 0
        self.peer = ""
        self.name: bytes | None = None
        self.lib_name: bytes | None = None
        self.lib_ver: bytes | None = None
        self.db = 0
        self.created_at = time.monotonic()
        self.last_active = self.created_at
        self.authenticated = not state.settings.listen.auth_required
        self.user = b"default"
        self.last_command = "NULL"
        """The last command's full name (CLIENT INFO's `cmd=`)."""
        self.bytes_in = 0
        self.bytes_out = 0
        self.commands = 0

    @property
    def coordinator(self) -> Coordinator:
        """The coordinator of the database this client selected."""
        return self.state.coordinator.database(self.db)

    def touch(self) -> None:
        """Note that the client sent something (the idle-client timeout counts from here)."""
        self.last_active = time.monotonic()

    def close_after_replies(self) -> None:
        raise NotImplementedError

    async def drain(self) -> None:
        """Wait until every request in flight has its reply queued."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
