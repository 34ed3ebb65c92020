"""Scripts: EVAL, EVALSHA, their read-only kin, and SCRIPT LOAD, EXISTS and FLUSH.

A script cannot run on the replicas, each of which would decide on its own: it runs at the
proxy, in the proxy's Lua VM (proxy/scripting/), and each redis.call is one of the proxy's own
commands, with the errors Redis gives a script. The commands a script may call are the ones the
proxy serves, without those Redis keeps from scripts (flag `noscript`); EVAL_RO and EVALSHA_RO
refuse writes. A script's commands run as one unit of work (execute.py's Unit): alone at this
proxy, its reads seeing its own writes, its writes sent together when it ends. Other proxies'
commands still interleave with a script's: it is atomic at this proxy, not across proxies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from leaderless.proxy.commands.args import NOT_AN_INTEGER, parse_long_long, token
from leaderless.proxy.commands.spec import (
    Arg,
    Calls,
    CommandSpec,
    Doc,
    KeySpec,
    Local,
    Script,
    ScriptCommands,
    subcommands,
)
from leaderless.proxy.commands.strings import OK
from leaderless.proxy.resp import ErrorReply
from leaderless.proxy.scripting.lua import sha1hex
from leaderless.proxy.scripting.shebang import declared
from leaderless.proxy.state import Context

NOSCRIPT = ErrorReply("NOSCRIPT No matching script.")
NEGATIVE_KEYS = ErrorReply("ERR Number of keys can't be negative")
TOO_MANY_KEYS = ErrorReply("ERR Number of keys can't be greater than number of args")
UNKNOWN_IN_SCRIPT = ErrorReply("ERR Unknown command called from script")
ARITY_IN_SCRIPT = ErrorReply("ERR Wrong number of args calling command from script")
NOT_IN_SCRIPT = ErrorReply("ERR This Redis command is not allowed from script")
WRITE_IN_READ_ONLY = ErrorReply("ERR Write commands are not allowed from read-only scripts.")
FLUSH_OPTION = ErrorReply("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
WRITE_FLAG_IN_RO = ErrorReply("ERR Can not execute a script with write flag using *_ro command.")


def _keys_and_args(args: list[bytes]) -> tuple[list[bytes], list[bytes]] | ErrorReply:
    """EVAL's KEYS and ARGV, from the number of keys at args[2]."""
    count = parse_long_long(args[2])
    if count is None:
        return NOT_AN_INTEGER
    if count < 0:
        return NEGATIVE_KEYS
    if count > len(args) - 3:
        return TOO_MANY_KEYS
    return args[3 : 3 + count], args[3 + count :]


def _eval(context: Context, args: list[bytes], commands: ScriptCommands) -> Awaitable[object]:
    name = token(args[0])
    by_sha, read_only = name.startswith(b"EVALSHA"), name.endswith(b"_RO")
    return _run(script_context(context), args, commands, by_sha=by_sha, read_only=read_only)


async def _run(
    context: Context, args: list[bytes], commands: ScriptCommands, *, by_sha: bool, read_only: bool
) -> object:
    host = context.state.scripts
    if by_sha and len(args[1]) != 40:
        return NOSCRIPT
    split = _keys_and_args(args)
    if isinstance(split, ErrorReply):
        return split
    if by_sha:
        sha = args[1].decode("latin-1").lower()
        found = host.scripts.get(sha)
        if found is None:
            return NOSCRIPT
        body = found
    else:
        body = args[1]
        sha = sha1hex(body)
        loaded = host.load(body)
        if isinstance(loaded, ErrorReply):
            return loaded
    script = declared(body)
    if isinstance(script, ErrorReply):
        return script
    no_writes = script.flags is not None and b"no-writes" in script.flags
    if read_only and script.flags is not None and not no_writes:
        return WRITE_FLAG_IN_RO
    keys, argv = split
    calls = commands.calls(context)
    run = bridge(commands, calls, read_only or no_writes, host.wrote)
    reply = await host.run(sha, body, keys, argv, run)
    return await finished(calls, reply)


def bridge(
    commands: ScriptCommands, calls: Calls, read_only: bool, wrote: Callable[[], None]
) -> Callable[[list[bytes]], object]:
    """What a script's redis.call runs, from the VM's thread: a request checked as Redis
    checks a script's, then run on the event loop while the thread waits."""
    loop = asyncio.get_running_loop()

    def command(request: list[bytes]) -> object:
        spec = commands.lookup(request)
        if isinstance(spec, ErrorReply):
            arity = spec.startswith("ERR wrong number of arguments for ")
            return ARITY_IN_SCRIPT if arity else UNKNOWN_IN_SCRIPT
        if spec.has("noscript"):
            return NOT_IN_SCRIPT
        if spec.has("write"):
            if read_only:
                return WRITE_IN_READ_ONLY
            wrote()
        return asyncio.run_coroutine_threadsafe(calls.call(request), loop).result()

    return command


async def finished(calls: Calls, reply: object) -> object:
    """The script's reply once its writes are sent; the error of a write that missed its
    quorum instead."""
    failures = await calls.finish()
    return next((failure for failure in failures if failure is not None), reply)


def script_context(context: Context) -> Context:
    """The context a script's commands run in: the caller's database when the request is
    read, which a SELECT in the script changes for the script alone."""
    inner = Context(context.state)
    inner.db, inner.authenticated, inner.user = context.db, True, context.user
    return inner


def _script_load(context: Context, args: list[bytes]) -> object:
    loaded = context.state.scripts.load(args[2])
    return loaded if isinstance(loaded, ErrorReply) else loaded.encode()


def _script_exists(context: Context, args: list[bytes]) -> object:
    scripts = context.state.scripts.scripts
    return [int(sha.decode("latin-1").lower() in scripts) for sha in args[2:]]


def _script_kill(context: Context, args: list[bytes]) -> object:
    return context.state.scripts.kill(function=False)


def _script_flush(context: Context, args: list[bytes]) -> object:
    if len(args) > 3 or (len(args) == 3 and token(args[2]) not in (b"SYNC", b"ASYNC")):
        return FLUSH_OPTION
    context.state.scripts.flush()
    return OK


_SCRIPT_FLAGS = "noscript stale skip_monitor no_mandatory_keys movablekeys"


def _eval_spec(name: str, summary: str, since: str, first: Arg, read_only: bool) -> CommandSpec:
    return CommandSpec(
        name,
        -3,
        f"readonly {_SCRIPT_FLAGS}" if read_only else _SCRIPT_FLAGS,
        "@slow @scripting",
        Doc(
            summary,
            since,
            "scripting",
            "Depends on the script that is executed.",
            (
                first,
                Arg("numkeys", "integer"),
                Arg("key", "key", optional=True, multiple=True, key_spec_index=0),
                Arg("arg", "string", optional=True, multiple=True),
            ),
        ),
        Script(_eval),
        key_specs=(
            KeySpec(
                "RO access" if read_only else "RW access update",
                begin=2,
                keynum=True,
                notes=(
                    None
                    if first.name == "sha1"
                    else "We cannot tell how the keys will be used so we assume the worst, "
                    + ("RO and ACCESS" if read_only else "RW and UPDATE")
                ),
            ),
        ),
    )


_SCRIPT = Arg("script", "string")
_SHA1 = Arg("sha1", "string")


def _script_sub(
    name: str,
    arity: int,
    flags: str,
    doc: Doc,
    answer: Local,
    tips: tuple[str, ...],
    help: tuple[str, ...],
) -> CommandSpec:
    return CommandSpec(
        f"script|{name}", arity, flags, "@slow @scripting", doc, answer, tips=tips, help=help
    )


SPECS = (
    _eval_spec("eval", "Runs a Lua script.", "2.6.0", _SCRIPT, read_only=False),
    _eval_spec("evalsha", "Runs a cached Lua script by its SHA1.", "2.6.0", _SHA1, read_only=False),
    _eval_spec("eval_ro", "Runs a Lua script that only reads.", "7.0.0", _SCRIPT, read_only=True),
    _eval_spec(
        "evalsha_ro",
        "Runs a cached Lua script that only reads, by its SHA1.",
        "7.0.0",
        _SHA1,
        read_only=True,
    ),
    CommandSpec(
        "script",
        -2,
        "",
        "@slow",
        Doc(
            "Manages this proxy's cache of scripts.", "2.6.0", "scripting", "Depends on subcommand."
        ),
        None,
        subcommands=subcommands(
            _script_sub(
                "exists",
                -3,
                "noscript",
                Doc(
                    "Answers whether scripts are in this proxy's cache.",
                    "2.6.0",
                    "scripting",
                    "O(N) with N being the number of scripts to check (so checking a single "
                    "script is an O(1) operation).",
                    (Arg("sha1", "string", multiple=True),),
                ),
                Local(_script_exists),
                ("request_policy:all_shards", "response_policy:agg_logical_and"),
                ("EXISTS <sha1> [<sha1> ...]", "    Answer 1 or 0 for each script in the cache."),
            ),
            _script_sub(
                "flush",
                -2,
                "noscript",
                Doc(
                    "Empties this proxy's cache of scripts.",
                    "2.6.0",
                    "scripting",
                    "O(N) with N being the number of scripts in cache",
                    (
                        Arg(
                            "flush-type",
                            "oneof",
                            since="6.2.0",
                            optional=True,
                            arguments=(
                                Arg("async", "pure-token", token="ASYNC"),
                                Arg("sync", "pure-token", token="SYNC"),
                            ),
                        ),
                    ),
                ),
                Local(_script_flush),
                ("request_policy:all_nodes", "response_policy:all_succeeded"),
                ("FLUSH [ASYNC|SYNC]", "    Empty the cache of scripts."),
            ),
            _script_sub(
                "kill",
                2,
                "noscript allow_busy",
                Doc("Stops the script running at this proxy.", "2.6.0", "scripting", "O(1)"),
                Local(_script_kill),
                ("request_policy:all_shards", "response_policy:one_succeeded"),
                ("KILL", "    Stop the running script, unless it has written."),
            ),
            _script_sub(
                "load",
                3,
                "noscript stale",
                Doc(
                    "Caches a script at this proxy and answers its SHA1.",
                    "2.6.0",
                    "scripting",
                    "O(N) with N being the length in bytes of the script body.",
                    (_SCRIPT,),
                ),
                Local(_script_load),
                ("request_policy:all_nodes", "response_policy:all_succeeded"),
                ("LOAD <script>", "    Cache a script; answer its SHA1 for EVALSHA."),
            ),
        ),
    ),
)
