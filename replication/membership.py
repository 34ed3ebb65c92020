"""Which replicas hold their data: the rule that keeps an emptied replica out of read quorums.

With W + R > N every read quorum meets every write quorum, but only while the replicas that
acknowledged a write keep it. A replica that comes back empty (restarted without persistence,
on a fresh disk, replaced) breaks that: with N=3 W=2 R=2, a write acknowledged by A and B is
missed by a read from B (emptied) and C (which missed the write). So an emptied replica must not
count toward R until it has been refilled.

How an emptied replica is recognised: every replica keeps a hash MEMBERS_KEY naming the replicas
known to hold their data (field = the replica's address as configured, value = when marked).
A replica that holds its own name is IN_SYNC. One that lacks its own name while another replica
names it lost its data since it was marked: RECOVERING. One that nobody names is new (an entirely
new cluster, or a new replica) and cannot have lost an acknowledged write: it is marked at once
and is IN_SYNC, so a new cluster, empty everywhere, is never blocked. Every check also copies the
names every replica lacks to it, so that each name is held by every replica that has been up since.

A RECOVERING replica still receives writes (they may count toward W: it keeps what it
acknowledges from now on) and hints, but its read answers are not used, until (a) the proxy has
no hint pending for it and (b) an anti-entropy pass has covered it since it was emptied (its
`synced_at` differs from the one it had when found emptied; an emptied replica has none), or an
operator marks it by hand (`HSET __leaderless:members <its host:port> <now>` on it). Then it is
marked, and IN_SYNC.

The rule is as good as the marks: an emptied replica is only recognised while a replica that
names it is up, and one emptied in the instant between its first write and its mark is not.
A replica restored from an old backup holds its name and counts at once (as a stale replica,
which quorums tolerate only if it kept what it acknowledged). This module is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum


class Health(Enum):
    CHECKING = "checking"
    """Connected, its marks not read yet: reads wait for the check."""
    IN_SYNC = "in_sync"
    RECOVERING = "recovering"


def judge(name: bytes, own: set[bytes], others: Sequence[set[bytes]]) -> Health:
    """A replica's health from its own MEMBERS_KEY names and those of the other replicas that
    answered. A new replica is IN_SYNC (the caller marks it)."""
    if name in own or not any(name in names for names in others):
        return Health.IN_SYNC
    return Health.RECOVERING


def missing_names(
    names: Sequence[set[bytes]], healths: Sequence[Health], replicas: Sequence[bytes]
) -> list[set[bytes]]:
    """For each replica whose names are `names[i]`, the names to add to its MEMBERS_KEY: every
    name another replica holds, and every IN_SYNC replica's own, but never a replica's own name
    on itself unless it is IN_SYNC (that mark is what says it holds its data)."""
    known = set().union(*names) | {
        name for name, health in zip(replicas, healths, strict=True) if health is Health.IN_SYNC
    }
    return [
        known - held - (set() if health is Health.IN_SYNC else {name})
        for name, held, health in zip(replicas, names, healths, strict=True)
    ]
