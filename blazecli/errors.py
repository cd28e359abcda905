"""User-facing failures: one exception type per cause, turned into a message and exit code once, in the CLI."""

from __future__ import annotations


class BlazeCliError(Exception):
    """Base class: anything the user can fix.

    ``exit_code`` is the CLI's exit status when the error ends the command. ``detect`` records
    an input's own failure and goes on with the others, then exits 1.
    """

    exit_code = 1


class InputNotFoundError(BlazeCliError):
    """A path given on the command line does not exist."""

    exit_code = 2


class UnreadableInputError(BlazeCliError):
    """The file exists but cannot be opened (permissions, a directory where a file was expected)."""

    exit_code = 2


class NotAVideoError(BlazeCliError):
    """The file is not a video or image container that FFmpeg can read."""

    exit_code = 3


class NoVideoStreamError(BlazeCliError):
    """The container opened but holds no video stream (an audio-only file, say)."""

    exit_code = 3


class CorruptVideoError(BlazeCliError):
    """The video stream could not be decoded at all."""

    exit_code = 3


class DeviceUnavailableError(BlazeCliError):
    """The requested execution provider (CUDA) does not run on this machine."""

    exit_code = 4


class OutputExistsError(BlazeCliError):
    """The output file exists and neither --overwrite nor --skip-existing was given."""

    exit_code = 5


class OutputNotWritableError(BlazeCliError):
    """The output cannot be written (missing folder, permissions, full disk)."""

    exit_code = 5


class WorkerDiedError(BlazeCliError):
    """A ``--workers`` process died (killed, out of memory) while it worked on an input."""

    exit_code = 1


class InvalidOptionError(BlazeCliError):
    """An option value is out of range or options contradict each other."""

    exit_code = 2


class DetectionsMismatchError(BlazeCliError):
    """A detections file does not belong to the video it is used with."""

    exit_code = 2
