"""COMMAND's replies and the containers' HELP, rendered from the specs in Redis 7.2's formats."""

from __future__ import annotations

from collections.abc import Iterable

from leaderless.proxy.commands.spec import Arg, CommandSpec, Doc, KeySpec
from leaderless.proxy.resp import SetReply, SimpleString

Reply = object


def _key_spec(spec: KeySpec) -> dict[bytes, Reply]:
    out: dict[bytes, Reply] = {}
    if spec.notes is not None:
        out[b"notes"] = spec.notes.encode()
    out[b"flags"] = SetReply(SimpleString(flag) for flag in spec.flags.split())
    out[b"begin_search"] = {b"type": b"index", b"spec": {b"index": spec.begin}}
    out[b"find_keys"] = (
        {b"type": b"keynum", b"spec": {b"keynumidx": 0, b"firstkey": 1, b"keystep": 1}}
        if spec.keynum
        else {
            b"type": b"range",
            b"spec": {b"lastkey": spec.last, b"keystep": spec.step, b"limit": spec.limit},
        }
    )
    return out


def info_entry(spec: CommandSpec) -> list[Reply]:
    """One command as COMMAND INFO gives it; a container lists its subcommands."""
    first, last, step = spec.legacy_range
    return [
        spec.name.encode(),
        spec.arity,
        SetReply(SimpleString(flag) for flag in spec.flags.split()),
        first,
        last,
        step,
        SetReply(SimpleString(category) for category in spec.acl.split()),
        SetReply(tip.encode() for tip in spec.tips),
        SetReply(_key_spec(key_spec) for key_spec in spec.key_specs),
        SetReply(info_entry(sub) for sub in spec.subcommands.values()),
    ]


def _arg(arg: Arg) -> dict[bytes, Reply]:
    out: dict[bytes, Reply] = {b"name": arg.name.encode(), b"type": arg.type.encode()}
    if arg.type not in ("oneof", "block"):
        out[b"display_text"] = (arg.display or arg.name).encode()
    if arg.key_spec_index is not None:
        out[b"key_spec_index"] = arg.key_spec_index
    if arg.token is not None:
        out[b"token"] = arg.token.encode()
    if arg.since is not None:
        out[b"since"] = arg.since.encode()
    flags = [
        name
        for name, on in (
            ("optional", arg.optional),
            ("multiple", arg.multiple),
            ("multiple_token", arg.multiple_token),
        )
        if on
    ]
    if flags:
        out[b"flags"] = [SimpleString(flag) for flag in flags]
    if arg.arguments:
        out[b"arguments"] = [_arg(inner) for inner in arg.arguments]
    return out


def _doc(doc: Doc, subcommands: Iterable[CommandSpec]) -> dict[bytes, Reply]:
    out: dict[bytes, Reply] = {
        b"summary": doc.summary.encode(),
        b"since": doc.since.encode(),
        b"group": doc.group.encode(),
        b"complexity": doc.complexity.encode(),
    }
    if doc.arguments:
        out[b"arguments"] = [_arg(arg) for arg in doc.arguments]
    subs = {sub.name.encode(): _doc(sub.doc, ()) for sub in subcommands}
    if subs:
        out[b"subcommands"] = subs
    return out


def docs_entry(spec: CommandSpec) -> dict[bytes, Reply]:
    return _doc(spec.doc, spec.subcommands.values())


def help_reply(container: CommandSpec) -> list[Reply]:
    """A container's HELP: its usage line, then each subcommand's lines, HELP last."""
    lines = [
        f"{container.name.upper()} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        *(line for sub in container.subcommands.values() for line in sub.help),
    ]
    return [SimpleString(line) for line in lines]
