"""Odd and broken inputs for the robustness tests, made on the fly.

Odd-but-valid clips are encoded with PyAV around the astronaut head of ``clips.py``, so every face
sits at a known place; broken inputs are bytes mangled from a good clip, or not video at all.
Everything is small (a few frames, a few hundred pixels) so that the whole corpus builds in seconds.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from clips import FACE_CROP, Path2D, _write_tone, astronaut_head, compose

# MediaPipe's box of the astronaut's face in skimage.data.astronaut() (see clips.FACE_CROP).
_FACE_BOX = (177, 82, 272, 177)


def face_box(head_height: int, top_left: tuple[int, int]) -> np.ndarray:
    """Where BlazeFace boxes the face of an ``astronaut_head(head_height)`` pasted at ``top_left``."""
    x0, y0, _, y1 = FACE_CROP
    scale = head_height / (y1 - y0)
    x, y = top_left
    bx0, by0, bx1, by1 = _FACE_BOX
    return np.array([x + (bx0 - x0) * scale, y + (by0 - y0) * scale,
                     x + (bx1 - x0) * scale, y + (by1 - y0) * scale])


@dataclass(frozen=True)
class StillFace:
    """A frame with the astronaut's head at a fixed place; the same picture in every frame."""

    width: int = 320
    height: int = 240
    head_height: int = 150
    top_left: tuple[int, int] | None = None  # default: centred

    @property
    def at(self) -> tuple[int, int]:
        if self.top_left is not None:
            return self.top_left
        head_width = astronaut_head(self.head_height).shape[1]
        return ((self.width - head_width) // 2, (self.height - self.head_height) // 2)

    @property
    def box(self) -> np.ndarray:
        return face_box(self.head_height, self.at)

    def frame(self, i: int = 0) -> np.ndarray:
        return compose(self.width, self.height, [(astronaut_head(self.head_height), Path2D(self.at))], i)


@dataclass(frozen=True)
class Track:
    """One video stream for :func:`write_tracks`: its pictures and presentation times.

    ``pts`` are in ``time_base`` units, any spacing (variable rate, late or negative start);
    ``frame_at`` may return RGB or RGBA (then encoded with its alpha channel).
    """

    frame_at: Callable[[int], np.ndarray]
    pts: Sequence[int]
    time_base: Fraction = Fraction(1, 1000)
    codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    options: dict[str, str] = field(default_factory=dict)


def write_tracks(path: Path, tracks: Sequence[Track], audio_first_s: float | None = None) -> Path:
    """Encode several video streams into one file (what ``clips.write_clip`` cannot do).

    ``audio_first_s``: put an audio stream of that length before the video streams.
    """
    with av.open(str(path), "w") as container:
        audio = container.add_stream("aac", rate=16000) if audio_first_s else None
        streams = []
        for track in tracks:
            first = track.frame_at(0)
            stream = container.add_stream(track.codec, rate=round(1 / track.time_base))
            stream.width, stream.height = first.shape[1], first.shape[0]
            stream.pix_fmt = track.pix_fmt
            stream.time_base = stream.codec_context.time_base = track.time_base
            preset = {"preset": "ultrafast"} if track.codec == "libx264" else {}
            stream.options = {**preset, **track.options}
            streams.append(stream)
        for track, stream in zip(tracks, streams, strict=False):
            for i, pts in enumerate(track.pts):
                picture = track.frame_at(i)
                layout = "rgba" if picture.shape[2] == 4 else "rgb24"
                frame = av.VideoFrame.from_ndarray(picture, format=layout)
                frame.pts, frame.time_base = pts, track.time_base
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
        if audio is not None:
            _write_tone(container, audio, audio_first_s)
    return path


def remux(source: Path, path: Path, times: int = 1, options: dict[str, str] | None = None) -> Path:
    """``source``'s video (starting on a keyframe) copied ``times`` times in a row into ``path``,
    with container ``options`` (``{"movflags": "faststart"}``: the MP4 index first).

    Packets are copied, not re-encoded, so even a long clip takes milliseconds to make.
    """
    with av.open(str(path), "w", options=options or {}) as out:
        stream = None
        offset = 0
        for _ in range(times):
            with av.open(str(source)) as src:
                video = src.streams.video[0]
                if stream is None:
                    stream = out.add_stream_from_template(video)
                end = 0
                for packet in src.demux(video):
                    if not packet.size:
                        continue
                    end = max(end, packet.pts + packet.duration)
                    packet.pts += offset
                    packet.dts += offset
                    packet.stream = stream
                    out.mux(packet)
                offset += end
    return path


def packet_spans(source: Path) -> list[tuple[int, int]]:
    """(byte offset, size) of each packet of the first video stream, in decoding order."""
    with av.open(str(source)) as container:
        return [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]


# --- broken inputs ------------------------------------------------------------------------

def truncated(source: Path, path: Path, fraction: float) -> Path:
    """The first ``fraction`` of ``source``'s bytes, as a download or copy cut short leaves it."""
    data = source.read_bytes()
    path.write_bytes(data[:int(len(data) * fraction)])
    return path


def zeroed_packets(source: Path, path: Path, packets: Sequence[int]) -> Path:
    """``source`` with the payload of some video packets overwritten by zeros (a bad sector)."""
    data = bytearray(source.read_bytes())
    spans = packet_spans(source)
    for k in packets:
        offset, size = spans[k]
        data[offset:offset + size] = bytes(size)
    path.write_bytes(bytes(data))
    return path


def random_bytes(path: Path, size: int = 20_000, seed: int = 0) -> Path:
    """Noise named like a video (seeded, so every run gets the same bytes)."""
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def audio_only(path: Path, seconds: float = 0.5) -> Path:
    """An AAC track alone, as a voice memo named like a video."""
    with av.open(str(path), "w", format="mp4") as container:
        _write_tone(container, container.add_stream("aac", rate=16000), seconds)
    return path


def song_with_cover(path: Path) -> Path:
    """An AAC track with its album art: a one-picture video stream marked as attached."""
    with av.open(str(path), "w", format="mp4") as container:
        audio = container.add_stream("aac", rate=16000)
        cover = container.add_stream("png", rate=1)
        cover.width, cover.height, cover.pix_fmt = 64, 64, "rgb24"
        cover.disposition = av.stream.Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 128, np.uint8), format="rgb24")
        for packet in cover.encode(picture) + cover.encode():
            container.mux(packet)
        _write_tone(container, audio, 0.5)
    return path


def header_only(path: Path) -> Path:
    """An MP4 whose recording stopped before the first frame: a header with a video stream, no samples."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    return path


def unknown_codec(source: Path, path: Path) -> Path:
    """``source`` (H.264 in MP4) with its codec tag replaced by one no decoder knows."""
    path.write_bytes(source.read_bytes().replace(b"avc1", b"zzzz"))
    return path


def still_image(path: Path, picture: np.ndarray, kind: str = "png") -> Path:
    """A single picture saved as ``kind`` (png, jpg), whatever ``path``'s extension says."""
    frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
    scratch = path.with_name(f".{path.name}.{kind}")
    frame.save(str(scratch))
    scratch.replace(path)
    return path
