"""The image's install steps, run here as the Dockerfile runs them: docker/install.sh builds the
wheel from a copy of the source tree (what the build context holds, by the Dockerfile's
ignore file) and installs it with its dependencies into a clean virtualenv, whose `leaderless`
then starts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "docker" / "install.sh"
DOCKERIGNORE = ROOT / "docker" / "Dockerfile.dockerignore"


def build_context_patterns() -> list[str]:
    """The ignore file's patterns as names, matched at any depth (a pattern there is either a
    top-level name or `**/name`)."""
    lines = DOCKERIGNORE.read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [pattern.removeprefix("**/") for pattern in patterns]


def run_install(*args: str | Path) -> None:
    environment = {**os.environ, "PYTHON": sys.executable}
    subprocess.run(["sh", str(INSTALL), *map(str, args)], check=True, env=environment)


def test_the_install_steps_give_a_working_leaderless(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*build_context_patterns()))
    run_install("wheel", source, tmp_path / "wheels")
    run_install("venv", tmp_path / "wheels", tmp_path / "venv")

    leaderless = tmp_path / "venv" / "bin" / "leaderless"
    top = subprocess.run([leaderless, "--help"], capture_output=True, text=True, check=True)
    assert "anti-entropy" in top.stdout
    proxy = subprocess.run(
        [leaderless, "proxy", "--help"], capture_output=True, text=True, check=True
    )
    assert "--node" in proxy.stdout
    module_file = "import leaderless.proxy; print(leaderless.proxy.__file__)"
    where = subprocess.run(
        [tmp_path / "venv" / "bin" / "python", "-c", module_file],
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "venv")
