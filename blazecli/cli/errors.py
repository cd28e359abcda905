"""Where library errors become what a user of the command line sees, once: a one-line message
naming the command's flags, and an exit code (the README's table: 0, 1, 2, 3, 4, 5, 130, 143).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from .app import err

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EXIT_FAILED_INPUTS = 1


class _Terminated(Exception):
    """SIGTERM, turned into an exception so that cleanup runs like for Ctrl-C."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated()



def fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors(where: Callable[[], str | None] = lambda: None) -> Iterator[None]:
    """Where a command's failures become a one-line message and an exit code, once: its
    BlazeCliError, a reader that closed the pipe (quietly), and Ctrl-C or SIGTERM (saying how
    far it got: ``where``)."""
    from ..errors import BlazeCliError

    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    except BlazeCliError as exc:
        fail(str(exc), exc.exit_code)
    except BrokenPipeError:
        end_quietly()
    except KeyboardInterrupt:
        _stopped("interrupted", where(), EXIT_INTERRUPTED)
    except _Terminated:
        _stopped("terminated", where(), EXIT_TERMINATED)


def end_quietly() -> NoReturn:
    """A closed pipe (`| head`) is a normal way to stop reading: end without a word."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    raise typer.Exit(0)


def _stopped(what: str, where: str | None, code: int) -> NoReturn:
    """Say how far a run stopped by a signal got (its temporary files are already gone)."""
    err.print(f"{what} {where}" if where else f"{what}: no output file was written", soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def stdout_guard() -> Iterator[None]:
    """Results printed on stdout: a reader that stops early (`| head`) ends the command quietly;
    a stdout that cannot be written (closed, full disk) is an output error, not a traceback."""
    from ..errors import OutputNotWritableError

    try:
        if sys.stdout is None:
            raise OSError("closed")
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        end_quietly()
    except OSError as exc:
        fail(f"stdout: write failed ({exc.strerror or exc})", OutputNotWritableError.exit_code)

