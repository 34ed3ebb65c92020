"""The listener: accepts clients and runs their sessions (being written by the lead)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from leaderless.config.settings import Settings


async def serve(
    settings: Settings,
    *,
    on_ready: Callable[[str, int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the proxy until `stop` is set (or forever). Prints its start-up lines, then calls
    on_ready(host, port) once it listens. Raises OSError if the listen address is unusable."""
    raise NotImplementedError
