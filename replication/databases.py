"""The numbered databases: Redis's own, on every replica, so that SELECT needs no key prefix.

Database n of the proxy is database n of every replica: its records and the bookkeeping the
scripts keep for them (digests, tombstones, expiries, the newest flush, the sidecar's leases)
live there, so each database is flushed, counted and compared on its own. What is about a
replica as a whole (its membership mark, its `synced_at`, the sidecar's counters) lives in
database 0. A replica must serve DATABASES of them, Redis's default. This module is pure.
"""

from __future__ import annotations

import re

DATABASES = 16
"""Databases 0 to 15, as a default redis-server serves them."""

_KEYSPACE_LINE = re.compile(rb"^db(\d+):keys=(\d+)", re.MULTILINE)


def databases_in(keyspace: bytes) -> list[int]:
    """The databases holding keys, in order, from a replica's `INFO keyspace`
    (`db3:keys=12,expires=0,avg_ttl=0`: Redis lists only databases that hold some)."""
    return sorted(
        int(db)
        for db, keys in _KEYSPACE_LINE.findall(keyspace)
        if int(keys) > 0 and int(db) < DATABASES
    )
