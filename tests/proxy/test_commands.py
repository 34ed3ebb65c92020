"""Parsing of every command into its typed form, and 6.2's exact error texts."""

from __future__ import annotations

import pytest
from leaderless.proxy import command_docs
from leaderless.proxy import commands as c
from leaderless.proxy.resp import ErrorReply, SetReply, SimpleString


def parse(line: str) -> object:
    return c.parse_command([word.encode() for word in line.split(" ")])


def arity(name: str) -> ErrorReply:
    return ErrorReply(f"ERR wrong number of arguments for '{name}' command")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("get k", c.Get(b"k")),
        ("GeT k", c.Get(b"k")),
        ("set k v", c.Set(b"k", b"v")),
        ("set k v NX", c.Set(b"k", b"v", condition=c.SetCondition.NX)),
        ("set k v nx nx", c.Set(b"k", b"v", condition=c.SetCondition.NX)),
        ("set k v xx get", c.Set(b"k", b"v", condition=c.SetCondition.XX, get=True)),
        ("set k v get xx", c.Set(b"k", b"v", condition=c.SetCondition.XX, get=True)),
        ("set k v get get", c.Set(b"k", b"v", get=True)),
        ("set k v keepttl keepttl", c.Set(b"k", b"v", keepttl=True)),
        ("set k v ex 10", c.Set(b"k", b"v", expiry=c.SetExpiry(c.ExpiryUnit.EX, 10))),
        ("set k v ex 10 ex 20", c.Set(b"k", b"v", expiry=c.SetExpiry(c.ExpiryUnit.EX, 20))),
        (
            "set k v px 5 NX",
            c.Set(b"k", b"v", c.SetCondition.NX, False, c.SetExpiry(c.ExpiryUnit.PX, 5)),
        ),
        ("set k v exat 7", c.Set(b"k", b"v", expiry=c.SetExpiry(c.ExpiryUnit.EXAT, 7))),
        (
            f"set k v pxat {c.LLONG_MAX}",
            c.Set(b"k", b"v", expiry=c.SetExpiry(c.ExpiryUnit.PXAT, c.LLONG_MAX)),
        ),
        ("del a b a", c.Del((b"a", b"b", b"a"))),
        ("exists a b", c.Exists((b"a", b"b"))),
        ("mget a b", c.MGet((b"a", b"b"))),
        ("mset a 1 b 2", c.MSet(((b"a", b"1"), (b"b", b"2")))),
        ("ttl k", c.Ttl(b"k", milliseconds=False)),
        ("pttl k", c.Ttl(b"k", milliseconds=True)),
        ("dbsize", c.DbSize()),
        ("flushdb", c.Flush(None)),
        ("flushdb async", c.Flush(c.FlushMode.ASYNC)),
        ("FLUSHALL Sync", c.Flush(c.FlushMode.SYNC)),
        ("ping", c.Ping(None)),
        ("ping hi", c.Ping(b"hi")),
        ("echo hi", c.Echo(b"hi")),
        ("quit", c.Quit()),
        ("QUIT a b c", c.Quit()),
        ("reset", c.Reset()),
        ("select 0", c.Select()),
        ("auth pw", c.Auth(None, b"pw")),
        ("auth user pw", c.Auth(b"user", b"pw")),
        ("hello", c.Hello(None, (), None)),
        ("hello 3", c.Hello(3, (), None)),
        (
            "hello 2 auth u p setname n SETNAME ",
            c.Hello(2, (c.HelloAuth(b"u", b"p"), c.HelloSetName(b"n"), c.HelloSetName(None)), None),
        ),
        ("client id", c.ClientId()),
        ("client GETNAME", c.ClientGetName()),
        ("client info", c.ClientInfo()),
        ("client help", c.ClientHelp()),
        ("client setname conn-1", c.ClientSetName(b"conn-1")),
        ("client setname ", c.ClientSetName(None)),
        (
            "client setinfo LIB-NAME redis-py",
            c.ClientSetInfo(c.ClientAttribute.LIB_NAME, b"redis-py"),
        ),
        ("client setinfo lib-ver 8.1.0", c.ClientSetInfo(c.ClientAttribute.LIB_VER, b"8.1.0")),
        ("client setinfo lib-ver ", c.ClientSetInfo(c.ClientAttribute.LIB_VER, None)),
        ("command", c.CommandList()),
        ("command count", c.CommandCount()),
        ("command help", c.CommandHelp()),
        ("command info", c.CommandInfo(())),
        ("command info get Foo", c.CommandInfo((b"get", b"Foo"))),
        ("command docs", c.CommandDocs(())),
        ("command docs set", c.CommandDocs((b"set",))),
        ("info", c.Info(None)),
        ("info Server", c.Info("Server")),
    ],
)
def test_valid_requests_parse(line: str, expected: object) -> None:
    assert parse(line) == expected


SYNTAX = c.SYNTAX_ERROR
NOT_INT = c.NOT_AN_INTEGER
EXPIRE = ErrorReply("ERR invalid expire time in set")
SUB_CLIENT = "ERR Unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP."
SUB_COMMAND = "ERR Unknown subcommand or wrong number of arguments for '{}'. Try COMMAND HELP."


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("get", arity("get")),
        ("GET a b", arity("get")),
        ("set k", arity("set")),
        ("set k v nx xx", SYNTAX),
        ("set k v xx nx", SYNTAX),
        ("set k v get nx", SYNTAX),
        ("set k v nx get", SYNTAX),
        ("set k v ex 10 px 10", SYNTAX),
        ("set k v pxat 10 exat 10", SYNTAX),
        ("set k v keepttl ex 10", SYNTAX),
        ("set k v ex 10 keepttl", SYNTAX),
        ("set k v ex", SYNTAX),
        ("set k v bogus", SYNTAX),
        ("set k v ex 1 persist", SYNTAX),
        ("set k v ex abc nx xx", SYNTAX),
        ("set k v ex abc", NOT_INT),
        ("set k v ex 10.5", NOT_INT),
        ("set k v ex +10", NOT_INT),
        ("set k v ex 010", NOT_INT),
        ("set k v ex -0", NOT_INT),
        ("set k v ex 9223372036854775808", NOT_INT),
        ("set k v ex 0", EXPIRE),
        ("set k v px -1", EXPIRE),
        ("set k v exat 0", EXPIRE),
        ("set k v pxat 0", EXPIRE),
        ("set k v ex 9223372036854776", EXPIRE),
        ("set k v exat 9223372036854775807", EXPIRE),
        ("del", arity("del")),
        ("exists", arity("exists")),
        ("mget", arity("mget")),
        ("mset a", arity("mset")),
        ("mset a b c", ErrorReply("ERR wrong number of arguments for MSET")),
        ("ttl", arity("ttl")),
        ("pttl a b", arity("pttl")),
        ("dbsize x", arity("dbsize")),
        ("flushdb foo", SYNTAX),
        ("flushall async sync", SYNTAX),
        ("ping a b", arity("ping")),
        ("echo", arity("echo")),
        ("reset a", arity("reset")),
        ("select", arity("select")),
        ("select abc", NOT_INT),
        ("select 2147483648", c.INT_OUT_OF_RANGE),
        ("select 1", c.SELECT_NOT_ZERO),
        ("select -1", c.SELECT_NOT_ZERO),
        ("auth", arity("auth")),
        ("auth a b c", SYNTAX),
        ("hello abc", ErrorReply("ERR Protocol version is not an integer or out of range")),
        ("hello 1", ErrorReply("NOPROTO unsupported protocol version")),
        ("hello 4", c.NOPROTO),
        ("hello -1", c.NOPROTO),
        ("client", arity("client")),
        ("client foo", ErrorReply(SUB_CLIENT.format("foo"))),
        ("Client FoO bar", ErrorReply(SUB_CLIENT.format("FoO"))),
        ("client setname", ErrorReply(SUB_CLIENT.format("setname"))),
        ("client getname x", ErrorReply(SUB_CLIENT.format("getname"))),
        ("client id x", ErrorReply(SUB_CLIENT.format("id"))),
        ("client setinfo lib-name", ErrorReply(SUB_CLIENT.format("setinfo"))),
        ("client setname a\tb", c.BAD_CLIENT_NAME),
        ("client setinfo lib-nam x", ErrorReply("ERR Unrecognized option 'lib-nam'")),
        (
            "client setinfo LIB-NAME a\nb",
            ErrorReply("ERR LIB-NAME cannot contain spaces, newlines or special characters."),
        ),
        ("command foo", ErrorReply(SUB_COMMAND.format("foo"))),
        ("command count x", ErrorReply(SUB_COMMAND.format("count"))),
        ("command getkeys get k", ErrorReply(SUB_COMMAND.format("getkeys"))),
        ("info a b", SYNTAX),
        ("foo", ErrorReply("ERR unknown command `foo`, with args beginning with: ")),
        ("foo a b", ErrorReply("ERR unknown command `foo`, with args beginning with: `a`, `b`, ")),
        ("incr k", ErrorReply("ERR unknown command `incr`, with args beginning with: `k`, ")),
    ],
)
def test_invalid_requests_get_redis_errors(line: str, expected: ErrorReply) -> None:
    reply = parse(line)
    assert isinstance(reply, ErrorReply)
    assert reply == expected


def test_hello_keeps_options_before_the_fault() -> None:
    assert parse("hello 2 auth u p bogus") == c.Hello(
        2, (c.HelloAuth(b"u", b"p"),), ErrorReply("ERR Syntax error in HELLO option 'bogus'")
    )
    assert parse("hello 2 setname a auth x") == c.Hello(
        2, (c.HelloSetName(b"a"),), ErrorReply("ERR Syntax error in HELLO option 'auth'")
    )
    assert parse("hello 3 auth u p setname a\x01") == c.Hello(
        3, (c.HelloAuth(b"u", b"p"),), c.BAD_CLIENT_NAME
    )


def test_unknown_command_listing_is_cut_at_128_bytes() -> None:
    def text(args: list[bytes]) -> str:
        return c.unknown_command_error(args).split(": ", 1)[1]

    assert c.unknown_command_error([b"x" * 200]).startswith(f"ERR unknown command `{'x' * 200}`")
    assert text([b"foo", b"a" * 200, b"b"]) == f"`{'a' * 128}`, "
    assert text([b"foo", b"a" * 100, b"b" * 100, b"c"]) == f"`{'a' * 100}`, `{'b' * 24}`, "
    assert text([b"foo", *[b"ab"] * 60]) == "`ab`, " * 22


def test_error_texts_stop_at_nul_and_blank_out_newlines() -> None:
    assert c.unknown_command_error([b"f\x00oo", b"a\r\nb", b"c\x00d"]) == ErrorReply(
        "ERR unknown command `f`, with args beginning with: `a  b`, `c`, "
    )
    reply = c.unknown_command_error([b"caf\xc3\xa9", b"\xff\xfe"])
    assert reply.encode("utf-8", "surrogateescape") == (
        b"ERR unknown command `caf\xc3\xa9`, with args beginning with: `\xff\xfe`, "
    )
    assert c.parse_command([b"client", b"fo\r\no"]) == ErrorReply(SUB_CLIENT.format("fo  o"))


def test_options_compare_like_c_strings() -> None:
    assert c.parse_command([b"set", b"k", b"v", b"nx\x00junk"]) == c.Set(
        b"k", b"v", condition=c.SetCondition.NX
    )


@pytest.mark.parametrize(
    ("expiry", "now", "expected"),
    [
        (None, 1000, 0),
        (c.SetExpiry(c.ExpiryUnit.EX, 10), 1000, 11_000),
        (c.SetExpiry(c.ExpiryUnit.PX, 10), 1000, 1010),
        (c.SetExpiry(c.ExpiryUnit.EXAT, 10), 1000, 10_000),
        (c.SetExpiry(c.ExpiryUnit.PXAT, 10), 1000, 10),
        (c.SetExpiry(c.ExpiryUnit.PXAT, c.LLONG_MAX), 1000, c.LLONG_MAX),
        (c.SetExpiry(c.ExpiryUnit.PX, c.LLONG_MAX - 1000), 1000, c.LLONG_MAX),
        (c.SetExpiry(c.ExpiryUnit.PX, c.LLONG_MAX - 999), 1000, c.INVALID_SET_EXPIRE),
        (c.SetExpiry(c.ExpiryUnit.EX, c.LLONG_MAX // 1000), 1000, c.INVALID_SET_EXPIRE),
    ],
)
def test_absolute_expiry_ms(expiry: c.SetExpiry | None, now: int, expected: object) -> None:
    assert c.absolute_expiry_ms(c.Set(b"k", b"v", expiry=expiry), now) == expected


def test_needs_current_value() -> None:
    assert not c.Set(b"k", b"v", expiry=c.SetExpiry(c.ExpiryUnit.EX, 1)).needs_current_value
    assert c.Set(b"k", b"v", get=True).needs_current_value
    assert c.Set(b"k", b"v", keepttl=True).needs_current_value
    assert c.Set(b"k", b"v", condition=c.SetCondition.XX).needs_current_value


@pytest.mark.parametrize(
    ("username", "password", "requirepass", "expected"),
    [
        (None, b"x", None, c.AUTH_WITHOUT_PASSWORD),
        (b"default", b"x", None, None),
        (b"alice", b"x", None, c.WRONGPASS),
        (None, b"s3", b"s3", None),
        (None, b"no", b"s3", c.WRONGPASS),
        (b"default", b"s3", b"s3", None),
        (b"alice", b"s3", b"s3", c.WRONGPASS),
    ],
)
def test_check_credentials(
    username: bytes | None, password: bytes, requirepass: bytes | None, expected: object
) -> None:
    assert c.check_credentials(username, password, requirepass, {}) == expected


USERS = {b"alice": b"pw-a", b"bob": b"pw-b"}


@pytest.mark.parametrize(
    ("username", "password", "requirepass", "expected"),
    [
        (b"alice", b"pw-a", None, None),
        (b"bob", b"pw-b", b"s3", None),
        (b"alice", b"pw-b", None, c.WRONGPASS),
        (b"carol", b"pw-a", None, c.WRONGPASS),
        (b"default", b"anything", None, c.WRONGPASS),  # only users set: default is disabled
        (None, b"pw-a", None, c.WRONGPASS),
        (None, b"s3", b"s3", None),
        (b"default", b"s3", b"s3", None),
        (b"alice", b"s3", b"s3", c.WRONGPASS),
    ],
)
def test_check_credentials_with_users(
    username: bytes | None, password: bytes, requirepass: bytes | None, expected: object
) -> None:
    assert c.check_credentials(username, password, requirepass, USERS) == expected


def test_no_auth_commands() -> None:
    assert isinstance(parse("auth x"), c.NO_AUTH_COMMANDS)
    assert isinstance(parse("hello"), c.NO_AUTH_COMMANDS)
    assert isinstance(parse("quit"), c.NO_AUTH_COMMANDS)
    assert not isinstance(parse("reset"), c.NO_AUTH_COMMANDS)
    assert not isinstance(parse("ping"), c.NO_AUTH_COMMANDS)


def test_hello_reply_matches_6_2_field_order() -> None:
    reply = c.hello_reply("6.2.14", 3, 7)
    assert list(reply.items()) == [
        (b"server", b"redis"),
        (b"version", b"6.2.14"),
        (b"proto", 3),
        (b"id", 7),
        (b"mode", b"standalone"),
        (b"role", b"master"),
        (b"modules", []),
    ]


def test_client_info_line() -> None:
    line = c.client_info_line(
        client_id=3,
        addr="127.0.0.1:5000",
        laddr="127.0.0.1:6380",
        name=b"conn",
        age_seconds=4,
        idle_seconds=1,
        user=b"alice",
        lib_name=b"redis-py",
        lib_ver=None,
    )
    assert line.startswith(b"id=3 addr=127.0.0.1:5000 laddr=127.0.0.1:6380 fd=0 name=conn age=4 ")
    assert line.endswith(b" user=alice redir=-1 lib-name=redis-py lib-ver=\n")


def test_command_info_uses_the_table() -> None:
    get, missing, mset = command_docs.command_info_reply((b"GET", b"incr", b"mset"))
    assert get == [
        b"get",
        2,
        SetReply((SimpleString("readonly"), SimpleString("fast"))),
        1,
        1,
        1,
        SetReply((SimpleString("@read"), SimpleString("@string"), SimpleString("@fast"))),
    ]
    assert missing is None
    assert isinstance(mset, list)
    assert mset[:2] == [b"mset", -3]
    assert mset[3:6] == [1, -1, 2]
    assert command_docs.command_info_reply(()) == []


def test_command_lists_every_parsed_command_once() -> None:
    entries = command_docs.command_list_reply()
    names = [entry[0] for entry in entries if isinstance(entry, list)]
    assert names == [name.encode() for name in c.COMMAND_TABLE]
    assert command_docs.command_count_reply() == len(entries) == 20
    assert b"quit" not in names


def test_command_docs() -> None:
    every = command_docs.command_docs_reply(())
    assert list(every) == [name.encode() for name in c.COMMAND_TABLE]
    docs = command_docs.command_docs_reply((b"SET", b"incr"))
    assert list(docs) == [b"set"]
    set_doc = docs[b"set"]
    assert isinstance(set_doc, dict)
    assert set_doc[b"group"] == b"string"
    assert set_doc[b"since"] == b"1.0.0"
    arguments = set_doc[b"arguments"]
    assert isinstance(arguments, list)
    assert arguments[0] == {
        b"name": b"key",
        b"type": b"key",
        b"display_text": b"key",
        b"key_spec_index": 0,
    }
    client = command_docs.command_docs_reply((b"client",))[b"client"]
    assert isinstance(client, dict)
    subcommands = client[b"subcommands"]
    assert isinstance(subcommands, dict)
    assert b"client|setinfo" in subcommands


def test_help_texts() -> None:
    assert command_docs.CLIENT_HELP[0] == SimpleString(
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    )
    assert command_docs.COMMAND_HELP[-2:] == ["HELP", "    Prints this help."]
