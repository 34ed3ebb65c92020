"""The command table's errors against the reference Valkey (Redis 7.2), request by request.

Each request goes to the reference server over a raw socket in RESP2; where the server answers
with an error, looking the request up and parsing it must give the same text, and where it does
not, they must give a command. The requests avoid our deliberate divergences (SELECT of a
non-zero DB, commands the proxy does not serve).
"""

from __future__ import annotations

import socket

import pytest
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.proxy.commands.table import lookup
from leaderless.proxy.resp import ErrorReply

pytestmark = pytest.mark.integration

REQUESTS: list[list[bytes]] = [
    [word.encode() for word in line.split(" ")]
    for line in [
        "get k",
        "get",
        "GET a b",
        "set k v",
        "set k",
        "set k v nx xx",
        "set k v get nx",
        "set k v nx get",
        "set k v xx get",
        "set k v ex 10 px 10",
        "set k v keepttl ex 10",
        "set k v ex 10 keepttl",
        "set k v ex",
        "set k v bogus",
        "set k v ex abc",
        "set k v ex abc nx xx",
        "set k v ex 010",
        "set k v ex -0",
        "set k v ex 0",
        "set k v px -5",
        "set k v exat 0",
        "set k v pxat 0",
        "set k v ex 9223372036854776",
        "set k v exat 9223372036854775807",
        "set k v ex 99999999999999999999",
        "set k v ex 10 ex 20 keepttl",
        "del",
        "exists",
        "mget",
        "mset a",
        "mset a b c",
        "mset a b c d",
        "ttl",
        "pttl a b",
        "dbsize x",
        "flushdb foo",
        "flushall async sync",
        "ping a b",
        "ping a",
        "echo",
        "select",
        "select abc",
        "select 2147483648",
        "select 0",
        "auth",
        "auth a b c",
        "hello abc",
        "hello 1",
        "hello 4",
        "hello 2 foo",
        "hello 2 auth a",
        "hello 2 setname",
        "hello 2 setname a\tb",
        "hello 2 setname ok extra",
        "hello 3",
        "hello 2",
        "client",
        "client foo",
        "Client FoO bar",
        "client setname",
        "client setname a b",
        "client setname a\nb",
        "client getname x",
        "client id x",
        "client info x",
        "client setname ok",
        "client getname",
        "client setinfo lib-name",
        "client setinfo lib-name a b",
        "client setinfo foo bar",
        "client setinfo lib-ver a\tb",
        "client help x",
        "command help x",
        "command list",
        "command docs",
        "command getkeys",
        "set k v ifeq",
        "set k v ifeq a nx",
        "set k v xx ifeq a",
        "set k v ifeq a ifeq b",
        "select 16",
        "select -1",
        "command foo",
        "command count x",
        "command count",
        "command info",
        "info a b",
        "foo",
        "foo a b",
        "reset a",
        "reset",
    ]
] + [
    [b"x" * 200, b"a"],
    [b"foo", b"a" * 100, b"b" * 100, b"c"],
    [b"foo", *[b"ab"] * 60],
    [b"foo", b"a\r\nb", b"c\x00d"],
    [b"f\x00oo", b"a"],
    [b"caf\xc3\xa9", b"\xff\xfe", b"\xc3\xa9" * 70],
    [b"hello", b"2", b"foo\r\nbar"],
    [b"set", b"k", b"v", b"nx\x00junk"],
]


def encode(args: list[bytes]) -> bytes:
    return b"".join([b"*%d\r\n" % len(args), *(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)])


def read_reply(stream: socket.SocketIO | object) -> bytes:
    """One whole RESP2 reply, raw."""
    assert hasattr(stream, "readline") and hasattr(stream, "read")
    line: bytes = stream.readline()
    kind, rest = line[:1], line[1:-2]
    if kind == b"$" and int(rest) >= 0:
        return line + stream.read(int(rest) + 2)
    if kind == b"*" and int(rest) >= 0:
        return line + b"".join(read_reply(stream) for _ in range(int(rest)))
    return line


def parse(args: list[bytes]) -> object:
    spec = lookup(args)
    if isinstance(spec, ErrorReply) or spec.parse is None:
        return spec
    return spec.parse(args)


@pytest.mark.parametrize("args", REQUESTS, ids=lambda args: repr(b" ".join(args))[:60])
def test_errors_match_redis(shared_reference: LocalRedisNode, args: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", shared_reference.port), timeout=10) as conn:
        stream = conn.makefile("rb")
        conn.sendall(encode(args))
        reply = read_reply(stream)
    parsed = parse(args)
    if reply.startswith(b"-"):
        assert isinstance(parsed, ErrorReply)
        assert parsed.encode("utf-8", "surrogateescape") == reply[1:-2]
    else:
        assert not isinstance(parsed, ErrorReply), reply
