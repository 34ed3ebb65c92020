"""`--log-format json` from a real proxy process: every line on stderr is one JSON object, and
a replica going down, the write quorum lost and regained, and the replica coming back appear as
events with their level and fields."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import redis

from tests.integration.conftest import LEADERLESS, TIMEOUT_MS
from tests.support.processes import LineReader, wait_for
from tests.support.redis_servers import StartNodes

pytestmark = pytest.mark.integration


class JsonLog:
    """The proxy's stderr, parsed line by line as it comes."""

    def __init__(self, reader: LineReader) -> None:
        self._reader = reader
        self.events: list[dict[str, object]] = []

    def wait_for(self, event: str, timeout: float = 20.0, **fields: object) -> dict[str, object]:
        """The first line (seen so far or to come) of `event` with these `fields`."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.events:
                if line.get("event") == event and all(line.get(k) == v for k, v in fields.items()):
                    return line
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {event} {fields} in {self.events}"
            self.events.append(json.loads(self._reader.wait_for_line("", remaining)))


def _set(client: redis.Redis) -> bool:
    try:
        return bool(client.set("k", "v"))
    except redis.ResponseError:
        return False


def test_replica_and_quorum_events_are_json_lines(redis_nodes: StartNodes) -> None:
    nodes = redis_nodes(3)
    args = ["--listen", "127.0.0.1:0", "--n", "3", "--w", "2", "--r", "2"]
    args += ["--timeout-ms", str(TIMEOUT_MS), "--log-format", "json", "--log-level", "info"]
    for node in nodes:
        args += ["--node", node.url]
    process = subprocess.Popen(
        [str(LEADERLESS), "proxy", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        stdout, stderr = LineReader(process.stdout), LineReader(process.stderr)
        port = int(
            stdout.wait_for_line("leaderless proxy ")
            .split(" listening on ")[1]
            .split()[0]
            .rpartition(":")[2]
        )
        log = JsonLog(stderr)
        names = [f"127.0.0.1:{node.port}" for node in nodes]
        for name in names:
            up = log.wait_for("replica_up", replica=name)
            assert up["level"] == "info" and up["logger"] == "leaderless.replication.backend"
        with redis.Redis(host="127.0.0.1", port=port, socket_timeout=10) as client:
            assert client.set("k", "v")
            nodes[0].kill()
            nodes[1].kill()
            down = log.wait_for("replica_down", replica=names[0])
            assert down["level"] == "warning"
            assert down["message"] == f"replica {names[0]} is down: {down['reason']}"
            log.wait_for("replica_down", replica=names[1])
            assert not _set(client) and not _set(client)
            lost = log.wait_for("quorum_lost", kind="write")
            assert lost["level"] == "warning"
            assert str(lost["error"]).startswith("NOQUORUM write quorum not reached")
            nodes[1].restart()
            log.wait_for("replica_up", replica=names[1])
            assert wait_for(lambda: _set(client))
            regained = log.wait_for("quorum_regained", kind="write")
            assert regained["level"] == "info"
            assert isinstance(regained["failed_rounds"], int) and regained["failed_rounds"] >= 2
        assert [e.get("event") for e in log.events].count("quorum_lost") == 1
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    lines = stderr.text().splitlines()
    assert lines
    for line in lines:
        parsed = json.loads(line)
        assert {"time", "level", "logger", "message"} <= parsed.keys()
        assert str(parsed["time"]).endswith("Z")
