"""`leaderless ring show` and `leaderless ring move`: the stored ring, and changing its members.

`show` prints the ring the nodes store (the newest over every node reachable, see
replication/ring_move.py): its epoch, whether keys are moving, and for each node its zone,
weight, share of the ranges under the ring (and under the previous one while moving) and the
keys a client could see on it; while a move runs, its last progress line. `move` takes the
ring to the config's nodes (README, Membership changes), printing a line as each step starts
and ends and progress lines on stderr. Errors end as `leaderless: error: ...` (exit 1); a
move that stopped is resumed by running it again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from leaderless.config.loader import SettingsError, load_settings
from leaderless.config.settings import (
    NodeAddress,
    ReplicationSettings,
    SettingField,
    Settings,
    setting_fields,
)
from leaderless.proxy.server import run_until_signalled
from leaderless.proxy.state import wall_ms
from leaderless.replication.move_plan import MoveError, MoveProgress, PendingDrop
from leaderless.replication.placement import Moving, Placement
from leaderless.replication.ring_move import move
from leaderless.replication.ring_nodes import MoveNodes, key_counts, last_progress, read_stored
from leaderless.replication.ring_state import RingMember, RingState, configured

AddFlag = Callable[[argparse._ArgumentGroup, SettingField], None]
_SECTIONS = ("replication", "anti_entropy")


def add_arguments(parser: argparse.ArgumentParser, add_setting_flag: AddFlag) -> None:
    subcommands = parser.add_subparsers(title="ring commands", metavar="COMMAND", required=True)
    show = subcommands.add_parser(
        "show",
        help="the stored ring: epoch, members, shares, keys per node, a move's progress",
        description="Print the ring the nodes store (the newest over every node reachable): "
        "its epoch, its members with zone and weight, each node's share of the ranges and "
        "its keys, and, while keys move, the move's progress.",
    )
    _add_config(show, "TOML config file whose [replication] nodes are asked")
    _add_settings(show, add_setting_flag)
    show.set_defaults(command=_show)

    move_parser = subcommands.add_parser(
        "move",
        help="change the ring's members to the config's nodes, moving keys to their new owners",
        description="Install the config's nodes as the ring's members and move every key "
        "whose owners change: install the moving ring on every node, stream the keys to their "
        "new owners, install the new ring, then drop the records each node no longer owns. "
        "Run it again to resume a move that stopped.",
    )
    _add_config(move_parser, "TOML config file naming the new ring's nodes")
    move_parser.add_argument(
        "--from-config",
        type=Path,
        default=None,
        metavar="OLD.toml",
        help="the config naming the nodes that hold the keys now; needed only while no node "
        "stores a ring (before the first move), and ignored once one does",
    )
    move_parser.add_argument(
        "--from-node",
        dest="from_nodes",
        action="append",
        default=[],
        metavar="URL",
        help="instead of --from-config, a node holding the keys now; repeat for each",
    )
    _add_settings(move_parser, add_setting_flag)
    move_parser.set_defaults(command=_move)


def _add_config(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument("--config", type=Path, default=None, metavar="FILE", help=text)


def _add_settings(parser: argparse.ArgumentParser, add_setting_flag: AddFlag) -> None:
    groups: dict[str, argparse._ArgumentGroup] = {}
    for spec in setting_fields():
        if spec.section in _SECTIONS:
            if spec.section not in groups:
                groups[spec.section] = parser.add_argument_group(f"[{spec.section}] settings")
            add_setting_flag(groups[spec.section], spec)


def _settings(args: argparse.Namespace, *, asking: bool = False) -> Settings:
    """The command's settings. With `asking` (show), fewer --node flags than the default n
    are nodes to ask, not a ring: n is theirs unless given (it matters only while no node
    stores a ring)."""
    overrides = {key: value for key, value in vars(args).items() if "." in key}
    nodes = overrides.get("replication.nodes")
    if asking and isinstance(nodes, list) and "replication.n" not in overrides:
        overrides["replication.n"] = min(len(nodes), ReplicationSettings().n)
        overrides.setdefault("replication.w", 1)
        overrides.setdefault("replication.r", 1)
    settings = load_settings(args.config, overrides)
    if not settings.replication.nodes:
        raise SettingsError("no nodes: give --node URL for each, or --config FILE")
    return settings


def _move(args: argparse.Namespace) -> None:
    settings = _settings(args)
    current: list[NodeAddress] | None = None
    if args.from_config is not None:
        current = list(load_settings(args.from_config, {}).replication.nodes)
    elif args.from_nodes:
        current = [NodeAddress.parse(url) for url in args.from_nodes]

    def progress(report: MoveProgress) -> None:
        print(report.line(), file=sys.stderr, flush=True)

    async def run(stop: asyncio.Event) -> None:
        work = asyncio.ensure_future(
            move(settings, current=current, wall_ms=wall_ms, on_line=_say, on_progress=progress)
        )
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([work, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            raise OSError("ring move: stopped; run it again to resume")
        work.result()

    try:
        run_until_signalled(run)
    except MoveError as error:
        raise OSError(f"ring move: {error}") from None


def _say(line: str) -> None:
    print(line, flush=True)


def _show(args: argparse.Namespace) -> None:
    settings = _settings(args, asking=True)
    lines: list[str] = []

    async def run(stop: asyncio.Event) -> None:
        lines.extend(await ring_report(settings))

    run_until_signalled(run)
    print("\n".join(lines), flush=True)


async def ring_report(settings: Settings) -> list[str]:
    """The lines `ring show` prints."""
    replication = settings.replication
    nodes = MoveNodes(replication.nodes, connect_timeout_s=replication.timeout_ms / 1000)
    try:
        stored = await read_stored(nodes, [a.endpoint for a in replication.nodes])
        state = stored.state or configured(replication.nodes, replication.n, replication.vnodes)
        endpoints = [*state.endpoints(), *(stored.pending.nodes if stored.pending else ())]
        endpoints = list(dict.fromkeys(endpoints))
        keys = await key_counts(nodes, endpoints, replication.expired_grace_s * 1000)
        progress = await last_progress(nodes, endpoints) if state.moving or stored.pending else None
    finally:
        await nodes.close()
    lines = [_headline(state, stored.state is None, stored.pending)]
    if progress:
        lines.append(f"progress: {progress}")
    lines += _table(state, endpoints, keys)
    if stored.unreachable:
        lines.append(f"unreachable: {', '.join(stored.unreachable)}")
    return lines


def _headline(state: RingState, from_config: bool, pending: PendingDrop | None) -> str:
    where = "no node stores a ring; the config's nodes" if from_config else "stored ring"
    if state.moving:
        status = f"moving from {len(state.previous or ())} nodes to {len(state.members)}"
    elif pending:
        status = f"stable; dropping moved records from {', '.join(pending.nodes) or 'members'}"
    else:
        status = "stable"
    return f"{where}: epoch {state.epoch}, {status}, n {state.n}, vnodes {state.vnodes}"


def _table(state: RingState, endpoints: list[str], keys: list[int | None]) -> list[str]:
    positions = {endpoint: i for i, endpoint in enumerate(endpoints)}
    placement = state.placement(positions)
    new = placement.new if isinstance(placement, Moving) else placement
    old: Placement | None = placement.old if isinstance(placement, Moving) else None
    shares, old_shares = new.share(), old.share() if old else {}
    members = {m.endpoint: m for m in (*state.members, *(state.previous or ()))}
    header = f"{'node':<24} {'zone':<10} {'weight':>6} {'share':>6}"
    header += f" {'before':>6}" if old else ""
    rows = [header + f" {'keys':>10}  role"]
    for endpoint in endpoints:
        member = members.get(endpoint, RingMember(endpoint))
        position = positions[endpoint]
        row = f"{endpoint:<24} {member.zone or '-':<10} {member.weight:>6g}"
        row += f" {shares.get(position, 0.0):>6.3f}"
        if old:
            row += f" {old_shares.get(position, 0.0):>6.3f}"
        count = keys[position]
        row += f" {'down' if count is None else count:>10}  {_role(state, endpoint)}"
        rows.append(row)
    return rows


def _role(state: RingState, endpoint: str) -> str:
    if not any(m.endpoint == endpoint for m in state.members):
        return "leaving"
    if state.previous is None or any(m.endpoint == endpoint for m in state.previous):
        return "member"
    return "joining"
