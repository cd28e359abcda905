"""``python -m blazecli``, and the ``blazecli`` command.

The command line (Typer, Rich and every command) loads inside :func:`main`, not on import, so
that Ctrl-C while it loads ends quietly, as it does once a command runs.
"""

from __future__ import annotations

import signal
import sys


def main() -> None:
    """Load the command line and run it; Ctrl-C while it loads: a word and exit code 130."""
    try:
        from .cli import main as command_line
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C changes nothing from here
        from .cli.errors import EXIT_INTERRUPTED

        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    command_line()


if __name__ == "__main__":
    main()
