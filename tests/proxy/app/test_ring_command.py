"""`leaderless ring`: its subcommands and their flags, generated from the settings as for the
other commands, and the errors that end a command before any node is asked."""

from __future__ import annotations

import pytest
from leaderless.config.settings import setting_fields
from leaderless.proxy.app.cli import main


def help_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as caught:
        main([*argv, "--help"])
    assert caught.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_ring_lists_show_and_move(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(capsys, "ring")
    assert "show the stored ring: epoch, members, shares" in text
    assert "move change the ring's members to the config's nodes" in text


def test_move_takes_the_current_nodes_and_the_replication_and_pacing_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_text(capsys, "ring", "move")
    assert "--from-config OLD.toml" in text and "--from-node URL" in text
    for spec in setting_fields():
        if spec.section in ("replication", "anti_entropy"):
            assert f"{spec.flag} {spec.metavar}" in text
        elif spec.section in ("listen", "hints"):
            assert f"{spec.flag} {spec.metavar}" not in text


def test_a_ring_command_with_no_nodes_says_how_to_name_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["ring", "show"]) == 2
    assert capsys.readouterr().err == (
        "leaderless: error: no nodes: give --node URL for each, or --config FILE\n"
    )
