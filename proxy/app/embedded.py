"""`leaderless up`: the whole system on one machine, for trying it out and for `make run`.

It starts N local redis-server nodes on free loopback ports (proxy/app/local_nodes.py), of the
binary node_binary.py chooses, with their files under one data folder it names, then runs the
proxy in this process over those nodes with N = nodes and W = R = a majority, so reads see
every acknowledged write, and an anti-entropy sidecar (replication/anti_entropy.py) as a task
beside it, so that replicas converge even for keys nobody reads; every other setting is the
config file's (`up --config FILE`) or the default. When the proxy stops (SIGINT/SIGTERM set
`stop`, or it fails), every node is stopped before returning; if this process is killed
outright, the nodes die with it (see local_nodes.py). It is always one proxy process:
`leaderless proxy --workers K` is for serving, this for trying things out.

The nodes are started from the event loop's thread on purpose: the kernel's parent-death
signal is tied to the thread that forked each node. Starting them blocks the loop briefly,
which is harmless since nothing else runs yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from leaderless.config.settings import Settings, format_endpoint
from leaderless.proxy.app.local_nodes import LOOPBACK, LocalRedisNode, start_on_free_port
from leaderless.proxy.app.node_binary import NodeServer
from leaderless.proxy.server import serve
from leaderless.proxy.state import wall_ms
from leaderless.replication.anti_entropy import run_sidecar

log = logging.getLogger(__name__)

DEFAULT_PORT = 6380


def default_data_dir(now: datetime) -> Path:
    """`data/leaderless-YYYYmmdd-HHMMSS` under the current directory."""
    return Path("data") / f"leaderless-{now:%Y%m%d-%H%M%S}"


def majority(count: int) -> int:
    return count // 2 + 1


async def run_embedded(
    base: Settings,
    server: NodeServer,
    node_count: int,
    port: int,
    data_dir: Path,
    stop: asyncio.Event,
) -> None:
    """Start `node_count` nodes of `server` with files under `data_dir`, serve on
    127.0.0.1:`port` (0: any free port) with `base`'s other settings until `stop` is set, then
    stop every node."""
    print(f"leaderless: {server.startup_line()}", flush=True)
    warning = server.warning()
    if warning is not None:
        log.warning("%s", warning, extra={"event": "settings_warning"})
    nodes: list[LocalRedisNode] = []
    try:
        for index in range(1, node_count + 1):
            nodes.append(start_on_free_port(data_dir / f"node-{index}", executable=server.path))
            await asyncio.sleep(0)  # let a pending SIGINT/SIGTERM set `stop`
            if stop.is_set():
                return
        endpoints = " ".join(node.address.endpoint for node in nodes)
        print(
            f"leaderless: {node_count} redis-server nodes: {endpoints} (data in {data_dir})",
            flush=True,
        )
        quorum = majority(node_count)
        settings = replace(
            base,
            listen=replace(base.listen, address=format_endpoint(LOOPBACK, port)),
            replication=replace(
                base.replication,
                nodes=tuple(node.address for node in nodes),
                n=node_count,
                w=quorum,
                r=quorum,
            ),
            hints=replace(base.hints, dir=str(data_dir / "hints")),
        )
        sidecar = asyncio.create_task(
            run_sidecar(settings, once=False, stop=stop, wall_ms=wall_ms), name="anti-entropy"
        )
        try:
            await serve(settings, on_ready=_print_ready, stop=stop)
        finally:
            sidecar.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sidecar
    finally:
        for node in nodes:
            node.stop()


def _print_ready(host: str, port: int) -> None:
    host_flag = "" if host == LOOPBACK else f"-h {host} "
    print(f"leaderless: ready. Try: redis-cli {host_flag}-p {port}", flush=True)
