"""The README's settings table, .env.example and the Settings class name the same settings."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_documented_and_in_the_example() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    example = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    readme = set(re.findall(r"^\| `([A-Z_]+)` \|", (ROOT / "README.md").read_text(), re.M))
    assert fields == example == readme


def test_the_readme_shows_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "make run" in text and "make test" in text and "@BotFather" in text
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("make test")


def test_every_file_the_readme_and_architecture_name_exists() -> None:
    """The layout tables stay true when files move."""
    for document in ("README.md", "docs/ARCHITECTURE.md"):
        text = (ROOT / document).read_text()
        paths = re.findall(r"`((?:bot|handlers|storage|tests|bench|docs)/[\w/.]+)`", text)
        # Source files and folders; not what a run leaves behind (bench/.cache/, results).
        named = {path for path in paths if path.endswith((".py", ".md")) or "." not in path}
        assert named, document
        missing = sorted(path for path in named if not (ROOT / path.rstrip("/")).exists())
        assert not missing, f"{document} names files that do not exist: {missing}"
