"""Shared fixtures: test data locations and the photos every model test runs on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
SHARED_DATA = TESTS.parents[1] / "shared" / "data"
"""The project's real photos and videos, beside the checkout (``<repo>/../shared/data``).

They may not be copied into the repo, so tests that need them skip where the folder is absent.
"""


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The repo's own golden data (``tests/data``)."""
    return DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``<repo>/../shared/data``; skips the test where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not available at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut (512x512 RGB, public domain): one clear frontal face."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def camera_rgb() -> np.ndarray:
    """scikit-image's cameraman (512x512 grey) repeated to RGB."""
    from skimage import data

    return np.repeat(data.camera()[:, :, None], 3, axis=2)


class Cli:
    """``blazecli`` in this process (Typer's CliRunner): ``cli("detect", ...)`` adds --quiet,
    ``cli.verbose(...)`` shows progress and summaries. Either way a traceback, or an exception
    that is not the command's exit, fails the test."""

    def __call__(self, command: str, *args: str) -> Any:
        return self.verbose(command, *args, "--quiet")

    def verbose(self, command: str, *args: str) -> Any:
        from typer.testing import CliRunner

        from blazecli.cli import app

        result = CliRunner().invoke(app, [command, *args])
        assert "Traceback" not in result.output, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        return result


@pytest.fixture(scope="session")
def cli() -> Cli:
    """Run a blazecli command in this process; see :class:`Cli`."""
    return Cli()
