"""The proxy's scripts: the cache of script bodies by SHA1 and the Lua VM's worker thread.

Every script of the proxy runs on one thread, one after the other, in the order submitted: a
script's own commands go through the event loop while the thread waits for each (lua.py says
why a thread). The cache is the proxy's own, as a Redis server's is its own: a script loaded
through another proxy is unknown here, and EVALSHA answers NOSCRIPT (clients retry with EVAL
or SCRIPT LOAD). A syntax check in the event loop's thread, on a Lua runtime of its own, lets
SCRIPT LOAD answer at once without waiting behind a running script.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from leaderless.proxy.resp import ErrorReply, SimpleString
from leaderless.proxy.scripting.functions import Library
from leaderless.proxy.scripting.lua import Commands, LuaVM, compile_error, runtime, sha1hex
from leaderless.proxy.scripting.shebang import declared

NOTBUSY = ErrorReply("NOTBUSY No scripts in execution right now.")
UNKILLABLE = ErrorReply(
    "UNKILLABLE Sorry the script already executed write commands against the dataset. You can "
    "either wait the script termination or kill the server in a hard way using the SHUTDOWN "
    "NOSAVE command."
)
_BUSY = "BUSY Redis is busy running a script. You can only call {} KILL or SHUTDOWN NOSAVE."


@dataclass(slots=True)
class _Running:
    function: bool
    wrote: bool = False


_Job = tuple[Callable[[], object], asyncio.Future[object], asyncio.AbstractEventLoop]


class ScriptHost:
    def __init__(
        self,
        version: str,
        version_num: int,
        time_limit_ms: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scripts: dict[str, bytes] = {}
        """Every script body loaded (SCRIPT LOAD) or run (EVAL) here, by its SHA1 in hex."""
        self._checker = runtime()
        self._vm = LuaVM(time_limit_ms, clock, version, version_num)
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._running: _Running | None = None
        """The script or function running now, as SCRIPT KILL and FUNCTION KILL see it."""

    def load(self, body: bytes) -> str | ErrorReply:
        """Cache a script (SCRIPT LOAD): its SHA1, or the error if it does not compile."""
        sha = sha1hex(body)
        if sha not in self.scripts:
            script = declared(body)
            if isinstance(script, ErrorReply):
                return script
            error = compile_error(self._checker, script.lua)
            if error is not None:
                return error
            self.scripts[sha] = body
        return sha

    def flush(self) -> None:
        self.scripts.clear()
        self._submit(self._vm.forget)

    async def run(
        self, sha: str, body: bytes, keys: list[bytes], argv: list[bytes], commands: Commands
    ) -> object:
        """The script's reply. `commands` is called from the VM's thread."""
        return await self._running_one(False, lambda: self._vm.run(sha, body, keys, argv, commands))

    async def libraries(
        self, version: object, codes: list[bytes]
    ) -> dict[bytes, Library] | ErrorReply:
        """The function libraries of `codes`, loaded into the VM unless already at `version`."""
        return cast(
            "dict[bytes, Library] | ErrorReply",
            await self._submit(lambda: self._vm.libraries(version, codes)),
        )

    async def call(
        self, name: bytes, keys: list[bytes], argv: list[bytes], commands: Commands
    ) -> object:
        """FCALL: the reply of a function of the libraries loaded last."""
        return await self._running_one(True, lambda: self._vm.call(name, keys, argv, commands))

    async def _running_one(self, function: bool, job: Callable[[], object]) -> object:
        """Run one script or function, known to SCRIPT KILL and FUNCTION KILL meanwhile. One
        runs at a time: each is a unit of work, alone at this proxy."""
        self._running = _Running(function)
        self._vm.stop(None)
        try:
            return await self._submit(job)
        finally:
            self._running = None

    def wrote(self) -> None:
        """The running script has called a write command: it can no longer be killed."""
        if self._running is not None:
            self._running.wrote = True

    def kill(self, function: bool) -> object:
        """SCRIPT KILL (FUNCTION KILL with `function`): stop the running one, unless it wrote."""
        running = self._running
        if running is None:
            return NOTBUSY
        if running.function != function:
            return ErrorReply(_BUSY.format("FUNCTION" if running.function else "SCRIPT"))
        if running.wrote:
            return UNKILLABLE
        self._vm.stop("FUNCTION" if function else "SCRIPT")
        return SimpleString("OK")

    def _submit(self, job: Callable[[], object]) -> asyncio.Future[object]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[object] = loop.create_future()
        if self._thread is None:
            # A daemon: a script waiting on a loop that has stopped must not hold up the exit.
            self._thread = threading.Thread(target=self._serve, name="lua", daemon=True)
            self._thread.start()
        self._jobs.put((job, done, loop))
        return done

    def _serve(self) -> None:
        while True:
            job, done, loop = self._jobs.get()
            outcome: Any
            try:
                outcome = job()
            except Exception as failure:  # a bug must cost this script's reply only
                outcome = failure
            loop.call_soon_threadsafe(_settle, done, outcome)


def _settle(done: asyncio.Future[object], outcome: object) -> None:
    if done.done():
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
