"""What can go wrong that a user can fix: one exception type per cause.

Messages name the library's own parameters in backquotes (``threshold`` must be within [0, 1]);
:mod:`blazecli.cli.errors` turns those names into the command's flags (``--threshold``) and
each type into an exit code. Each type is also the built-in exception it is a kind of, so that
callers may catch ``ValueError`` or ``OSError`` as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class BlazeCliError(Exception):
    """Base class: anything the user can fix."""


class InvalidOptionError(BlazeCliError, ValueError):
    """An option value is out of range or options contradict each other."""


class DetectionsMismatchError(BlazeCliError, ValueError):
    """A detections file does not belong to the video it is used with."""


class InputNotFoundError(BlazeCliError, FileNotFoundError):
    """An input path does not exist."""


class UnreadableInputError(BlazeCliError, OSError):
    """The input exists but cannot be opened (permissions, a folder where a file was expected)."""


class NotAVideoError(BlazeCliError, ValueError):
    """The file is not a video or image container that FFmpeg can read."""


class NoVideoStreamError(BlazeCliError, ValueError):
    """The container opened but holds no video stream (an audio-only file, say)."""


class CorruptVideoError(BlazeCliError, ValueError):
    """The video stream could not be decoded (at all, or to the end it declares)."""


class DeviceUnavailableError(BlazeCliError, RuntimeError):
    """The requested execution provider (CUDA) or GPU encoder does not run on this machine, or
    the Ray cluster asked for cannot be joined or started."""


class OutputExistsError(BlazeCliError, FileExistsError):
    """The output exists and the caller did not allow replacing it (``overwrite``)."""


class OutputNotWritableError(BlazeCliError, OSError):
    """The output cannot be written (missing folder, permissions, full disk, closed stdout)."""


class WorkerDiedError(BlazeCliError, RuntimeError):
    """A worker process died (killed, out of memory) while it worked on an input."""


@contextmanager
def permission_denied_as(error: type[BlazeCliError], path: object) -> Iterator[None]:
    """Checks of a path (``exists()``, ``is_dir()``) inside a folder the user may not enter:
    Python raises ``PermissionError`` there rather than answer, and the user gets ``error``."""
    try:
        yield
    except PermissionError as exc:
        raise error(f"{path}: permission denied (a folder on its way cannot be entered)") from exc
