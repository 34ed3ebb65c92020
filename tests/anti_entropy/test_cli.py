"""`leaderless anti-entropy` on the command line, and the sidecar `leaderless up` runs."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import redis
from leaderless.proxy.app.cli import build_parser
from leaderless.proxy.app.local_nodes import LOOPBACK
from leaderless.replication.scripts import ANTI_ENTROPY_KEY

from tests.proxy.app.test_cli import start_up
from tests.support.processes import wait_for


def test_flags_become_settings_overrides() -> None:
    args = build_parser().parse_args(
        [
            *("anti-entropy", "--once", "--interval", "5", "--node", "redis://a:1"),
            *("--lease-ms", "9", "--max-keys-per-s", "7", "--max-scan-keys-per-s", "70"),
        ]
    )
    overrides = {key: value for key, value in vars(args).items() if "." in key}
    assert overrides == {
        "anti_entropy.interval_s": 5,
        "anti_entropy.lease_ms": 9,
        "anti_entropy.max_keys_per_s": 7,
        "anti_entropy.max_scan_keys_per_s": 70,
        "replication.nodes": ["redis://a:1"],
    }
    assert args.once


@pytest.mark.integration
def test_up_runs_a_sidecar_that_publishes_its_rounds(tmp_path: Path) -> None:
    process, lines = start_up(tmp_path, "--port", "0")
    try:
        line = lines.wait_for_line("leaderless: 3 redis-server nodes: ")
        endpoint = line.split(": ", 2)[2].split()[0]
        port = int(endpoint.rpartition(":")[2])
        with redis.Redis(host=LOOPBACK, port=port) as node:
            # The counters go out one request after another, the round's outcome last.
            converged = ANTI_ENTROPY_KEY, "last_round_converged"
            assert wait_for(lambda: node.hget(*converged) is not None, 30)
            assert node.hget(*converged) == b"1"
            assert node.hget(ANTI_ENTROPY_KEY, "rounds") is not None
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
