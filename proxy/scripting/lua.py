"""One sandboxed Lua 5.1 VM that runs client scripts as Redis runs them.

The VM is lupa's Lua 5.1, the version Redis embeds, so scripts meet the same language: the same
number formatting, error messages, and pcall semantics. sandbox.lua builds what a script sees
(Redis's globals, read-only libraries, the redis table) around four Python functions; a script
cannot reach them, the debug library, or lupa's bridge to Python.

redis.call is synchronous in Lua, and the proxy's commands are asynchronous: the VM runs in a
worker thread of its own (host.py) and `commands`, the function redis.call reaches, blocks that
thread until the event loop has run the command. Lua 5.1 cannot yield across pcall, so running
scripts as coroutines on the event loop would break scripts that call redis.call under pcall;
LuaJIT could yield there but differs from Lua 5.1 in its numbers and messages. The thread also
leaves the event loop free while a script computes.

The time limit: the line hook asks whether to stop every HOOK_LINES lines run (a loop runs a
line at each turn); past the limit, or after SCRIPT KILL, it raises an error on every line
after, so a pcall in the script cannot hold it.
The time a script waits for its commands counts too, as it does in Redis.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping
from importlib.resources import files
from typing import Any, cast

from leaderless.proxy.resp import ErrorReply
from leaderless.proxy.scripting import functions, libraries, msgpack
from leaderless.proxy.scripting.convert import error_text, from_lua, to_lua
from leaderless.proxy.scripting.functions import Library
from leaderless.proxy.scripting.shebang import declared
from lupa import lua51

log = logging.getLogger(__name__)

HOOK_LINES = 1000
CHUNK_NAME = b"@user_script"
NO_ARGUMENTS = ErrorReply("ERR Please specify at least one argument for this call")
BAD_ARGUMENT = ErrorReply("ERR Command arguments must be strings or integers")
TIME_LIMIT = "ERR Script killed: it ran longer than the proxy's script time limit"
_COMPILES = (
    "function(body, name) local fn, message = loadstring(body, name) return fn ~= nil, message end"
)
_LOG_LEVELS = (logging.DEBUG, logging.INFO, logging.INFO, logging.WARNING)

Commands = Callable[[list[bytes]], object]
"""Runs one command of a script and answers its reply (an ErrorReply for an error)."""


def sha1hex(body: bytes) -> str:
    return hashlib.sha1(body).hexdigest()


def _no_attributes(obj: object, name: object, setting: bool) -> None:
    raise AttributeError("Python objects are not accessible from scripts")


def runtime() -> Any:
    """A bare Lua 5.1 runtime: strings are bytes both ways, Python's reach is cut."""
    return lua51.LuaRuntime(
        encoding=None,
        register_eval=False,
        register_builtins=False,
        unpack_returned_tuples=True,
        attribute_filter=_no_attributes,
    )


def compile_error(lua: Any, body: bytes) -> ErrorReply | None:
    """Redis's reply to a script that does not compile, or None."""
    compiles, message = lua.eval(_COMPILES)(body, CHUNK_NAME)
    if compiles:
        return None
    text = message.decode("utf-8", "surrogateescape")
    return ErrorReply(f"ERR Error compiling script (new function): {text}")


class LuaVM:
    """The sandbox and the compiled scripts, by SHA1. Used from one thread at a time."""

    def __init__(
        self, time_limit_ms: int, clock: Callable[[], float], version: str, version_num: int
    ) -> None:
        self._time_limit = time_limit_ms / 1000
        self._clock = clock
        self._deadline = 0.0
        self._killed_by: str | None = None
        self._protocol = 2
        self._commands: Commands | None = None
        self._lua = runtime()
        self._compiled: dict[str, Any] = {}
        cjson = libraries.Cjson(self, self._lua.eval("newproxy()"), self._lua.eval("rawequal"))
        source = files("leaderless.proxy.scripting").joinpath("sandbox.lua").read_bytes()
        self._libraries: dict[bytes, Library] = {}
        self._callbacks: dict[bytes, Any] = {}
        self._libraries_version: object = None
        self._compile, self._run, self._load_library, self._call_function = self._lua.execute(
            source,
            self._call,
            lambda text: error_text(b"-" + text if not text.startswith(b"-") else text),
            self._setresp,
            self._log,
            lambda text: sha1hex(text).encode(),
            self._stop_reason,
            self.table(libraries.bit()),
            self.table(cjson.functions()),
            cjson.null,
            self.table(msgpack.Cmsgpack(self).functions()),
            version.encode(),
            version_num,
        )

    # The conversions' view of this VM (convert.Lua)

    def table(self, items: Mapping[object, object]) -> object:
        return self._lua.table_from(items)

    def is_table(self, value: object) -> bool:
        return bool(lua51.lua_type(value) == "table")

    def get(self, table: object, key: object) -> object:
        return table[key]  # type: ignore[index]

    def pairs(self, table: object) -> Iterator[tuple[object, object]]:
        return iter(table.items())  # type: ignore[attr-defined]

    # Running scripts

    def forget(self) -> None:
        """SCRIPT FLUSH: the compiled scripts go."""
        self._compiled.clear()

    def run(
        self, sha: str, body: bytes, keys: list[bytes], argv: list[bytes], commands: Commands
    ) -> object:
        """The script's reply; its commands go through `commands`."""
        fn = self._compiled.get(sha)
        if fn is None:
            script = declared(body)
            if isinstance(script, ErrorReply):
                return script
            fn, message = self._compile(script.lua)
            if fn is None:
                text = message.decode("utf-8", "surrogateescape")
                return ErrorReply(f"ERR Error compiling script (new function): {text}")
            self._compiled[sha] = fn
        self._start(commands)
        try:
            ok, result = self._run(
                fn,
                self.table(dict(enumerate(keys, 1))),
                self.table(dict(enumerate(argv, 1))),
                HOOK_LINES,
            )
        finally:
            self._commands = None
        return self._outcome(ok, result, sha, "@user_script")

    def _start(self, commands: Commands) -> None:
        self._protocol, self._commands = 2, commands
        self._deadline = self._clock() + self._time_limit

    def _outcome(self, ok: bool, result: object, name: str, chunk: str) -> object:
        """A run's reply; an error names the script (or function) and its line."""
        if ok:
            return from_lua(self, result, self._protocol)
        text = self.get(result, b"err")
        line = self.get(result, b"line")
        message = text.decode("utf-8", "surrogateescape") if isinstance(text, bytes) else ""
        where = "?" if line is None else str(line)
        return ErrorReply(f"{message} script: {name}, on {chunk}:{where}.")

    # Function libraries

    def libraries(self, version: object, codes: list[bytes]) -> dict[bytes, Library] | ErrorReply:
        """The libraries of `codes`, loaded unless `version` is the one loaded already; an
        error (the libraries loaded stay as they were) if one does not load."""
        if version is not None and version == self._libraries_version:
            return self._libraries
        libraries: dict[bytes, Library] = {}
        callbacks: dict[bytes, Any] = {}
        for code in codes:
            loaded = self._load(code, callbacks)
            if isinstance(loaded, ErrorReply):
                return loaded
            if loaded.name in libraries:
                return ErrorReply(
                    f"ERR Library '{loaded.name.decode('utf-8', 'replace')}' already exists"
                )
            libraries[loaded.name] = loaded
        self._libraries, self._callbacks, self._libraries_version = libraries, callbacks, version
        return libraries

    def _load(self, code: bytes, callbacks: dict[bytes, Any]) -> Library | ErrorReply:
        parsed = functions.parse(code)
        if isinstance(parsed, ErrorReply):
            return parsed
        name, body = parsed
        status, result = self._load_library(body, HOOK_LINES)
        if status == b"compile":
            text = result.decode("utf-8", "surrogateescape")
            return ErrorReply(f"ERR Error compiling function: {text}")
        if status == b"error":
            text = cast(bytes, self.get(result, b"err")).decode("utf-8", "surrogateescape")
            return ErrorReply(f"ERR Error registering functions: {text}")
        registered = []
        for entry in _items(self, result):
            function_name = cast(bytes, self.get(entry, b"name"))  # the sandbox checked it
            if not functions.valid_name(function_name):
                return ErrorReply(
                    "ERR Function names can only contain letters, numbers, or underscores(_) "
                    "and must be at least one character long"
                )
            if function_name in callbacks:
                return ErrorReply(
                    f"ERR Function {function_name.decode('utf-8', 'replace')} already exists"
                )
            callbacks[function_name] = self.get(entry, b"callback")
            flags = tuple(_items(self, self.get(entry, b"flags")))
            registered.append(
                functions.Function(
                    function_name, flags, cast("bytes | None", self.get(entry, b"description"))
                )
            )
        if not registered:
            return ErrorReply("ERR No functions registered")
        return functions.Library(name, code, tuple(registered))

    def call(self, name: bytes, keys: list[bytes], argv: list[bytes], commands: Commands) -> object:
        """FCALL of a function of the libraries loaded."""
        callback = self._callbacks[name]
        self._start(commands)
        try:
            ok, result = self._call_function(
                callback,
                self.table(dict(enumerate(keys, 1))),
                self.table(dict(enumerate(argv, 1))),
                HOOK_LINES,
            )
        finally:
            self._commands = None
        return self._outcome(ok, result, name.decode("utf-8", "surrogateescape"), "@user_function")

    def stop(self, command: str | None) -> None:
        """SCRIPT KILL or FUNCTION KILL (`command`): the running script stops at its next check
        (None: the next script runs). Called from another thread than the script's."""
        self._killed_by = command

    # What sandbox.lua calls

    def _stop_reason(self) -> bytes | None:
        if self._killed_by is not None:
            return f"ERR Script killed by user with {self._killed_by} KILL.".encode()
        if self._clock() > self._deadline:
            return TIME_LIMIT.encode()
        return None

    def _call(self, raise_errors: bool, *args: object) -> tuple[bool, object]:
        """redis.call (`raise_errors`) and redis.pcall: (True, the reply as Lua sees it), or
        (False, the error's text) for the error to raise."""
        reply = self._reply(args)
        if isinstance(reply, ErrorReply):
            text = error_text(b"-" + reply.encode("utf-8", "surrogateescape"))
            return (False, text) if raise_errors else (True, self.table({b"err": text}))
        return True, to_lua(self, reply, self._protocol)

    def _reply(self, args: tuple[object, ...]) -> object:
        if not args:
            return NO_ARGUMENTS
        request = []
        for arg in args:
            if isinstance(arg, bytes):
                request.append(arg)
            elif isinstance(arg, int | float) and not isinstance(arg, bool):
                request.append(b"%.14g" % arg)  # as Lua's tostring writes a number
            else:
                return BAD_ARGUMENT
        assert self._commands is not None
        return self._commands(request)

    def _setresp(self, protocol: int) -> None:
        self._protocol = protocol

    def _log(self, level: object, *parts: object) -> None:
        index = level if isinstance(level, int) and 0 <= level < len(_LOG_LEVELS) else 0
        text = b" ".join(part if isinstance(part, bytes) else str(part).encode() for part in parts)
        log.log(_LOG_LEVELS[index], "script: %s", text.decode("utf-8", "replace"))


def _items(lua: LuaVM, table: object) -> Iterator[Any]:
    """t[1], t[2], ... up to the first nil."""
    index = 1
    while (item := lua.get(table, index)) is not None:
        yield item
        index += 1
