"""Functions: FUNCTION LOAD, DELETE, FLUSH, LIST, DUMP and RESTORE, and FCALL and FCALL_RO.

A library is visible through every proxy: the code of every library is one record in database
0 (proxy/scripting/functions.py), read at quorum by each of these commands, and written again
whole by the ones that change it. Each proxy loads the libraries into its Lua VM from the record
it reads, again whenever the record's version changes, so a library loaded through one proxy
is called through another. Two changes racing through two proxies both read the same libraries
and the one written last wins: the other's change is lost. Like every record, the libraries
are gone after a FLUSHALL (or FLUSHDB of database 0), where Redis keeps them.

FCALL runs a function as EVAL runs a script (commands/scripting.py): as one unit of work at
this proxy, its commands the proxy's own. FCALL_RO, and a function flagged `no-writes`, refuse
writes.
"""

from __future__ import annotations

from collections.abc import Awaitable

from leaderless.proxy.commands.args import (
    SYNTAX_ERROR,
    parse_long_long,
    string_match,
    token,
)
from leaderless.proxy.commands.scripting import (
    NEGATIVE_KEYS,
    TOO_MANY_KEYS,
    WRITE_FLAG_IN_RO,
    bridge,
    finished,
    script_context,
)
from leaderless.proxy.commands.spec import (
    Arg,
    CommandSpec,
    Doc,
    Keyspace,
    KeySpec,
    Local,
    Script,
    ScriptCommands,
    subcommands,
)
from leaderless.proxy.commands.strings import OK
from leaderless.proxy.commands.values import visible
from leaderless.proxy.resp import ErrorReply, SetReply, SimpleString
from leaderless.proxy.scripting import functions
from leaderless.proxy.scripting.functions import Library
from leaderless.proxy.state import Context, ProxyState
from leaderless.replication.record import Record
from leaderless.replication.scripts import FUNCTIONS_KEY

FUNCTION_NOT_FOUND = ErrorReply("ERR Function not found")
BAD_KEY_COUNT = ErrorReply("ERR Bad number of keys provided")
LIBRARY_NOT_FOUND = ErrorReply("ERR Library not found")
FLUSH_OPTION = ErrorReply("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
RESTORE_POLICY = ErrorReply(
    "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
)


async def _read(state: ProxyState) -> tuple[list[bytes], object]:
    """Every library's code as the record read at quorum has it, and the record's version."""
    coordinator = state.coordinator.database(0)
    (record,) = await coordinator.read([FUNCTIONS_KEY])
    current = visible(record, state.wall_ms())
    if current is None:
        return [], None
    return functions.decode(current.value), current.ts


async def _libraries(state: ProxyState) -> dict[bytes, Library] | ErrorReply:
    codes, version = await _read(state)
    return await state.scripts.libraries(version, codes)


async def _replace(state: ProxyState, codes: list[bytes]) -> dict[bytes, Library] | ErrorReply:
    """Load `codes` as the libraries (or answer why one does not load), then write them."""
    coordinator = state.coordinator.database(0)
    stamp = coordinator.stamp()
    loaded = await state.scripts.libraries(stamp, codes)
    if isinstance(loaded, ErrorReply):
        return loaded
    record = Record(stamp, False, 0, functions.encode(codes))
    await coordinator.write([(FUNCTIONS_KEY, record)])
    return loaded


def _exists(name: bytes) -> ErrorReply:
    return ErrorReply(f"ERR Library '{name.decode('utf-8', 'surrogateescape')}' already exists")


# -- FUNCTION LOAD, DELETE, FLUSH, RESTORE ---------------------------------------------------


def _load(context: Context, args: list[bytes]) -> Awaitable[object]:
    return _load_library(context.state, args)


async def _load_library(state: ProxyState, args: list[bytes]) -> object:
    replace = False
    for option in args[2:-1]:
        if token(option) != b"REPLACE":
            return ErrorReply(
                f"ERR Unknown option given: {option.decode('utf-8', 'surrogateescape')}"
            )
        replace = True
    code = args[-1]
    parsed = functions.parse(code)
    if isinstance(parsed, ErrorReply):
        return parsed
    name = parsed[0]
    libraries = await _libraries(state)
    if isinstance(libraries, ErrorReply):
        return libraries
    if name in libraries and not replace:
        return _exists(name)
    codes = [library.code for other, library in libraries.items() if other != name]
    loaded = await _replace(state, [*codes, code])
    return loaded if isinstance(loaded, ErrorReply) else name


def _delete(context: Context, args: list[bytes]) -> Awaitable[object]:
    return _delete_library(context.state, args[2])


async def _delete_library(state: ProxyState, name: bytes) -> object:
    libraries = await _libraries(state)
    if isinstance(libraries, ErrorReply):
        return libraries
    if name not in libraries:
        return LIBRARY_NOT_FOUND
    loaded = await _replace(state, [lib.code for other, lib in libraries.items() if other != name])
    return loaded if isinstance(loaded, ErrorReply) else OK


def _flush(context: Context, args: list[bytes]) -> Awaitable[object]:
    return _flush_libraries(context.state, args)


async def _flush_libraries(state: ProxyState, args: list[bytes]) -> object:
    if len(args) > 3 or (len(args) == 3 and token(args[2]) not in (b"SYNC", b"ASYNC")):
        return FLUSH_OPTION
    loaded = await _replace(state, [])
    return loaded if isinstance(loaded, ErrorReply) else OK


def _restore(context: Context, args: list[bytes]) -> Awaitable[object]:
    return _restore_libraries(context.state, args)


async def _restore_libraries(state: ProxyState, args: list[bytes]) -> object:
    if len(args) > 4:
        return SYNTAX_ERROR
    policy = token(args[3]) if len(args) == 4 else b"APPEND"
    if policy not in (b"FLUSH", b"APPEND", b"REPLACE"):
        return RESTORE_POLICY
    restored = functions.undump(args[2])
    if isinstance(restored, ErrorReply):
        return restored
    libraries = await _libraries(state)
    if isinstance(libraries, ErrorReply):
        return libraries
    names = []
    for code in restored:
        parsed = functions.parse(code)
        if isinstance(parsed, ErrorReply):
            return parsed
        names.append(parsed[0])
    if policy == b"APPEND":
        clash = next((name for name in names if name in libraries), None)
        if clash is not None:
            return _exists(clash)
    kept = (
        []
        if policy == b"FLUSH"
        else [library.code for name, library in libraries.items() if name not in names]
    )
    loaded = await _replace(state, [*kept, *restored])
    return loaded if isinstance(loaded, ErrorReply) else OK


# -- FUNCTION LIST, DUMP ---------------------------------------------------------------------


def _list(context: Context, args: list[bytes]) -> Awaitable[object]:
    return _list_libraries(context.state, args)


async def _list_libraries(state: ProxyState, args: list[bytes]) -> object:
    pattern: bytes | None = None
    with_code = False
    index = 2
    while index < len(args):
        option = token(args[index])
        if option == b"WITHCODE":
            with_code = True
        elif option == b"LIBRARYNAME" and index + 1 < len(args):
            index += 1
            pattern = args[index]
        elif option == b"LIBRARYNAME":
            return ErrorReply("ERR library name argument was not given")
        else:
            text = args[index].decode("utf-8", "surrogateescape")
            return ErrorReply(f"ERR Unknown argument {text}")
        index += 1
    libraries = await _libraries(state)
    if isinstance(libraries, ErrorReply):
        return libraries
    return [
        _described(library, with_code)
        for name, library in libraries.items()
        if pattern is None or string_match(pattern, name)
    ]


def _described(library: Library, with_code: bool) -> dict[bytes, object]:
    entry: dict[bytes, object] = {
        b"library_name": library.name,
        b"engine": b"LUA",
        b"functions": [
            {
                b"name": function.name,
                b"description": function.description,
                b"flags": SetReply(SimpleString(flag.decode()) for flag in function.flags),
            }
            for function in library.functions
        ],
    }
    if with_code:
        entry[b"library_code"] = library.code
    return entry


def _kill(context: Context, args: list[bytes]) -> object:
    return context.state.scripts.kill(function=True)


def _dump(context: Context, args: list[bytes]) -> Awaitable[object]:
    return _dump_libraries(context.state)


async def _dump_libraries(state: ProxyState) -> object:
    codes, _ = await _read(state)
    return functions.dump(codes)


# -- FCALL, FCALL_RO -------------------------------------------------------------------------


def _fcall(context: Context, args: list[bytes], commands: ScriptCommands) -> Awaitable[object]:
    read_only = token(args[0]) == b"FCALL_RO"
    return _call(script_context(context), args, commands, read_only)


async def _call(
    context: Context, args: list[bytes], commands: ScriptCommands, read_only: bool
) -> object:
    state = context.state
    libraries = await _libraries(state)
    if isinstance(libraries, ErrorReply):
        return libraries
    name = args[1]
    function = next(
        (f for library in libraries.values() for f in library.functions if f.name == name), None
    )
    if function is None:
        return FUNCTION_NOT_FOUND
    count = parse_long_long(args[2])
    if count is None:
        return BAD_KEY_COUNT
    if count < 0:
        return NEGATIVE_KEYS
    if count > len(args) - 3:
        return TOO_MANY_KEYS
    no_writes = b"no-writes" in function.flags
    if read_only and not no_writes:
        return WRITE_FLAG_IN_RO
    calls = commands.calls(context)
    run = bridge(commands, calls, read_only or no_writes, state.scripts.wrote)
    reply = await state.scripts.call(name, args[3 : 3 + count], args[3 + count :], run)
    return await finished(calls, reply)


_FCALL_FLAGS = "noscript stale skip_monitor no_mandatory_keys movablekeys"


def _fcall_spec(name: str, summary: str, read_only: bool) -> CommandSpec:
    return CommandSpec(
        name,
        -3,
        f"readonly {_FCALL_FLAGS}" if read_only else _FCALL_FLAGS,
        "@slow @scripting",
        Doc(
            summary,
            "7.0.0",
            "scripting",
            "Depends on the function that is executed.",
            (
                Arg("function", "string"),
                Arg("numkeys", "integer"),
                Arg("key", "key", optional=True, multiple=True, key_spec_index=0),
                Arg("arg", "string", optional=True, multiple=True),
            ),
        ),
        Script(_fcall),
        key_specs=(
            KeySpec(
                "RO access" if read_only else "RW access update",
                begin=2,
                keynum=True,
                notes="We cannot tell how the keys will be used so we assume the worst, "
                + ("RO and ACCESS" if read_only else "RW and UPDATE"),
            ),
        ),
    )


_CHANGES = ("request_policy:all_shards", "response_policy:all_succeeded")
_FLUSH_TYPE = Arg(
    "flush-type",
    "oneof",
    optional=True,
    arguments=(
        Arg("async", "pure-token", token="ASYNC"),
        Arg("sync", "pure-token", token="SYNC"),
    ),
)


def _sub(
    name: str,
    arity: int,
    flags: str,
    acl: str,
    doc: Doc,
    run: Keyspace,
    tips: tuple[str, ...],
    help: tuple[str, ...],
) -> CommandSpec:
    return CommandSpec(f"function|{name}", arity, flags, acl, doc, run, tips=tips, help=help)


def _doc(summary: str, complexity: str, *arguments: Arg) -> Doc:
    return Doc(summary, "7.0.0", "scripting", complexity, arguments)


_WRITE_ACL = "@write @slow @scripting"

SPECS = (
    _fcall_spec("fcall", "Calls a function of the libraries.", read_only=False),
    _fcall_spec("fcall_ro", "Calls a function that only reads.", read_only=True),
    CommandSpec(
        "function",
        -2,
        "",
        "@slow",
        _doc("Manages the function libraries, which every proxy sees.", "Depends on subcommand."),
        None,
        subcommands=subcommands(
            CommandSpec(
                "function|help",
                2,
                "loading stale",
                "@slow @scripting",
                _doc("Lists the subcommands and what they do.", "O(1)"),
                None,
                help=("HELP", "    Print this help."),
            ),
            _sub(
                "delete",
                3,
                "write noscript",
                _WRITE_ACL,
                _doc("Deletes a library and its functions.", "O(1)", Arg("library-name", "string")),
                Keyspace(_delete),
                _CHANGES,
                ("DELETE <library-name>", "    Delete a library and its functions."),
            ),
            _sub(
                "dump",
                2,
                "noscript",
                "@slow @scripting",
                _doc(
                    "Dumps every library into a payload for FUNCTION RESTORE.",
                    "O(N) where N is the number of functions",
                ),
                Keyspace(_dump),
                (),
                ("DUMP", "    Answer a payload of every library for FUNCTION RESTORE."),
            ),
            _sub(
                "flush",
                -2,
                "write noscript",
                _WRITE_ACL,
                _doc(
                    "Deletes every library.",
                    "O(N) where N is the number of functions deleted",
                    _FLUSH_TYPE,
                ),
                Keyspace(_flush),
                _CHANGES,
                ("FLUSH [ASYNC|SYNC]", "    Delete every library."),
            ),
            CommandSpec(
                "function|kill",
                2,
                "noscript allow_busy",
                "@slow @scripting",
                _doc("Stops the function running at this proxy.", "O(1)"),
                Local(_kill),
                tips=("request_policy:all_shards", "response_policy:one_succeeded"),
                help=("KILL", "    Stop the running function, unless it has written."),
            ),
            _sub(
                "list",
                -2,
                "noscript",
                "@slow @scripting",
                _doc(
                    "Lists the libraries and their functions.",
                    "O(N) where N is the number of functions",
                    Arg(
                        "library-name-pattern",
                        "string",
                        token="LIBRARYNAME",
                        optional=True,
                    ),
                    Arg("withcode", "pure-token", token="WITHCODE", optional=True),
                ),
                Keyspace(_list),
                ("nondeterministic_output_order",),
                (
                    "LIST [LIBRARYNAME <pattern>] [WITHCODE]",
                    "    List the libraries, their functions, and their code if asked.",
                ),
            ),
            _sub(
                "load",
                -3,
                "write denyoom noscript",
                _WRITE_ACL,
                _doc(
                    "Creates a library, visible through every proxy.",
                    "O(1) (considering compilation time is redundant)",
                    Arg("replace", "pure-token", token="REPLACE", optional=True),
                    Arg("function-code", "string"),
                ),
                Keyspace(_load),
                _CHANGES,
                ("LOAD [REPLACE] <library-code>", "    Create a library, or replace it."),
            ),
            _sub(
                "restore",
                -3,
                "write denyoom noscript",
                _WRITE_ACL,
                _doc(
                    "Restores libraries from a FUNCTION DUMP payload.",
                    "O(N) where N is the number of functions on the payload",
                    Arg("serialized-value", "string"),
                    Arg(
                        "policy",
                        "oneof",
                        optional=True,
                        arguments=(
                            Arg("flush", "pure-token", token="FLUSH"),
                            Arg("append", "pure-token", token="APPEND"),
                            Arg("replace", "pure-token", token="REPLACE"),
                        ),
                    ),
                ),
                Keyspace(_restore),
                _CHANGES,
                (
                    "RESTORE <payload> [FLUSH|APPEND|REPLACE]",
                    "    Restore libraries from a FUNCTION DUMP payload.",
                ),
            ),
        ),
    ),
)
