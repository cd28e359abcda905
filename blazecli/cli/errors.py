"""Where library errors become what a user of the command line sees, once: a one-line message
in the command's flags, and an exit code (the README's table: 0, 1, 2, 3, 4, 5, 129, 130, 143).

The library names its parameters in backquotes (``threshold`` must be within [0, 1], rerun
with ``workers=1``); :func:`in_flags` writes them as the flags that set them (--threshold must
be within [0, 1], rerun with --workers 1).
"""

from __future__ import annotations

import errno
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer

from .. import errors
from ..jobs.signals import STOP_SIGNALS
from .app import err, styled

EXIT_FAILED_INPUTS = 1
EXIT_USAGE = 2
EXIT_NOT_A_VIDEO = 3
EXIT_DEVICE = 4
EXIT_OUTPUT = 5
EXIT_INTERRUPTED = 130
"""Ctrl-C; other stop signals exit with 128 plus their number, as a shell reports them: 129
for SIGHUP, 143 for SIGTERM."""

EXIT_CODES: dict[type[errors.BlazeCliError], int] = {
    errors.InvalidOptionError: EXIT_USAGE,
    errors.DetectionsMismatchError: EXIT_USAGE,
    errors.InputNotFoundError: EXIT_USAGE,
    errors.UnreadableInputError: EXIT_USAGE,
    errors.NotAVideoError: EXIT_NOT_A_VIDEO,
    errors.NoVideoStreamError: EXIT_NOT_A_VIDEO,
    errors.CorruptVideoError: EXIT_NOT_A_VIDEO,
    errors.DeviceUnavailableError: EXIT_DEVICE,
    errors.OutputExistsError: EXIT_OUTPUT,
    errors.OutputNotWritableError: EXIT_OUTPUT,
    errors.WorkerDiedError: EXIT_FAILED_INPUTS,
}
"""The exit code when an error ends a command (``detect`` records an input's own failure and
goes on with the others, then exits 1)."""

FLAGS = {
    "model": "--model", "threshold": "--threshold", "tie": "--tie", "resize": "--resize",
    "max_faces": "--max-faces", "device": "--device", "threads": "--threads",
    "every": "--every", "start_s": "--start", "end_s": "--end", "stream": "--stream",
    "batch_size": "--batch-size", "workers": "--workers", "segment_threads": "--segment-threads",
    "format": "--format", "overwrite": "--overwrite", "skip_existing": "--skip-existing",
    "output": "-o", "min_cutoff": "--smooth-cutoff", "beta": "--smooth-beta",
    "fill_gaps": "--fill-gaps", "detections": "--detections", "codec": "--encoder",
    "crf": "--crf", "preset": "--preset", "shape": "--mask-shape", "scale": "--mask-scale",
    "color": "--fill", "shifts": "--shift", "max_frames": "--max-frames",
    "min_iod": "--min-iod", "min_iod_ratio": "--min-iod-ratio", "tiles": "--tiles",
    "brighten": "--brighten",
    "cover_frames": "--cover", "fps": "--fps", "keyframes": "--keyframes",
    "input_format": "--input-format", "live_drop": "--live-drop", "audio": "--audio",
    "RayOptions.workers": "--ray-workers", "RayOptions.address": "--ray-address",
}
"""Library parameter names (as messages write them) -> the flags that set them."""

_NAMED = re.compile(r"`([A-Za-z_][\w.]*)(?:=([^`]*))?`")


def in_flags(message: str) -> str:
    """A library message in the command line's words: `name` -> its flag, `name=value` -> the
    flag and the value (``overwrite=True`` -> --overwrite). Names without a flag stay names."""
    def flag(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        option = FLAGS.get(name, name)
        if value is None:
            return option
        if value == "True" and option.startswith("--"):
            return option
        if value == "False" and option.startswith("--"):  # a switch's off form: --no-audio
            return f"--no-{option[2:]}"
        return f"{option} {value.strip(chr(39) + chr(34))}"

    return _NAMED.sub(flag, message)


def exit_code(exc: errors.BlazeCliError) -> int:
    return next((code for kind, code in EXIT_CODES.items() if isinstance(exc, kind)),
                EXIT_FAILED_INPUTS)


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, turned into an exception so that cleanup runs as for Ctrl-C (a live
    recording is closed whole, temporary files are removed)."""


_TERMINATED_BY: signal.Signals | None = None
"""Which of SIGTERM or SIGHUP came: a library call that drops what the handler raised (PyAV's
open of a named pipe) is then stopped by a plain KeyboardInterrupt, which still means it."""

_TERMINATING = {signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}
"""The stop signals other than Ctrl-C, and the word that reports each."""


def _on_terminate(signum: int, frame: object) -> None:
    global _TERMINATED_BY
    _TERMINATED_BY = signal.Signals(signum)
    raise _Terminated()


def fail(message: str, code: int) -> NoReturn:
    err.print(styled("bold red", "error:", in_flags(message)), markup=True, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors(where: Callable[[], str | None] = lambda: None, quiet: bool = False) -> Iterator[None]:
    """Where a command's failures become a one-line message and an exit code, once: its
    BlazeCliError, a reader that closed the pipe (exit 0, a note unless ``quiet``), memory that
    ran out, and Ctrl-C, SIGTERM or SIGHUP (saying how far it got: ``where``). A signal the
    process was started to ignore (``nohup``) stays ignored."""
    global _TERMINATED_BY
    _TERMINATED_BY = None  # a caller's earlier run (tests, an app embedding the CLI) is over
    for number in _TERMINATING:
        if signal.getsignal(number) is not signal.SIG_IGN:
            signal.signal(number, _on_terminate)
    try:
        if hasattr(signal, "pthread_sigmask"):  # one that came meanwhile is raised here
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        yield
    except errors.BlazeCliError as exc:
        fail(str(exc), exit_code(exc))
    except BrokenPipeError:  # `| head`: a normal way to stop reading, said in one line
        if not quiet:
            err.print("stopped: the reader closed the output (stdout) before the end", soft_wrap=True)
        end_quietly()
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        # Met wherever a path is first looked at (an input, an output, a sidecar beside it):
        # before any work, since every path is checked first.
        fail(f"{exc.filename}: its name is too long for the file system (at most 255 bytes a "
             "name, 4096 a path)", EXIT_USAGE)
    except KeyboardInterrupt:
        _stopped(where())
    except MemoryError:  # a huge option or input; its temporary files are already gone
        fail("not enough memory for this run: try a smaller --batch-size or fewer --workers",
             EXIT_FAILED_INPUTS)
    except ImportError as exc:
        # A signal that lands while a compiled module loads (ONNX Runtime's, in the first
        # second) comes out as "ImportError: initialization failed", caused by the signal.
        signal_behind = exc.__cause__ or exc.__context__
        if not isinstance(signal_behind, KeyboardInterrupt):
            raise
        _stopped(where())


def failed_printing(exc: OSError) -> bool:
    """Whether ``exc`` came from Click printing ``--help`` or ``--version`` on a stdout that
    cannot take it (closed, a full disk); if so, stdout is pointed at nothing, so that the
    interpreter's last flush stays quiet."""
    import traceback

    last = traceback.extract_tb(exc.__traceback__)[-1]
    if last.name != "echo" or Path(last.filename).name != "utils.py" or "click" not in last.filename:
        return False
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return True


def end_quietly() -> NoReturn:
    """A closed pipe (`| head`) is a normal way to stop reading: end without a word."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    raise typer.Exit(0)


def _stopped(where: str | None) -> NoReturn:
    """Say how far a run stopped by a signal got, and exit with the signal's code
    (its temporary files are already gone).

    A stop signal again changes nothing from here: ignored, rather than left to Python's exit,
    which restores their default action and would end the process by the signal."""
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    by = _TERMINATED_BY
    what, code = (_TERMINATING[by], 128 + by) if by is not None else ("interrupted", EXIT_INTERRUPTED)
    said = f"{what} {in_flags(where)}" if where else f"{what}: no output file was written"
    err.print(said, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def stdout_guard() -> Iterator[None]:
    """Results printed on stdout: a reader that stops early (`| head`) ends the command quietly;
    a stdout that cannot be written (closed, full disk) is an output error, not a traceback."""
    try:
        if sys.stdout is None:
            raise OSError("closed")
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        end_quietly()
    except OSError as exc:
        fail(f"stdout: write failed ({exc.strerror or exc})", EXIT_OUTPUT)
