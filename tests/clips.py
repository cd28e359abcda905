"""Test clips made on the fly with PyAV: a real face (scikit-image's astronaut) on known paths.

The face's true position in every frame is known, so tests can assert real values; clips are
small (a few dozen frames, 320x240 by default) so that the whole suite stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# The astronaut's face in skimage.data.astronaut(): MediaPipe's box is (177, 82)-(272, 177).
FACE_CROP = (150, 40, 300, 230)  # x0, y0, x1, y1 of a head-and-shoulders crop around it


def astronaut_head(height: int) -> np.ndarray:
    """The astronaut's head, resized (nearest) to ``height`` px tall."""
    from skimage import data

    x0, y0, x1, y1 = FACE_CROP
    crop = data.astronaut()[y0:y1, x0:x1]
    scale = height / crop.shape[0]
    width = max(1, round(crop.shape[1] * scale))
    rows = np.minimum((np.arange(height) / scale).astype(int), crop.shape[0] - 1)
    cols = np.minimum((np.arange(width) / scale).astype(int), crop.shape[1] - 1)
    return crop[rows][:, cols]


@dataclass(frozen=True)
class Path2D:
    """Where the head's top-left corner is at frame ``i``: start + velocity * i (pixels)."""

    start: tuple[float, float]
    velocity: tuple[float, float] = (0.0, 0.0)

    def at(self, i: int) -> tuple[int, int]:
        return (round(self.start[0] + self.velocity[0] * i), round(self.start[1] + self.velocity[1] * i))


def compose(width: int, height: int, heads: list[tuple[np.ndarray, Path2D]], i: int,
            background: int = 90) -> np.ndarray:
    """One RGB frame with each head pasted at its path position (clipped at the borders)."""
    frame = np.full((height, width, 3), background, np.uint8)
    for head, path in heads:
        x, y = path.at(i)
        h, w = head.shape[:2]
        fx0, fy0, fx1, fy1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
        if fx1 > fx0 and fy1 > fy0:
            frame[fy0:fy1, fx0:fx1] = head[fy0 - y:fy1 - y, fx0 - x:fx1 - x]
    return frame


def write_clip(path: Path, frame_at: Callable[[int], np.ndarray], frames: int, fps: int = 25,
               codec: str = "libx264", pix_fmt: str = "yuv420p", rotation: int = 0,
               options: dict[str, str] | None = None, audio: bool = False, hflip: bool = False,
               sar: Fraction | None = None, chapters: list[dict[str, object]] | None = None,
               start: int = 0) -> Path:
    """Encode ``frame_at(i)`` for ``i < frames``, the first at ``start`` frames' time; ``rotation``
    (counter-clockwise) and ``hflip`` (a mirror after it) are stored as a display matrix, ``sar``
    as the pixels' aspect ratio; ``chapters`` as PyAV's ``set_chapters`` takes them."""
    first = frame_at(0)
    with av.open(str(path), "w") as container:
        if chapters:
            container.set_chapters(chapters)
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = first.shape[1], first.shape[0]
        stream.pix_fmt = pix_fmt
        stream.options = {"preset": "ultrafast", **(options or {})} if codec == "libx264" else (options or {})
        if rotation or hflip:
            stream.set_display_rotation(rotation, hflip=hflip)
        if sar is not None:
            stream.codec_context.sample_aspect_ratio = sar
        audio_stream = container.add_stream("aac", rate=16000) if audio else None
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_at(i) if i else first, format="rgb24")
            frame.pts = start + i
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if audio_stream is not None:
            _write_tone(container, audio_stream, frames / fps)
    return path


def _write_tone(container: av.container.OutputContainer, stream: av.AudioStream, seconds: float) -> None:
    rate = 16000
    samples = int(rate * seconds)
    t = np.arange(samples) / rate
    tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for begin in range(0, samples, 1024):
        chunk = tone[begin:begin + 1024][None, :]
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = begin
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def moving_face_clip(path: Path, frames: int = 24, width: int = 320, height: int = 240,
                     head_height: int = 150, velocity: tuple[float, float] = (2.0, 0.5),
                     **kwargs: object) -> Path:
    """One astronaut head drifting across a grey frame."""
    head = astronaut_head(head_height)
    path2d = Path2D(((width - head.shape[1]) / 2 - velocity[0] * frames / 2,
                     (height - head_height) / 2 - velocity[1] * frames / 2), velocity)
    return write_clip(path, lambda i: compose(width, height, [(head, path2d)], i), frames, **kwargs)


def stored_for(shown: np.ndarray, rotation: int = 0, hflip: bool = False, squeeze: int = 1) -> np.ndarray:
    """The frame to store so that ``write_clip(..., rotation, hflip, sar=squeeze)`` shows ``shown``:
    the mirror and the rotation undone, then each ``squeeze`` stored columns averaged into one."""
    stored = np.rot90(shown[:, ::-1] if hflip else shown, -rotation // 90)
    height, width = stored.shape[:2]
    columns = stored.reshape(height, width // squeeze, squeeze, -1).mean(axis=2)
    return np.ascontiguousarray(np.rint(columns).astype(np.uint8))


def blank_clip(path: Path, frames: int = 10, width: int = 160, height: int = 120, **kwargs: object) -> Path:
    """A clip with no face at all."""
    return write_clip(path, lambda i: np.full((height, width, 3), 40 + i, np.uint8), frames, **kwargs)


def shifted_copy(source: Path, target: Path, seconds: float) -> Path:
    """``source``'s video packets remuxed with their times moved by ``seconds``, as `ffmpeg -c
    copy` with an offset makes them. Moved below 0 in MP4, the frames before 0 lie in a part
    that an edit list hides (a clip trimmed without re-encoding)."""
    with av.open(str(source)) as given, av.open(str(target), "w") as made:
        stream = given.streams.video[0]
        into = made.add_stream_from_template(stream)
        shift = round(seconds / stream.time_base)
        for packet in given.demux(stream):
            if packet.dts is None:  # the demuxer's end-of-stream packet
                continue
            packet.pts, packet.dts = packet.pts + shift, packet.dts + shift
            packet.stream = into
            made.mux(packet)
    return target
