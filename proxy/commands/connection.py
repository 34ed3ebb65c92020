"""Connection commands: what a client says about itself (AUTH, HELLO, SELECT; CLIENT has its
own module), and the answers that need nothing but the proxy (PING, ECHO)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from leaderless.proxy.commands.args import (
    SYNTAX_ERROR,
    arity_error,
    c_string,
    format_error,
    parse_database,
    parse_long_long,
    token,
)
from leaderless.proxy.commands.spec import Arg, CommandSpec, Doc, Local, Session
from leaderless.proxy.commands.strings import OK
from leaderless.proxy.resp import ErrorReply, SimpleString
from leaderless.proxy.state import DIALECT_VERSION, Context

PONG = SimpleString("PONG")
WRONGPASS = ErrorReply("WRONGPASS invalid username-password pair or user is disabled.")
AUTH_WITHOUT_PASSWORD = ErrorReply(
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?"
)
HELLO_NOAUTH = ErrorReply(
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
    "HELLO AUTH <user> <pass> option can be used to authenticate the client and select "
    "the RESP protocol version at the same time"
)
NOPROTO = ErrorReply("NOPROTO unsupported protocol version")
BAD_PROTOCOL_VERSION = ErrorReply("ERR Protocol version is not an integer or out of range")
BAD_CLIENT_NAME = ErrorReply(
    "ERR Client names cannot contain spaces, newlines or special characters."
)
_NO_AUTH = "noscript loading stale fast no_auth allow_busy"


def _parse_ping(args: list[bytes]) -> list[bytes] | ErrorReply:
    return arity_error("ping") if len(args) > 2 else args


def _ping(context: Context, args: list[bytes]) -> object:
    return PONG if len(args) == 1 else args[1]


def _echo(context: Context, args: list[bytes]) -> object:
    return args[1]


def _quit(context: Context, args: list[bytes]) -> object:
    context.close_after_replies()
    return OK


def _reset(context: Context, args: list[bytes]) -> object:
    context.protocol = 2
    context.name = None
    context.db = 0
    context.authenticated = not context.state.settings.listen.auth_required
    context.user = b"default"
    context.replies_off = context.skip_next_reply = False  # a SKIP before RESET still skips it
    context.transaction, context.transaction_failed, context.watched = None, False, []
    return SimpleString("RESET")


def _parse_select(args: list[bytes]) -> int | ErrorReply:
    return parse_database(args[1])


def _select(context: Context, index: int) -> object:
    context.db = index
    return OK


def check_credentials(
    username: bytes | None,
    password: bytes,
    requirepass: bytes | None,
    users: Mapping[bytes, bytes],
) -> ErrorReply | None:
    """AUTH's and HELLO AUTH's answer (None: authenticated) as Redis's ACLs give it for what
    the proxy configures: the `default` user, whose password is requirepass, and the named
    `users`. With neither set, authentication is off and `default` accepts any password
    (`nopass`); with only users set, `default` is disabled. username None is AUTH <password>."""
    auth_off = requirepass is None and not users
    if username is None:
        if auth_off:
            return AUTH_WITHOUT_PASSWORD
        username = b"default"
    if username == b"default":
        if auth_off:
            return None
        expected = requirepass
    else:
        expected = users.get(username)
    if expected is not None and hmac.compare_digest(password, expected):
        return None
    return WRONGPASS


def _log_in(context: Context, username: bytes | None, password: bytes) -> ErrorReply | None:
    """Check AUTH's or HELLO AUTH's credentials; on success the client is that user."""
    listen = context.state.settings.listen
    requirepass = None if listen.requirepass is None else listen.requirepass.encode()
    users = {user.name.encode(): user.password.encode() for user in listen.users}
    refusal = check_credentials(username, password, requirepass, users)
    if refusal is None:
        context.authenticated = True
        context.user = b"default" if username is None else username
    return refusal


def _parse_auth(args: list[bytes]) -> tuple[bytes | None, bytes] | ErrorReply:
    if len(args) > 3:
        return SYNTAX_ERROR
    return (None, args[1]) if len(args) == 2 else (args[1], args[2])


def _auth(context: Context, credentials: tuple[bytes | None, bytes]) -> object:
    refusal = _log_in(context, *credentials)
    return OK if refusal is None else refusal


@dataclass(slots=True)
class Hello:
    protover: int | None
    credentials: tuple[bytes, bytes] | None
    name: bytes | None  # None: no SETNAME; b"" clears the name


def name_ok(name: bytes) -> bool:
    """Client names and library attributes may hold only '!'..'~'."""
    return all(0x21 <= byte <= 0x7E for byte in name)


def _parse_hello(args: list[bytes]) -> Hello | ErrorReply:
    """Every option is checked before any applies (an AUTH, then the name, then the protocol)."""
    hello = Hello(None, None, None)
    if len(args) >= 2:
        hello.protover = parse_long_long(args[1])
        if hello.protover is None:
            return BAD_PROTOCOL_VERSION
        if hello.protover not in (2, 3):
            return NOPROTO
    j = 2
    while j < len(args):
        more = len(args) - 1 - j
        opt = token(args[j])
        if opt == b"AUTH" and more >= 2:
            hello.credentials = (args[j + 1], args[j + 2])
            j += 3
        elif opt == b"SETNAME" and more >= 1:
            if not name_ok(args[j + 1]):
                return BAD_CLIENT_NAME
            hello.name = args[j + 1]
            j += 2
        else:
            return format_error(b"ERR Syntax error in HELLO option '" + c_string(args[j]) + b"'")
    return hello


def _hello(context: Context, hello: Hello) -> object:
    if hello.credentials is not None:
        refusal = _log_in(context, *hello.credentials)
        if refusal is not None:
            return refusal
    if not context.authenticated:
        return HELLO_NOAUTH
    if hello.name is not None:
        context.name = hello.name or None
    if hello.protover is not None:
        context.protocol = hello.protover
    return {
        b"server": b"redis",
        b"version": DIALECT_VERSION.encode(),
        b"proto": context.protocol,
        b"id": context.client_id,
        b"mode": b"standalone",
        b"role": b"master",
        b"modules": [],
    }


SPECS = (
    CommandSpec(
        "ping",
        -1,
        "fast",
        "@fast @connection",
        Doc(
            "Answers PONG, or the message given.",
            "1.0.0",
            "connection",
            "O(1)",
            (Arg("message", "string", optional=True),),
        ),
        Local(_ping),
        parse=_parse_ping,
        tips=("request_policy:all_shards", "response_policy:all_succeeded"),
    ),
    CommandSpec(
        "echo",
        2,
        "loading stale fast",
        "@fast @connection",
        Doc(
            "Answers the message given.", "1.0.0", "connection", "O(1)", (Arg("message", "string"),)
        ),
        Local(_echo),
    ),
    CommandSpec(
        "quit",
        -1,
        _NO_AUTH,
        "@fast @connection",
        Doc(
            "Closes the connection once the replies before it are sent.",
            "1.0.0",
            "connection",
            "O(1)",
        ),
        Session(_quit),
    ),
    CommandSpec(
        "reset",
        1,
        _NO_AUTH,
        "@fast @connection",
        Doc("Puts the connection back as it was when it opened.", "6.2.0", "connection", "O(1)"),
        Session(_reset),
    ),
    CommandSpec(
        "select",
        2,
        "loading stale fast",
        "@fast @connection",
        Doc(
            "Chooses the database this connection works in.",
            "1.0.0",
            "connection",
            "O(1)",
            (Arg("index", "integer"),),
        ),
        Session(_select),
        parse=_parse_select,
    ),
    CommandSpec(
        "auth",
        -2,
        _NO_AUTH,
        "@fast @connection",
        Doc(
            "Logs the connection in as a user.",
            "1.0.0",
            "connection",
            "O(N) where N is the number of passwords defined for the user",
            (
                Arg("username", "string", since="6.0.0", optional=True),
                Arg("password", "string"),
            ),
        ),
        Session(_auth),
        parse=_parse_auth,
    ),
    CommandSpec(
        "hello",
        -1,
        _NO_AUTH,
        "@fast @connection",
        Doc(
            "Chooses the protocol, and optionally logs in and names the connection.",
            "6.0.0",
            "connection",
            "O(1)",
            (
                Arg(
                    "arguments",
                    "block",
                    optional=True,
                    arguments=(
                        Arg("protover", "integer"),
                        Arg(
                            "auth",
                            "block",
                            token="AUTH",
                            optional=True,
                            arguments=(Arg("username", "string"), Arg("password", "string")),
                        ),
                        Arg("clientname", "string", token="SETNAME", optional=True),
                    ),
                ),
            ),
        ),
        Session(_hello),
        parse=_parse_hello,
    ),
)
