"""`leaderless status`'s report: what the nodes (and proxies) answered, judged and laid out.

This module is pure: `status.py` asks every node and proxy once and hands the answers in as
`NodeFacts` and `ProxyFacts`, with the wall clock's time; here they become a `StatusReport`,
rendered as a terminal table or as JSON, with the exit status scripts and probes read.

A node's health is judged as the proxies judge it (membership.py), from the MEMBERS_KEY names
every reachable node holds: in_sync, or recovering (emptied since it was marked, so the
proxies leave it out of reads until a sidecar pass refills it). The last anti-entropy round is
the newest one any node recorded in its ANTI_ENTROPY_KEY hash: every sidecar publishes each
round to every replica it reached. Hints are kept by each proxy, not on the nodes, so they are
shown for the proxies given with --proxy (their INFO), and otherwise said to be there.

The ring in force is the newest any node stores (ring_state.py; the config's nodes when none
does): each node's row shows its share of the key space on that ring (during a move, on the
ring the keys move to) beside its share of the keys the nodes hold, so an unbalanced ring or
a move not finished shows as the two apart.

The exit status is 1 when a node (or a proxy given) does not answer, or when the last round
did not converge; a cluster where no sidecar has finished a round yet is not a failure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from leaderless.replication.membership import Health, judge
from leaderless.replication.placement import Moving
from leaderless.replication.ring_state import RingState, RingStateError, newest

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1


@dataclass(frozen=True)
class NodeFacts:
    """What one node answered; `error` set (and the rest empty) when it did not."""

    address: str
    error: str = ""
    version: str = ""
    keys: int = 0
    memory: str = ""
    members: frozenset[str] = frozenset()
    """The names in its MEMBERS_KEY."""
    anti_entropy: tuple[tuple[str, str], ...] = ()
    """Its ANTI_ENTROPY_KEY hash."""
    ring: tuple[object, ...] = (None, None)
    """Its answer to ring_state.READ_RING: the epoch and the ring it stores."""
    move_progress: str = ""
    """The last progress line a move noted on it (ring_move.py), while one is under way."""

    @property
    def reachable(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class ProxyFacts:
    """What one proxy's INFO said; `error` set when it did not answer."""

    address: str
    error: str = ""
    proxy_id: str = ""
    hints_pending: int = 0
    nodes: tuple[tuple[str, str, str], ...] = ()
    """Each node as this proxy sees it: address, state, health."""


@dataclass(frozen=True)
class NodeStatus:
    address: str
    reachable: bool
    error: str
    version: str
    keys: int | None
    memory: str
    health: str
    ring_share: float | None = None
    """Its share of the key space on the ring (N copies: the shares add up to N)."""
    key_share: float | None = None
    """Its share of the keys all the nodes hold."""


@dataclass(frozen=True)
class RingStatus:
    epoch: int
    members: int
    copies: int
    moving_from: int | None
    """The previous ring's member count while keys move, else None."""
    progress: str = ""
    """The last progress line of the move under way, as a node holds it."""


@dataclass(frozen=True)
class RoundStatus:
    at_ms: int
    ago_s: float
    seconds: float
    converged: bool
    rounds: int
    keys_repaired: int


@dataclass(frozen=True)
class StatusReport:
    nodes: tuple[NodeStatus, ...]
    last_round: RoundStatus | None
    proxies: tuple[ProxyFacts, ...]
    ring: RingStatus | None = None

    @property
    def healthy(self) -> bool:
        converged = self.last_round is None or self.last_round.converged
        proxies_up = all(not proxy.error for proxy in self.proxies)
        return all(node.reachable for node in self.nodes) and converged and proxies_up

    @property
    def exit_status(self) -> int:
        return EXIT_HEALTHY if self.healthy else EXIT_UNHEALTHY


def build_report(
    nodes: Sequence[NodeFacts],
    proxies: Sequence[ProxyFacts],
    now_ms: int,
    configured: RingState | None = None,
) -> StatusReport:
    reachable = [node for node in nodes if node.reachable]
    ring = ring_in_force(reachable) or configured
    shares = _ring_shares(ring, nodes)
    total_keys = sum(node.keys for node in reachable)
    statuses = []
    for node in nodes:
        if not node.reachable:
            statuses.append(
                NodeStatus(
                    node.address, False, node.error, "", None, "", "down", shares.get(node.address)
                )
            )
            continue
        others = [{name.encode() for name in n.members} for n in reachable if n is not node]
        own = {name.encode() for name in node.members}
        health = judge(node.address.encode(), own, others)
        statuses.append(
            NodeStatus(
                node.address,
                True,
                "",
                node.version,
                node.keys,
                node.memory,
                health.value,
                shares.get(node.address),
                node.keys / total_keys if total_keys else None,
            )
        )
    summary = None
    if ring is not None:
        summary = RingStatus(
            ring.epoch,
            len(ring.members),
            ring.n,
            None if ring.previous is None else len(ring.previous),
            next((node.move_progress for node in reachable if node.move_progress), ""),
        )
    return StatusReport(tuple(statuses), _last_round(reachable, now_ms), tuple(proxies), summary)


def ring_in_force(nodes: Sequence[NodeFacts]) -> RingState | None:
    try:
        return newest([list(node.ring) for node in nodes])
    except RingStateError:
        return None


def _ring_shares(ring: RingState | None, nodes: Sequence[NodeFacts]) -> dict[str, float]:
    """Each node's share of the key space on the ring keys are (or are moving) to."""
    if ring is None:
        return {}
    endpoints = list(dict.fromkeys([*ring.endpoints(), *(node.address for node in nodes)]))
    positions = {endpoint: index for index, endpoint in enumerate(endpoints)}
    placement = ring.placement(positions)
    on = placement.new if isinstance(placement, Moving) else placement
    shares = on.share()
    return {endpoint: shares.get(positions[endpoint], 0.0) for endpoint in endpoints}


def _last_round(nodes: Sequence[NodeFacts], now_ms: int) -> RoundStatus | None:
    newest: RoundStatus | None = None
    for node in nodes:
        fields = dict(node.anti_entropy)
        try:
            at_ms = int(fields["last_round_at"])
            candidate = RoundStatus(
                at_ms=at_ms,
                ago_s=max(0, now_ms - at_ms) / 1000,
                seconds=int(fields["last_round_ms"]) / 1000,
                converged=fields["last_round_converged"] == "1",
                rounds=int(fields.get("rounds", "0")),
                keys_repaired=int(fields.get("keys_repaired", "0")),
            )
        except (KeyError, ValueError):
            continue
        if newest is None or candidate.at_ms > newest.at_ms:
            newest = candidate
    return newest


def render_table(report: StatusReport) -> str:
    """The terminal table: a row per node, then the last round, then hints."""
    header = ("NODE", "REACHABLE", "VERSION", "KEYS", "MEMORY", "HEALTH", "RING", "KEY SHARE")
    rows = [
        (
            node.address,
            "yes" if node.reachable else "no",
            node.version or "-",
            "-" if node.keys is None else str(node.keys),
            node.memory or "-",
            node.health,
            _percent(node.ring_share),
            _percent(node.key_share),
        )
        for node in report.nodes
    ]
    lines = _columns([header, *rows])
    lines += [f"  {node.address}: {node.error}" for node in report.nodes if node.error]
    lines.append("")
    if report.ring is not None:
        lines.append(_ring_line(report.ring))
    lines.append(_round_line(report.last_round))
    lines += _proxy_lines(report.proxies)
    lines.append("")
    lines.append(f"status: {'ok' if report.healthy else 'NOT ok'}")
    return "\n".join(lines)


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"


def _ring_line(ring: RingStatus) -> str:
    moving = (
        f"; keys moving from a ring of {ring.moving_from} nodes"
        if ring.moving_from is not None
        else ""
    )
    progress = f"\n  move: {ring.progress}" if ring.progress else ""
    return (
        f"ring: epoch {ring.epoch}, {ring.members} nodes, {ring.copies} copies of each key"
        f"{moving}{progress}"
    )


def _round_line(last: RoundStatus | None) -> str:
    if last is None:
        return "anti-entropy: no round recorded on the nodes (is a sidecar running?)"
    state = "converged" if last.converged else "NOT converged"
    return (
        f"anti-entropy: last round {_ago(last.ago_s)} ago, took {last.seconds:.2f} s, {state}; "
        f"{last.rounds} rounds, {last.keys_repaired} keys repaired in all"
    )


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _proxy_lines(proxies: Sequence[ProxyFacts]) -> list[str]:
    if not proxies:
        return ["hints: kept by each proxy (give --proxy URL, or see each proxy's INFO)"]
    header = ("PROXY", "REACHABLE", "PROXY ID", "HINTS PENDING", "NODES NOT UP AND IN SYNC")
    rows = []
    for proxy in proxies:
        if proxy.error:
            rows.append((proxy.address, "no", "-", "-", "-"))
            continue
        unwell = [
            f"{address} {state}/{health}"
            for address, state, health in proxy.nodes
            if state != "up" or health != Health.IN_SYNC.value
        ]
        pending = str(proxy.hints_pending)
        rows.append((proxy.address, "yes", proxy.proxy_id, pending, ", ".join(unwell) or "none"))
    lines = ["", *_columns([header, *rows])]
    lines += [f"  {proxy.address}: {proxy.error}" for proxy in proxies if proxy.error]
    return lines


def _columns(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def render_json(report: StatusReport) -> str:
    document = {
        "healthy": report.healthy,
        "nodes": [asdict(node) for node in report.nodes],
        "last_round": None if report.last_round is None else asdict(report.last_round),
        "ring": None if report.ring is None else asdict(report.ring),
        "proxies": [
            {**asdict(proxy), "nodes": [list(node) for node in proxy.nodes]}
            for proxy in report.proxies
        ],
    }
    return json.dumps(document, indent=2)
