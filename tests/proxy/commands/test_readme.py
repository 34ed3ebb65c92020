"""The README's command reference names every command and subcommand the proxy serves, and
every command it refuses as not replicated yet."""

from __future__ import annotations

import re
from pathlib import Path

from leaderless.proxy.commands.not_replicated import NOT_REPLICATED
from leaderless.proxy.commands.table import COMMAND_TABLE

README = Path(__file__).resolve().parents[3] / "README.md"


def documented_words() -> set[str]:
    """Every word inside backticks in the README's Commands section, upper-cased."""
    text = README.read_text()
    section = text[text.index("\n## Commands\n") : text.index("\n## Configuration reference")]
    return {
        word.upper()
        for span in re.findall(r"`([^`]+)`", section)
        for word in re.split(r"[ |,]+", span)
    }


def test_every_served_command_and_subcommand_is_in_the_readme() -> None:
    words = documented_words()
    missing = [
        name
        for spec in COMMAND_TABLE.values()
        for name in [spec.name, *spec.subcommands]
        if name.upper() not in words
    ]
    assert not missing, f"the README's Commands section does not name {missing}"


def test_the_not_replicated_section_lists_exactly_the_refused_commands() -> None:
    text = README.read_text()
    section = text[text.index("\n### Not replicated yet\n") : text.index("\nDifferences a client")]
    listed = {
        word.lower()
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith(("| family", "| ---"))
        for word in re.findall(r"`([A-Z_]+)`", line)
    }
    assert listed == set(NOT_REPLICATED)
