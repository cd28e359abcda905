"""The option reference in docs/cli.md names every option each command has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from blazecli.cli import app

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def sections() -> dict[str, str]:
    text = DOCS.read_text()
    parts = re.split(r"^## `blazecli (\w+)`$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize("command", ["detect", "annotate", "stability"])
def test_every_option_is_documented(command: str) -> None:
    group = typer.main.get_command(app)
    params = group.commands[command].params  # type: ignore[attr-defined]
    documented = sections()[command]
    missing = [opt for p in params if not getattr(p, "hidden", False)
               for opt in p.opts if opt.startswith("--") and opt not in documented]
    assert not missing, f"docs/cli.md, blazecli {command}: not documented: {missing}"
