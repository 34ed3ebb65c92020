"""Which databases hold keys, read from a replica's INFO keyspace."""

from __future__ import annotations

from leaderless.replication.databases import databases_in


def test_the_databases_listed_with_keys_in_order() -> None:
    info = (
        b"# Keyspace\r\n"
        b"db0:keys=3,expires=0,avg_ttl=0\r\n"
        b"db12:keys=1,expires=1,avg_ttl=999\r\n"
        b"db2:keys=10,expires=0,avg_ttl=0\r\n"
    )
    assert databases_in(info) == [0, 2, 12]


def test_none_listed_none_served_or_empty_are_left_out() -> None:
    assert databases_in(b"# Keyspace\r\n") == []
    assert databases_in(b"db16:keys=4,expires=0,avg_ttl=0\r\ndb3:keys=0,expires=0\r\n") == []
