"""The ``blazecli`` command line: a thin layer over the library.

Options become frozen settings, Rich draws progress on stderr, and every library error is
turned into a one-line message and an exit code once, in :mod:`blazecli.cli.errors`. Heavy
modules (numpy, av, onnxruntime) load only inside commands, so ``--help`` stays instant.
"""

from __future__ import annotations

import sys

from . import annotate, detect, stability  # noqa: F401 - each registers its command on app
from .app import app, err, run_app
from .errors import EXIT_INTERRUPTED, EXIT_OUTPUT, failed_printing

__all__ = ["app", "main"]


def main() -> None:
    """The entry point; Ctrl-C while a command still imports its libraries ends quietly too,
    and so does a stdout that cannot take ``--help`` or ``--version`` (closed, a full disk)."""
    try:
        run_app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except OSError as exc:
        if not failed_printing(exc):
            raise
        err.print(f"error: stdout: write failed ({exc.strerror or exc})")
        sys.exit(EXIT_OUTPUT)
