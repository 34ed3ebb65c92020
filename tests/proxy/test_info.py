"""INFO rendering and section selection."""

from __future__ import annotations

import dataclasses

from leaderless.proxy.info import (
    CommandFigures,
    InfoSnapshot,
    NodeStatus,
    chosen_sections,
    render_info,
)

SNAPSHOT = InfoSnapshot(
    redis_version="6.2.14",
    os="Linux 6.1.0 x86_64",
    arch_bits=64,
    process_id=42,
    run_id="a" * 40,
    tcp_port=6380,
    server_time_usec=1_700_000_000_000_000,
    uptime_in_seconds=200_000,
    executable="/usr/bin/leaderless",
    config_file="",
    connected_clients=3,
    maxclients=10000,
    total_connections_received=9,
    total_commands_processed=120,
    rejected_connections=0,
    n=3,
    w=2,
    r=2,
    proxy_id=17,
    nodes=(
        NodeStatus("127.0.0.1:7001", "up", version="valkey-8.1.8"),
        NodeStatus("127.0.0.1:7002", "down"),
    ),
    reads=5,
    writes=6,
    read_repairs=1,
    background_repairs=2,
    quorum_failures=3,
    refused_clock_observations=4,
    clock_offset_ms=-612.6,
    clock_offset_age_s=2.5,
    clock_in_bounds=False,
    clock_writes_refused=True,
)


def headings(text: bytes) -> list[bytes]:
    return [line for line in text.split(b"\r\n") if line.startswith(b"#")]


DEFAULT = [
    b"# Server",
    b"# Clients",
    b"# Memory",
    b"# Stats",
    b"# Replication",
    b"# Cluster",
    b"# Keyspace",
    b"# Leaderless",
    b"# AntiEntropy",
]


def test_no_section_and_default_give_the_default_sections() -> None:
    for sections in ([], ["default"], ["DEFAULT", "server"]):
        assert headings(render_info(SNAPSHOT, sections)) == DEFAULT


def test_all_and_everything_add_commandstats() -> None:
    everything = [*DEFAULT[:5], b"# Commandstats", *DEFAULT[5:]]
    for sections in (["ALL"], ["everything"], ["default", "commandstats"], ["all", "server"]):
        assert headings(render_info(SNAPSHOT, sections)) == everything


def test_sections_named_come_once_in_our_order() -> None:
    assert chosen_sections(["KEYSPACE", "server", "keyspace"]) == ["server", "keyspace"]
    assert chosen_sections(["nosuch"]) == []


def test_one_section_in_redis_format() -> None:
    assert (
        render_info(SNAPSHOT, ["Replication"])
        == b"# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
    )
    assert render_info(SNAPSHOT, ["cluster"]) == b"# Cluster\r\ncluster_enabled:0\r\n"


def test_sections_are_separated_by_a_blank_line() -> None:
    text = render_info(SNAPSHOT, [])
    assert b"connected_slaves:0\r\n\r\n# Cluster\r\n" in text
    assert text.endswith(b"anti_entropy_status:no sidecar has reported a round yet\r\n")


def test_unknown_section_is_empty() -> None:
    assert render_info(SNAPSHOT, ["nonsense"]) == b""


def test_keyspace_has_a_line_per_database_holding_keys() -> None:
    assert render_info(SNAPSHOT, ["keyspace"]) == b"# Keyspace\r\n"
    filled = dataclasses.replace(SNAPSHOT, keyspace=((0, 12, 3), (2, 5, 0)))
    assert render_info(filled, ["keyspace"]) == (
        b"# Keyspace\r\ndb0:keys=12,expires=3,avg_ttl=0\r\ndb2:keys=5,expires=0,avg_ttl=0\r\n"
    )


def test_commandstats_lines() -> None:
    figures = (
        CommandFigures("config|get", 4, 10, 1, 2),
        CommandFigures("get", 0, 0, 5, 0),
        CommandFigures("info", 0, 0, 0, 0),
    )
    text = render_info(dataclasses.replace(SNAPSHOT, commands=figures), ["commandstats"])
    assert text == (
        b"# Commandstats\r\n"
        b"cmdstat_config|get:calls=4,usec=10,usec_per_call=2.50,rejected_calls=1,failed_calls=2\r\n"
        b"cmdstat_get:calls=0,usec=0,usec_per_call=0.00,rejected_calls=5,failed_calls=0\r\n"
    )


def test_clients_and_stats_fields() -> None:
    snapshot = dataclasses.replace(
        SNAPSHOT, net_input_bytes=100, net_output_bytes=200, error_replies=7
    )
    assert render_info(snapshot, ["clients"]).split(b"\r\n")[1:3] == [
        b"connected_clients:3",
        b"cluster_connections:0",
    ]
    lines = render_info(snapshot, ["stats"]).split(b"\r\n")
    assert b"total_net_input_bytes:100" in lines
    assert b"total_net_output_bytes:200" in lines
    assert b"total_error_replies:7" in lines


def test_server_fields() -> None:
    lines = render_info(SNAPSHOT, ["server"]).split(b"\r\n")
    assert b"redis_version:6.2.14" in lines
    assert b"redis_mode:standalone" in lines
    assert b"uptime_in_days:2" in lines
    assert b"tcp_port:6380" in lines


def test_leaderless_section() -> None:
    text = render_info(dataclasses.replace(SNAPSHOT, nodes=SNAPSHOT.nodes[:1]), ["leaderless"])
    assert text == (
        b"# Leaderless\r\nn:3\r\nw:2\r\nr:2\r\nproxy_id:17\r\nring_epoch:0\r\nring_moving:0\r\n"
        b"node0:address=127.0.0.1:7001,state=up,health=in_sync,version=valkey-8.1.8,"
        b"ring_share=1.000\r\n"
        b"reads:5\r\nwrites:6\r\nread_repairs:1\r\nbackground_repairs:2\r\n"
        b"quorum_failures:3\r\nrestamped_writes:0\r\nhints_stored:0\r\nhints_replayed:0\r\n"
        b"hints_dropped:0\r\nhints_pending:0\r\nhints_pending_bytes:0\r\n"
        b"refused_clock_observations:4\r\n"
        b"clock_offset_ms:-613\r\nclock_offset_age_ms:2500\r\nclock_in_bounds:0\r\n"
        b"clock_writes_refused:1\r\n"
    )


def test_clock_never_measured() -> None:
    snapshot = dataclasses.replace(
        SNAPSHOT, clock_offset_ms=None, clock_offset_age_s=None, clock_in_bounds=True
    )
    lines = render_info(snapshot, ["leaderless"]).split(b"\r\n")
    assert b"clock_offset_ms:unknown" in lines
    assert b"clock_offset_age_ms:-1" in lines
    assert b"clock_in_bounds:1" in lines


def test_anti_entropy_section_shows_the_published_counters_or_says_none_came() -> None:
    assert render_info(SNAPSHOT, ["anti_entropy"]) == (
        b"# AntiEntropy\r\nanti_entropy_status:no sidecar has reported a round yet\r\n"
    )
    reported = dataclasses.replace(
        SNAPSHOT, anti_entropy=(("keys_repaired", "12"), ("rounds", "3"))
    )
    assert render_info(reported, ["anti_entropy"]) == (
        b"# AntiEntropy\r\nanti_entropy_keys_repaired:12\r\nanti_entropy_rounds:3\r\n"
    )
