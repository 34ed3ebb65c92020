"""The command table: every family's specs by name, the COMMAND container that reports them,
and each container's HELP, all from the specs.

`lookup` finds the spec a request names, with Redis 7.2's order of errors: unknown command
(or one Redis has that is not replicated yet, `not_replicated.py`), unknown subcommand of a
container, then the arity of the command or subcommand found.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from leaderless.proxy.commands import (
    client,
    config,
    connection,
    copies,
    counters,
    databases,
    durability,
    expiry,
    functions,
    keyspace,
    lcs,
    object_info,
    scanning,
    scripting,
    server,
    string_edits,
    string_updates,
    strings,
    transactions,
)
from leaderless.proxy.commands.args import (
    SYNTAX_ERROR,
    arity_error,
    c_string,
    string_match,
    token,
    unknown_command_error,
    unknown_subcommand_error,
)
from leaderless.proxy.commands.introspection import docs_entry, help_reply, info_entry
from leaderless.proxy.commands.not_replicated import NOT_REPLICATED
from leaderless.proxy.commands.spec import Arg, CommandSpec, Doc, Local, subcommands
from leaderless.proxy.resp import ErrorReply
from leaderless.proxy.state import Context


def _find(name: bytes) -> CommandSpec | None:
    """A command by name, or a subcommand as `container|sub`, any case."""
    text = c_string(name).lower().decode("utf-8", "replace")
    container, _, sub = text.partition("|")
    spec = COMMAND_TABLE.get(container)
    if spec is None or not sub:
        return spec
    return spec.subcommands.get(sub)


def _command(context: Context, args: list[bytes]) -> object:
    return [info_entry(spec) for spec in COMMAND_TABLE.values()]


def _command_count(context: Context, args: list[bytes]) -> object:
    return len(COMMAND_TABLE)


def _command_list(context: Context, args: list[bytes]) -> object:
    """Every command and subcommand, or those FILTERBY keeps: none for MODULE (the proxy has no
    modules), those in an ACL category for ACLCAT, those whose name matches for PATTERN."""
    every = [leaf for spec in COMMAND_TABLE.values() for leaf in (spec, *spec.subcommands.values())]
    if len(args) == 2:
        return [spec.name.encode() for spec in every]
    if len(args) != 5 or token(args[2]) != b"FILTERBY":
        return SYNTAX_ERROR
    kind, wanted = token(args[3]), args[4]
    if kind == b"MODULE":
        return []
    if kind == b"ACLCAT":
        category = "@" + wanted.decode("utf-8", "replace").lower()
        return [spec.name.encode() for spec in every if category in spec.acl.lower().split()]
    if kind == b"PATTERN":
        return [
            spec.name.encode()
            for spec in every
            if string_match(wanted, spec.name.encode(), nocase=True)
        ]
    return SYNTAX_ERROR


def _command_info(context: Context, args: list[bytes]) -> object:
    if len(args) == 2:
        return _command(context, args)
    specs = (_find(name) for name in args[2:])
    return [None if spec is None else info_entry(spec) for spec in specs]


def _command_docs(context: Context, args: list[bytes]) -> object:
    found = COMMAND_TABLE.values() if len(args) == 2 else (_find(name) for name in args[2:])
    return {spec.name.encode(): docs_entry(spec) for spec in found if spec is not None}


def _command_getkeys(context: Context, args: list[bytes]) -> object:
    target = args[2:]
    spec = lookup(target)
    if isinstance(spec, ErrorReply):
        known = _find(target[0]) is not None
        return ErrorReply(
            "ERR Invalid number of arguments specified for command"
            if known
            else "ERR Invalid command specified"
        )
    if not spec.key_specs:
        return ErrorReply("ERR The command has no key arguments")
    return list(spec.keys(target))


_SERVER_SUB = "loading stale"
_SERVER_ACL = "@slow @connection"
_NAMES = (Arg("command-name", "string", optional=True, multiple=True),)
_COMMAND = CommandSpec(
    "command",
    -1,
    _SERVER_SUB,
    _SERVER_ACL,
    Doc(
        "Describes every command the proxy serves.",
        "2.8.13",
        "server",
        "O(N) where N is the total number of commands",
    ),
    Local(_command),
    tips=("nondeterministic_output_order",),
    subcommands=subcommands(
        CommandSpec(
            "command|count",
            2,
            _SERVER_SUB,
            _SERVER_ACL,
            Doc("Counts the commands the proxy serves.", "2.8.13", "server", "O(1)"),
            Local(_command_count),
            help=("COUNT", "    Answer how many commands the proxy serves."),
        ),
        CommandSpec(
            "command|list",
            -2,
            _SERVER_SUB,
            _SERVER_ACL,
            Doc(
                "Lists the names of the commands the proxy serves.",
                "7.0.0",
                "server",
                "O(N) where N is the total number of commands",
                (
                    Arg(
                        "filterby",
                        "oneof",
                        token="FILTERBY",
                        optional=True,
                        arguments=(
                            Arg("module-name", "string", token="MODULE"),
                            Arg("category", "string", token="ACLCAT"),
                            Arg("pattern", "pattern", token="PATTERN"),
                        ),
                    ),
                ),
            ),
            Local(_command_list),
            tips=("nondeterministic_output_order",),
            help=("LIST", "    List the names of the commands the proxy serves."),
        ),
        CommandSpec(
            "command|info",
            -2,
            _SERVER_SUB,
            _SERVER_ACL,
            Doc(
                "Describes the commands named, or every command.",
                "2.8.13",
                "server",
                "O(N) where N is the number of commands to look up",
                _NAMES,
            ),
            Local(_command_info),
            tips=("nondeterministic_output_order",),
            help=(
                "INFO [<command-name> ...]",
                "    Describe the commands named (arity, flags, keys), or every command.",
            ),
        ),
        CommandSpec(
            "command|docs",
            -2,
            _SERVER_SUB,
            _SERVER_ACL,
            Doc(
                "Documents the commands named, or every command.",
                "7.0.0",
                "server",
                "O(N) where N is the number of commands to look up",
                _NAMES,
            ),
            Local(_command_docs),
            tips=("nondeterministic_output_order",),
            help=(
                "DOCS [<command-name> ...]",
                "    Document the commands named (summary, arguments), or every command.",
            ),
        ),
        CommandSpec(
            "command|getkeys",
            -3,
            _SERVER_SUB,
            _SERVER_ACL,
            Doc(
                "Finds the keys in a full command.",
                "2.8.13",
                "server",
                "O(N) where N is the number of arguments to the command",
                (Arg("command", "string"), Arg("arg", "string", optional=True, multiple=True)),
            ),
            Local(_command_getkeys),
            help=("GETKEYS <full-command>", "    Answer the keys of a full command."),
        ),
    ),
)


def _with_help(container: CommandSpec) -> CommandSpec:
    """A container with its HELP subcommand last, whose text lists the others. A container
    whose HELP has other facts than the usual ones (CONFIG HELP is only @slow) declares it,
    without a meaning: the text is filled in here."""
    group = container.doc.group
    others = {name: sub for name, sub in container.subcommands.items() if name != "help"}
    help_spec = container.subcommands.get("help") or CommandSpec(
        f"{container.name}|help",
        2,
        "loading stale",
        f"@slow @{'connection' if group in ('connection', 'server') else group}",
        Doc("Lists the subcommands and what they do.", "5.0.0", group, "O(1)"),
        None,
        help=("HELP", "    Print this help."),
    )
    text = help_reply(replace(container, subcommands={**others, "help": help_spec}))
    return replace(
        container,
        subcommands={
            **others,
            "help": replace(help_spec, meaning=Local(lambda context, args: text)),
        },
    )


def _table(*families: tuple[CommandSpec, ...]) -> dict[str, CommandSpec]:
    specs = [spec for family in families for spec in family]
    return {
        spec.name: _with_help(spec) if spec.subcommands else spec
        for spec in sorted(specs, key=lambda spec: spec.name)
    }


COMMAND_TABLE: Mapping[str, CommandSpec] = _table(
    strings.SPECS,
    string_updates.SPECS,
    string_edits.SPECS,
    lcs.SPECS,
    counters.SPECS,
    keyspace.SPECS,
    scanning.SPECS,
    expiry.SPECS,
    copies.SPECS,
    connection.SPECS,
    client.SPECS,
    config.SPECS,
    server.SPECS,
    databases.SPECS,
    transactions.SPECS,
    durability.SPECS,
    object_info.SPECS,
    scripting.SPECS,
    functions.SPECS,
    (_COMMAND,),
)


def lookup(args: list[bytes]) -> CommandSpec | ErrorReply:
    """The spec a request (never empty) names, or the error Redis gives for it."""
    name = args[0].lower().decode("ascii", "replace")
    spec = COMMAND_TABLE.get(name)
    if spec is None:
        return NOT_REPLICATED.get(name) or unknown_command_error(args)
    if spec.subcommands and len(args) >= 2:
        sub = spec.subcommands.get(c_string(args[1]).lower().decode("ascii", "replace"))
        if sub is None:
            return unknown_subcommand_error(args)
        spec = sub
    if not spec.arity_ok(len(args)):
        return arity_error(spec.name)
    return spec
