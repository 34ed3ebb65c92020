"""A script's first line, `#!lua flags=no-writes,...` (Redis 7): its engine and its flags.

A script with such a line declares what it does: one without `no-writes` may not run through
EVAL_RO, one with it may not write. A script without one keeps Redis 6's rules. Lua sees the
script with that line emptied, so that lines keep their numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from leaderless.proxy.resp import ErrorReply

FLAGS = frozenset(
    {b"no-writes", b"allow-oom", b"allow-stale", b"no-cluster", b"allow-cross-slot-keys"}
)


@dataclass(frozen=True, slots=True)
class Declared:
    flags: frozenset[bytes] | None
    """The flags of the shebang line; None for a script without one."""
    lua: bytes
    """What Lua compiles."""


def declared(body: bytes) -> Declared | ErrorReply:
    if not body.startswith(b"#!"):
        return Declared(None, body)
    first, newline, _ = body.partition(b"\n")
    if not newline:
        return ErrorReply("ERR Invalid script shebang")
    engine, *options = [part for part in first[2:].split(b" ") if part]
    if engine != b"lua":
        return _error(b"ERR Could not find scripting engine '" + engine + b"'")
    flags: set[bytes] = set()
    for option in options:
        if not option.startswith(b"flags="):
            return _error(b"ERR Unknown lua shebang option: " + option)
        for flag in option.removeprefix(b"flags=").split(b","):
            if flag and flag not in FLAGS:
                return _error(b"ERR Unexpected flag in script shebang: " + flag)
            flags.add(flag)
    return Declared(frozenset(flags - {b""}), body[len(first) :])


def _error(text: bytes) -> ErrorReply:
    return ErrorReply(text.decode("utf-8", "surrogateescape"))
