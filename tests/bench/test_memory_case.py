"""The memory part end to end, on a few keys of each backend, and the check of the
--redis-server binary."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
from leaderless.bench import proxy as bench
from leaderless.proxy.app.local_nodes import server_build

from tests.support.redis_servers import BACKENDS, Backend, pinned_server

pytestmark = pytest.mark.integration


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda backend: backend.name)
def test_memory_part_names_the_build_measured(
    capsys: pytest.CaptureFixture[str], backend: Backend
) -> None:
    server = pinned_server(backend)
    build = server_build(server)
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
    with pytest.raises(bench.BenchError, match=f"^local_nodes.redis_server: {server}: "):
        bench.run(_args("--only", "memory", "--redis-server", str(server)))
