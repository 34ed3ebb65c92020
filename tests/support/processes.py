"""Observing processes from tests through /proc (Linux), and waiting on conditions."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll `condition` until it holds or `timeout` passes; return whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rpartition(")")[2].split()  # fields after the command name: state, ppid, ...


def is_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def children(pid: int) -> set[int]:
    """The live direct children of `pid`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                found.add(int(entry.name))
    return found


class LineReader:
    """Reads a pipe's lines on a thread so a test can wait for one with a deadline."""

    def __init__(self, pipe: IO[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.ended = False  # the pipe closed and every line is in `seen` (after `text()`)
        threading.Thread(target=self._pump, args=(pipe,), daemon=True).start()

    def _pump(self, pipe: IO[str]) -> None:
        for line in pipe:
            self._lines.put(line)
        self._lines.put("")  # end of output: nothing more will come

    def text(self) -> str:
        """Everything read so far: the lines `wait_for_line` went through and those queued."""
        while not self.ended:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line:
                self.seen.append(line)
            else:
                self.ended = True
                self._lines.put("")  # wait_for_line still sees the end
        return "".join(self.seen)

    def wait_for_line(self, prefix: str, timeout: float = 30.0) -> str:
        """The first line starting with `prefix`; AssertionError if none comes in time or the
        output ends first."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=max(remaining, 0.0))
            except queue.Empty:
                line = ""
            if not line:
                raise AssertionError(f"no line starting {prefix!r}; got {self.seen}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line
