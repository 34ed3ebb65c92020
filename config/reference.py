"""The configuration reference in the README, generated from the settings' own declarations.

Run `python -m leaderless.config.reference` to print it; a test keeps the README's copy (between
the CONFIG-REFERENCE markers) in step with the dataclass fields, so the two cannot drift.
"""

from __future__ import annotations

from leaderless.config.settings import SettingField, setting_fields

BEGIN = "<!-- CONFIG-REFERENCE:BEGIN (generated: python -m leaderless.config.reference) -->"
END = "<!-- CONFIG-REFERENCE:END -->"


def _default(setting: SettingField) -> str:
    if setting.default is None:
        return "unset"
    if isinstance(setting.default, tuple):
        return ", ".join(f"`{item}`" for item in setting.default) or "none"
    return f"`{setting.default}`"


def markdown_reference() -> str:
    """The table of every setting: TOML key, flag, default, meaning."""
    lines = [
        BEGIN,
        "| setting (TOML) | flag | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for setting in setting_fields():
        doc = setting.doc.replace("|", "\\|")
        flag = f"`{setting.flag}`" + (f", env `{setting.env}`" if setting.env else "")
        lines.append(f"| `{setting.key}` | {flag} | {_default(setting)} | {doc} |")
    lines.append(END)
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_reference())
