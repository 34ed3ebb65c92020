"""The command table: every spec complete and consistent, lookup's order of errors, key
extraction from key specs, and what COMMAND and HELP render from the specs."""

from __future__ import annotations

import pytest
from leaderless.proxy.commands.introspection import help_reply, info_entry
from leaderless.proxy.commands.spec import Arg, CommandSpec, KeySpec, Local, Session
from leaderless.proxy.commands.table import COMMAND_TABLE, lookup
from leaderless.proxy.resp import ErrorReply, SetReply, SimpleString

SPECS = [
    spec
    for container in COMMAND_TABLE.values()
    for spec in (container, *container.subcommands.values())
]


def args_of(line: str) -> list[bytes]:
    return [word.encode() for word in line.split(" ")]


def walk(arguments: tuple[Arg, ...]) -> list[Arg]:
    return [a for arg in arguments for a in (arg, *walk(arg.arguments))]


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_every_spec_is_complete(spec: CommandSpec) -> None:
    assert spec.doc.summary and spec.doc.since and spec.doc.group and spec.doc.complexity
    assert spec.acl.startswith("@")
    if spec.subcommands:
        assert "help" in spec.subcommands
        assert all(sub.name == f"{spec.name}|{name}" for name, sub in spec.subcommands.items())
        assert all(sub.help for sub in spec.subcommands.values())
    else:
        assert spec.meaning is not None
    key_args = [arg for arg in walk(spec.doc.arguments) if arg.type == "key"]
    assert {arg.key_spec_index for arg in key_args} == set(range(len(spec.key_specs)))
    if spec.has("write"):
        whole_databases = ("flushdb", "flushall", "swapdb")
        libraries = spec.name.startswith("function|")  # they write the libraries' own record
        assert spec.key_specs or spec.name in whole_databases or libraries, "a write names its keys"
    if isinstance(spec.meaning, Local | Session):
        assert not spec.key_specs, "a command answered by the proxy alone has no keys"


def test_lookup_orders_errors_as_redis_does() -> None:
    assert lookup(args_of("nosuch a")) == ErrorReply(
        "ERR unknown command 'nosuch', with args beginning with: 'a' "
    )
    assert lookup(args_of("client nosuch")) == ErrorReply(
        "ERR unknown subcommand 'nosuch'. Try CLIENT HELP."
    )
    assert lookup(args_of("client")) == ErrorReply(
        "ERR wrong number of arguments for 'client' command"
    )
    assert lookup(args_of("CLIENT SETNAME")) == ErrorReply(
        "ERR wrong number of arguments for 'client|setname' command"
    )
    spec = lookup(args_of("Client SetName x"))
    assert isinstance(spec, CommandSpec) and spec.name == "client|setname"


@pytest.mark.parametrize(
    ("key_spec", "line", "keys"),
    [
        (KeySpec("RO"), "get k", [b"k"]),
        (KeySpec("RO", last=-1), "mget a b c", [b"a", b"b", b"c"]),
        (KeySpec("OW", last=-1, step=2), "mset a 1 b 2", [b"a", b"b"]),
        (KeySpec("RW", begin=2), "copy a b", [b"b"]),
        (KeySpec("RO", last=-2), "blpop a b 0", [b"a", b"b"]),
        (KeySpec("RO", last=-1, limit=2), "mset a 1 b 2", [b"a", b"1"]),
        (KeySpec("RO"), "dbsize", []),
    ],
)
def test_key_specs_find_keys(key_spec: KeySpec, line: str, keys: list[bytes]) -> None:
    assert list(key_spec.keys(args_of(line))) == keys


def test_legacy_range_comes_from_the_key_specs() -> None:
    assert COMMAND_TABLE["get"].legacy_range == (1, 1, 1)
    assert COMMAND_TABLE["mset"].legacy_range == (1, -1, 2)
    assert COMMAND_TABLE["ping"].legacy_range == (0, 0, 0)


def test_command_info_entry_has_redis_7_fields() -> None:
    entry = info_entry(COMMAND_TABLE["get"])
    assert entry[:7] == [
        b"get",
        2,
        SetReply((SimpleString("readonly"), SimpleString("fast"))),
        1,
        1,
        1,
        SetReply((SimpleString("@read"), SimpleString("@string"), SimpleString("@fast"))),
    ]
    assert len(entry) == 10


def test_help_lists_each_subcommand_and_ends_with_help() -> None:
    lines = help_reply(COMMAND_TABLE["client"])
    assert lines[0] == "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert lines[-2:] == ["HELP", "    Print this help."]
    assert "SETNAME <name>" in lines
    client_help = COMMAND_TABLE["client"].subcommands["help"].meaning
    assert isinstance(client_help, Local)
