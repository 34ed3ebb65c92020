"""`leaderless status`: ask every node (and each proxy given) once, print the report.

Each node is asked, over one connection, for INFO server and memory, DBSIZE (every key it
holds: records, deletion markers and expired records kept for their grace, and the few
internal keys, so it reads higher than the proxy's DBSIZE), and the MEMBERS_KEY and
ANTI_ENTROPY_KEY hashes the proxies and sidecars keep on it. Each proxy given is asked for
INFO leaderless. What they answered is judged and laid out by `status_report.py`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import redis
from leaderless.config.loader import SettingsError, load_settings
from leaderless.config.settings import NodeAddress
from leaderless.proxy.app.status_report import (
    NodeFacts,
    ProxyFacts,
    build_report,
    render_json,
    render_table,
    ring_in_force,
)
from leaderless.replication.ring_nodes import PROGRESS_FIELD
from leaderless.replication.ring_state import READ_RING, configured
from leaderless.replication.scripts import ANTI_ENTROPY_KEY, MEMBERS_KEY, RING_KEY

TIMEOUT_S = 2.0


class Unhealthy(Exception):
    """The report says a node or proxy is down, or the last round did not converge."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="TOML config file whose [replication] nodes are asked",
    )
    parser.add_argument(
        "--node",
        dest="nodes",
        action="append",
        default=[],
        metavar="URL",
        help="a node to ask, redis://[user:pass@]host:port; repeat for each (instead of --config)",
    )
    parser.add_argument(
        "--proxy",
        dest="proxies",
        action="append",
        default=[],
        metavar="URL",
        help="a proxy to ask for its pending hints and its view of the nodes; repeat for each",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> None:
    """Print the report; raise Unhealthy (exit 1) if it is not all well."""
    overrides: dict[str, object] = {}
    if args.nodes:
        overrides = {"replication.nodes": args.nodes, "replication.n": len(args.nodes)}
        overrides["replication.w"] = overrides["replication.r"] = 1
    settings = load_settings(Path(args.config) if args.config else None, overrides)
    if not settings.replication.nodes:
        raise SettingsError("no nodes to ask: give --node URL for each, or --config FILE")
    replication = settings.replication
    nodes = [node_facts(address) for address in replication.nodes]
    asked = {node.address for node in nodes}
    stored = ring_in_force(nodes)
    for endpoint in [] if stored is None else stored.endpoints():
        if endpoint not in asked:  # a ring member the config does not list
            nodes.append(node_facts(replication.nodes[0].at(endpoint)))
    proxies = [proxy_facts(NodeAddress.parse(url)) for url in args.proxies]
    configured_ring = configured(replication.nodes, replication.n, replication.vnodes)
    report = build_report(nodes, proxies, time.time_ns() // 1_000_000, configured_ring)
    print(render_json(report) if args.json else render_table(report), file=sys.stdout, flush=True)
    if not report.healthy:
        raise Unhealthy()


def _client(address: NodeAddress) -> redis.Redis:
    return redis.Redis(
        host=address.host,
        port=address.port,
        username=address.username,
        password=address.password,
        ssl=address.tls,
        socket_timeout=TIMEOUT_S,
        socket_connect_timeout=TIMEOUT_S,
    )


def node_facts(address: NodeAddress) -> NodeFacts:
    try:
        with _client(address) as client:
            server: Mapping[str, object] = client.info("server")
            memory: Mapping[str, object] = client.info("memory")
            keys = int(client.dbsize())
            members = client.hkeys(MEMBERS_KEY)
            anti_entropy = client.hgetall(ANTI_ENTROPY_KEY)
            ring = tuple(client.execute_command(*READ_RING))
            progress = client.hget(RING_KEY, PROGRESS_FIELD)
    except (redis.RedisError, OSError) as error:
        return NodeFacts(address.endpoint, error=str(error) or type(error).__name__)
    if "valkey_version" in server:
        version = f"valkey {server['valkey_version']}"
    else:
        version = f"redis {server.get('redis_version', '?')}"
    return NodeFacts(
        address.endpoint,
        version=version,
        keys=keys,
        memory=str(memory.get("used_memory_human", "")),
        members=frozenset(bytes(name).decode() for name in members),
        anti_entropy=tuple(
            sorted((bytes(k).decode(), bytes(v).decode()) for k, v in anti_entropy.items())
        ),
        ring=ring,
        move_progress=bytes(progress).decode() if progress else "",
    )


def proxy_facts(address: NodeAddress) -> ProxyFacts:
    try:
        with _client(address) as client:
            info: Mapping[str, object] = client.info("leaderless")
    except (redis.RedisError, OSError) as error:
        return ProxyFacts(address.endpoint, error=str(error) or type(error).__name__)
    nodes = []
    index = 0
    while isinstance(node := info.get(f"node{index}"), dict):
        nodes.append((str(node["address"]), str(node["state"]), str(node["health"])))
        index += 1
    return ProxyFacts(
        address.endpoint,
        proxy_id=str(info.get("proxy_id", "")),
        hints_pending=int(str(info.get("hints_pending", 0))),
        nodes=tuple(nodes),
    )
