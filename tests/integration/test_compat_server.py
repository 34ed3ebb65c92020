"""TIME, CONFIG, CLIENT and INFO against the reference Valkey (Redis 7.2), byte for byte where
the reply is deterministic; where the figures are the proxy's own, their documented form and
that they move; and redis-py's view of each.

Deliberate divergences, checked against their documented replies: CONFIG SET of a parameter
the proxy reports is refused (its settings are fixed when it starts); CONFIG GET's globs match
only the parameters the proxy reports, and a few values are the proxy's (slowlog, the normal
client output limit, its port); CLIENT TRACKING ON is refused; HELP lists what the proxy
serves, in its own words."""

from __future__ import annotations

import re
import time

import pytest
import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode

from tests.integration.conftest import Cluster
from tests.support.compat import (
    RawConnection,
    c,
    call,
    case,
    connect,
    mismatches,
    raw,
    request,
)
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration


def any_time(reply: bytes) -> bytes:
    """TIME reads each server's clock: only its shape can agree."""
    return re.sub(rb"^\*2\r\n\$10\r\n\d{10}\r\n\$[1-6]\r\n\d{1,6}\r\n$", b"<time>", reply)


def any_avg_ttl(reply: bytes) -> bytes:
    """avg_ttl is Redis's estimate from its expiry sampling; the proxy does not sample."""
    return re.sub(rb",avg_ttl=\d+", b",avg_ttl=<n>", reply)


def pairs_sorted(reply: bytes) -> bytes:
    """CONFIG GET lists what a pattern matches in hash order, a random one per process."""
    header, _, body = reply.partition(b"\r\n")
    items = re.findall(rb"\$\d+\r\n[^\r]*\r\n", body)
    pairs = sorted(zip(items[::2], items[1::2], strict=True))
    return header + b"\r\n" + b"".join(name + value for name, value in pairs)


def any_avg_ttl_in_info(reply: bytes) -> bytes:
    """`any_avg_ttl` in an INFO text, whose bulk or verbatim length changes with it."""
    return re.sub(rb"^([$=])\d+\r\n", rb"\1<n>\r\n", any_avg_ttl(reply))


def any_timing_in_commandstats(reply: bytes) -> bytes:
    """Commandstats' times are each server's, and Redis lists its commands in hash order:
    the calls, rejections and failures of each command must agree."""
    header, _, body = reply.partition(b"\r\n")
    lines = re.sub(rb"usec=\d+,usec_per_call=[\d.]+", b"usec=<n>", body).split(b"\r\n")
    return re.sub(rb"\d+", b"<n>", header) + b"\r\n" + b"\r\n".join(sorted(lines))


def only_counts_in_stats(reply: bytes) -> bytes:
    """Of INFO stats, the counts a sequence of requests decides (the rest are per server)."""
    return b"".join(re.findall(rb"(?:total_commands_processed|total_error_replies):\d+\r\n", reply))


FIXED_PARAMETERS = [
    "maxmemory",
    "maxmemory-policy",
    "save",
    "appendonly",
    "databases",
    "timeout",
    "notify-keyspace-events",
    "bind",
    "maxclients",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "cluster-enabled",
    "lua-time-limit",
    "busy-reply-threshold",
    "protected-mode",
    "tls-port",
]
"""Parameters whose values the proxy's defaults and the reference's settings share."""

CASES = [
    case("TIME", c("TIME", normalise=any_time), c("time", normalise=any_time), c("TIME", "x")),
    case(
        "CONFIG GET of each fixed parameter",
        *(c("CONFIG", "GET", name) for name in FIXED_PARAMETERS),
    ),
    case(
        "CONFIG GET: names in any case, repeated, unknown, globs matching one",
        c("CONFIG", "GET", "MAXMEMORY"),
        c("config", "get", "Save"),
        c("CONFIG", "GET", "maxmemory", "maxmemory"),
        c("CONFIG", "GET", "MAXMEMORY", "maxmemory"),
        c("CONFIG", "GET", "nosuch"),
        c("CONFIG", "GET", ""),
        c("CONFIG", "GET", "nosuch", "databases"),
        c("CONFIG", "GET", "appendonl?"),
        c("CONFIG", "GET", "timeou[t]"),
        c("CONFIG", "GET", "NOTIFY-*"),
        c("CONFIG", "GET", "databa*"),
        c("CONFIG", "GET", "busy*"),
        c("CONFIG", "GET", "lua*"),
        c("CONFIG", "GET", "save*"),
        c("CONFIG", "GET", "protected*"),
        c("CONFIG", "GET", "cluster-enabl[a-f]"),
        c("CONFIG", "GET", "maxclient[^x]"),
        c("CONFIG", "GET", "nosuch*"),
        c("CONFIG", "GET", "maxmemory\x00x"),
        c("CONFIG", "GET", "databa*\x00x"),
    ),
    case(
        "CONFIG GET of several parameters",
        c("CONFIG", "GET", "maxmemory", "timeout", "databases", normalise=pairs_sorted),
        c("CONFIG", "GET", "databases", "appendonl?", "save", normalise=pairs_sorted),
    ),
    case(
        "CONFIG SET: the checks before any change",
        c("CONFIG", "SET", "maxmemory", "1", "maxclients"),
        c("CONFIG", "SET", "nosuch", "1"),
        c("CONFIG", "SET", "maxmemory", "0", "nosuch", "2"),
        c("CONFIG", "SET", "databases", "1"),
        c("CONFIG", "SET", "cluster-enabled", "yes"),
        c("CONFIG", "SET", "nosuch", "1", "databases", "2"),
        c("CONFIG", "SET", "databases", "1", "nosuch", "2"),
        c("CONFIG", "SET", "maxmemory", "0", "maxmemory", "0"),
        c("CONFIG", "SET", "maxmemory", "0", "MAXMEMORY", "0"),
        c("CONFIG", "SET", "a\x00b", "1"),
        c("CONFIG", "SET", "maxmemory"),
        c("CONFIG", "SET"),
    ),
    case(
        "CONFIG: RESETSTAT, arity, unknown subcommands",
        c("CONFIG", "RESETSTAT"),
        c("config", "resetstat"),
        c("CONFIG", "RESETSTAT", "x"),
        c("CONFIG", "HELP", "x"),
        c("CONFIG", "GET"),
        c("CONFIG", "foo"),
        c("CONFIG"),
    ),
    case(
        "CLIENT LIST: filters that name no client, and their errors",
        *(
            c("CLIENT", "LIST", *args.split())
            for args in (
                "id 99999",
                "ID 99999 123456",
                "type pubsub",
                "TYPE master",
                "type replica",
                "type slave",
                "type primary",
                "addr 1.2.3.4:5",
                "laddr 1.2.3.4:5",
                "maxage 100000",
                "type normal id",
                "id id",
                "id 9223372036854775807",
                "type foo",
                "type",
                "id",
                "id 1 x",
                "id abc",
                "id 0",
                "id -1",
                "id 00001",
                "id +1",
                "foo",
                "user nosuch",
                "skipme maybe",
                "maxage 0",
                "maxage abc",
                "maxage 99999999999999999999",
                "addr",
                "type normal skipme",
                "type normal type foo",
                "type foo id 0",
                "id 0 type foo",
            )
        ),
    ),
    case(
        "CLIENT KILL: filters that name no client, and their errors",
        *(
            c("CLIENT", "KILL", *args.split())
            for args in (
                "1.2.3.4:5",
                "127.0.0.1",
                "id",
                "addr",
                "id 99999",
                "ID 99999 123456",
                "id 99999 id 123456",
                "addr 1.2.3.4:5",
                "laddr 1.2.3.4:5",
                "type master",
                "type pubsub",
                "type replica",
                "type slave",
                "type primary",
                "maxage 100000",
                "type normal id",
                "id id 99999",
                "id abc",
                "id 0",
                "id -5",
                "id 18446744073709551615",
                "id 9223372036854775808",
                "id 99999 type",
                "id 99999 2 abc",
                "foo bar",
                "type foo",
                "skipme maybe",
                "maxage -1",
                "maxage abc",
                "user nosuch",
                "user nosuch id 0",
                "id 0 user nosuch",
                "type normal user",
                "maxage 1 addr",
            )
        ),
    ),
    case(
        "CLIENT NO-EVICT and NO-TOUCH",
        c("CLIENT", "NO-EVICT", "on"),
        c("CLIENT", "NO-EVICT", "OFF"),
        c("CLIENT", "NO-EVICT", "foo"),
        c("CLIENT", "NO-EVICT"),
        c("CLIENT", "NO-EVICT", "on", "x"),
        c("CLIENT", "NO-TOUCH", "ON"),
        c("client", "no-touch", "off"),
        c("CLIENT", "NO-TOUCH", "foo"),
        c("CLIENT", "NO-TOUCH"),
    ),
    case(
        "CLIENT REPLY OFF, then ON",
        raw(
            request("CLIENT", "REPLY", "OFF")
            + request("PING")
            + request("SET", "a", "1")
            + request("GET", "a")
            + request("GET", "a")
            + request("NOSUCH")
            + request("GET")
            + request("CLIENT", "REPLY", "SKIP")
            + request("SET", "a", "2"),
            replies=0,
        ),
        c("CLIENT", "REPLY", "ON"),
        c("GET", "a"),
        c("CLIENT", "REPLY", "ON"),
    ),
    case(
        "CLIENT REPLY SKIP: the next reply only",
        raw(request("CLIENT", "REPLY", "SKIP") + request("SET", "a", "1"), replies=0),
        c("GET", "a"),
        raw(
            request("CLIENT", "REPLY", "SKIP")
            + request("CLIENT", "REPLY", "SKIP")
            + request("PING", "x")
            + request("PING", "y"),
            replies=1,
        ),
        raw(
            request("CLIENT", "REPLY", "SKIP") + request("GET", "a") + request("GET", "a"),
            replies=1,
        ),
        raw(request("CLIENT", "REPLY", "SKIP") + request("NOSUCH") + request("PING"), replies=1),
        raw(request("CLIENT", "REPLY", "SKIP") + request("CLIENT", "REPLY", "ON"), replies=1),
        c("PING"),
        raw(request("CLIENT", "REPLY", "OFF") + request("CLIENT", "REPLY", "SKIP"), replies=0),
        raw(request("SET", "a", "3") + request("CLIENT", "REPLY", "ON"), replies=1),
        c("GET", "a"),
    ),
    case(
        "RESET turns replies back on, unless a SKIP came just before it",
        raw(request("CLIENT", "REPLY", "OFF") + request("PING", "x"), replies=0),
        c("RESET"),
        c("PING"),
        raw(request("CLIENT", "REPLY", "SKIP") + request("RESET"), replies=0),
        c("PING"),
        raw(
            request("CLIENT", "REPLY", "OFF")
            + request("CLIENT", "REPLY", "SKIP")
            + request("RESET"),
            replies=1,
        ),
        c("PING"),
    ),
    case(
        "CLIENT REPLY errors",
        c("CLIENT", "REPLY", "foo"),
        c("CLIENT", "REPLY"),
        c("CLIENT", "REPLY", "on", "x"),
        c("client", "reply", "On"),
    ),
    case(
        "CLIENT TRACKING: OFF, and the option errors",
        *(
            c("CLIENT", "TRACKING", *args.split())
            for args in (
                "off",
                "OFF bcast",
                "off optin",
                "off optout",
                "off noloop",
                "off prefix a",
                "off prefix a prefix b bcast",
                "off optin optout",
                "off bcast optin",
                "foo",
                "off foo",
                "on foo",
                "off redirect",
                "off redirect abc",
                "off redirect 99999",
                "off prefix",
            )
        ),
        c("CLIENT", "TRACKING"),
    ),
    case(
        "INFO commandstats after CONFIG RESETSTAT",
        c("CONFIG", "RESETSTAT"),
        c("SET", "a", "1"),
        c("SET", "b", "2"),
        c("GET", "a"),
        c("GET", "a", "b"),
        c("SET", "a", "b", "NX", "XX"),
        c("CLIENT", "LIST", "id", "0"),
        c("NOSUCH"),
        c("INFO", "commandstats", normalise=any_timing_in_commandstats),
        c("INFO", "stats", normalise=only_counts_in_stats),
        raw(request("CLIENT", "REPLY", "OFF") + request("GET") + request("NOSUCH"), replies=0),
        c("CLIENT", "REPLY", "ON"),
        c("INFO", "stats", normalise=only_counts_in_stats),
    ),
    case(
        "INFO keyspace",
        c("INFO", "keyspace"),
        c("SET", "a", "1"),
        c("SET", "b", "2", "EX", "100"),
        c("SET", "c", "3", "PX", "100000"),
        c("INFO", "keyspace", normalise=any_avg_ttl_in_info),
        c("info", "KEYSPACE", "keyspace", normalise=any_avg_ttl_in_info),
        c("SELECT", "2"),
        c("SET", "d", "4"),
        c("INFO", "keyspace", normalise=any_avg_ttl_in_info),
        c("SELECT", "0"),
        c("DEL", "a", "b", "c"),
        c("INFO", "keyspace"),
    ),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_server_replies_match_the_reference_byte_for_byte(
    shared_cluster: Cluster, shared_reference: LocalRedisNode, protocol: int
) -> None:
    assert not (
        found := mismatches(shared_cluster.proxy.port, shared_reference.port, protocol, CASES)
    ), found


# -- the proxy's own values and refusals ------------------------------------------------------


def test_time_is_the_proxy_clock(shared_cluster: Cluster) -> None:
    client = shared_cluster.client()
    before = time.time()
    seconds, micros = client.time()
    after = time.time()
    assert 0 <= micros < 1_000_000
    assert before - 1 <= seconds + micros / 1e6 <= after + 1


@pytest.mark.parametrize("protocol", [2, 3])
def test_config_get_through_redis_py(shared_cluster: Cluster, protocol: int) -> None:
    client = shared_cluster.client(protocol)
    assert client.config_get("maxmemory") == {"maxmemory": "0"}
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    everything = client.config_get()
    assert everything["port"] == str(shared_cluster.proxy.port)
    assert everything["databases"] == "16"
    assert everything["slowlog-log-slower-than"] == "-1"
    assert everything["client-output-buffer-limit"].startswith("normal 268435456 0 0 ")
    assert client.config_get("slowlog-*") == {
        "slowlog-log-slower-than": "-1",
        "slowlog-max-len": "0",
    }


def test_config_set_is_refused_naming_where_the_setting_lives(shared_cluster: Cluster) -> None:
    client = shared_cluster.client()
    refusals = {
        "timeout": "[listen] idle_timeout_s in the proxy's config file (--idle-timeout-s)",
        "maxmemory": "each replica's own: set it in the replicas' redis.conf",
        "notify-keyspace-events": "the proxy publishes no keyspace notifications",
    }
    for name, where in refusals.items():
        with pytest.raises(redis.ResponseError) as refused:
            client.config_set(name, "1")
        assert str(refused.value) == (
            f"CONFIG SET failed (possibly related to argument '{name}') - "
            f"the proxy does not change it at run time: {where}"
        )
    assert client.config_get("timeout") == {"timeout": "0"}


def test_config_help_lists_what_the_proxy_serves(shared_cluster: Cluster) -> None:
    lines = shared_cluster.client().execute_command("CONFIG", "HELP")
    assert lines[0] == b"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    usages = [line.split()[0] for line in lines[1:] if not line.startswith(b" ")]
    assert usages == [b"GET", b"SET", b"RESETSTAT", b"HELP"]


def test_client_tracking_on_is_refused(shared_cluster: Cluster) -> None:
    assert call(shared_cluster.proxy.port, "CLIENT", "TRACKING", "on") == (
        b"-ERR CLIENT TRACKING ON is not supported: the proxy does not send client-side "
        b"caching invalidations (a write through another proxy would not reach it)\r\n"
    )


# -- CLIENT LIST and KILL over several connections ---------------------------------------------


def send(connection: RawConnection, *args: str | int) -> bytes:
    connection.send(request(*args))
    return connection.read_reply()


def client_id(connection: RawConnection) -> int:
    return int(send(connection, "CLIENT", "ID")[1:-2])


def lines_of(reply: bytes) -> list[str]:
    return reply.split(b"\r\n", 1)[1].decode().splitlines()[:-1] if reply[:1] == b"$" else []


def test_client_list_has_one_line_per_client_in_client_info_form(shared_cluster: Cluster) -> None:
    port = shared_cluster.proxy.port
    with connect(port) as me, connect(port) as other:
        mine, theirs = client_id(me), client_id(other)
        send(other, "CLIENT", "SETNAME", "other")
        info_line = lines_of(send(me, "CLIENT", "INFO"))[0]
        listing = lines_of(send(me, "CLIENT", "LIST"))
        ids = [int(line.split()[0].removeprefix("id=")) for line in listing]
        assert {mine, theirs} <= set(ids) and ids == sorted(ids)
        by_id = dict(zip(ids, listing, strict=True))
        fields = [field.split("=", 1)[0] for field in info_line.split()]
        assert [field.split("=", 1)[0] for field in by_id[mine].split()] == fields
        assert " name=other " in by_id[theirs] and " cmd=client|setname " in by_id[theirs]
        assert " cmd=client|list " in by_id[mine]
        chosen = lines_of(send(me, "CLIENT", "LIST", "ID", theirs, mine, "TYPE", "normal"))
        assert [line.split()[0] for line in chosen] == [f"id={mine}", f"id={theirs}"]
        assert lines_of(send(me, "CLIENT", "LIST", "ID", mine, "SKIPME", "yes")) == []
        addr = by_id[theirs].split()[1].removeprefix("addr=")
        assert lines_of(send(me, "CLIENT", "LIST", "ADDR", addr)) == [by_id[theirs]]
        laddr = by_id[mine].split()[2].removeprefix("laddr=")
        assert laddr == f"127.0.0.1:{port}"
        local = lines_of(send(me, "CLIENT", "LIST", "LADDR", laddr, "ID", mine, theirs))
        assert [line.split()[0] for line in local] == [f"id={mine}", f"id={theirs}"]


def test_client_kill_closes_the_other_connection(shared_cluster: Cluster) -> None:
    port = shared_cluster.proxy.port
    with connect(port) as me, connect(port) as victim, connect(port) as other:
        victim_id = client_id(victim)
        assert send(me, "CLIENT", "KILL", "ID", victim_id, client_id(me)) == b":1\r\n"
        assert victim.closed_by_peer()
        assert send(me, "CLIENT", "KILL", "ID", victim_id) == b":0\r\n"
        addr = lines_of(send(other, "CLIENT", "INFO"))[0].split()[1].removeprefix("addr=")
        assert send(me, "CLIENT", "KILL", addr) == b"+OK\r\n"
        assert other.closed_by_peer()
        assert send(me, "PING") == b"+PONG\r\n"


def test_client_kill_of_itself_replies_then_closes(shared_cluster: Cluster) -> None:
    with connect(shared_cluster.proxy.port) as me:
        mine = client_id(me)
        assert send(me, "CLIENT", "KILL", "ID", mine, "SKIPME", "no") == b":1\r\n"
        assert me.closed_by_peer()


def read_until_closed(connection: RawConnection) -> None:
    """Read whatever replies came before the peer closed (a socket timeout fails the test)."""
    try:
        while connection.stream.read1(65536):
            pass
    except ConnectionResetError:
        pass


def test_a_client_killed_with_requests_in_flight_leaves_the_others_served(
    shared_cluster: Cluster,
) -> None:
    port = shared_cluster.proxy.port
    with connect(port) as me, connect(port) as victim:
        victim_id = client_id(victim)
        victim.send(b"".join(request("SET", f"k{i}", "v" * 100) for i in range(2000)))
        assert send(me, "CLIENT", "KILL", "ID", victim_id) == b":1\r\n"
        read_until_closed(victim)
        assert send(me, "SET", "after", "1") == b"+OK\r\n"
        assert send(me, "GET", "after") == b"$1\r\n1\r\n"
    assert "Traceback" not in shared_cluster.proxy.output.text()


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_client_list_and_kill_filter(shared_cluster: Cluster, protocol: int) -> None:
    client = shared_cluster.client(protocol)
    victim = shared_cluster.client(protocol)
    victim_id = victim.client_id()
    listed = {int(entry["id"]) for entry in client.client_list()}
    assert victim_id in listed and client.client_id() in listed
    assert [entry["id"] for entry in client.client_list(client_id=[victim_id])] == [str(victim_id)]
    assert client.client_kill_filter(_id=victim_id) == 1
    assert wait_for(
        lambda: victim_id not in {int(e["id"]) for e in client.client_list(client_id=[victim_id])}
    )


# -- INFO figures ------------------------------------------------------------------------------


def commandstats(client: redis.Redis) -> dict[str, dict[str, float]]:
    return {
        name.removeprefix("cmdstat_"): figures
        for name, figures in client.info("commandstats").items()
    }


def test_commandstats_count_calls_failures_and_refusals(shared_cluster: Cluster) -> None:
    client = shared_cluster.client()
    client.ping()
    before = commandstats(client)
    client.set("counted", "1")
    client.get("counted")
    with pytest.raises(redis.ResponseError):
        client.execute_command("GET", "a", "b")
    with pytest.raises(redis.ResponseError):
        client.execute_command("SET", "a", "b", "NX", "XX")
    after = commandstats(client)
    zero = {"calls": 0, "rejected_calls": 0, "failed_calls": 0}

    def moved(name: str, field: str) -> float:
        return after[name][field] - before.get(name, zero)[field]

    assert moved("set", "calls") == 2 and moved("set", "failed_calls") == 1
    assert moved("get", "calls") == 1 and moved("get", "rejected_calls") == 1
    text = call(shared_cluster.proxy.port, "INFO", "commandstats").decode()
    assert re.search(
        r"^cmdstat_set:calls=\d+,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=\d+,"
        r"failed_calls=\d+\r$",
        text,
        re.MULTILINE,
    )


def test_config_resetstat_starts_the_counters_again(shared_cluster: Cluster) -> None:
    client = shared_cluster.client()
    client.set("x", "1")
    assert client.config_resetstat()
    assert "cmdstat_set" not in client.info("commandstats")
    stats = client.info("stats")
    assert stats["total_commands_processed"] <= 2
    assert stats["total_connections_received"] == 0


def test_info_sections_as_redis_chooses_them(shared_cluster: Cluster) -> None:
    client = shared_cluster.client()

    def headings(*args: str) -> list[str]:
        text = call(shared_cluster.proxy.port, "INFO", *args).decode()
        return [line[2:] for line in text.splitlines() if line.startswith("# ")]

    default = ["Server", "Clients", "Memory", "Stats", "Replication", "Cluster", "Keyspace"]
    default += ["Leaderless", "AntiEntropy"]
    everything = [*default[:5], "Commandstats", *default[5:]]
    assert headings() == headings("default") == default
    assert headings("all") == headings("everything") == headings("default", "commandstats")
    assert headings("all") == everything
    assert headings("keyspace", "SERVER") == ["Server", "Keyspace"]
    assert headings("nosuch") == []
    fields = client.info("clients")
    assert fields["connected_clients"] >= 1 and fields["blocked_clients"] == 0
    assert client.info()["maxmemory_policy"] == "noeviction"
    stats = client.info("stats")
    assert stats["total_net_input_bytes"] > 0 and stats["total_error_replies"] >= 0


def test_info_keyspace_counts_from_the_replicas_that_answer(cluster: Cluster) -> None:
    client = cluster.client()
    client.set("a", "1")
    client.set("b", "2", ex=100)
    client.set("c", "3", px=100_000)
    assert client.info("keyspace") == {"db0": {"keys": 3, "expires": 2, "avg_ttl": 0}}
    cluster.nodes[0].stop()
    assert wait_for(
        lambda: client.info("keyspace") == {"db0": {"keys": 3, "expires": 2, "avg_ttl": 0}}
    )
    client.delete("a", "b", "c")
    assert client.info("keyspace") == {}
