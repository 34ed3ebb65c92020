"""What the workload did, as it happened: every write attempted (before it is sent), every
acknowledgement, every failed write by kind, every read with its start and end.

Writers and readers run on threads and record into one `History` under a lock. A value is
`<key>=<n>`: each key has one writer, which writes n = 1, 2, 3, ... in order, so a value read
anywhere names the attempt it came from, and anything else is a value nobody wrote. A write is
counted as attempted before it is sent, so a reader can never see a value that is not yet
in the history.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


def encode_value(key: str, n: int) -> bytes:
    return f"{key}={n}".encode()


def decode_value(key: str, raw: bytes) -> int | None:
    """The attempt number in a value of `key`, or None if no writer of `key` wrote it."""
    prefix, _, number = raw.partition(b"=")
    if prefix != key.encode() or not number.isdigit() or number.startswith(b"0"):
        return None
    return int(number)


@dataclass(frozen=True)
class Ack:
    key: str
    n: int
    at: float  # time.monotonic() once the OK arrived


@dataclass(frozen=True)
class Read:
    client: str
    key: str
    raw: bytes | None  # None: the key was missing
    started: float  # time.monotonic() before the request was sent
    finished: float


@dataclass
class History:
    attempted: dict[str, int] = field(default_factory=dict)  # highest n attempted, per key
    acks: list[Ack] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)
    write_failures: Counter[str] = field(default_factory=Counter)
    read_failures: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def attempt(self, key: str) -> int:
        """The next value of `key`, recorded as attempted."""
        with self._lock:
            n = self.attempted[key] = self.attempted.get(key, 0) + 1
            return n

    def acknowledged(self, ack: Ack) -> None:
        with self._lock:
            self.acks.append(ack)

    def write_failed(self, kind: str) -> None:
        with self._lock:
            self.write_failures[kind] += 1

    def read(self, reads: list[Read]) -> None:
        with self._lock:
            self.reads.extend(reads)

    def read_failed(self, kind: str) -> None:
        with self._lock:
            self.read_failures[kind] += 1

    @property
    def writes_attempted(self) -> int:
        return sum(self.attempted.values())
