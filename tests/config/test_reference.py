"""The README's configuration reference is the generated one."""

from __future__ import annotations

from pathlib import Path

from leaderless.config.reference import BEGIN, END, markdown_reference

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_setting_as_declared() -> None:
    text = README.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == markdown_reference(), (
        "README's config reference is stale: paste `python -m leaderless.config.reference`"
    )
