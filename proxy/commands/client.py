"""CLIENT and its subcommands: a connection's name, id and description, and the per-connection
switches (REPLY, TRACKING, NO-EVICT, NO-TOUCH). LIST and KILL are in client_list.py."""

from __future__ import annotations

from leaderless.proxy.commands.args import (
    NOT_AN_INTEGER,
    SYNTAX_ERROR,
    c_string,
    format_error,
    parse_long_long,
    token,
)
from leaderless.proxy.commands.client_list import (
    LIST_AND_KILL,
    client_info_line,
    client_subcommand,
    pure_token,
)
from leaderless.proxy.commands.connection import BAD_CLIENT_NAME, name_ok
from leaderless.proxy.commands.spec import Arg, CommandSpec, Doc, Session, subcommands
from leaderless.proxy.commands.strings import OK
from leaderless.proxy.resp import ErrorReply, Verbatim
from leaderless.proxy.state import Context

NO_REDIRECT_TARGET = ErrorReply("ERR The client ID you want redirect to does not exist")
NO_TRACKING = ErrorReply(
    "ERR CLIENT TRACKING ON is not supported: the proxy does not send client-side caching "
    "invalidations (a write through another proxy would not reach it)"
)
"""Our own text: tracking would promise invalidations the proxy cannot give."""


# -- the subcommands ----------------------------------------------------------------------


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


_ON_OFF = Arg("enabled", "oneof", arguments=(pure_token("on"), pure_token("off")))
SPECS = (
    CommandSpec(
        "client",
        -2,
        "",
        "@slow",
        Doc("Commands about client connections.", "2.4.0", "connection", "Depends on subcommand."),
        None,
        subcommands=subcommands(
            client_subcommand(
                "client|getname",
                2,
                "Answers the connection's name.",
                "2.6.9",
                Session(_client_getname),
                help=("GETNAME", "    Answer the name of this connection."),
            ),
            client_subcommand(
                "client|id",
                2,
                "Answers the connection's client id.",
                "5.0.0",
                Session(_client_id),
                help=("ID", "    Answer the id of this connection."),
            ),
            client_subcommand(
                "client|info",
                2,
                "Describes the connection in one line.",
                "6.2.0",
                Session(_client_info),
                tips=("nondeterministic_output",),
                help=("INFO", "    Describe this connection in one line."),
            ),
            *LIST_AND_KILL,
            client_subcommand(
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
            client_subcommand(
                "client|no-touch",
                3,
                "Accepted for compatibility: the proxy keeps no access times of keys.",
                "7.2.0",
                Session(_accepted),
                parse=_on_off,
                arguments=(_ON_OFF,),
                help=("NO-TOUCH (ON|OFF)", "    Accepted; the proxy keeps no key access times."),
            ),
            client_subcommand(
                "client|reply",
                3,
                "Turns the connection's replies off, on, or off for the next command only.",
                "3.2.0",
                Session(_client_reply),
                parse=_parse_client_reply,
                arguments=(
                    Arg(
                        "action",
                        "oneof",
                        arguments=(pure_token("on"), pure_token("off"), pure_token("skip")),
                    ),
                ),
                help=(
                    "REPLY (ON|OFF|SKIP)",
                    "    Send replies, send none, or send none for the next command.",
                ),
            ),
            client_subcommand(
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
            client_subcommand(
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
            client_subcommand(
                "client|tracking",
                -3,
                "Client-side caching: only OFF is accepted, the proxy sends no invalidations.",
                "6.0.0",
                Session(_client_tracking),
                complexity="O(1). Some options may introduce additional complexity.",
                arguments=(
                    Arg("status", "oneof", arguments=(pure_token("on"), pure_token("off"))),
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
