"""Opening media files: known extensions, errors mapped to their user-facing cause.

A file that FFmpeg cannot open is told apart from a damaged video by its leading bytes.
"""

from __future__ import annotations

import io
import os
import re
import stat
from pathlib import Path

import av

from ..errors import (
    InputNotFoundError,
    InvalidOptionError,
    NotAVideoError,
    UnreadableInputError,
    permission_denied_as,
)
from .stills import is_animated_png

STDIN = "-"
EMPTY_NAME = "an input is an empty name: give a file, a folder, or '-' for stdin"
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg",
                              ".ts", ".mts", ".m2ts", ".flv", ".wmv", ".3gp", ".ogv", ".gif"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".tif", ".tiff", ".webp",
                              ".ppm", ".pgm", ".pnm", ".pbm", ".pam", ".jp2", ".j2k", ".avif"})
"""What a folder is searched for besides videos: every name of a picture FFmpeg reads."""
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS

# Leading bytes of the containers people most often hand over damaged: (offset, magic, name).
_SIGNATURES = ((4, b"ftyp", "MP4/MOV"), (0, b"\x1aE\xdf\xa3", "Matroska/WebM"), (8, b"AVI ", "AVI"),
               (0, b"FLV", "FLV"), (0, b"OggS", "Ogg"))

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
LIVE_READ_TIMEOUT_S = 10.0
"""A stream or device that sends nothing for this long has ended (it is not reconnected)."""


def is_url(source: str) -> bool:
    """Whether ``source`` is a URL FFmpeg opens itself (rtsp://, http://, udp://, srt://...)."""
    return bool(_URL.match(source))


def is_live(source: str, input_format: str | None = None) -> bool:
    """Whether frames arrive as they happen rather than as fast as they can be read: a URL, a
    device (an ``input_format`` such as v4l2), or a pipe or socket, as stdin or by name (a
    named pipe, ``<(...)``), which can be read once and not sought in (a file redirected to
    stdin is read like the file)."""
    if is_url(source) or input_format is not None:
        return True
    try:
        mode = os.fstat(0).st_mode if source == STDIN else os.stat(source).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


REAL_TIME_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "rtp", "udp", "srt", "tcp"})
"""URL schemes whose streams come at the pace they play: falling behind them loses frames
anyway, so frames are dropped by default. An http(s) URL may be a file served faster than it
plays, and is read whole unless ``--live-drop`` says otherwise."""


def drops_by_default(source: str, input_format: str | None = None) -> bool:
    """Whether a live input leaves frames out when detection falls behind, unless told: streams
    of :data:`REAL_TIME_SCHEMES` and devices (a camera, a lavfi graph), not pipes or files,
    which wait for their reader."""
    if is_url(source):
        return source.split("://", 1)[0].lower() in REAL_TIME_SCHEMES
    if input_format is None or source == STDIN:
        return False
    try:
        mode = os.stat(source).st_mode
    except OSError:
        return True  # a name the input format resolves itself (a lavfi graph, a screen)
    return not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode))


def check_input_format(input_format: str | None) -> None:
    """An input format this FFmpeg has; PyAV's own build lacks some devices (v4l2), which the
    ffmpeg command can read and pipe on."""
    if input_format is not None and input_format not in av.formats_available:
        raise InvalidOptionError(
            f"`input_format={input_format}`: FFmpeg as built into PyAV has no such input format; "
            f"read it with the ffmpeg command and pipe it on, e.g. `ffmpeg -f {input_format} -i "
            "INPUT -c:v rawvideo -f nut - | blazecli detect - --live-drop ...`")


class StdinReader(io.RawIOBase):
    """Standard input for FFmpeg to read, unbuffered (a buffered read waits for a whole buffer,
    which a live pipe may take seconds to fill).

    PyAV ignores what its read callback raises, so a Ctrl-C or SIGTERM that lands while FFmpeg
    waits for the pipe (opening it reads until the stream is known) was lost, and the run went
    on. Caught here, it ends the input instead (``interrupted``) and is raised once FFmpeg
    returns (:func:`raise_if_interrupted`).
    """

    def __init__(self) -> None:
        super().__init__()
        self._file = os.fdopen(os.dup(0), "rb", buffering=0)
        self.interrupted: KeyboardInterrupt | None = None
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:  # a file redirected to stdin: an MP4's index may be at its end
        return self._file.seekable()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.interrupted is not None:
            return 0
        try:
            count = self._file.readinto(buffer) or 0
            self.bytes_read += count
            return count
        except KeyboardInterrupt as exc:
            self.interrupted = exc
            return 0

    def close(self) -> None:
        self._file.close()
        super().close()


def raise_if_interrupted(source: object) -> None:
    """Raise the Ctrl-C or SIGTERM a :class:`StdinReader` caught while FFmpeg read it."""
    interrupted = getattr(source, "interrupted", None)
    if isinstance(interrupted, KeyboardInterrupt):
        raise interrupted


def _unless_interrupted(container: av.container.InputContainer,
                        source: object) -> av.container.InputContainer:
    """The container just opened from ``source``, unless a signal came while it was read: then
    closed, and the signal raised."""
    if getattr(source, "interrupted", None) is not None:
        container.close()
        raise_if_interrupted(source)
    return container


def open_live(source: str, input_format: str | None) -> av.container.InputContainer:
    """Open a URL or device for reading as it plays: a read that waits longer than
    ``LIVE_READ_TIMEOUT_S`` ends the input."""
    check_input_format(input_format)
    pipe = StdinReader() if source == STDIN else None
    try:
        if pipe is not None:  # a stream FFmpeg cannot identify by itself, piped in
            return _unless_interrupted(av.open(pipe, mode="r", format=input_format), pipe)
        return av.open(source, mode="r", format=input_format,
                       timeout=(LIVE_READ_TIMEOUT_S, LIVE_READ_TIMEOUT_S))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise_if_interrupted(pipe)
        if isinstance(exc, FileNotFoundError) and not is_url(source):
            raise InputNotFoundError(f"{source}: no such device or file") from exc
        if isinstance(exc, av.error.ExitError):  # FFmpeg's read timed out
            raise NotAVideoError(f"{source}: nothing arrived within {LIVE_READ_TIMEOUT_S:g} s "
                                 "(is the stream sending, and to this address?)") from exc
        raise NotAVideoError(f"{source}: cannot open ({reason(exc)})") from exc


def open_container(source: str | Path | StdinReader) -> av.container.InputContainer:
    """Open with errors mapped to the user-facing cause."""
    name = "stdin" if not isinstance(source, (str, Path)) else str(source)
    if isinstance(source, (str, Path)):
        if not str(source):  # Path("") is the current folder
            raise InputNotFoundError(EMPTY_NAME)
        path = Path(source)
        with permission_denied_as(UnreadableInputError, name):
            if not path.exists():
                raise InputNotFoundError(f"{name}: no such file" + (
                    f" (a link to {os.readlink(path)}, which does not exist)" if path.is_symlink() else ""))
            if path.is_dir():
                raise UnreadableInputError(
                    f"{name}: is a directory, not a video" if os.access(path, os.R_OK | os.X_OK)
                    else f"{name}: permission denied (a folder that cannot be searched)")
            if not os.access(path, os.R_OK):
                raise UnreadableInputError(f"{name}: permission denied")
            if path.is_file() and path.stat().st_size == 0:  # pipes (`<(cat x)`) have no size
                raise NotAVideoError(f"{name}: empty file (0 bytes)")
    # An APNG is read by its own demuxer: PNG's reads its first frame only.
    animated = isinstance(source, (str, Path)) and Path(source).is_file() and is_animated_png(source)
    try:
        return _unless_interrupted(av.open(source if isinstance(source, StdinReader)
                                           else local_path(source), mode="r",
                                           format="apng" if animated else None), source)
    except PermissionError as exc:
        raise UnreadableInputError(f"{name}: permission denied") from exc
    except FileNotFoundError as exc:
        raise InputNotFoundError(f"{name}: no such file") from exc
    except InterruptedError:  # a signal while a named pipe waited for its writer: FFmpeg's
        # open gave up, and PyAV dropped what the signal's handler raised
        raise KeyboardInterrupt from None
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise_if_interrupted(source)
        if isinstance(source, StdinReader) and not source.bytes_read:
            raise NotAVideoError(f"{name}: nothing came in (an empty pipe or file)") from exc
        kind = container_kind(Path(source)) if isinstance(source, (str, Path)) else None
        what = f"damaged or truncated {kind} file" if kind else "not a video or image FFmpeg can read"
        raise NotAVideoError(f"{name}: {what} ({reason(exc)})") from exc


def video_streams(container: av.container.InputContainer) -> list[av.VideoStream]:
    """The container's video streams, cover pictures left out (an MP3's or M4A's album art is
    a video stream of one picture, marked as attached)."""
    return [s for s in container.streams.video
            if not s.disposition & av.stream.Disposition.attached_pic]


def local_path(path: str | Path) -> str:
    """A file's path as FFmpeg is given it: absolute, so that a name such as ``cam:1.mp4`` is
    not taken for a protocol (``cam:``) and the file opened as any other."""
    return os.path.abspath(path)


def container_kind(path: Path) -> str | None:
    """The container a file's leading bytes announce, to tell a damaged video from a non-video.
    None for what is not a regular file: a named pipe's bytes are its reader's, and waiting
    for a writer would hang."""
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError:
        return None
    return next((kind for offset, magic, kind in _SIGNATURES
                 if head[offset:offset + len(magic)] == magic), None)


def reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '")[0].strip() or type(exc).__name__

