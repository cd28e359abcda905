"""The Typer application the commands register on, and the stderr console they share."""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import sys
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from ..jobs.signals import STOP_SIGNALS

if TYPE_CHECKING:
    from rich.console import Console

_PLAIN_TYPES = {"int": "INTEGER", "float": "FLOAT", "str": "TEXT", "list[str]": "TEXT"}


class _PlainArgument(TyperArgument):
    """An argument shown as Click shows it, INPUT... or VIDEO, not Typer 0.29's {INPUT}... and
    INPUT <list[str]>, which read like code."""

    def display_type(self, ctx: Any) -> str:
        return ""

    def _rich_display_name(self) -> str:
        return self.display_name_raw.upper() + ("..." if self.nargs != 1 else "")

    def _usage_display_name(self) -> str:
        name = self.display_name_raw.upper()
        return (name if self.required else f"[{name}]") + ("..." if self.nargs != 1 else "")


class _PlainOption(TyperOption):
    """An option's value shown as Click shows it: INTEGER, FLOAT, TEXT, [short|full]."""

    def display_type(self, ctx: Any) -> str:
        shown = super().display_type(ctx)
        if self.metavar is not None or not (shown.startswith("<") and shown.endswith(">")):
            return shown
        inner = shown[1:-1]
        return _PLAIN_TYPES.get(inner, f"[{inner}]" if "|" in inner else inner.upper())


class _Group(TyperGroup):
    """Typer's group, with plain metavars (above), and its choice errors in Typer's own words:
    Typer (0.29) validates choices through Pydantic, whose "Value error, " prefix would leak."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for command in self.commands.values():
            for param in command.params:
                if type(param) is TyperArgument:
                    param.__class__ = _PlainArgument
                elif type(param) is TyperOption:
                    param.__class__ = _PlainOption

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except typer.BadParameter as exc:
            exc.message = exc.message.removeprefix("Value error, ")
            raise


app = typer.Typer(
    name="blazecli",
    cls=_Group,
    help="Find faces in video with MediaPipe's BlazeFace, fast and steadily.\n\n"
         "Example: blazecli detect video.mp4 -o faces.parquet",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # plain Click help: it wraps readably in 80 columns, rich panels did not
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _Stderr:
    """Rich's console on stderr, made when first used: a run that says nothing loads no Rich.

    Without markup: what it prints holds file names, and a name such as ``x[red]y.mp4`` lost
    its brackets, or with ``[/z]`` in it raised Rich's MarkupError. A message that styles a
    word says ``markup=True`` and escapes the rest (:func:`styled`)."""

    @cached_property
    def console(self) -> Console:
        from rich.console import Console

        class StderrConsole(Console):
            def on_broken_pipe(self) -> None:
                """Nobody reads stderr any more (`2>&1 | head`): the run goes on without its
                progress and messages, to its exit code. Rich's own handling exits 1."""
                self.quiet = True
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())

        return StderrConsole(stderr=True, highlight=False, markup=False)

    def print(self, *objects: Any, **options: Any) -> None:
        """Text with its control characters written as escapes: messages name files, and a
        newline in a name broke its one-line message, an escape sequence recoloured the
        terminal or cleared it."""
        self.console.print(*(printable(o) if isinstance(o, str) else o for o in objects), **options)


def printable(text: str) -> str:
    """``text`` with each character that is not printable as its escape (a newline as ``\\n``)."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


err = _Stderr()


def styled(style: str, word: str, text: str) -> str:
    """Rich markup: ``word`` in ``style``, then ``text`` as it is (a file name's brackets too)."""
    from rich.markup import escape

    return f"[{style}]{word}[/] {escape(text)}"


_own_process = False  # the app runs as the process's command line (run_app), not in a caller's


def run_app() -> None:
    """Run the app as this process's command line.

    The stop signals (Ctrl-C, SIGTERM, SIGHUP) wait, blocked, until a command's error handling
    is in place (:func:`~blazecli.cli.errors.user_errors` lets them through): before that, Typer
    ends a run they stop in silence, or, while its own imports load, the signal ends the process."""
    global _own_process
    _own_process = True
    keep_freed_memory()
    if hasattr(signal, "pthread_sigmask"):  # POSIX
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    app()


# glibc's mallopt parameters
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -2, -3, -8


def keep_freed_memory() -> None:
    """On glibc, one malloc arena that keeps freed blocks of up to 64 MB for reuse instead of
    handing them back to the system. Each frame allocates megabytes on several threads (copies,
    conversions, model inputs); handed back and faulted in again every time, they cost more
    system time than some of the work. Set for a process of its own only: it is process-wide."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return
    for parameter, value in ((_M_ARENA_MAX, 1), (_M_MMAP_THRESHOLD, 64 << 20),
                             (_M_TRIM_THRESHOLD, 256 << 20), (_M_TOP_PAD, 64 << 20)):
        mallopt(parameter, value)


def freeze_imports() -> None:
    """In a process of its own, leave what a command has imported out of garbage collection
    (``gc.freeze``): it lives until the process exits anyway, and the full collections that
    walked it, one as a run starts and one at exit, cost start-up time. A caller that invokes
    the app in-process keeps its collector as it was."""
    if _own_process:
        gc.freeze()


def _print_version(value: bool) -> None:
    """Eager, so that ``blazecli --version`` works without a command."""
    if value:
        from .. import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.",
                                          callback=_print_version, is_eager=True)] = False,
) -> None:
    """Find faces in video with MediaPipe's BlazeFace, fast and steadily."""

