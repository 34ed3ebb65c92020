"""The `leaderless` command: `leaderless up` (everything local) and `leaderless proxy`.

`proxy`'s setting flags are generated from the settings dataclasses (one flag per field, its
help the field's doc), so the command line cannot drift from the settings model; `up` takes
those of [local_nodes] (`--redis-server`), which mean nothing to `proxy`. A flag given on the
command line overrides the config file; one not given leaves the file's value or the default
(argparse.SUPPRESS keeps absent flags out of the overrides).

Both subcommands run one coroutine under uvloop when it is importable. SIGINT and SIGTERM set
the `stop` event the proxy watches, so shutdown is the proxy's orderly one. With
listen.workers > 1, `proxy` runs the supervising parent of that many proxy processes instead
(workers.py); `up` always runs one proxy, in its own process. Failures end as one line on
stderr, `leaderless: error: ...`, with exit status 2 for unusable settings and 1 for failures
at run time (address in use, no server binary for the nodes, a worker that died).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import TextIO

from leaderless.bench import proxy as bench_command
from leaderless.config.loader import SettingsError, load_settings, settings_warnings
from leaderless.config.settings import SettingField, parse_endpoint, setting_fields
from leaderless.proxy.app import ring_command
from leaderless.proxy.app import status as status_command
from leaderless.proxy.app.embedded import DEFAULT_PORT, default_data_dir, run_embedded
from leaderless.proxy.app.local_nodes import LocalNodeError, find_node_server
from leaderless.proxy.app.workers import WorkerFailed, supervise
from leaderless.proxy.logs import configure_logging
from leaderless.proxy.metrics import SidecarCollector, endpoint_url, start_endpoint
from leaderless.proxy.server import run_until_signalled, serve
from leaderless.proxy.state import wall_ms
from leaderless.replication.anti_entropy import (
    Progress,
    RoundFailed,
    RoundReport,
    SidecarTotals,
    run_sidecar,
)

log = logging.getLogger(__name__)

EXIT_RUNTIME_ERROR = 1
EXIT_SETTINGS_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    command: Callable[[argparse.Namespace], None] = args.command
    try:
        command(args)
    except SettingsError as error:
        return _fail(error, EXIT_SETTINGS_ERROR)
    except (OSError, LocalNodeError, WorkerFailed) as error:
        return _fail(error, EXIT_RUNTIME_ERROR)
    except (NotConverged, status_command.Unhealthy):
        return EXIT_RUNTIME_ERROR
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leaderless",
        description="A Redis-protocol proxy giving plain redis-servers leaderless "
        "(Dynamo-style) replication.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('leaderless')}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    up = commands.add_parser(
        "up",
        help="start local redis-server nodes and a proxy over them (try it out)",
        description="Start N local redis-server nodes on free loopback ports and a proxy over "
        "them with W = R = a majority of N. Ctrl-C stops the proxy and every node.",
    )
    up.add_argument(
        "--nodes", type=_positive_int, default=3, metavar="N", help="how many nodes (default: 3)"
    )
    up.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        metavar="PORT",
        help="port the proxy listens on at 127.0.0.1; 0 picks a free one "
        f"(default: {DEFAULT_PORT})",
    )
    up.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder for the nodes' files (default: data/leaderless-<timestamp>)",
    )
    up.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML config file; its settings apply but for the listen address, the nodes, "
        "n, w, r and the hints folder, which up chooses",
    )
    for spec in setting_fields():
        if spec.section in (_LOCAL_NODES, _LOG):
            _add_setting_flag(up, spec)
    up.set_defaults(command=_up)

    proxy = commands.add_parser(
        "proxy",
        help="run the proxy over existing redis-servers",
        description="Run the proxy over N existing redis-servers. Settings come from the "
        "config file, then from the flags below, which take precedence.",
    )
    proxy.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML config file with [listen], [replication] and [limits] sections "
        "(see leaderless.example.toml)",
    )
    groups: dict[str, argparse._ArgumentGroup] = {}
    for spec in setting_fields():
        if spec.section == _LOCAL_NODES:
            continue
        if spec.section not in groups:
            groups[spec.section] = proxy.add_argument_group(f"[{spec.section}] settings")
        _add_setting_flag(groups[spec.section], spec)
    proxy.set_defaults(command=_proxy)

    bench = commands.add_parser(
        "bench",
        help="measure the proxy against a plain redis-server on this machine",
        description=bench_command.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench_command.add_arguments(bench)
    bench.set_defaults(command=bench_command.run)

    anti_entropy = commands.add_parser(
        "anti-entropy",
        help="make every replica converge: compare Merkle trees, repair what differs",
        description="Compare the replicas' Merkle trees (per-range digests the write script "
        "keeps) from the root down and write the newest version of every differing key to the "
        "replicas that lack it. Runs rounds every --interval seconds, or one with --once. Any "
        "number may run against the same nodes; they share the work through leases.",
    )
    anti_entropy.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML config file; its [replication], [anti_entropy] and [metrics] sections are used",
    )
    anti_entropy.add_argument(
        "--once",
        action="store_true",
        help="run one full round, print its summary and exit: 0 if the replicas have "
        "converged, 1 if not",
    )
    groups = {}
    for spec in setting_fields():
        if spec.section in ("replication", "anti_entropy", "metrics", _LOG):
            if spec.section not in groups:
                groups[spec.section] = anti_entropy.add_argument_group(f"[{spec.section}] settings")
            _add_setting_flag(groups[spec.section], spec)
    anti_entropy.set_defaults(command=_anti_entropy)

    status = commands.add_parser(
        "status",
        help="show every node's state and the last anti-entropy round; exit 1 if unwell",
        description="Ask every node for its version, keys, memory and health (as the proxies "
        "judge it), and the last anti-entropy round the sidecars recorded on them; with "
        "--proxy, each proxy for its pending hints. Exits 1 when a node or proxy does not "
        "answer or the last round did not converge.",
    )
    status_command.add_arguments(status)
    status.set_defaults(command=status_command.run)

    ring = commands.add_parser(
        "ring",
        help="show the ring the nodes store, or change its members (moving keys)",
        description="Show the consistent-hash ring the nodes store, or move it to new members.",
    )
    ring_command.add_arguments(ring, _add_setting_flag)

    # Further subcommands are added here in the same way.
    return parser


_LOCAL_NODES = "local_nodes"
"""The section of the nodes leaderless starts itself: `up` takes its flags, `proxy` does not."""
_LOG = "log"
"""The log settings, which every long-running command takes."""


def _add_setting_flag(
    group: argparse.ArgumentParser | argparse._ArgumentGroup, spec: SettingField
) -> None:
    if spec.default is None:
        default: object = "unset"
    elif isinstance(spec.default, bool):
        default = "yes" if spec.default else "no"
    else:
        default = spec.default if spec.default != () else "none"
    repeat = "; repeat the flag for each one" if spec.many else ""
    env = f"; env: {spec.env}" if spec.env else ""
    help_text = f"{spec.doc} (config: {spec.key}{env}; default: {default}{repeat})"
    kinds: dict[type, Callable[[str], object]] = {int: int, bool: _yes_no}
    group.add_argument(
        spec.flag,
        dest=spec.key,
        type=kinds.get(spec.kind, str),
        action="append" if spec.many else "store",
        default=argparse.SUPPRESS,
        metavar=spec.metavar,
        help=help_text.replace("%", "%%"),
    )


def _yes_no(text: str) -> bool:
    if text.lower() in ("yes", "true"):
        return True
    if text.lower() in ("no", "false"):
        return False
    raise argparse.ArgumentTypeError(f"must be yes or no, got {text!r}")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _up(args: argparse.Namespace) -> None:
    overrides = {key: value for key, value in vars(args).items() if "." in key}
    settings = load_settings(args.config, overrides, os.environ)
    configure_logging(settings.log)
    server = find_node_server(settings.local_nodes.redis_server)
    data_dir: Path = args.data_dir or default_data_dir(datetime.now())
    node_count: int = args.nodes
    port: int = args.port
    run_until_signalled(
        lambda stop: run_embedded(settings, server, node_count, port, data_dir, stop)
    )


def _proxy(args: argparse.Namespace) -> None:
    overrides = {key: value for key, value in vars(args).items() if "." in key}
    settings = load_settings(args.config, overrides)
    configure_logging(settings.log)
    if not settings.replication.nodes:
        raise SettingsError(
            "no backend nodes: give --node redis://HOST:PORT once for each of the n nodes, "
            "or list them as nodes in [replication]"
        )
    for line in settings_warnings(settings):
        log.warning("%s", line, extra={"event": "settings_warning"})
    if settings.listen.workers > 1:
        run_until_signalled(lambda stop: supervise(settings, stop))
    else:
        run_until_signalled(lambda stop: serve(settings, stop=stop))


def _anti_entropy(args: argparse.Namespace) -> None:
    overrides = {key: value for key, value in vars(args).items() if "." in key}
    if "replication.nodes" in overrides and "replication.n" not in overrides:
        overrides["replication.n"] = len(overrides["replication.nodes"])
    settings = load_settings(args.config, overrides)
    configure_logging(settings.log)
    if len(settings.replication.nodes) < 2:
        raise SettingsError(
            "anti-entropy needs at least two nodes: give --node redis://HOST:PORT for each, "
            "or list them as nodes in [replication]"
        )
    once: bool = args.once
    outcome: list[RoundReport | None] = []
    totals = SidecarTotals()

    async def run(stop: asyncio.Event) -> None:
        progress = ProgressLine(sys.stderr) if once else None
        outcome.append(
            await run_sidecar(
                settings,
                once=once,
                stop=stop,
                wall_ms=wall_ms,
                on_progress=progress.show if progress else None,
                totals=totals,
            )
        )

    metrics = None
    if settings.metrics.listen is not None:
        metrics = start_endpoint(settings.metrics.listen, SidecarCollector(totals))
        host = parse_endpoint(settings.metrics.listen)[0]
        print(f"anti-entropy metrics: {endpoint_url(host, metrics.port)}", flush=True)
    try:
        run_until_signalled(run)
    except RoundFailed as failure:
        raise OSError(f"anti-entropy round failed: {failure}") from None
    finally:
        if metrics is not None:
            metrics.close()
    report = outcome[0] if outcome else None
    if report is not None:
        print(report.summary(), flush=True)
        if not report.converged:
            raise NotConverged()


class NotConverged(Exception):
    """`--once` ended with replicas that still differ (or did not all answer)."""


class ProgressLine:
    """A progress line on stderr for `--once`, at most once a second."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._shown = 0.0

    def show(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self._shown < 1.0 and progress.segments_done < progress.segments_total:
            return
        self._shown = now
        print(progress.line(), file=self._out, flush=True)


def _fail(error: Exception, status: int) -> int:
    text = " ".join(str(error).split()) or type(error).__name__
    print(f"leaderless: error: {text}", file=sys.stderr, flush=True)
    return status
