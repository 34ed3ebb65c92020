"""The checks run on a history once the cluster has healed; pure, so it is tested on its own.

- Lost: for each key, the value finally read through a proxy is at least the highest
  acknowledged value (values of a key increase, so a newer write supersedes an older one).
- Invented: every value read (during the run, at the end, or stored on a replica) was written
  by some attempt of that key's writer, acknowledged or not.
- Divergent: every replica holds the same record bytes for every data key.
- Non-monotonic: one client's successive reads of one key never go down (a client reads
  sequentially, so its reads are ordered by their start).
- Stale: a read that started after a write of its key was acknowledged returns that value or a
  newer one (W + R > N).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from leaderless.replication.record import RecordFormatError, decode_record

from tests.faults.history import Ack, Read, decode_value

INTERNAL_PREFIX = b"__leaderless:"
SHOWN = 10  # violations of each kind quoted in a report


@dataclass
class Verdict:
    lost: list[str] = field(default_factory=list)
    invented: list[str] = field(default_factory=list)
    divergent: list[str] = field(default_factory=list)
    non_monotonic: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: len(found) for name, found in vars(self).items()}

    def describe(self) -> str:
        lines = []
        for name, found in vars(self).items():
            lines += [f"  {name}: {text}" for text in found[:SHOWN]]
            if len(found) > SHOWN:
                lines.append(f"  {name}: ... {len(found) - SHOWN} more")
        return "\n".join(lines)


def _number(
    verdict: Verdict, attempted: Mapping[str, int], key: str, raw: bytes | None, where: str
) -> int:
    """The attempt number of a value read (0 for a missing key); an invented one is noted."""
    if raw is None:
        return 0
    n = decode_value(key, raw)
    if n is None or n > attempted.get(key, 0):
        verdict.invented.append(f"{key}: {raw!r} {where}")
        return 0
    return n


def check(
    attempted: Mapping[str, int],
    acks: Sequence[Ack],
    reads: Sequence[Read],
    final: Mapping[str, bytes | None],
    replicas: Sequence[Mapping[bytes, bytes]],
) -> Verdict:
    verdict = Verdict()
    acked: dict[str, list[Ack]] = {}
    for ack in sorted(acks, key=lambda a: a.at):
        acked.setdefault(ack.key, []).append(ack)
    for key in sorted(attempted):
        got = _number(verdict, attempted, key, final.get(key), "read at the end")
        highest = max((ack.n for ack in acked.get(key, [])), default=0)
        if got < highest:
            verdict.lost.append(f"{key}: acknowledged {highest}, read {got} at the end")
    _check_replicas(verdict, attempted, replicas)
    last_seen: dict[tuple[str, str], Read] = {}
    for read in sorted(reads, key=lambda r: r.started):
        n = _number(verdict, attempted, read.key, read.raw, f"read by {read.client}")
        previous = last_seen.get((read.client, read.key))
        if previous is not None:
            before = _number(Verdict(), attempted, read.key, previous.raw, "")
            if n < before:
                verdict.non_monotonic.append(
                    f"{read.key}: {read.client} read {before} then {n} "
                    f"(at {previous.started:.3f} then {read.started:.3f})"
                )
        last_seen[(read.client, read.key)] = read
        _check_fresh(verdict, acked.get(read.key, []), read, n)
    return verdict


def _check_fresh(verdict: Verdict, acks: list[Ack], read: Read, n: int) -> None:
    """Acks of one key are in time order and their values increase (one writer per key)."""
    done = bisect.bisect_left([ack.at for ack in acks], read.started)
    if done and acks[done - 1].n > n:
        newest = acks[done - 1]
        verdict.stale.append(
            f"{read.key}: {read.client} read {n} at {read.started:.3f}, "
            f"{newest.n} was acknowledged at {newest.at:.3f}"
        )


def _check_replicas(
    verdict: Verdict, attempted: Mapping[str, int], replicas: Sequence[Mapping[bytes, bytes]]
) -> None:
    keys = sorted({key for held in replicas for key in held if not key.startswith(INTERNAL_PREFIX)})
    for key in keys:
        stored = [held.get(key) for held in replicas]
        if any(raw != stored[0] for raw in stored[1:]):
            verdict.divergent.append(f"{key!r}: {stored}")
        for index, raw in enumerate(stored):
            if raw is None:
                continue
            try:
                record = decode_record(raw)
            except RecordFormatError as error:
                verdict.invented.append(f"{key!r}: undecodable on replica {index}: {error}")
                continue
            where = f"stored on replica {index}"
            _number(
                verdict, attempted, key.decode(), None if record.tombstone else record.value, where
            )
