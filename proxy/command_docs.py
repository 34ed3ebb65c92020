"""What COMMAND, COMMAND COUNT, COMMAND INFO, COMMAND DOCS and the HELP subcommands answer.

How it works: COMMAND and COMMAND INFO render `COMMAND_TABLE` (commands.py) in 6.2's format,
so they list exactly the commands the proxy parses. COMMAND DOCS does not exist in 6.2, but
redis-py and redis-cli 7 ask for it, so it answers in Redis 7.2's map format from `_DOCS`
below: per command a summary, since, group, complexity, optional history, the arguments (each
a map of name, type, display_text, key_spec_index, token, flags, arguments), and for CLIENT
and COMMAND the subcommands we serve. The texts are Redis's own command documentation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from leaderless.proxy.commands import COMMAND_TABLE, CommandSpec
from leaderless.proxy.resp import SetReply, SimpleString

Reply = object


def _command_entry(spec: CommandSpec) -> list[Reply]:
    """One command in 6.2's COMMAND format; flags and categories are sets, as 6.2 sends."""
    return [
        spec.name.encode(),
        spec.arity,
        SetReply(SimpleString(flag) for flag in spec.flags),
        spec.first_key,
        spec.last_key,
        spec.step,
        SetReply(SimpleString(category) for category in spec.acl_categories),
    ]


def _lookup(name: bytes) -> CommandSpec | None:
    return COMMAND_TABLE.get(name.lower().decode("ascii", "replace"))


def command_list_reply() -> list[Reply]:
    """COMMAND: every command we serve."""
    return [_command_entry(spec) for spec in COMMAND_TABLE.values()]


def command_count_reply() -> int:
    return len(COMMAND_TABLE)


def command_info_reply(names: tuple[bytes, ...]) -> list[Reply]:
    """COMMAND INFO: one entry per name, None (a null) for a name we do not serve."""
    specs = (_lookup(name) for name in names)
    return [None if spec is None else _command_entry(spec) for spec in specs]


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument as COMMAND DOCS describes it (Redis 7.2 field names)."""

    name: str
    type: str
    display: str | None = None
    token: str | None = None
    optional: bool = False
    multiple: bool = False
    key_spec_index: int | None = None
    arguments: tuple[Arg, ...] = ()

    def reply(self) -> dict[bytes, Reply]:
        out: dict[bytes, Reply] = {b"name": self.name.encode(), b"type": self.type.encode()}
        if self.display is not None:
            out[b"display_text"] = self.display.encode()
        if self.key_spec_index is not None:
            out[b"key_spec_index"] = self.key_spec_index
        if self.token is not None:
            out[b"token"] = self.token.encode()
        flags = [
            name for name, on in (("optional", self.optional), ("multiple", self.multiple)) if on
        ]
        if flags:
            out[b"flags"] = SetReply(SimpleString(flag) for flag in flags)
        if self.arguments:
            out[b"arguments"] = [arg.reply() for arg in self.arguments]
        return out


@dataclass(frozen=True, slots=True)
class Doc:
    summary: str
    since: str
    group: str
    complexity: str
    history: tuple[tuple[str, str], ...] = ()
    arguments: tuple[Arg, ...] = ()
    subcommands: dict[str, Doc] = field(default_factory=dict)

    def reply(self) -> dict[bytes, Reply]:
        out: dict[bytes, Reply] = {
            b"summary": self.summary.encode(),
            b"since": self.since.encode(),
            b"group": self.group.encode(),
            b"complexity": self.complexity.encode(),
        }
        if self.history:
            out[b"history"] = [[version.encode(), text.encode()] for version, text in self.history]
        if self.arguments:
            out[b"arguments"] = [arg.reply() for arg in self.arguments]
        if self.subcommands:
            out[b"subcommands"] = {
                name.encode(): doc.reply() for name, doc in self.subcommands.items()
            }
        return out


def _key(multiple: bool = False) -> Arg:
    return Arg("key", "key", "key", key_spec_index=0, multiple=multiple)


def _flush_mode() -> Arg:
    return Arg(
        "flush-type",
        "oneof",
        optional=True,
        arguments=(
            Arg("async", "pure-token", token="ASYNC"),
            Arg("sync", "pure-token", token="SYNC"),
        ),
    )


def _connection(
    summary: str,
    since: str,
    *,
    history: tuple[tuple[str, str], ...] = (),
    arguments: tuple[Arg, ...] = (),
) -> Doc:
    return Doc(summary, since, "connection", "O(1)", history=history, arguments=arguments)


_DOCS: dict[str, Doc] = {
    "get": Doc(
        "Returns the string value of a key.", "1.0.0", "string", "O(1)", arguments=(_key(),)
    ),
    "set": Doc(
        "Sets the string value of a key, ignoring its type. "
        "The key is created if it doesn't exist.",
        "1.0.0",
        "string",
        "O(1)",
        history=(
            ("2.6.12", "Added the `EX`, `PX`, `NX` and `XX` options."),
            ("6.0.0", "Added the `KEEPTTL` option."),
            ("6.2.0", "Added the `GET`, `EXAT` and `PXAT` option."),
        ),
        arguments=(
            _key(),
            Arg("value", "string", "value"),
            Arg(
                "condition",
                "oneof",
                optional=True,
                arguments=(
                    Arg("nx", "pure-token", token="NX"),
                    Arg("xx", "pure-token", token="XX"),
                ),
            ),
            Arg("get", "pure-token", token="GET", optional=True),
            Arg(
                "expiration",
                "oneof",
                optional=True,
                arguments=(
                    Arg("seconds", "integer", "seconds", token="EX"),
                    Arg("milliseconds", "integer", "milliseconds", token="PX"),
                    Arg("unix-time-seconds", "unix-time", "unix-time-seconds", token="EXAT"),
                    Arg(
                        "unix-time-milliseconds",
                        "unix-time",
                        "unix-time-milliseconds",
                        token="PXAT",
                    ),
                    Arg("keepttl", "pure-token", token="KEEPTTL"),
                ),
            ),
        ),
    ),
    "del": Doc(
        "Deletes one or more keys.",
        "1.0.0",
        "generic",
        "O(N) where N is the number of keys that will be removed.",
        arguments=(_key(multiple=True),),
    ),
    "exists": Doc(
        "Determines whether one or more keys exist.",
        "1.0.0",
        "generic",
        "O(N) where N is the number of keys to check.",
        history=(("3.0.3", "Accepts multiple `key` arguments."),),
        arguments=(_key(multiple=True),),
    ),
    "mget": Doc(
        "Atomically returns the string values of one or more keys.",
        "1.0.0",
        "string",
        "O(N) where N is the number of keys to retrieve.",
        arguments=(_key(multiple=True),),
    ),
    "mset": Doc(
        "Atomically creates or modifies the string values of one or more keys.",
        "1.0.1",
        "string",
        "O(N) where N is the number of keys to set.",
        arguments=(
            Arg(
                "data", "block", multiple=True, arguments=(_key(), Arg("value", "string", "value"))
            ),
        ),
    ),
    "ttl": Doc(
        "Returns the expiration time in seconds of a key.",
        "1.0.0",
        "generic",
        "O(1)",
        history=(("2.8.0", "Added the -2 reply."),),
        arguments=(_key(),),
    ),
    "pttl": Doc(
        "Returns the expiration time in milliseconds of a key.",
        "2.6.0",
        "generic",
        "O(1)",
        history=(("2.8.0", "Added the -2 reply."),),
        arguments=(_key(),),
    ),
    "dbsize": Doc("Returns the number of keys in the database.", "1.0.0", "server", "O(1)"),
    "flushdb": Doc(
        "Remove all keys from the current database.",
        "1.0.0",
        "server",
        "O(N) where N is the number of keys in the selected database",
        history=(
            ("4.0.0", "Added the `ASYNC` flushing mode modifier."),
            ("6.2.0", "Added the `SYNC` flushing mode modifier."),
        ),
        arguments=(_flush_mode(),),
    ),
    "flushall": Doc(
        "Removes all keys from all databases.",
        "1.0.0",
        "server",
        "O(N) where N is the total number of keys in all databases",
        history=(
            ("4.0.0", "Added the `ASYNC` flushing mode modifier."),
            ("6.2.0", "Added the `SYNC` flushing mode modifier."),
        ),
        arguments=(_flush_mode(),),
    ),
    "ping": _connection(
        "Returns the server's liveliness response.",
        "1.0.0",
        arguments=(Arg("message", "string", "message", optional=True),),
    ),
    "echo": _connection(
        "Returns the given string.", "1.0.0", arguments=(Arg("message", "string", "message"),)
    ),
    "reset": _connection("Resets the connection.", "6.2.0"),
    "select": _connection(
        "Changes the selected database.", "1.0.0", arguments=(Arg("index", "integer", "index"),)
    ),
    "auth": Doc(
        "Authenticates the connection.",
        "1.0.0",
        "connection",
        "O(N) where N is the number of passwords defined for the user",
        history=(("6.0.0", "Added ACL style (username and password)."),),
        arguments=(
            Arg("username", "string", "username", optional=True),
            Arg("password", "string", "password"),
        ),
    ),
    "hello": _connection(
        "Handshakes with the Redis server.",
        "6.0.0",
        history=(
            (
                "6.2.0",
                "`protover` made optional; when called without arguments "
                "the command reports the current connection's context.",
            ),
        ),
        arguments=(
            Arg(
                "arguments",
                "block",
                optional=True,
                arguments=(
                    Arg("protover", "integer", "protover"),
                    Arg(
                        "username-password",
                        "block",
                        token="AUTH",
                        optional=True,
                        arguments=(
                            Arg("username", "string", "username"),
                            Arg("password", "string", "password"),
                        ),
                    ),
                    Arg("clientname", "string", "clientname", token="SETNAME", optional=True),
                ),
            ),
        ),
    ),
    "client": Doc(
        "A container for client connection commands.",
        "2.4.0",
        "connection",
        "Depends on subcommand.",
        subcommands={
            "client|getname": _connection("Returns the name of the connection.", "2.6.9"),
            "client|id": _connection("Returns the unique client ID of the connection.", "5.0.0"),
            "client|info": _connection("Returns information about the connection.", "6.2.0"),
            "client|setinfo": _connection(
                "Sets information specific to the client or connection.",
                "7.2.0",
                arguments=(
                    Arg(
                        "attr",
                        "oneof",
                        arguments=(
                            Arg("libname", "string", "libname", token="LIB-NAME"),
                            Arg("libver", "string", "libver", token="LIB-VER"),
                        ),
                    ),
                ),
            ),
            "client|setname": _connection(
                "Sets the connection name.",
                "2.6.9",
                arguments=(Arg("connection-name", "string", "connection-name"),),
            ),
            "client|help": Doc(
                "Returns helpful text about the different subcommands.",
                "5.0.0",
                "connection",
                "O(1)",
            ),
        },
    ),
    "command": Doc(
        "Returns detailed information about all commands.",
        "2.8.13",
        "server",
        "O(N) where N is the total number of Redis commands",
        subcommands={
            "command|count": Doc("Returns a count of commands.", "2.8.13", "server", "O(1)"),
            "command|docs": Doc(
                "Returns documentary information about one, multiple or all commands.",
                "7.0.0",
                "server",
                "O(N) where N is the number of commands to look up",
                arguments=(
                    Arg("command-name", "string", "command-name", optional=True, multiple=True),
                ),
            ),
            "command|info": Doc(
                "Returns information about one, multiple or all commands.",
                "2.8.13",
                "server",
                "O(N) where N is the number of commands to look up",
                history=(
                    ("7.0.0", "Allowed to be called with no argument to get info on all commands."),
                ),
                arguments=(
                    Arg("command-name", "string", "command-name", optional=True, multiple=True),
                ),
            ),
            "command|help": Doc(
                "Returns helpful text about the different subcommands.", "5.0.0", "server", "O(1)"
            ),
        },
    ),
    "info": Doc(
        "Returns information and statistics about the server.",
        "1.0.0",
        "server",
        "O(1)",
        history=(("7.0.0", "Added support for taking multiple section arguments."),),
        arguments=(Arg("section", "string", "section", optional=True, multiple=True),),
    ),
}


def command_docs_reply(names: tuple[bytes, ...]) -> dict[bytes, Reply]:
    """COMMAND DOCS: a map of command name to its docs; all commands when `names` is empty,
    names we do not serve left out (as Redis 7 does)."""
    specs = COMMAND_TABLE.values() if not names else (_lookup(name) for name in names)
    return {spec.name.encode(): _DOCS[spec.name].reply() for spec in specs if spec is not None}


def _help(command: str, lines: tuple[str, ...]) -> list[object]:
    return [
        SimpleString(line)
        for line in (
            f"{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            *lines,
            "HELP",
            "    Prints this help.",
        )
    ]


CLIENT_HELP = _help(
    "CLIENT",
    (
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "SETINFO <option> <value>",
        "    Set client meta attr. Options are:",
        "    * LIB-NAME: the client lib name.",
        "    * LIB-VER: the client lib version.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
    ),
)
COMMAND_HELP = _help(
    "COMMAND",
    (
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
    ),
)
