"""Reading video and images with PyAV: the only module that imports ``av``.

Frames come out in display order with their presentation time from pts and the stream's time
base (never an assumed constant fps), and with the stream's rotation so that callers can work
in the coordinates of the frame as a player shows it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from .errors import (CorruptVideoError, InputNotFoundError, InvalidOptionError,
                     NotAVideoError, NoVideoStreamError, UnreadableInputError)

STDIN = "-"


@dataclass(frozen=True)
class VideoInfo:
    """What a reader needs to tell about a video before and after decoding it."""

    source: str  # the path as given (or "-")
    width: int  # displayed (rotation applied)
    height: int
    rotation: int  # degrees counter-clockwise applied to stored frames: 0, 90, 180, 270
    fps: float | None  # average rate the container declares; informational only
    duration_s: float | None
    frames_estimate: int | None
    codec: str
    stream_index: int
    is_image: bool


@dataclass
class DecodedFrame:
    """One decoded frame: its display-order index, presentation time and the PyAV frame."""

    index: int
    time_s: float
    frame: av.VideoFrame
    rotation: int

    def to_rgb(self) -> np.ndarray:
        """Full-size ``(H, W, 3)`` uint8 RGB in display orientation."""
        return rotate(self.frame.to_ndarray(format="rgb24"), self.rotation)


def rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a counter-clockwise display rotation to a stored ``(H, W, ...)`` image."""
    turns = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def _normalize_rotation(degrees: float | int | None) -> int:
    return int(round((degrees or 0) / 90.0)) * 90 % 360


def _open_container(source: str | Path | BinaryIO) -> av.container.InputContainer:
    """Open with errors mapped to the user-facing cause."""
    name = "stdin" if not isinstance(source, (str, Path)) else str(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise InputNotFoundError(f"{name}: no such file")
        if path.is_dir():
            raise UnreadableInputError(f"{name}: is a directory, not a video")
        if not os.access(path, os.R_OK):
            raise UnreadableInputError(f"{name}: permission denied")
        if path.stat().st_size == 0:
            raise NotAVideoError(f"{name}: empty file (0 bytes)")
    try:
        return av.open(source if not isinstance(source, Path) else str(source), mode="r")
    except PermissionError as exc:
        raise UnreadableInputError(f"{name}: permission denied") from exc
    except FileNotFoundError as exc:
        raise InputNotFoundError(f"{name}: no such file") from exc
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise NotAVideoError(f"{name}: not a video or image FFmpeg can read ({_reason(exc)})") from exc


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '")[0].strip() or type(exc).__name__


class VideoReader:
    """Decode one video (or image) stream frame by frame; use as a context manager.

    ``stream``: which video stream (0 = the first). ``threads``: decoder threads (0 = FFmpeg's choice).
    """

    def __init__(self, source: str | Path, stream: int = 0, threads: int = 0) -> None:
        self.source = str(source)
        self._container = _open_container(
            os.fdopen(os.dup(0), "rb") if self.source == STDIN else Path(source))
        try:
            videos = self._container.streams.video
            if not videos:
                raise NoVideoStreamError(f"{self.source}: no video stream (audio-only or data file)")
            if not 0 <= stream < len(videos):
                raise InvalidOptionError(
                    f"{self.source}: --stream {stream} does not exist (it has {len(videos)} video stream(s))")
            self._stream = videos[stream]
            self._stream.thread_type = "AUTO"
            self._stream.thread_count = threads
            self.skipped_packets = 0
            self._first: av.VideoFrame | None = None
            self.info = self._probe()
        except BaseException:
            self._container.close()
            raise

    def _probe(self) -> VideoInfo:
        """Read stream facts; the first frame is decoded here because rotation lives on frames."""
        s = self._stream
        codec = s.codec_context.name
        is_image = codec in ("png", "mjpeg", "bmp", "tiff", "webp", "jpeg2000") and (s.frames or 1) <= 1
        self._frames = self._decode()
        try:
            self._first = next(self._frames)
        except StopIteration:
            raise CorruptVideoError(f"{self.source}: no decodable frame in the video stream") from None
        rotation = _normalize_rotation(getattr(self._first, "rotation", 0))
        width, height = self._first.width, self._first.height
        if rotation in (90, 270):
            width, height = height, width
        duration = None
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif self._container.duration:
            duration = self._container.duration / av.time_base
        fps = float(s.average_rate) if s.average_rate else None
        frames = s.frames or (round(duration * fps) if duration and fps else None)
        return VideoInfo(self.source, width, height, rotation, fps, duration,
                         1 if is_image else frames, codec, s.index, is_image)

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Frames in display order; packets that fail to decode are counted and skipped."""
        decoded_any = False
        for packet in self._container.demux(self._stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                self.skipped_packets += 1
                continue
            except av.FFmpegError as exc:
                if not decoded_any:
                    raise CorruptVideoError(f"{self.source}: cannot decode ({_reason(exc)})") from exc
                self.skipped_packets += 1
                continue
            for frame in frames:
                decoded_any = True
                yield frame

    def frames(self) -> Iterator[DecodedFrame]:
        """Every frame with its index and time; times missing from the stream are extrapolated."""
        if self._first is None:
            return
        rotation = self.info.rotation
        step = 1.0 / self.info.fps if self.info.fps else 1.0 / 30.0
        previous = None
        index = 0
        frame = self._first
        self._first = None
        while True:
            time_s = frame.time
            if time_s is None:
                time_s = 0.0 if previous is None else previous + step
            yield DecodedFrame(index, float(time_s), frame, rotation)
            previous = float(time_s)
            index += 1
            try:
                frame = next(self._frames)
            except StopIteration:
                return

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
