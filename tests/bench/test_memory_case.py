"""The memory part end to end, on a few keys, and the check of the --redis-server binary."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
from leaderless.bench import proxy as bench
from leaderless.bench.report import ServerBuild
from leaderless.proxy.app.local_nodes import find_redis_server

pytestmark = pytest.mark.integration


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_memory_part_names_the_build_measured(capsys: pytest.CaptureFixture[str]) -> None:
    server = find_redis_server()
    version_line = subprocess.run(
        [str(server), "--version"], capture_output=True, text=True, check=True
    ).stdout
    build = ServerBuild.from_version_line(version_line)
    args = _args(
        *("--only", "memory", "--memory-keys", "2000", "--deleted-keys", "200"),
        *("--nodes", "1", "--redis-server", str(server)),
    )
    bench.run(args)
    lines = capsys.readouterr().out.splitlines()
    assert f"{build} from {server};" in lines[0]
    header = [cell.strip() for cell in lines[-4].strip("|").split("|")]
    assert header == [
        "memory (INFO used_memory)",
        f"plain redis ({build.allocator})",
        f"one replica ({build.allocator})",
        "overhead",
    ]
    per_key = [cell.strip() for cell in lines[-2].strip("|").split("|")]
    assert float(per_key[2]) > float(per_key[1]) > 100  # a replica's records cost more


@pytest.mark.parametrize("server", [Path(sys.executable), Path("/nonexistent/redis-server")])
def test_a_binary_that_is_no_redis_server_is_refused_before_anything_starts(
    server: Path,
) -> None:
    with pytest.raises(bench.BenchError, match=f"--redis-server {server}: "):
        bench.run(_args("--only", "memory", "--redis-server", str(server)))
