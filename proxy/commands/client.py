"""CLIENT and its subcommands: a connection's name, id and description, the list of the
proxy's clients and closing some of them (LIST, KILL: client_filter.py says which), and the
per-connection switches (REPLY, TRACKING, NO-EVICT, NO-TOUCH)."""

from __future__ import annotations

import time
from collections.abc import Callable

from leaderless.proxy.commands.args import (
    NOT_AN_INTEGER,
    SYNTAX_ERROR,
    c_string,
    format_error,
    parse_long_long,
    token,
)
from leaderless.proxy.commands.client_filter import chosen, laddr
from leaderless.proxy.commands.connection import BAD_CLIENT_NAME, name_ok
from leaderless.proxy.commands.spec import Arg, CommandSpec, Doc, Session, subcommands
from leaderless.proxy.commands.strings import OK
from leaderless.proxy.resp import ErrorReply, Verbatim
from leaderless.proxy.state import Context

NO_SUCH_CLIENT = ErrorReply("ERR No such client")
NO_REDIRECT_TARGET = ErrorReply("ERR The client ID you want redirect to does not exist")
NO_TRACKING = ErrorReply(
    "ERR CLIENT TRACKING ON is not supported: the proxy does not send client-side caching "
    "invalidations (a write through another proxy would not reach it)"
)
"""Our own text: tracking would promise invalidations the proxy cannot give."""


def client_info_line(context: Context) -> bytes:
    """CLIENT INFO's and CLIENT LIST's line for a client, in Redis 7.2's field order. A proxy
    has no file descriptor, buffers or memory figures of its own to report: those read 0."""
    now = time.monotonic()
    return (
        f"id={context.client_id} addr={context.peer} laddr={laddr(context)} fd=0 name=".encode()
        + (context.name or b"")
        + (
            f" age={int(now - context.created_at)} idle={int(now - context.last_active)}"
            f" flags=N capa= db={context.db} sub=0 psub=0 ssub=0 multi=-1 watch=0 qbuf=0"
            " qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0"
            f" events=r cmd={context.last_command} user="
        ).encode()
        + context.user
        + f" redir=-1 resp={context.protocol} lib-name=".encode()
        + (context.lib_name or b"")
        + b" lib-ver="
        + (context.lib_ver or b"")
        + (
            f" tot-net-in={context.bytes_in} tot-net-out={context.bytes_out}"
            f" tot-cmds={context.commands}\n"
        ).encode()
    )


# -- the subcommands ----------------------------------------------------------------------


def _client_list(context: Context, args: list[bytes]) -> object:
    if len(args) == 3:
        return SYNTAX_ERROR
    clients = chosen(context, args, skip_me=False)
    if isinstance(clients, ErrorReply):
        return clients
    return Verbatim("txt", b"".join(client_info_line(client) for client in clients))


def _kill(context: Context, client: Context) -> None:
    """Close a client; the one asking gets its reply first."""
    if client is context:
        context.close_after_replies()
    else:
        client.close()


def _client_kill(context: Context, args: list[bytes]) -> object:
    if len(args) == 3:  # the old form: CLIENT KILL ip:port
        addr = args[2].decode("utf-8", "surrogateescape")
        client = next((c for c in context.state.clients.values() if c.peer == addr), None)
        if client is None:
            return NO_SUCH_CLIENT
        _kill(context, client)
        return OK
    clients = chosen(context, args, skip_me=True)
    if isinstance(clients, ErrorReply):
        return clients
    for client in clients:
        _kill(context, client)
    return len(clients)


def _on_off(args: list[bytes]) -> bool | ErrorReply:
    switch = token(args[2])
    if switch not in (b"ON", b"OFF"):
        return SYNTAX_ERROR
    return switch == b"ON"


def _accepted(context: Context, on: bool) -> object:
    """NO-EVICT and NO-TOUCH: the proxy evicts no client and keeps no access times."""
    return OK


def _parse_client_reply(args: list[bytes]) -> bytes | ErrorReply:
    mode = token(args[2])
    return mode if mode in (b"ON", b"OFF", b"SKIP") else SYNTAX_ERROR


def _client_reply(context: Context, mode: bytes) -> object:
    """The session sends no reply while `replies_off`, nor the one after a SKIP (see
    session.py); OFF and SKIP have no reply of their own."""
    if mode == b"ON":
        context.replies_off = context.skip_reply = context.skip_next_reply = False
        return OK
    if mode == b"OFF":
        context.replies_off = True
    elif not context.replies_off:
        context.skip_next_reply = True
    return None


def _client_tracking(context: Context, args: list[bytes]) -> object:
    """Options are checked as Redis checks them; then OFF is accepted (tracking is never on)
    and ON refused."""
    index = 3
    while index < len(args):
        option = token(args[index])
        more = index + 1 < len(args)
        if option == b"REDIRECT" and more:
            target = parse_long_long(args[index + 1])
            if target is None:
                return NOT_AN_INTEGER
            if target not in context.state.clients:
                return NO_REDIRECT_TARGET
            index += 2
        elif option == b"PREFIX" and more:
            index += 2
        elif option in (b"BCAST", b"OPTIN", b"OPTOUT", b"NOLOOP"):
            index += 1
        else:
            return SYNTAX_ERROR
    switch = token(args[2])
    if switch == b"ON":
        return NO_TRACKING
    return OK if switch == b"OFF" else SYNTAX_ERROR


def _client_info(context: Context, args: list[bytes]) -> object:
    return Verbatim("txt", client_info_line(context))


def _client_id(context: Context, args: list[bytes]) -> object:
    return context.client_id


def _client_getname(context: Context, args: list[bytes]) -> object:
    return context.name


def _parse_client_setname(args: list[bytes]) -> bytes | ErrorReply:
    return args[2] if name_ok(args[2]) else BAD_CLIENT_NAME


def _client_setname(context: Context, name: bytes) -> object:
    context.name = name or None
    return OK


def _parse_client_setinfo(args: list[bytes]) -> tuple[bytes, bytes] | ErrorReply:
    attribute, value = token(args[2]), args[3]
    if attribute not in (b"LIB-NAME", b"LIB-VER"):
        return format_error(b"ERR Unrecognized option '" + c_string(args[2]) + b"'")
    if not name_ok(value):
        return format_error(
            c_string(args[2]).join(
                (b"ERR ", b" cannot contain spaces, newlines or special characters.")
            )
        )
    return attribute, value


def _client_setinfo(context: Context, attribute_value: tuple[bytes, bytes]) -> object:
    attribute, value = attribute_value
    if attribute == b"LIB-NAME":
        context.lib_name = value or None
    else:
        context.lib_ver = value or None
    return OK


_ADMIN = "admin noscript loading stale"
_ADMIN_ACL = "@admin @slow @dangerous @connection"
_BY_CLIENTS = "O(N) where N is the number of client connections"


def _sub(
    name: str,
    arity: int,
    summary: str,
    since: str,
    meaning: Session,
    *,
    parse: Callable[[list[bytes]], object] | None = None,
    arguments: tuple[Arg, ...] = (),
    tips: tuple[str, ...] = (),
    help: tuple[str, ...] = (),
    admin: bool = False,
    complexity: str = "O(1)",
) -> CommandSpec:
    """A CLIENT subcommand: they share their group, and the admin ones their flags."""
    return CommandSpec(
        name,
        arity,
        _ADMIN if admin else "noscript loading stale",
        _ADMIN_ACL if admin else "@slow @connection",
        Doc(summary, since, "connection", complexity, arguments),
        meaning,
        parse=parse,
        tips=tips,
        help=help,
    )


def _pure(name: str, *, since: str | None = None, display: str | None = None) -> Arg:
    return Arg(name, "pure-token", token=name.upper(), since=since, display=display)


_ON_OFF = Arg("enabled", "oneof", arguments=(_pure("on"), _pure("off")))
_SKIPME = Arg(
    "skipme", "oneof", token="SKIPME", optional=True, arguments=(_pure("yes"), _pure("no"))
)
_LIST_ARGS = (
    Arg(
        "client-type",
        "oneof",
        token="TYPE",
        since="5.0.0",
        optional=True,
        arguments=(_pure("normal"), _pure("master"), _pure("replica"), _pure("pubsub")),
    ),
    Arg("client-id", "integer", token="ID", since="6.2.0", optional=True, multiple=True),
    Arg("username", "string", token="USER", since="8.1.0", optional=True),
    Arg("addr", "string", token="ADDR", since="8.1.0", display="ip:port", optional=True),
    Arg("laddr", "string", token="LADDR", since="8.1.0", display="ip:port", optional=True),
    Arg(
        "skipme", "oneof", token="SKIPME", since="8.1.0", optional=True, arguments=_SKIPME.arguments
    ),
    Arg("maxage", "integer", token="MAXAGE", since="8.1.0", optional=True),
)
_KILL_FILTERS = (
    Arg("client-id", "integer", token="ID", since="2.8.12", optional=True, multiple=True),
    Arg(
        "client-type",
        "oneof",
        token="TYPE",
        since="2.8.12",
        optional=True,
        arguments=(
            _pure("normal"),
            _pure("master", since="3.2.0"),
            _pure("primary", since="8.0.0"),
            _pure("slave"),
            _pure("replica", since="5.0.0"),
            _pure("pubsub"),
        ),
    ),
    Arg("username", "string", token="USER", optional=True),
    Arg("addr", "string", token="ADDR", display="ip:port", optional=True),
    Arg("laddr", "string", token="LADDR", since="6.2.0", display="ip:port", optional=True),
    _SKIPME,
    Arg("maxage", "integer", token="MAXAGE", since="8.0.0", optional=True),
)

SPECS = (
    CommandSpec(
        "client",
        -2,
        "",
        "@slow",
        Doc("Commands about client connections.", "2.4.0", "connection", "Depends on subcommand."),
        None,
        subcommands=subcommands(
            _sub(
                "client|getname",
                2,
                "Answers the connection's name.",
                "2.6.9",
                Session(_client_getname),
                help=("GETNAME", "    Answer the name of this connection."),
            ),
            _sub(
                "client|id",
                2,
                "Answers the connection's client id.",
                "5.0.0",
                Session(_client_id),
                help=("ID", "    Answer the id of this connection."),
            ),
            _sub(
                "client|info",
                2,
                "Describes the connection in one line.",
                "6.2.0",
                Session(_client_info),
                tips=("nondeterministic_output",),
                help=("INFO", "    Describe this connection in one line."),
            ),
            _sub(
                "client|kill",
                -3,
                "Closes the proxy's client connections named by address or by filters.",
                "2.4.0",
                Session(_client_kill),
                admin=True,
                complexity=_BY_CLIENTS,
                arguments=(
                    Arg(
                        "filter",
                        "oneof",
                        arguments=(
                            Arg("old-format", "string", display="ip:port"),
                            Arg("new-format", "oneof", multiple=True, arguments=_KILL_FILTERS),
                        ),
                    ),
                ),
                help=(
                    "KILL <ip:port>",
                    "    Close the connection from <ip:port>.",
                    "KILL <filter> <value> [<filter> <value> ...]",
                    "    Close the connections that match every filter: ID <client-id> ...,",
                    "    TYPE normal|master|replica|pubsub, USER <username>, ADDR <ip:port>,",
                    "    LADDR <ip:port>, SKIPME yes|no (yes unless given), MAXAGE <seconds>.",
                    "    Answers how many were closed.",
                ),
            ),
            _sub(
                "client|list",
                -2,
                "Describes the proxy's client connections, one line each.",
                "2.4.0",
                Session(_client_list),
                admin=True,
                complexity=_BY_CLIENTS,
                arguments=_LIST_ARGS,
                tips=("nondeterministic_output",),
                help=(
                    "LIST [<filter> <value> ...]",
                    "    Describe the connections, or those that match every filter (as KILL",
                    "    takes them; SKIPME is no unless given), one line each.",
                ),
            ),
            _sub(
                "client|no-evict",
                3,
                "Accepted for compatibility: the proxy never evicts a client to free memory.",
                "7.0.0",
                Session(_accepted),
                parse=_on_off,
                admin=True,
                arguments=(_ON_OFF,),
                help=("NO-EVICT (ON|OFF)", "    Accepted; the proxy evicts no client."),
            ),
            _sub(
                "client|no-touch",
                3,
                "Accepted for compatibility: the proxy keeps no access times of keys.",
                "7.2.0",
                Session(_accepted),
                parse=_on_off,
                arguments=(_ON_OFF,),
                help=("NO-TOUCH (ON|OFF)", "    Accepted; the proxy keeps no key access times."),
            ),
            _sub(
                "client|reply",
                3,
                "Turns the connection's replies off, on, or off for the next command only.",
                "3.2.0",
                Session(_client_reply),
                parse=_parse_client_reply,
                arguments=(
                    Arg("action", "oneof", arguments=(_pure("on"), _pure("off"), _pure("skip"))),
                ),
                help=(
                    "REPLY (ON|OFF|SKIP)",
                    "    Send replies, send none, or send none for the next command.",
                ),
            ),
            _sub(
                "client|setinfo",
                4,
                "Records the client library's name or version.",
                "7.2.0",
                Session(_client_setinfo),
                parse=_parse_client_setinfo,
                arguments=(
                    Arg(
                        "attr",
                        "oneof",
                        arguments=(
                            Arg("libname", "string", token="LIB-NAME"),
                            Arg("libver", "string", token="LIB-VER"),
                        ),
                    ),
                ),
                tips=("request_policy:all_nodes", "response_policy:all_succeeded"),
                help=(
                    "SETINFO <option> <value>",
                    "    Record the client library's LIB-NAME or LIB-VER.",
                ),
            ),
            _sub(
                "client|setname",
                3,
                "Names the connection.",
                "2.6.9",
                Session(_client_setname),
                parse=_parse_client_setname,
                arguments=(Arg("connection-name", "string"),),
                tips=("request_policy:all_nodes", "response_policy:all_succeeded"),
                help=("SETNAME <name>", "    Name this connection <name>."),
            ),
            _sub(
                "client|tracking",
                -3,
                "Client-side caching: only OFF is accepted, the proxy sends no invalidations.",
                "6.0.0",
                Session(_client_tracking),
                complexity="O(1). Some options may introduce additional complexity.",
                arguments=(
                    Arg("status", "oneof", arguments=(_pure("on"), _pure("off"))),
                    Arg("client-id", "integer", token="REDIRECT", optional=True),
                    Arg(
                        "prefix",
                        "string",
                        token="PREFIX",
                        optional=True,
                        multiple=True,
                        multiple_token=True,
                    ),
                    Arg("bcast", "pure-token", token="BCAST", optional=True),
                    Arg("optin", "pure-token", token="OPTIN", optional=True),
                    Arg("optout", "pure-token", token="OPTOUT", optional=True),
                    Arg("noloop", "pure-token", token="NOLOOP", optional=True),
                ),
                help=(
                    "TRACKING (ON|OFF) [<option> ...]",
                    "    Only OFF is accepted: the proxy does no client-side caching.",
                ),
            ),
        ),
    ),
)
