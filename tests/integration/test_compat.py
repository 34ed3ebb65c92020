"""Client compatibility: the proxy against the reference Valkey (Redis 7.2), byte for byte.

How it works: `CASES` is a table of request sequences. Each sequence is sent on a fresh raw
socket, step by step, to the proxy (three real redis-servers behind it, N=3 W=2 R=2) and to the
`valkey_reference` server, in RESP2 and, after `HELLO 3`, in RESP3; the raw reply bytes must be
equal. Only what is inherently different is normalised, each time saying why (client ids, TTL
countdowns, the number of commands served). Both servers are flushed before each sequence, so
the sequences are independent of each other and of their order.

Deliberate divergences (INFO and CLIENT INFO contents, containers that list only the
subcommands the proxy serves) are checked against their documented replies
instead. Further tests cover what a table of single requests cannot: pipelining, binary-safe
and large values, inline commands, protocol errors that close one connection, and redis-py in
both protocols."""

from __future__ import annotations

import itertools
import random
import re

import pytest
import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.proxy.commands.table import COMMAND_TABLE

from tests.integration.conftest import Cluster, start_proxy
from tests.support.compat import (
    FUTURE_MS,
    FUTURE_S,
    LARGE_VALUE_TIMEOUT,
    LOOPBACK,
    Case,
    any_client_id,
    any_count,
    any_hello_id,
    c,
    call,
    case,
    connect,
    mismatches,
    pttl,
    raw,
    request,
    shorten,
    ttl,
)
from tests.support.redis_servers import StartNodes

pytestmark = pytest.mark.integration

SERVED = [
    name
    for spec in COMMAND_TABLE.values()
    for name in (
        [spec.name] if not spec.subcommands else [sub.name for sub in spec.subcommands.values()]
    )
]
"""Every command and subcommand the proxy serves, by its full name (`client|setname`)."""

EXPIRY_OPTIONS: list[tuple[str | int, ...]] = [
    (),
    ("EX", 100),
    ("PX", 100_000),
    ("EXAT", FUTURE_S),
    ("PXAT", FUTURE_MS),
    ("KEEPTTL",),
]


def set_option_matrix() -> list[Case]:
    """Every combination of 6.2's SET options, on a key holding a TTL and on a missing key."""
    cases = []
    for condition, get, expiry in itertools.product(
        [(), ("NX",), ("XX",)], [(), ("GET",)], EXPIRY_OPTIONS
    ):
        options = (*condition, *get, *expiry)
        shown = {FUTURE_S: "<future s>", FUTURE_MS: "<future ms>"}
        label = " ".join(shown.get(o, str(o)) if isinstance(o, int) else o for o in options)
        cases.append(
            case(
                f"SET option matrix: {label}",
                c("SET", "k", "old", "EX", 500),
                c("SET", "k", "new", *options),
                c("GET", "k"),
                pttl("k"),
                c("SET", "m", "new", *options),
                c("GET", "m"),
                ttl("m"),
                c("DBSIZE"),
            )
        )
    return cases


CASES: list[Case] = [
    case(
        "GET and SET",
        c("GET", "k"),
        c("SET", "k", "v"),
        c("GET", "k"),
        c("SET", "k", ""),
        c("GET", "k"),
        c("set", "k", "v2"),
        c("gEt", "k"),
        c("GET"),
        c("GET", "a", "b"),
        c("SET", "k"),
        c("SET"),
    ),
    *set_option_matrix(),
    case(
        "SET option errors and repeats",
        c("SET", "k", "v", "NX", "XX"),
        c("SET", "k", "v", "XX", "NX"),
        c("SET", "k", "v", "NX", "NX"),
        c("SET", "k", "v", "nx"),
        c("SET", "k", "v", "XX", "XX", "GET"),
        c("SET", "k", "v", "GET", "NX"),
        c("SET", "k", "v", "NX", "GET"),
        c("SET", "k", "v", "GET", "GET"),
        c("SET", "k", "v", "EX", 100, "PX", 100),
        c("SET", "k", "v", "EX", 10, "EX", 100),
        ttl("k"),
        c("SET", "k", "v", "EXAT", FUTURE_S, "EX", 10),
        c("SET", "k", "v", "KEEPTTL", "EX", 10),
        c("SET", "k", "v", "EX", 10, "KEEPTTL"),
        c("SET", "k", "v", "KEEPTTL", "KEEPTTL"),
        c("SET", "k", "v", "EX"),
        c("SET", "k", "v", "PXAT"),
        c("SET", "k", "v", "bogus"),
        c("SET", "k", "v", "EX", "abc"),
        c("SET", "k", "v", "EX", "abc", "NX", "XX"),
        c("SET", "k", "v", "EX", "010"),
        c("SET", "k", "v", "EX", " 5"),
        c("SET", "k", "v", "EX", "+5"),
        c("SET", "k", "v", "EX", "-0"),
        c("SET", "k", "v", "EX", 0),
        c("SET", "k", "v", "EX", -5),
        c("SET", "k", "v", "PX", 0),
        c("SET", "k", "v", "EXAT", 0),
        c("SET", "k", "v", "PXAT", -1),
        c("SET", "k", "v", "EX", 9223372036854776),
        c("SET", "k", "v", "EX", 9223372036854775),
        c("SET", "k", "v", "PX", 9223372036854775807),
        c("SET", "k", "v", "EX", 99999999999999999999),
        c("SET", "k", "v", b"ex\x00junk", 10),
        c("GET", "k"),
        ttl("k"),
    ),
    case(
        "SET with an expiry already past",
        c("SET", "k", "v", "EXAT", 1),
        c("GET", "k"),
        ttl("k"),
        c("SET", "k", "v", "PXAT", 1),
        c("EXISTS", "k"),
        pttl("k"),
        c("SET", "k", "v", "PXAT", 1, "GET"),
        c("GET", "k"),
        c("SET", "k", "v"),
        c("SET", "k", "w", "EXAT", 1, "GET"),
        c("GET", "k"),
    ),
    case(
        "KEEPTTL",
        c("SET", "k", "v", "EX", 100),
        c("SET", "k", "w", "KEEPTTL"),
        ttl("k"),
        c("GET", "k"),
        c("SET", "k", "x", "KEEPTTL", "GET"),
        pttl("k"),
        c("SET", "k", "y"),
        ttl("k"),
        c("SET", "m", "v", "KEEPTTL"),
        ttl("m"),
    ),
    case(
        "DEL and EXISTS",
        c("MSET", "a", 1, "b", 2, "c", 3),
        c("EXISTS", "a"),
        c("EXISTS", "a", "b", "c", "d"),
        c("EXISTS", "a", "a", "a"),
        c("EXISTS", "a", "d", "a", "d"),
        c("EXISTS", "d", "d"),
        c("DEL", "a", "a"),
        c("EXISTS", "a"),
        c("DEL", "b", "c", "d"),
        c("DEL", "x"),
        c("EXISTS", "a", "b", "c"),
        c("DBSIZE"),
        c("SET", "a", "again"),
        c("GET", "a"),
        c("DEL"),
        c("EXISTS"),
    ),
    case(
        "MGET and MSET",
        c("MSET", "a", 1, "b", 2),
        c("MGET", "a", "b", "c"),
        c("MGET", "a", "a"),
        c("MGET", "c"),
        c("MSET", "a", 1, "a", 2),
        c("GET", "a"),
        c("MSET", "a", "", "b", "x"),
        c("MGET", "a", "b"),
        c("MSET", "a"),
        c("MSET", "a", "b", "c"),
        c("MSET"),
        c("MGET"),
    ),
    case(
        "TTL and PTTL",
        c("TTL", "k"),
        c("PTTL", "k"),
        c("SET", "k", "v"),
        c("TTL", "k"),
        c("PTTL", "k"),
        c("SET", "k", "v", "PX", 100_000),
        ttl("k"),
        pttl("k"),
        c("TTL"),
        c("PTTL", "a", "b"),
    ),
    case(
        "DBSIZE, FLUSHDB and FLUSHALL",
        c("DBSIZE"),
        c("MSET", "a", 1, "b", 2, "c", 3),
        c("DBSIZE"),
        c("DEL", "a"),
        c("DBSIZE"),
        c("FLUSHDB"),
        c("DBSIZE"),
        c("GET", "b"),
        c("SET", "a", 1),
        c("FLUSHALL"),
        c("DBSIZE"),
        c("FLUSHDB", "ASYNC"),
        c("FLUSHDB", "sync"),
        c("FLUSHALL", "ASYNC"),
        c("FLUSHALL", "SYNC"),
        c("FLUSHDB", "foo"),
        c("FLUSHALL", "async", "sync"),
        c("DBSIZE", "x"),
    ),
    case(
        "PING and ECHO",
        c("PING"),
        c("PiNg"),
        c("PING", "hello"),
        c("PING", ""),
        c("PING", b"\x00\r\n\xff"),
        c("PING", "a", "b"),
        c("ECHO", "hi"),
        c("ECHO", ""),
        c("ECHO"),
        c("ECHO", "a", "b"),
    ),
    case(
        "SELECT",
        c("SELECT", 0),
        c("SELECT", 1),
        c("SELECT", 15),
        c("SELECT"),
        c("SELECT", "a", "b"),
        c("SELECT", "abc"),
        c("SELECT", "00"),
        c("SELECT", 2147483648),
        c("SELECT", -2147483649),
        c("SELECT", 99999999999999999999),
        c("SELECT", 16),
        c("SELECT", -1),
        c("PING"),
    ),
    case(
        "AUTH without requirepass",
        c("AUTH", "secret"),
        c("AUTH", "default", "anything"),
        c("AUTH", "nobody", "secret"),
        c("AUTH", "a", "b", "c"),
        c("AUTH"),
        c("GET", "k"),
    ),
    case(
        "CLIENT SETNAME, GETNAME and ID",
        c("CLIENT", "GETNAME"),
        c("CLIENT", "SETNAME", "alice"),
        c("CLIENT", "GETNAME"),
        c("client", "setname", "bob"),
        c("CLIENT", "GETNAME"),
        c("CLIENT", "SETNAME", ""),
        c("CLIENT", "GETNAME"),
        c("CLIENT", "SETNAME", "a b"),
        c("CLIENT", "SETNAME", "a\nb"),
        c("CLIENT", "SETNAME", "caf\xe9"),
        c("CLIENT", "SETNAME"),
        c("CLIENT", "SETNAME", "a", "b"),
        c("CLIENT", "GETNAME", "x"),
        c("CLIENT", "ID", normalise=any_client_id),
        c("CLIENT", "ID", "x"),
        c("CLIENT", "INFO", "x"),
        c("CLIENT", "foo"),
        c("Client", "FoO", "bar"),
        c("CLIENT"),
    ),
    case(
        "HELLO",
        c("HELLO", 4),
        c("HELLO", "abc"),
        c("HELLO", 3, "SETNAME", "bob", normalise=any_hello_id),
        c("CLIENT", "GETNAME"),
        c("GET", "missing"),
        c("HELLO", 2, normalise=any_hello_id),
        c("GET", "missing"),
        c("HELLO", normalise=any_hello_id),
        c("HELLO", 3, "AUTH", "default", "whatever", normalise=any_hello_id),
        c("HELLO", 2, "foo"),
        c("HELLO", 2, "AUTH", "a"),
        c("HELLO", 2, "SETNAME", "a b"),
        c("HELLO", 2, "SETNAME", "ok", "extra"),
        c("CLIENT", "GETNAME"),
    ),
    case(
        "COMMAND COUNT and INFO",
        c("COMMAND", "COUNT", normalise=any_count),
        c("COMMAND", "COUNT", "x"),
        c("COMMAND", "INFO", "nosuchcommand"),
        c("COMMAND", "INFO", "get", "nosuchcommand", "SET"),
        # what the proxy claims, command by command: a container lists only the subcommands
        # the proxy serves, so it is compared subcommand by subcommand
        *(c("COMMAND", "INFO", name) for name in SERVED if "|" not in name or "|help" in name),
        *(c("COMMAND", "INFO", name) for name in SERVED if "|" in name and "|help" not in name),
        c("COMMAND", "foo"),
    ),
    case(
        "INFO sections that read the same",
        c("INFO", "cluster"),
        c("INFO", "CLUSTER"),
        c("INFO", "nosuchsection"),
        c("INFO", "a", "b"),
    ),
    case(
        "unknown commands",
        c("FOO"),
        c("foo", "a", "b"),
        c("x" * 200, "a"),
        c("CLIENT", "nosuch"),
        c("CLIENT", "x" * 200),
        c("CLIENT", "SETNAME"),
        c("CLIENT", "SETINFO", "lib-name"),
        c("CLIENT", "SETINFO", "foo", "bar"),
        c("CLIENT", "SETINFO", "lib-name", "a b"),
        c("COMMAND", "GETKEYS", "set", "k", "v"),
        c("COMMAND", "GETKEYS", "mset", "a", "1", "b", "2"),
        c("COMMAND", "GETKEYS", "ping"),
        c("COMMAND", "GETKEYS", "nosuch", "a"),
        c("COMMAND", "GETKEYS", "get"),
        c("foo", "a" * 100, "b" * 100, "c"),
        c("foo", *["ab"] * 60),
        c("foo", b"a\r\nb", b"c\x00d"),
        c(b"f\x00oo", "a"),
        c("PING"),
    ),
    case(
        "unknown commands with bytes that are not UTF-8",
        c(b"caf\xc3\xa9", b"\xff\xfe", b"\xc3\xa9" * 70),
        c(b"\xff"),
        c("PING"),
    ),
    case(
        "RESET",
        c("CLIENT", "SETNAME", "x"),
        c("RESET"),
        c("CLIENT", "GETNAME"),
        c("GET", "missing"),
        c("MGET", "missing"),
        c("RESET", "a"),
    ),
    case("QUIT", c("PING"), c("QUIT"), closes=True),
    case("QUIT with arguments", c("QUIT", "now", "please"), closes=True),
    case(
        "inline commands",
        raw(b"SET a b\r\n"),
        raw(b"GET a\r\n"),
        raw(b'set "a b" "c d"\r\n'),
        raw(b'GET "a b"\r\n'),
        raw(b"SET q 'x y'\r\n"),
        raw(b"GET q\r\n"),
        raw(b'SET e "\\x41\\n\\t"\r\n'),
        raw(b"GET e\r\n"),
        raw(b"PING\n"),
        raw(b"\r\n", replies=0),
        raw(b"   \r\n", replies=0),
        raw(b"ECHO  two   spaces\r\n"),
        raw(b"MGET a q e nope\r\n"),
        raw(b"PING\r\n" + request("GET", "a") + b"GET q\r\n", replies=3),
        raw(b"NOSUCH x\r\n"),
    ),
    case(
        "pipelined: each command sees the writes before it",
        raw(
            b"".join(
                request(*args)
                for args in [
                    ("SET", "k", "v"),
                    ("DEL", "k"),
                    ("GET", "k"),
                    ("SET", "k", "a"),
                    ("SET", "k", "b", "XX", "GET"),
                    ("GET", "k"),
                    ("SET", "k", "c", "NX"),
                    ("GET", "k"),
                    ("SET", "k", "d", "KEEPTTL"),
                    ("MGET", "k"),
                    ("DEL", "k", "nope"),
                    ("EXISTS", "k"),
                    ("DBSIZE",),
                ]
            ),
            replies=13,
        ),
    ),
    case("empty and null requests", raw(b"*0\r\n*-1\r\n", replies=0), c("PING")),
    case("malformed: bulk length", raw(b"*1\r\n$x\r\n"), closes=True),
    case("malformed: negative bulk length", raw(b"*1\r\n$-1\r\n"), closes=True),
    case("malformed: multibulk length", raw(b"*x\r\n"), closes=True),
    case("malformed: multibulk length over INT_MAX", raw(b"*2147483648\r\n"), closes=True),
    case("malformed: '$' expected", raw(b"*1\r\n:1\r\n"), closes=True),
    case("malformed: bulk length over 512 MB", raw(b"*1\r\n$536870913\r\n"), closes=True),
    case("malformed: unbalanced quotes", raw(b'SET "a b\r\n'), closes=True),
    case("malformed: inline too big", raw(b"a" * 70_000), closes=True),
    case("malformed: bulk count too big", raw(b"*1\r\n$" + b"1" * 70_000), closes=True),
    case(
        "replies before a protocol error",
        raw(request("SET", "a", 1) + request("GET", "a") + b"*1\r\n$x\r\n", replies=3),
        closes=True,
    ),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_replies_match_redis_byte_for_byte(
    cluster: Cluster, valkey_reference: LocalRedisNode, protocol: int
) -> None:
    assert not (found := mismatches(cluster.proxy.port, valkey_reference.port, protocol, CASES)), (
        found
    )


# -- deliberate divergences, checked against their documented replies -----------------------


def test_commands_the_proxy_does_not_serve_get_the_unknown_command_error(
    cluster: Cluster,
) -> None:
    """The proxy serves a subset of Redis 7.2 (COMMAND lists it); the rest read as unknown,
    but for the data types' and pub/sub's (tests/integration/test_not_replicated.py)."""
    with connect(cluster.proxy.port) as connection:
        for name, *args in (["SAVE"], ["DEBUG", "SLEEP", "0"], ["MONITOR"]):
            connection.send(request(name, *args))
            listing = "".join(f"'{arg}' " for arg in args)
            assert connection.read_reply() == (
                f"-ERR unknown command '{name}', with args beginning with: {listing}\r\n".encode()
            )


def test_client_setinfo_shows_in_client_info(cluster: Cluster) -> None:
    """Clients (redis-py 5+) send CLIENT SETINFO on connect; CLIENT INFO shows what they set."""
    with connect(cluster.proxy.port) as connection:
        exchanges = [
            (request("CLIENT", "SETINFO", "LIB-NAME", "mylib"), b"+OK\r\n"),
            (request("client", "setinfo", "lib-ver", "1.2.3"), b"+OK\r\n"),
            (request("CLIENT", "SETINFO", "foo", "bar"), b"-ERR Unrecognized option 'foo'\r\n"),
            (
                request("CLIENT", "SETINFO", "lib-name", "a b"),
                b"-ERR lib-name cannot contain spaces, newlines or special characters.\r\n",
            ),
            (
                request("CLIENT", "SETINFO", "lib-name"),
                b"-ERR wrong number of arguments for 'client|setinfo' command\r\n",
            ),
        ]
        for sent, expected in exchanges:
            connection.send(sent)
            assert connection.read_reply() == expected, sent
        connection.send(request("CLIENT", "INFO"))
        info = connection.read_reply()
    assert b" lib-name=mylib lib-ver=1.2.3 " in info


def client_info_fields(reply: bytes) -> dict[str, str]:
    line = reply.split(b"\r\n", 1)[1].removeprefix(b"txt:").rstrip(b"\r\n").decode()
    return dict(field.split("=", 1) for field in line.split(" "))


@pytest.mark.parametrize("protocol", [2, 3])
def test_client_info_has_the_fields_of_redis_in_its_order(
    cluster: Cluster, valkey_reference: LocalRedisNode, protocol: int
) -> None:
    """The values (address, fd, memory figures) are per server; the fields, their order, the
    reply type (a verbatim string in RESP3) and the name and id must agree."""
    replies = {}
    for port in (cluster.proxy.port, valkey_reference.port):
        with connect(port) as connection:
            connection.send(request("HELLO", protocol) + request("CLIENT", "SETNAME", "me"))
            connection.read_reply()
            connection.read_reply()
            connection.send(request("CLIENT", "ID") + request("CLIENT", "INFO"))
            client_id, info = connection.read_reply(), connection.read_reply()
        replies[port] = (client_id, info)
    (our_id, ours), (_, theirs) = replies[cluster.proxy.port], replies[valkey_reference.port]
    assert ours[:1] == theirs[:1] == (b"=" if protocol == 3 else b"$")
    our_fields, their_fields = client_info_fields(ours), client_info_fields(theirs)
    assert list(our_fields) == list(their_fields)
    assert our_fields["name"] == their_fields["name"] == "me"
    assert our_fields["id"] == our_id[1:-2].decode()
    assert our_fields["db"] == "0"


def info_sections(text: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# "):
            current = sections.setdefault(line[2:], {})
        elif line:
            key, _, value = line.partition(":")
            current[key] = value
    return sections


def info_text(reply: bytes) -> str:
    body = reply.split(b"\r\n", 1)[1][:-2]
    return body.removeprefix(b"txt:").decode() if reply.startswith(b"=") else body.decode()


@pytest.mark.parametrize("protocol", [2, 3])
def test_info_reports_redis_fields_and_the_leaderless_section(
    cluster: Cluster, valkey_reference: LocalRedisNode, protocol: int
) -> None:
    """INFO's contents describe a different process; what clients read from it must agree,
    and our own section lists the replication settings and every node."""
    replies = {}
    for port in (cluster.proxy.port, valkey_reference.port):
        with connect(port) as connection:
            connection.send(request("HELLO", protocol))
            connection.read_reply()
            connection.send(request("INFO") + request("INFO", "server") + request("INFO", "all"))
            replies[port] = [connection.read_reply() for _ in range(3)]
    ours, theirs = replies[cluster.proxy.port], replies[valkey_reference.port]
    assert [r[:1] for r in ours] == [r[:1] for r in theirs] == [b"=" if protocol == 3 else b"$"] * 3
    default, server, everything = (info_sections(info_text(reply)) for reply in ours)
    reference = info_sections(info_text(theirs[0]))
    assert list(server) == ["Server"]
    for fields in (default["Server"], server["Server"], everything["Server"]):
        assert fields["redis_version"] == reference["Server"]["redis_version"] == "7.2.4"
        assert fields["arch_bits"] == reference["Server"]["arch_bits"]
        assert fields["redis_mode"] == "standalone"
        assert fields["tcp_port"] == str(cluster.proxy.port)
    assert default["Cluster"] == {"cluster_enabled": "0"}
    assert default["Replication"]["role"] == "master"
    leaderless = default["Leaderless"]
    node_version = (
        "valkey-" + redis.Redis(port=cluster.nodes[0].port).info("server")["valkey_version"]
    )
    assert (leaderless["n"], leaderless["w"], leaderless["r"]) == ("3", "2", "2")
    nodes = sorted(value for key, value in leaderless.items() if re.fullmatch(r"node\d+", key))
    assert nodes == sorted(
        f"address=127.0.0.1:{node.port},state=up,health=in_sync,version={node_version},"
        "ring_share=1.000"
        for node in cluster.nodes
    )
    assert everything["Leaderless"].keys() == leaderless.keys()


def test_command_count_is_the_number_of_commands_listed(cluster: Cluster) -> None:
    with connect(cluster.proxy.port) as connection:
        connection.send(request("COMMAND", "COUNT") + request("COMMAND"))
        count, listing = connection.read_reply(), connection.read_reply()
    assert count == listing.split(b"\r\n", 1)[0].replace(b"*", b":", 1) + b"\r\n"
    for name in (b"get", b"set", b"del", b"exists", b"mget", b"mset", b"ttl", b"ping"):
        assert b"$%d\r\n%s\r\n" % (len(name), name) in listing


# -- pipelining, binary safety, large values ------------------------------------------------


def pipelined_requests() -> list[bytes]:
    requests = []
    for i in range(100):
        match i % 5:
            case 0:
                requests.append(request("SET", f"k{i}", f"v{i}"))
            case 1:
                requests.append(request("GET", f"k{i - 1}"))
            case 2:
                requests.append(request("PING", f"p{i}"))
            case 3:
                requests.append(request("MGET", f"k{i - 3}", "nope", f"k{i - 13}"))
            case _:
                requests.append(
                    request("NOSUCH", i) if i % 10 == 4 else request("DEL", f"k{i - 4}")
                )
    return requests


@pytest.mark.parametrize("protocol", [2, 3])
def test_a_pipeline_of_100_commands_in_one_write_is_answered_in_order(
    cluster: Cluster, valkey_reference: LocalRedisNode, protocol: int
) -> None:
    replies = {}
    for port in (cluster.proxy.port, valkey_reference.port):
        with connect(port) as connection:
            connection.send(request("HELLO", protocol))
            connection.read_reply()
            connection.send(b"".join(pipelined_requests()))
            replies[port] = [connection.read_reply() for _ in range(100)]
    ours, theirs = replies[cluster.proxy.port], replies[valkey_reference.port]
    for i in range(1, 100, 5):
        assert ours[i] == b"$%d\r\nv%d\r\n" % (len(f"v{i - 1}"), i - 1)
        assert ours[i + 1] == b"$%d\r\np%d\r\n" % (len(f"p{i + 1}"), i + 1)
    assert ours == theirs, "\n".join(
        f"#{i} {shorten(sent)}: proxy {shorten(mine)}, reference {shorten(reference)}"
        for i, (sent, mine, reference) in enumerate(
            zip(pipelined_requests(), ours, theirs, strict=True)
        )
        if mine != reference
    )


def runs_of_gets_and_sets() -> list[bytes]:
    """Pipelined plain GETs and SETs in runs (which the proxy reads or writes as one): longer
    than one batch, a key set twice in a run, behind a read-then-write, broken by a malformed
    request or one with options, in either case."""
    requests = [request("set" if i % 5 else "SET", f"g{i}", f"v{i}") for i in range(0, 600, 2)]
    requests += [request("get" if i % 7 else "GET", f"g{i}") for i in range(600)]
    requests += [request("SET", "g1", "once"), request("SET", "g1", "twice"), request("GET", "g1")]
    requests.append(request("DEL", "g0", "g2"))
    requests += [request("GET", f"g{i}") for i in range(4)]
    requests += [request("SET", "g3", "a"), request("SET", "g3", "b", "NX"), request("SET", "g5")]
    requests += [request("SET", "g5", "c"), request("SET", "g7", "d", "XX"), request("GET", "g7")]
    requests += [
        request("GET"),
        request("GET", "g4"),
        request("GET", "g4", "x"),
        request("GET", "g6"),
    ]
    return requests


@pytest.mark.parametrize("protocol", [2, 3])
def test_runs_of_pipelined_gets_and_sets_are_answered_as_redis_answers_them(
    cluster: Cluster, valkey_reference: LocalRedisNode, protocol: int
) -> None:
    requests = runs_of_gets_and_sets()
    for port in (cluster.proxy.port, valkey_reference.port):
        assert call(port, "FLUSHALL") == b"+OK\r\n"
    replies = {}
    for port in (cluster.proxy.port, valkey_reference.port):
        with connect(port) as connection:
            connection.send(request("HELLO", protocol))
            connection.read_reply()
            connection.send(b"".join(requests))
            replies[port] = [connection.read_reply() for _ in requests]
    ours, theirs = replies[cluster.proxy.port], replies[valkey_reference.port]
    assert ours[300 + 2] == b"$2\r\nv2\r\n"  # GET g2
    assert ours[900 + 2] == b"$5\r\ntwice\r\n"  # GET g1 after two SETs in one run
    assert ours == theirs, [i for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if a != b]


def test_a_reserved_key_inside_a_run_of_sets_or_gets_is_refused_alone(cluster: Cluster) -> None:
    reserved = b"-ERR keys starting with '__leaderless:' are reserved"
    with connect(cluster.proxy.port) as connection:
        connection.send(
            request("SET", "r1", "a")
            + request("SET", "__leaderless:digests", "x")
            + request("SET", "r2", "b")
        )
        first, refused, last = (connection.read_reply() for _ in range(3))
        assert (first, last) == (b"+OK\r\n", b"+OK\r\n")
        assert refused.startswith(reserved)
        connection.send(
            request("GET", "r1") + request("GET", "__leaderless:digests") + request("GET", "r2")
        )
        first, refused, last = (connection.read_reply() for _ in range(3))
    assert (first, last) == (b"$1\r\na\r\n", b"$1\r\nb\r\n")
    assert refused.startswith(reserved)


ALL_BYTES = bytes(range(256))


def test_keys_and_values_are_binary_safe(
    cluster: Cluster, valkey_reference: LocalRedisNode
) -> None:
    pairs = [(bytes([b]), bytes([b]) * 3 + b"\r\n" + bytes([b])) for b in range(256)]
    pairs.append((ALL_BYTES, ALL_BYTES + b"\r\n*1\r\n$3\r\nfoo\r\n" + ALL_BYTES))
    pairs.append((b"key\r\nwith\r\ncrlf", b"\r\n"))
    keys = [key for key, _ in pairs]
    for port in (cluster.proxy.port, valkey_reference.port):
        with connect(port) as connection:
            connection.send(request("MSET", *itertools.chain.from_iterable(pairs)))
            assert connection.read_reply() == b"+OK\r\n"
            connection.send(request("MGET", *keys))
            expected = b"*%d\r\n" % len(pairs) + b"".join(
                b"$%d\r\n%s\r\n" % (len(value), value) for _, value in pairs
            )
            assert connection.read_reply() == expected, f"port {port}"
            for key, value in pairs[-3:]:
                connection.send(request("SET", key, value + b"!") + request("GET", key))
                assert connection.read_reply() == b"+OK\r\n"
                assert connection.read_reply() == b"$%d\r\n%s!\r\n" % (len(value) + 1, value)
            connection.send(request("EXISTS", *keys) + request("DEL", *keys))
            assert connection.read_reply() == b":%d\r\n" % len(pairs)
            assert connection.read_reply() == b":%d\r\n" % len(pairs)


@pytest.mark.parametrize("size", [1024 * 1024, 20 * 1024 * 1024], ids=["1MB", "20MB"])
def test_large_values_round_trip(redis_nodes: StartNodes, size: int) -> None:
    """With a replica timeout that allows for the transfer: 20 MB to each of three replicas
    can take longer than the suite's 500 ms on a machine busy with other tests."""
    value = random.Random(size).randbytes(size)
    proxy = start_proxy(redis_nodes(3), "--timeout-ms", str(int(LARGE_VALUE_TIMEOUT * 1000)))
    try:
        with connect(proxy.port, timeout=LARGE_VALUE_TIMEOUT) as connection:
            connection.send(request("SET", "big", value))
            assert connection.read_reply() == b"+OK\r\n"
            connection.send(request("GET", "big"))
            assert connection.read_reply() == b"$%d\r\n%s\r\n" % (size, value)
            connection.send(request("SET", "big", "small", "GET"))
            assert connection.read_reply() == b"$%d\r\n%s\r\n" % (size, value)
    finally:
        proxy.stop()


# -- protocol errors close only the offending connection ------------------------------------


def test_a_malformed_request_closes_that_connection_and_others_keep_working(
    cluster: Cluster,
) -> None:
    with connect(cluster.proxy.port) as bystander, connect(cluster.proxy.port) as offender:
        bystander.send(request("SET", "k", "v"))
        assert bystander.read_reply() == b"+OK\r\n"
        offender.send(request("PING") + b"*1\r\n$abc\r\n" + request("SET", "k", "lost"))
        assert offender.read_reply() == b"+PONG\r\n"
        assert offender.read_reply() == b"-ERR Protocol error: invalid bulk length\r\n"
        assert offender.closed_by_peer()
        bystander.send(request("GET", "k") + request("PING"))
        assert bystander.read_reply() == b"$1\r\nv\r\n"
        assert bystander.read_reply() == b"+PONG\r\n"
    with connect(cluster.proxy.port) as newcomer:
        newcomer.send(request("GET", "k"))
        assert newcomer.read_reply() == b"$1\r\nv\r\n"


def test_an_over_limit_bulk_length_is_refused_before_any_data(cluster: Cluster) -> None:
    """The header alone must be refused: a proxy that waited for 512 MB of data would hang."""
    with connect(cluster.proxy.port) as connection:
        connection.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % (512 * 1024 * 1024 + 1))
        assert connection.read_reply() == b"-ERR Protocol error: invalid bulk length\r\n"
        assert connection.closed_by_peer()


# -- redis-py, RESP2 and RESP3 --------------------------------------------------------------


def exercise(client: redis.Redis) -> list[object]:
    """The commands redis-py users run, with results that cannot differ between servers
    (client ids and countdowns are reduced to what they must satisfy)."""
    results: list[object] = [
        client.ping(),
        client.echo(b"hello"),
        client.set("a", "1"),
        client.get("a"),
        client.set("a", "2", nx=True),
        client.set("a", "2", xx=True),
        client.set("b", "x", xx=True),
        client.set("b", "x", get=True),
        client.set("a", "3", get=True),
        client.set("e", "v", ex=100),
        0 < client.ttl("e") <= 100,
        client.set("e", "v", px=100_000),
        0 < client.pttl("e") <= 100_000,
        client.set("e", "w", keepttl=True),
        0 < client.ttl("e") <= 100,
        client.set("e", "v", exat=FUTURE_S),
        500 < client.ttl("e") <= 1000,
        client.set("e", "v", pxat=FUTURE_MS),
        500_000 < client.pttl("e") <= 1_000_000,
        client.set("gone", "v", exat=1),
        client.get("gone"),
        client.ttl("a"),
        client.pttl("nope"),
        client.mset({"m1": "1", "m2": b"\x00\xff"}),
        client.mget(["m1", "m2", "nope"]),
        client.mget("m1", "m1"),
        client.exists("m1", "m2", "nope", "m1"),
        client.delete("m1", "nope"),
        client.exists("m1"),
        client.dbsize(),
        client.client_setname("me"),
        client.client_getname(),
        isinstance(client.client_id(), int) and client.client_id() > 0,
        client.client_info()["name"],
        client.info("server")["redis_version"],
        client.info()["cluster_enabled"],
        client.flushdb(),
        client.dbsize(),
        client.set("c", "1"),
        client.flushall(),
        client.get("c"),
        client.select(0),
    ]
    with pytest.raises(redis.ResponseError) as failure:
        client.execute_command("NOSUCH", "x")
    results.append(str(failure.value))
    with pytest.raises(redis.ResponseError) as failure:
        client.execute_command("SET", "k", "v", "NX", "XX")
    results.append(str(failure.value))
    return results


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_gets_the_same_results_as_from_redis(
    cluster: Cluster, valkey_reference: LocalRedisNode, protocol: int
) -> None:
    with (
        cluster.client(protocol) as ours,
        redis.Redis(
            host=LOOPBACK, port=valkey_reference.port, protocol=protocol, socket_timeout=10
        ) as theirs,
    ):
        our_results = exercise(ours)
        assert our_results == exercise(theirs)
        assert ours.client_info()["lib-name"] == "redis-py"  # sent by redis-py on connect
        assert ours.info("leaderless")["n"] == 3
        assert ours.get("a") is None and ours.set("a", "é") and ours.get("a") == "é".encode()


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_pipeline_without_transaction(
    cluster: Cluster, valkey_reference: LocalRedisNode, protocol: int
) -> None:
    def run(client: redis.Redis) -> list[object]:
        pipe = client.pipeline(transaction=False)
        for i in range(300):
            pipe.set(f"k{i}", i)
            pipe.get(f"k{i}")
            pipe.exists(f"k{i}", f"k{i + 1}")
        pipe.mget([f"k{i}" for i in range(0, 300, 7)])
        pipe.mset({f"m{i}": i for i in range(50)})
        pipe.delete(*[f"k{i}" for i in range(0, 300, 2)])
        pipe.dbsize()
        pipe.ping()
        pipe.echo("done")
        pipe.execute_command("NOSUCH")
        return [str(r) if isinstance(r, Exception) else r for r in pipe.execute(False)]

    with (
        cluster.client(protocol) as ours,
        redis.Redis(
            host=LOOPBACK, port=valkey_reference.port, protocol=protocol, socket_timeout=10
        ) as theirs,
    ):
        our_results, their_results = run(ours), run(theirs)
    assert our_results[:3] == [True, b"0", 1]
    assert our_results[-7:-1] == [
        [str(i).encode() for i in range(0, 300, 7)],
        True,
        150,
        200,
        True,
        b"done",
    ], "MGET, MSET, DEL, DBSIZE, PING, ECHO at the end of the pipeline"
    assert our_results == their_results
