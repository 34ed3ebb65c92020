"""The metrics endpoints of a running proxy and sidecar, scraped and parsed as Prometheus does,
and `leaderless status` against a running cluster."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from leaderless.proxy.app.cli import main
from leaderless.proxy.app.local_nodes import LocalRedisNode, free_port
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import LEADERLESS, ProxyProcess, start_proxy
from tests.integration.test_workers import connection_to_each_worker
from tests.support.processes import LineReader, wait_for
from tests.support.redis_servers import StartNodes

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    """Every sample at http://127.0.0.1:port/metrics, by name and sorted labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def nodes(redis_nodes: StartNodes) -> list[LocalRedisNode]:
    return redis_nodes(3)


@pytest.fixture
def metered(nodes: list[LocalRedisNode]) -> Iterator[tuple[ProxyProcess, int]]:
    """A proxy over `nodes` serving metrics, and its metrics port."""
    port = free_port()
    proxy = start_proxy(nodes, "--metrics-listen", f"127.0.0.1:{port}")
    try:
        yield proxy, port
    finally:
        proxy.stop()


def test_proxy_metrics_count_what_was_served(metered: tuple[ProxyProcess, int]) -> None:
    proxy, port = metered
    assert f"  metrics: http://127.0.0.1:{port}/metrics\n" in proxy.output.text()
    before = scrape(port)
    assert ("leaderless_commands_total", (("command", "set"), ("outcome", "ok"))) not in before
    with proxy.client() as client:
        for index in range(25):
            client.set(f"key:{index}", "value")
        pipe = client.pipeline(transaction=False)
        for index in range(10):
            pipe.get(f"key:{index}")
        pipe.execute()
        with pytest.raises(Exception, match="wrong number of arguments"):
            client.execute_command("SET", "only-a-key")
        with pytest.raises(Exception, match="not an integer"):
            client.execute_command("INCR", "key:0")
    samples = scrape(port)
    assert value(samples, "leaderless_commands_total", command="set", outcome="ok") == 25
    assert value(samples, "leaderless_commands_total", command="set", outcome="rejected") == 1
    assert value(samples, "leaderless_commands_total", command="get", outcome="ok") == 10
    assert value(samples, "leaderless_commands_total", command="incr", outcome="error") == 1
    assert value(samples, "leaderless_command_duration_seconds_count", command="set") == 25
    assert (
        value(samples, "leaderless_command_duration_seconds_bucket", command="set", le="+Inf") == 25
    )
    assert 0 < value(samples, "leaderless_command_duration_seconds_sum", command="set") < 25
    assert value(samples, "leaderless_command_duration_seconds_count", command="get") == 10
    # The client has closed its connection; the proxy counts it gone once it has read the close.
    assert wait_for(lambda: value(scrape(port), "leaderless_client_connections") == 0, 10)
    for node in proxy_nodes(proxy):
        assert value(samples, "leaderless_replica_up", replica=node) == 1
        assert value(samples, "leaderless_replica_health", replica=node, health="in_sync") == 1
        assert value(samples, "leaderless_hints_pending", replica=node) == 0
    assert value(samples, "leaderless_quorum_failures_total", kind="write") == 0
    assert value(samples, "leaderless_clock_writes_refused_total") == 0
    assert ("leaderless_clock_offset_seconds", ()) not in samples  # no NTP server: unmeasured
    assert value(samples, "process_cpu_seconds_total") > 0


def test_proxy_metrics_follow_a_node_that_stops(
    nodes: list[LocalRedisNode], metered: tuple[ProxyProcess, int]
) -> None:
    proxy, port = metered
    stopped = f"127.0.0.1:{nodes[2].port}"
    nodes[2].stop()
    with proxy.client() as client:
        for index in range(5):
            client.set(f"key:{index}", "value")

        def hinted() -> bool:
            samples = scrape(port)
            return (
                value(samples, "leaderless_replica_up", replica=stopped) == 0
                and value(samples, "leaderless_hints_pending", replica=stopped) == 5
            )

        assert wait_for(hinted, 10)
    samples = scrape(port)
    assert value(samples, "leaderless_hints_stored_total") == 5
    assert value(samples, "leaderless_replica_state", replica=stopped, state="down") == 1
    assert value(samples, "leaderless_replica_up", replica=f"127.0.0.1:{nodes[0].port}") == 1


def proxy_nodes(proxy: ProxyProcess) -> list[str]:
    return [
        line.split(": ", 1)[1].split()[0]
        for line in proxy.output.seen
        if line.startswith("  replica ")
    ]


def node_flags(nodes: list[LocalRedisNode]) -> list[str]:
    return [flag for node in nodes for flag in ("--node", node.url)]


@pytest.fixture
def sidecar(nodes: list[LocalRedisNode]) -> Iterator[int]:
    """A running `leaderless anti-entropy` over `nodes` serving metrics; its metrics port."""
    port = free_port()
    process = subprocess.Popen(
        [
            *(str(LEADERLESS), "anti-entropy", "--interval", "1"),
            *node_flags(nodes),
            *("--metrics-listen", f"127.0.0.1:{port}"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = LineReader(process.stdout)  # type: ignore[arg-type]
        line = lines.wait_for_line("anti-entropy metrics: ")
        assert line.strip().endswith(f"http://127.0.0.1:{port}/metrics")
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_sidecar_metrics_count_its_rounds(sidecar: int) -> None:
    assert wait_for(lambda: value(scrape(sidecar), "leaderless_anti_entropy_rounds_total") >= 1, 30)
    samples = scrape(sidecar)
    assert value(samples, "leaderless_anti_entropy_last_round_converged") == 1
    assert 0 < value(samples, "leaderless_anti_entropy_last_round_seconds") < 30
    assert value(samples, "leaderless_anti_entropy_keys_repaired_total") == 0
    assert value(samples, "leaderless_anti_entropy_rounds_failed_total") == 0


def status(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["status", *argv])
    return code, capsys.readouterr().out


def test_status_of_a_cluster_all_up_then_with_a_node_down(
    nodes: list[LocalRedisNode],
    metered: tuple[ProxyProcess, int],
    sidecar: int,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    proxy, _ = metered
    with proxy.client() as client:
        for index in range(20):
            client.set(f"key:{index}", "value")
    assert wait_for(lambda: value(scrape(sidecar), "leaderless_anti_entropy_rounds_total") >= 1, 30)
    flags = [*node_flags(nodes), "--proxy", f"redis://127.0.0.1:{proxy.port}"]

    code, out = status(capsys, *flags)
    assert code == 0, out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("127.")}
    for node in nodes:
        row = rows[f"127.0.0.1:{node.port}"]
        assert row[1] == "yes"
        assert row[2] == "valkey"
        assert int(row[4]) >= 20  # the records, with the internal keys
        assert row[-3:-1] == ["in_sync", "100.0%"]  # on a ring of 3 with 3 copies
    proxy_row = rows[f"127.0.0.1:{proxy.port}"]
    assert (proxy_row[1], proxy_row[3], proxy_row[4]) == ("yes", "0", "none")  # no hint pending
    assert ", converged;" in out
    assert out.rstrip().endswith("status: ok")

    config = tmp_path / "leaderless.toml"
    config.write_text(f"[replication]\nnodes = {json.dumps([node.url for node in nodes])}\n")
    code, out = status(capsys, "--config", str(config))
    assert code == 0, out
    assert sum(line.startswith("127.") for line in out.splitlines()) == 3  # no proxy asked

    code, out = status(capsys, *flags, "--json")
    document = json.loads(out)
    assert code == 0
    assert document["healthy"] is True
    assert [node["health"] for node in document["nodes"]] == ["in_sync"] * 3
    assert document["last_round"]["converged"] is True
    assert document["proxies"][0]["hints_pending"] == 0

    down = f"127.0.0.1:{nodes[1].port}"
    nodes[1].stop()
    code, out = status(capsys, *flags)
    assert code == 1
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("127.")}
    assert rows[down][1:] == ["no", "-", "-", "-", "down", "100.0%", "-"]
    assert out.rstrip().endswith("status: NOT ok")
    code, out = status(capsys, *flags, "--json")
    assert code == 1
    assert [node["reachable"] for node in json.loads(out)["nodes"]] == [True, False, True]


def free_port_pair() -> int:
    """A port P on 127.0.0.1 such that P and P + 1 were both free a moment ago."""
    while True:
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def test_each_worker_serves_its_own_metrics(nodes: list[LocalRedisNode]) -> None:
    port = free_port_pair()
    proxy = start_proxy(nodes, "--workers", "2", "--metrics-listen", f"127.0.0.1:{port}")
    try:
        urls = f"http://127.0.0.1:{port}/metrics, http://127.0.0.1:{port + 1}/metrics"
        assert wait_for(lambda: urls in proxy.output.text(), 30), proxy.output.text()
        workers = connection_to_each_worker(proxy, 2)
        assert len(workers) == 2
        for sent, client in zip((3, 5), workers.values(), strict=True):
            for index in range(sent):
                client.set(f"key:{index}", "value")
            client.close()
        counts = [
            scrape(metrics).get(
                ("leaderless_commands_total", (("command", "set"), ("outcome", "ok")))
            )
            for metrics in (port, port + 1)
        ]
        assert sorted(counts) == [3, 5]  # type: ignore[type-var]
    finally:
        proxy.stop()
