"""Where a benchmark's figures come from: machine, commit and package versions, for its JSON.

Figures mean little without them; every script in this folder records them the same way.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def versions(names: tuple[str, ...]) -> dict[str, str | None]:
    """Installed versions of ``names``, and where the blazecli measured was imported from."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    try:  # the commit is this checkout's; the blazecli measured may come from elsewhere
        import blazecli

        out["blazecli_from"] = str(Path(blazecli.__file__).parent)
    except ImportError:
        out["blazecli_from"] = None
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def machine() -> dict[str, object]:
    """CPU model and cores."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "arch": platform.machine()}


def commit() -> str:
    """The checkout's short commit, with '+dirty' when tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
