"""Writing H.264 video with the source's timestamps, and copying its audio without re-encoding."""

from __future__ import annotations

import errno
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..choices import ENCODERS, PRESETS
from ..errors import (
    CorruptVideoError,
    DeviceUnavailableError,
    InvalidOptionError,
    OutputNotWritableError,
)
from .display import SWSCALE_THREADS
from .files import open_container, reason
from .reader import Chapter
from .stills import with_icc_profile

_NVENC_PRESETS = dict(zip(PRESETS, ("p1", "p1", "p2", "p3", "p3", "p4", "p5", "p6", "p7"), strict=False))


@dataclass(frozen=True)
class EncoderOptions:
    """H.264 settings in x264's terms. NVENC reads ``crf`` as its constant-quality level (same
    0-51 scale) and the preset as its nearest p1 (fastest) .. p7 (best), so one set of options
    serves both encoders."""

    codec: str = "libx264"
    crf: int = 20
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        if self.codec not in ENCODERS:
            raise InvalidOptionError(f"`codec` must be one of {', '.join(ENCODERS)}, got {self.codec!r}")
        if not 0 <= self.crf <= 51:
            raise InvalidOptionError(f"`crf` must be within [0, 51], got {self.crf}")
        if self.preset not in PRESETS:
            raise InvalidOptionError(f"`preset` must be one of {', '.join(PRESETS)}, got {self.preset!r}")

    def codec_options(self) -> dict[str, str]:
        if self.codec == "libx264":
            return {"crf": str(self.crf), "preset": self.preset}
        return {"rc": "vbr", "cq": str(self.crf), "b": "0", "preset": _NVENC_PRESETS[self.preset]}


def _fit(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """``rgb`` scaled to fit ``width`` x ``height`` with its proportions kept, centred on black."""
    scale = min(width / rgb.shape[1], height / rgb.shape[0])
    fitted_width = max(1, min(width, round(rgb.shape[1] * scale)))
    fitted_height = max(1, min(height, round(rgb.shape[0] * scale)))
    fitted = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(
        width=fitted_width, height=fitted_height, threads=SWSCALE_THREADS).to_ndarray()
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - fitted_height) // 2, (width - fitted_width) // 2
    canvas[top:top + fitted_height, left:left + fitted_width] = fitted
    return canvas


CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
"""Video output extensions and the FFmpeg muxer each one gets."""

PLAYED_IN_MP4 = frozenset({"aac", "mp3", "ac3", "eac3", "opus", "flac", "alac"})
"""Audio that browsers and players play from MP4. FFmpeg also stores others there (Vorbis,
PCM as ISO ``ipcm``), which few players play, and older FFmpeg reads 24-bit PCM wrongly."""

DEFAULT_LAYOUTS = {1: "mono", 2: "stereo"}
"""The layout one or two channels in no stated order are taken to have, as ffmpeg takes them."""

FRAME_THREADS_MAX_PIXELS = 1280 * 720
"""x264 encodes frames up to this size on frame threads: encode() hands the frame over and
returns while x264 works, so hiding the next frame overlaps encoding this one (PyAV's default,
slices, blocks the caller until each frame is encoded). Frame threads hold a few more frames
inside x264, about 60 MB more at 1080p, so larger frames keep slices."""


def _container_options(container_format: str, fragmented: bool) -> dict[str, str]:
    """MP4/MOV: the index goes to the front when the file is finished (faststart), so that a
    browser plays it while it loads. Fragmented: a fragment at each keyframe and at least every
    second (Matroska: a cluster), so that a recording cut short loses no more than that."""
    mp4 = container_format in ("mp4", "mov")
    if not fragmented:
        return {"movflags": "+faststart"} if mp4 else {}
    if mp4:
        return {"movflags": "+frag_keyframe+empty_moov+default_base_moof", "frag_duration": "1000000",
                "flush_packets": "1"}
    return {"cluster_time_limit": "1000", "flush_packets": "1"} if container_format == "matroska" else {}


AVDISCARD_ALL = 48
"""FFmpeg's mark on a stream it reads but never hands out: an MP4's chapter track, whose
chapters are copied as chapters."""
CHAPTER_TIME_BASE = Fraction(1, 1000)
"""Chapters are written in milliseconds, as MP4's chapter list stores them."""


def _chapters_within(chapters: Sequence[Chapter], span: tuple[float, float | None]) -> list[dict[str, object]]:
    """The chapters that overlap ``span`` (seconds of the source; its start becomes time 0),
    cut to it, as PyAV's ``set_chapters`` takes them."""
    offset, end = span
    kept: list[dict[str, object]] = []
    for chapter in chapters:
        start_s = max(chapter.start_s, offset) - offset
        end_s = (chapter.end_s if end is None else min(chapter.end_s, end)) - offset
        if end_s > start_s:
            kept.append({"id": len(kept) + 1, "start": round(start_s / CHAPTER_TIME_BASE),
                         "end": round(end_s / CHAPTER_TIME_BASE), "time_base": CHAPTER_TIME_BASE,
                         "metadata": chapter.metadata})
    return kept


_WRITE_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG})
"""Errors of the disk, not of the streams: the container's header could not be written."""


class VideoWriter:
    """Encode RGB frames (or 4:2:0 ones as they are) to H.264 with the source's own timestamps;
    copy the source's audio as is, and its ``chapters`` within ``span``.

    The video stream takes the time base and colour description of ``like`` (a decoded source
    frame) and each frame the pts it had, so variable frame rates and late starts survive
    exactly and colours convert back with the matrix and range they were decoded with. Audio
    packets are remuxed without re-encoding, read from the source in step with the video
    packets, so the file comes out interleaved and memory stays bounded. As a context manager,
    leaving normally finishes the file and an exception abandons it. ``path`` is written;
    messages call it ``name``. ``fragmented``: MP4/MOV written in self-contained fragments, one
    per keyframe, for a recording that may end at any moment (Matroska is so already).
    """

    def __init__(self, path: str, name: str, container_format: str, width: int, height: int,
                 like: av.VideoFrame, rate: Fraction | None, encoder: EncoderOptions,
                 audio_from: str | None = None,
                 span: tuple[float, float | None] = (0.0, None), fragmented: bool = False,
                 chapters: Sequence[Chapter] = ()) -> None:
        self.name = name
        self._span = span  # seconds of source audio kept; its start becomes time 0
        self._colors = (like.colorspace, like.color_range)
        self._audio_name = audio_from
        self._audio_source: av.container.InputContainer | None = None
        self._audio_streams: dict[int, av.stream.Stream] = {}
        self._audio_packets: Iterator[av.Packet] = iter(())
        self._pending: av.Packet | None = None
        self._audio_shift: dict[int, int] = {}  # per source stream: ticks added to keep times going forward
        self._audio_last: dict[int, int] = {}  # per source stream: its last packet's dts, shifted
        self.left_out: dict[str, int] = {}  # the source's streams not copied, by kind: their count
        self.audio_few_play: list[str] = []  # codecs of the audio copied that few players play here
        try:
            options = _container_options(container_format, fragmented)
            self._output = av.open(path, "w", format=container_format, options=options)
        except (av.FFmpegError, OSError) as exc:
            raise OutputNotWritableError(f"{name}: cannot write ({reason(exc)})") from exc
        try:
            self._video = self._add_video(width, height, like, rate, encoder)
            try:
                if audio_from is not None:
                    self._add_audio(audio_from)
                self._output.set_chapters(_chapters_within(chapters, span))
                self._output.start_encoding()
            except (av.FFmpegError, OSError, ValueError) as exc:  # ValueError: an audio codec
                if isinstance(exc, OSError) and exc.errno in _WRITE_FAILURES:  # the header's write
                    raise OutputNotWritableError(f"{name}: write failed ({reason(exc)})") from exc
                streams: Sequence[av.AudioStream] = (
                    self._audio_source.streams.audio if self._audio_source else [])
                audio = ", ".join(sorted({s.codec_context.name for s in streams}))
                taking = containers_taking(streams) if streams else []
                hint = ((f"; try {' or '.join(taking)}, or" if taking else ";")
                        + " leave the audio out (`audio=False`)" if streams else "")
                raise OutputNotWritableError(
                    f"{name}: cannot store H.264{f' with {audio} audio' if audio else ''} in "
                    f"{container_format} ({reason(exc)}){hint}") from exc
        except BaseException:
            self.abort()
            raise

    def _add_video(self, width: int, height: int, like: av.VideoFrame, rate: Fraction | None,
                   encoder: EncoderOptions) -> av.VideoStream:
        try:
            stream = self._output.add_stream(encoder.codec, rate=rate)
            # 4:2:0, the H.264 that browsers and QuickTime play, needs even sizes: an odd size
            # (NTSC 16:9 shown at 853x480) gets one more column or row, copied from the edge.
            stream.width, stream.height = width + width % 2, height + height % 2
            stream.pix_fmt = "yuv420p"
            stream.time_base = like.time_base
            stream.disposition = av.stream.Disposition.default  # the picture, beside audio tracks that state theirs
            context = stream.codec_context
            context.time_base = like.time_base
            context.colorspace, context.color_range = self._colors
            context.color_primaries, context.color_trc = like.color_primaries, like.color_trc
            stream.options = encoder.codec_options()
            if encoder.codec == "libx264" and width * height <= FRAME_THREADS_MAX_PIXELS:
                context.thread_type = "FRAME"
            context.open()
        except (av.FFmpegError, ValueError) as exc:
            if encoder.codec == "h264_nvenc":
                raise DeviceUnavailableError(
                    f"`codec=h264_nvenc` does not run on this machine ({reason(exc)})") from exc
            raise InvalidOptionError(f"{self.name}: {encoder.codec} cannot encode {width}x{height} "
                                     f"video ({reason(exc)})") from exc
        return stream

    def _add_audio(self, source: str) -> None:
        """Output streams copying the source's audio, fed from a second reader of the source."""
        self._audio_source = open_container(Path(source))
        held = self._audio_source.streams
        data = [stream for stream in held.data if stream.discard != AVDISCARD_ALL]  # not chapters
        self.left_out = {kind: count for kind, count in (
            ("other video", len(held.video) - 1), ("subtitle", len(held.subtitles)),
            ("data", len(data)), ("attachment", len(held.attachments))) if count > 0}
        streams = self._audio_source.streams.audio
        self._audio_streams = {s.index: copy_audio_stream(self._output, s) for s in streams}
        if self._output.format.name == "mp4":
            self.audio_few_play = sorted({s.codec_context.name for s in streams} - PLAYED_IN_MP4)
        if streams:  # demux() with no stream would read every stream
            self._audio_packets = self._audio_source.demux(*streams)

    def write(self, rgb: np.ndarray, pts: int, duration: int | None = None) -> None:
        """One ``(H, W, 3)`` uint8 RGB frame at ``pts`` (source time base), in display order.

        A frame of another size than the first (a stream that switches resolution) is fitted
        into the output's size with its proportions kept, on black, not stretched.
        """
        height, width = rgb.shape[:2]
        size = self._video.width, self._video.height
        if (width + width % 2, height + height % 2) != size:
            rgb = _fit(rgb, *size)
        elif height % 2 or width % 2:
            rgb = np.pad(rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        self.write_frame(av.VideoFrame.from_ndarray(rgb, format="rgb24"), pts, duration)

    def takes(self, frame: av.VideoFrame) -> bool:
        """Whether ``frame``'s :func:`editable_copy` goes to the encoder unconverted: 4:2:0 (of
        either range) of the output's size."""
        return (frame.format.name in ("yuv420p", "yuvj420p")
                and (frame.width, frame.height) == (self._video.width, self._video.height))

    def write_frame(self, frame: av.VideoFrame, pts: int, duration: int | None = None) -> None:
        """One frame at ``pts`` (source time base), in display order: RGB of the output's size,
        or a frame the encoder :meth:`takes`, such as one from :func:`editable_copy`."""
        frame.colorspace, frame.color_range = self._colors  # the encoder converts RGB with these
        frame.pts = pts
        frame.time_base = self._video.codec_context.time_base
        if duration:
            frame.duration = duration  # the last frame's duration sets the stream's
        try:
            self._mux(self._video.encode(frame))
        except (av.FFmpegError, OSError) as exc:
            raise OutputNotWritableError(f"{self.name}: write failed ({reason(exc)})") from exc

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            dts = packet.dts if packet.dts is not None else packet.pts
            self._copy_audio(until=float(dts * packet.time_base))
            self._output.mux(packet)

    def _copy_audio(self, until: float | None) -> None:
        """Remux the source's audio packets that start by ``until`` seconds (None: all left)."""
        while True:
            if self._pending is None:
                try:
                    self._pending = next(self._audio_packets, None)
                except (av.FFmpegError, OSError) as exc:
                    raise CorruptVideoError(f"{self._audio_name}: cannot read its audio "
                                            f"({reason(exc)})") from exc
                if self._pending is None:
                    return
                self._keep_going_forward(self._pending)
            packet = self._pending
            start = packet.dts if packet.dts is not None else packet.pts
            offset, end = self._span
            if until is not None and start is not None and start * packet.time_base - offset > until:
                return
            self._pending = None
            if not packet.size:  # each stream ends with an empty flush packet
                continue
            if offset or end is not None:
                seconds = float((start or 0) * packet.time_base)
                if seconds < offset or (end is not None and seconds >= end):
                    continue
                ticks = round(offset / packet.time_base)
                packet.pts = None if packet.pts is None else packet.pts - ticks
                packet.dts = None if packet.dts is None else packet.dts - ticks
            packet.stream = self._audio_streams[packet.stream.index]
            self._output.mux(packet)

    def _keep_going_forward(self, packet: av.Packet) -> None:
        """Shift an audio packet whose time goes back (files joined end to end, whose times
        restart) to follow the stream's previous one, and the stream's later packets with it,
        as the video's frames are: a muxer refuses times that go back."""
        start = packet.dts if packet.dts is not None else packet.pts
        if not packet.size or start is None:
            return
        index = packet.stream.index
        shift = self._audio_shift.get(index, 0)
        last = self._audio_last.get(index)
        if last is not None and start + shift <= last:
            shift = self._audio_shift[index] = last + (packet.duration or 1) - start
        if shift:
            packet.pts = None if packet.pts is None else packet.pts + shift
            packet.dts = None if packet.dts is None else packet.dts + shift
        self._audio_last[index] = start + shift

    def close(self) -> None:
        """Flush the encoder, copy the rest of the audio and write the trailer."""
        try:
            self._mux(self._video.encode(None))
            self._copy_audio(until=None)
            self._output.close()
        except (av.FFmpegError, OSError) as exc:
            raise OutputNotWritableError(f"{self.name}: write failed ({reason(exc)})") from exc
        if self._audio_source is not None:
            self._audio_source.close()

    def abort(self) -> None:
        """Stop without finishing the file (the caller deletes it); never raises."""
        for container in (getattr(self, "_output", None), self._audio_source):
            if container is not None:
                try:
                    container.close()
                except (av.FFmpegError, OSError):
                    pass

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type | None, *rest: object) -> None:
        if exc_type is not None:
            self.abort()
            return
        try:
            self.close()
        except BaseException:
            self.abort()
            raise


def copy_audio_stream(output: av.container.OutputContainer, stream: av.AudioStream) -> av.stream.Stream:
    """An output stream for ``stream``'s packets, copied. One or two channels in no stated order
    (PCM from AVI) are taken as mono or stereo: MP4 and MOV store a layout, and refuse such
    audio at the file's end. Raises ``ValueError`` for a codec the container has no tag for."""
    copy = output.add_stream_from_template(stream)
    # What a player picks a track by: its language, title and whether it is the default one.
    copy.metadata.update({key: value for key, value in stream.metadata.items()
                          if key.lower() in ("language", "title", "handler_name")})
    copy.disposition = stream.disposition
    channels = copy.codec_context.layout.channels
    if all(c.name == "NONE" for c in channels) and len(channels) in DEFAULT_LAYOUTS:
        copy.codec_context.layout = DEFAULT_LAYOUTS[len(channels)]
    return copy


def containers_taking(audio: Sequence[av.AudioStream]) -> list[str]:
    """Video output extensions whose container stores a copy of ``audio``, one per muxer: each
    is tried, header and trailer, on a file in memory."""
    taking: dict[str, str] = {}
    for suffix, container_format in CONTAINERS.items():
        if container_format in taking.values():
            continue
        try:
            with av.open(io.BytesIO(), "w", format=container_format) as probe:
                for stream in audio:
                    copy_audio_stream(probe, stream)
                probe.start_encoding()
        except (av.FFmpegError, OSError, ValueError):
            continue
        taking[suffix] = container_format
    return list(taking)


def plane_array(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """A frame's plane as a ``(h, w)`` uint8 array sharing its memory (line padding left out)."""
    rows = np.frombuffer(plane, np.uint8, count=plane.line_size * plane.height)
    return rows.reshape(plane.height, plane.line_size)[:, :plane.width]


def editable_copy(frame: av.VideoFrame) -> tuple[av.VideoFrame, list[np.ndarray]]:
    """A new yuv420p frame with ``frame``'s pixels and colours, and its Y, U and V planes as
    writable arrays.

    A decoded frame itself is not written to: the decoder may still predict later frames from
    it, and its picture type and side data would steer the encoder.
    """
    copy = av.VideoFrame(frame.width, frame.height, "yuv420p")
    copy.colorspace, copy.color_range = frame.colorspace, frame.color_range
    planes = [plane_array(plane) for plane in copy.planes]
    for target, plane in zip(planes, frame.planes, strict=True):
        np.copyto(target, plane_array(plane))
    return copy, planes


# Image outputs: extension -> (encoder, pixel format, encoder options).
IMAGE_ENCODERS = {".jpg": ("mjpeg", "yuvj444p", {"qmin": "1", "qmax": "3"}),
                  ".jpeg": ("mjpeg", "yuvj444p", {"qmin": "1", "qmax": "3"}),
                  ".png": ("png", "rgb24", {}), ".webp": ("libwebp", "yuv420p", {"quality": "92"}),
                  ".tif": ("tiff", "rgb24", {}), ".tiff": ("tiff", "rgb24", {}),
                  ".bmp": ("bmp", "bgr24", {}), ".ppm": ("ppm", "rgb24", {}), ".pgm": ("pgm", "gray", {})}


ALPHA_FORMATS = {".png": "rgba", ".tif": "rgba", ".tiff": "rgba", ".webp": "yuva420p"}
"""Photo formats that keep an opacity channel, and the pixel format that carries it."""


PROFILE_FORMATS = (".png", ".jpg", ".jpeg")
"""Photo formats written with the source's ICC profile."""
PROFILE_SPACES = {b"GRAY": "grey", b"RGB ": "RGB", b"CMYK": "CMYK"}
"""An ICC profile's colour space (header bytes 16-20), in words."""


GREY_FORMATS = {".png", ".tif", ".tiff", ".bmp", ".pgm"}
"""Photo formats that keep a grey picture grey (``gray``; ``ya8`` with opacity)."""


def write_image(path: str, name: str, rgb: np.ndarray, alpha: np.ndarray | None = None,
                grey: bool = False, colour_profile: bytes | None = None) -> str | None:
    """Encode one ``(H, W, 3)`` RGB picture to ``path`` in the format ``name``'s extension says,
    with its ``(H, W)`` opacity where that format keeps one (:data:`ALPHA_FORMATS`), and its
    ICC ``colour_profile`` in PNG and JPEG (the pixels are written as decoded, so the source's
    profile still describes them; without it, viewers take them for sRGB) where its channels
    are those written. Returns why the profile was left out, or None.

    ``grey``: the source was grey. It is written grey where the format keeps grey
    (:data:`GREY_FORMATS`) and nothing in colour was drawn on it, so a grey photo stays one.
    ``path`` may be a temporary file of any name (the image muxer is told not to read it as a
    numbered pattern).
    """
    suffix = Path(name).suffix.lower()
    if suffix not in IMAGE_ENCODERS:
        raise InvalidOptionError(f"cannot write a photo as {suffix or 'a file without extension'}: "
                                 f"use {', '.join(IMAGE_ENCODERS)}")
    codec, pix_fmt, options = IMAGE_ENCODERS[suffix]
    height, width = rgb.shape[:2]
    opacity = alpha if suffix in ALPHA_FORMATS else None
    if alpha is not None and opacity is None:
        rgb = flattened(rgb, alpha)
    if grey and suffix in GREY_FORMATS and _colourless(rgb):
        frame, pix_fmt = _grey_frame(rgb[:, :, 0], opacity)
    elif opacity is not None:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.dstack([rgb, opacity])), format="rgba")
        pix_fmt = ALPHA_FORMATS[suffix]
    else:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    try:
        with av.open(path, "w", format="image2", options={"update": "1"}) as container:
            stream = container.add_stream(codec, rate=1)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            # Square pixels stated: left unknown (0:1), a PNG's pHYs said an aspect of 0 to 1.
            stream.codec_context.sample_aspect_ratio = Fraction(1, 1)
            stream.options = options
            container.mux(stream.encode(frame.reformat(format=pix_fmt, threads=SWSCALE_THREADS)))
            container.mux(stream.encode())
    except OSError as exc:
        raise OutputNotWritableError(f"{name}: cannot write ({exc.strerror or exc})") from exc
    except av.FFmpegError as exc:  # past an encoder's size limit: WebP 16383 px a side, JPEG 65535
        raise InvalidOptionError(f"{name}: {codec} cannot encode a {width}x{height} picture "
                                 f"({reason(exc)}): write .png or .tif") from exc
    if colour_profile is None:
        return None
    written_grey = pix_fmt in ("gray", "ya8")
    space = colour_profile[16:20]
    if space != (b"GRAY" if written_grey else b"RGB "):  # a grey photo written in colour, CMYK
        described = PROFILE_SPACES.get(space, space.decode("latin-1").strip() or "other")
        return f"it is for {described} pictures, and this one is written in {'grey' if written_grey else 'RGB'}"
    if suffix not in PROFILE_FORMATS:
        return f"only {' and '.join(PROFILE_FORMATS[:2])} keep one"
    try:
        profiled = with_icc_profile(Path(path).read_bytes(), colour_profile)
        if profiled is None:
            return "it is larger than the format holds"
        Path(path).write_bytes(profiled)
    except OSError as exc:
        raise OutputNotWritableError(f"{name}: cannot write ({exc.strerror or exc})") from exc
    return None


def flattened(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """RGB laid over white by its ``(H, W)`` opacity, for a format without one: dropped, the
    opacity would show what the picture kept hidden (an area erased by its opacity alone)."""
    opacity = alpha[:, :, None].astype(np.float32) / 255
    return np.rint(rgb * opacity + 255 * (1 - opacity)).astype(np.uint8)


def _colourless(rgb: np.ndarray) -> bool:
    """Whether every pixel of an RGB picture is grey."""
    return bool((rgb[:, :, 0] == rgb[:, :, 1]).all() and (rgb[:, :, 1] == rgb[:, :, 2]).all())


def _grey_frame(grey: np.ndarray, alpha: np.ndarray | None) -> tuple[av.VideoFrame, str]:
    """A ``gray`` frame, or a ``ya8`` one with opacity, and its pixel format. The ``ya8`` bytes
    are written by hand: swscale's RGBA to ``ya8`` moves opacity by a level."""
    if alpha is None:
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(grey), format="gray"), "gray"
    height, width = grey.shape
    frame = av.VideoFrame(width, height, "ya8")
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8, count=plane.line_size * height).reshape(height, -1)
    rows[:, :2 * width] = np.dstack([grey, alpha]).reshape(height, 2 * width)
    return frame, "ya8"
