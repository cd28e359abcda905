"""Reading video and images with PyAV: the only module that imports ``av``.

Frames come out in display order with their presentation time from pts and the stream's time
base (never an assumed constant fps), and with how the stream is shown (rotation, mirror,
non-square pixels) so that callers can work in the coordinates of the frame as a player shows it.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from ..errors import (CorruptVideoError, DeviceUnavailableError, InputNotFoundError,
                     InvalidOptionError, NotAVideoError, NoVideoStreamError,
                     OutputNotWritableError, UnreadableInputError)
from .sampling import Display, SamplingPlan, blend_rows, blend_taps, sampling_plan
from .packets import WHOLE, PacketTable, Segment, clean_start_test

STDIN = "-"
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg",
                              ".ts", ".mts", ".m2ts", ".flv", ".wmv", ".3gp", ".ogv", ".gif"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
                              ".avif"})
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS

# Leading bytes of the containers people most often hand over damaged: (offset, magic, name).
_SIGNATURES = ((4, b"ftyp", "MP4/MOV"), (0, b"\x1aE\xdf\xa3", "Matroska/WebM"), (8, b"AVI ", "AVI"),
               (0, b"FLV", "FLV"), (0, b"OggS", "Ogg"))


@dataclass(frozen=True)
class VideoInfo:
    """What a reader needs to tell about a video before and after decoding it."""

    source: str  # the path as given (or "-")
    width: int  # displayed (pixels made square, rotation applied)
    height: int
    display: Display  # how stored frames are shown: stretch, mirror, rotation
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
    display: Display
    source: str  # the video's path as given, for error messages

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frame as shown."""
        return self.display.size(self.frame.width, self.frame.height)

    def to_rgb(self) -> np.ndarray:
        """The frame as shown, ``(H, W, 3)`` uint8 RGB (alpha is dropped); non-square pixels are
        stretched square by swscale as it converts."""
        try:
            rgb = self.frame.to_ndarray(format="rgb24",
                                        width=self.display.stretched_width(self.frame.width))
        except (av.FFmpegError, ValueError) as exc:
            raise CorruptVideoError(f"{self.source}: frame {self.index}: cannot convert pixel format "
                                    f"{self.frame.format.name} to RGB ({_reason(exc)})") from exc
        return orient(rgb, self.display)


_YUV420 = frozenset({"yuv420p", "yuvj420p"})
# Above this share of the frame, converting it whole is faster: a gathered pixel costs about six
# converted ones (360p, blocks 36 % of the frame: 0.42 ms a frame gathered, 0.34 converted whole).
_PAIRS_ROUTE_MAX_SHARE = 0.15


def sample_mediapipe_frame(frame: av.VideoFrame, display: Display, size: int) -> np.ndarray:
    """MediaPipe's exact sampling straight from a decoded frame, as shown."""
    return sample_mediapipe_frames([frame], display, size)[0]


def sample_mediapipe_frames(frames: Sequence[av.VideoFrame], display: Display,
                            size: int) -> np.ndarray:
    """MediaPipe's exact sampling of decoded frames, ``(N, size, size, 3)``, as shown.

    The sampling reads only the stored pixels its taps fall on. For 4:2:0 frames those pixels
    are gathered out of the Y, U and V planes in the 2x2 blocks that share one chroma sample
    (at 1080p, 216 rows by 384 columns of the 1080 by 1920), into a small 4:2:0 frame that
    swscale converts to RGB exactly as a full-frame ``to_ndarray`` would (bit-identical,
    tested). Measured on 2 cores, 4 frames a call, medians of 5 runs on two clips: 0.63-0.64
    instead of 0.75-0.80 ms a frame at 1080p and 0.38-0.40 instead of 0.46-0.60 at 720p, where
    whole rows were gathered and converted before. Other pixel formats, odd sizes, and frames
    where the blocks are over 15 % of the frame (360p: 36 %) convert the whole frame, faster there.

    Frames of one size and format share one small frame, one conversion and one blend: the
    Python work per call holds the GIL, which kept 4 sampler threads at 1.5 times one on a
    16-core machine when each call sampled one frame.
    """
    first = frames[0]
    plan = sampling_plan(first.width, first.height, size, display)
    key = _pairs_route_key(first, plan)
    if len(frames) > 1 and (key is None or any(_pairs_route_key(f, plan) != key for f in frames[1:])):
        return np.stack([sample_mediapipe_frame(f, display, size) for f in frames])
    if key is None:  # convert the whole frame (odd sizes: swscale interpolates their chroma)
        rows_rgb = np.take(first.to_ndarray(format="rgb24"), plan.source_rows, axis=0)
        return blend_rows(rows_rgb, plan)[None]
    layout = key[0]
    rgb = _pairs_rgb(frames, layout)
    return blend_taps(rgb.reshape(len(frames), -1, 3), layout.index, plan)


@dataclass(frozen=True, eq=False)
class _PairsLayout:
    """Where the taps' 2x2 blocks are in a frame's planes and in the small frame made of them.

    A 4:2:0 frame's luma rows ``2k, 2k+1`` and columns ``2m, 2m+1`` share chroma sample
    ``(k, m)``: gathering whole blocks keeps every luma pixel with its own chroma. Blocks are
    gathered as uint16 luma pairs from the row pairs ``row_pairs`` and column pairs
    ``col_pairs`` (ascending). ``luma``: ``(2 * rows, cols)`` positions of the blocks' uint16
    luma pairs in the Y plane; ``chroma``: ``(rows, cols)`` positions in the U and V planes;
    ``index``: ``(4, P)`` tap positions in the small frame's ``2 * rows`` by ``2 * cols`` pixels.
    """

    row_pairs: np.ndarray
    col_pairs: np.ndarray
    luma: np.ndarray
    chroma: np.ndarray
    index: np.ndarray

    @property
    def pixels(self) -> int:
        """Luma pixels gathered per frame, to weigh against converting the whole frame."""
        return 4 * len(self.row_pairs) * len(self.col_pairs)


def _pairs_route_key(frame: av.VideoFrame, plan: SamplingPlan) -> tuple | None:
    """What frames sampled together through the pairs route must share, its layout first (one
    object per frame size and plane strides); None if the route does not apply."""
    planes = frame.planes
    if (frame.format.name not in _YUV420 or frame.width % 2 or frame.height % 2
            or planes[0].line_size % 2 or planes[1].line_size != planes[2].line_size):
        return None
    layout = _pairs_layout(plan, frame.width, planes[0].line_size, planes[1].line_size)
    if layout.pixels > _PAIRS_ROUTE_MAX_SHARE * frame.width * frame.height:
        return None
    return layout, frame.format.name, frame.colorspace, frame.color_range


@lru_cache(maxsize=8)
def _pairs_layout(plan: SamplingPlan, width: int, luma_line: int, chroma_line: int) -> _PairsLayout:
    rows = plan.source_rows[plan.index // width]
    cols = plan.index % width
    row_pairs, row_at = np.unique(rows // 2, return_inverse=True)
    col_pairs, col_at = np.unique(cols // 2, return_inverse=True)
    small_rows = 2 * row_at.reshape(rows.shape) + (rows & 1)
    small_cols = 2 * col_at.reshape(cols.shape) + (cols & 1)
    index = small_rows * (2 * len(col_pairs)) + small_cols
    luma = (2 * row_pairs[:, None, None] + np.arange(2)[:, None]) * (luma_line // 2) + col_pairs
    chroma = row_pairs[:, None] * chroma_line + col_pairs
    return _PairsLayout(row_pairs, col_pairs, luma.reshape(-1, len(col_pairs)).astype(np.intp),
                        chroma.astype(np.intp), index.astype(np.intp))


_scratch = threading.local()  # per thread: the small 4:2:0 frame _pairs_rgb fills


def _pairs_rgb(frames: Sequence[av.VideoFrame], layout: _PairsLayout) -> np.ndarray:
    """RGB of the layout's 2x2 blocks of 4:2:0 frames, stacked: ``(N * 2 * rows, 2 * cols, 3)``.

    The frames' blocks go into one small frame, converted by one swscale call. The small frame
    is reused across calls on a thread: a fresh one each time cost as much as the conversion
    itself (0.2 ms at 720p, measured).
    """
    first, count = frames[0], len(frames)
    width, height = 2 * len(layout.col_pairs), 2 * len(layout.row_pairs) * count
    small = getattr(_scratch, "frame", None)
    if small is None or (small.width, small.height, small.format.name) != (width, height,
                                                                           first.format.name):
        small = _scratch.frame = av.VideoFrame(width, height, first.format.name)
    small.colorspace, small.color_range = first.colorspace, first.color_range
    luma, *chroma = (np.frombuffer(p, np.uint8).reshape(-1, p.line_size) for p in small.planes)
    luma_pairs = luma[:height, :width].view(np.uint16).reshape(count, -1, len(layout.col_pairs))
    chroma = [plane[:height // 2, :width // 2].reshape(count, -1, len(layout.col_pairs))
              for plane in chroma]
    for k, frame in enumerate(frames):
        source_luma, *source_chroma = frame.planes
        luma_pairs[k] = np.take(np.frombuffer(source_luma, np.uint16), layout.luma)
        for source, target in zip(source_chroma, chroma):
            target[k] = np.take(np.frombuffer(source, np.uint8), layout.chroma)
    return small.to_ndarray(format="rgb24")


def rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a counter-clockwise display rotation to a stored ``(H, W, ...)`` image."""
    turns = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def orient(image: np.ndarray, display: Display) -> np.ndarray:
    """Mirror and rotate a stored ``(H, W, ...)`` image as ``display`` shows it (not its stretch)."""
    if display.mirrored:
        return np.ascontiguousarray(rotate(image[:, ::-1], display.rotation))
    return rotate(image, display.rotation)


# Video codecs whose decoders attach no side data with a metadata dictionary. PyAV (18.1 with
# FFmpeg 8 at least) frees such a dictionary twice once ``frame.side_data`` has wrapped it, and
# the process dies at the next garbage collection: a PNG's ICC profile carries its name there.
# Frames of other codecs are never asked for ``side_data``; ``frame.rotation`` reads the matrix
# in C and is safe, only blind to mirrors.
_SIDE_DATA_SAFE_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mpeg2video",
                                    "mpeg1video", "h263", "theora", "prores", "dnxhd", "ffv1",
                                    "vc1", "wmv3", "msmpeg4v3", "flv1", "rawvideo"})


def _display_of(frame: av.VideoFrame, stream: av.VideoStream, source: str, still: bool) -> Display:
    """How ``frame`` is shown: its display matrix (FFmpeg hands the container's to every frame)
    read whole, since PyAV's ``rotation`` takes a mirror for half a turn, and the stream's
    sample aspect ratio (the container's, else the codec's, as FFmpeg guesses it).

    A photo's orientation is read from the file's own EXIF (FFmpeg 8 hands EXIF to a JPEG frame
    as side data PyAV 18 cannot list). The matrix is read from ``side_data`` only for the codecs
    in ``_SIDE_DATA_SAFE_CODECS``; others keep the turn alone.
    """
    sar = Display.from_matrix(None, stream.sample_aspect_ratio).sar
    turn = round((frame.rotation or 0) / 90.0) * 90 % 360
    if still:
        orientation = exif_orientation(source) if os.path.isfile(source) else None
        return replace(_EXIF_DISPLAYS.get(orientation, Display(turn)), sar=sar)
    if stream.codec_context.name not in _SIDE_DATA_SAFE_CODECS:
        return Display(turn, False, sar)
    try:
        matrix = frame.side_data.get("DISPLAYMATRIX")
    except ValueError:  # a side data type this PyAV cannot name
        return Display(turn, False, sar)
    return Display.from_matrix(None if matrix is None else np.frombuffer(bytes(matrix), np.int32),
                               stream.sample_aspect_ratio)


# EXIF orientation -> display: 2, 4, 5 and 7 mirror (checked against Pillow's exif_transpose).
_EXIF_DISPLAYS = {1: Display(), 2: Display(0, True), 3: Display(180), 4: Display(180, True),
                  5: Display(90, True), 6: Display(270), 7: Display(270, True), 8: Display(90)}
_EXIF_HEADER = b"Exif\x00\x00"


def exif_orientation(path: str) -> int | None:
    """The EXIF orientation tag (1-8) of a JPEG, PNG, WebP or TIFF file, if it has one.

    The file's structure is walked (JPEG segments up to the image data, PNG and WebP chunks,
    wherever they lie) to its EXIF block; only IFD0's tag 0x0112 is read.
    """
    try:
        with open(path, "rb") as handle:
            base = _exif_offset(handle)
            return None if base is None else _ifd0_orientation(handle, base)
    except (OSError, struct.error):
        return None


def _exif_offset(handle: BinaryIO) -> int | None:
    """Where the file's EXIF TIFF block starts, if it has one."""
    head = handle.read(12)
    if head[:4] in (b"II*\x00", b"MM\x00*"):  # a TIFF file is its own block
        return 0
    if head[:2] == b"\xff\xd8":  # JPEG: segments after SOI, until the scan
        handle.seek(2)
        while True:
            marker = handle.read(2)
            if len(marker) < 2 or marker[0] != 0xFF or marker[1] in (0xD9, 0xDA):
                return None
            if marker[1] == 0x01 or 0xD0 <= marker[1] <= 0xD8:  # no length
                continue
            (length,) = struct.unpack(">H", handle.read(2))
            start = handle.tell()
            if marker[1] == 0xE1 and handle.read(6) == _EXIF_HEADER:
                return start + 6
            handle.seek(start + length - 2)
    if head[:8] == b"\x89PNG\r\n\x1a\n":  # PNG: chunks until IEND
        handle.seek(8)
        while True:
            header = handle.read(8)
            if len(header) < 8 or header[4:] == b"IEND":
                return None
            (length,) = struct.unpack(">I", header[:4])
            if header[4:] == b"eXIf":
                return handle.tell()
            handle.seek(length + 4, os.SEEK_CUR)  # data and CRC
    if head[:4] == b"RIFF" and head[8:] == b"WEBP":  # WebP: RIFF chunks
        while True:
            header = handle.read(8)
            if len(header) < 8:
                return None
            (length,) = struct.unpack("<I", header[4:])
            start = handle.tell()
            if header[:4] == b"EXIF":
                return start + 6 if handle.read(6) == _EXIF_HEADER else start
            handle.seek(start + length + (length & 1))
    return None


def _ifd0_orientation(handle: BinaryIO, base: int) -> int | None:
    """Tag 0x0112 (a SHORT) of the first IFD of the TIFF block at ``base``."""
    handle.seek(base)
    header = handle.read(8)
    order = {b"II": "<", b"MM": ">"}.get(header[:2])
    if order is None or struct.unpack(order + "H", header[2:4])[0] != 42:
        return None
    handle.seek(base + struct.unpack(order + "I", header[4:8])[0])
    (count,) = struct.unpack(order + "H", handle.read(2))
    entries = handle.read(12 * count)
    for at in range(0, len(entries) - 11, 12):
        tag, kind = struct.unpack(order + "HH", entries[at:at + 4])
        if tag == 0x0112 and kind == 3:
            (value,) = struct.unpack(order + "H", entries[at + 8:at + 10])
            return value if 1 <= value <= 8 else None
    return None


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
        if path.is_file() and path.stat().st_size == 0:  # pipes (`<(cat x)`) have no size
            raise NotAVideoError(f"{name}: empty file (0 bytes)")
    try:
        return av.open(source if not isinstance(source, Path) else str(source), mode="r")
    except PermissionError as exc:
        raise UnreadableInputError(f"{name}: permission denied") from exc
    except FileNotFoundError as exc:
        raise InputNotFoundError(f"{name}: no such file") from exc
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        kind = _container_kind(Path(source)) if isinstance(source, (str, Path)) else None
        what = f"damaged or truncated {kind} file" if kind else "not a video or image FFmpeg can read"
        raise NotAVideoError(f"{name}: {what} ({_reason(exc)})") from exc


def _container_kind(path: Path) -> str | None:
    """The container a file's leading bytes announce, to tell a damaged video from a non-video."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError:
        return None
    return next((kind for offset, magic, kind in _SIGNATURES
                 if head[offset:offset + len(magic)] == magic), None)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '")[0].strip() or type(exc).__name__


class VideoReader:
    """Decode one video (or image) stream frame by frame; use as a context manager.

    ``stream``: which video stream (0 = the first). ``threads``: decoder threads (0 = FFmpeg's choice).
    ``segment``: decode only that part of the stream (planned by :mod:`blazecli.segments`); its
    frames are numbered from ``segment.first``.
    """

    def __init__(self, source: str | Path, stream: int = 0, threads: int = 0,
                 segment: Segment = WHOLE) -> None:
        self.source = str(source)
        self._segment = segment
        self._container = _open_container(
            os.fdopen(os.dup(0), "rb") if self.source == STDIN else Path(source))
        try:
            videos = self._container.streams.video
            if not videos:
                kinds = sorted({s.type for s in self._container.streams})
                held = (f"only {' and '.join(kinds)}" if kinds
                        else "no streams at all: an empty recording, or damaged or truncated")
                raise NoVideoStreamError(f"{self.source}: no video stream ({held})")
            if not 0 <= stream < len(videos):
                raise InvalidOptionError(
                    f"{self.source}: --stream {stream} does not exist (it has {len(videos)} video stream(s))")
            self._stream = videos[stream]
            self._stream_position = stream  # among the video streams
            if self._stream.codec_context is None:
                raise CorruptVideoError(f"{self.source}: this FFmpeg has no decoder for its video codec "
                                        "(unknown or unsupported)")
            self._stream.thread_type = "AUTO"
            self._stream.thread_count = threads
            self._packets = 0  # packets with data, not counting those an edit list hides
            self._rejected = 0  # packets the decoder refused with an error
            self._decoded = 0
            self._ended = False
            self._first: av.VideoFrame | None = None
            self.info = self._probe()
        except BaseException:
            self._container.close()
            raise

    @property
    def skipped_packets(self) -> int:
        """Packets that became no frame: refused by the decoder, or (known once the stream has been
        read to its end) dropped by it without a word, as decoders do with damaged references."""
        if self._ended:
            return max(self._rejected, self._packets - self._decoded)
        return self._rejected

    def _probe(self) -> VideoInfo:
        """Read stream facts; the first frame is decoded here because the display matrix lives
        on frames."""
        s = self._stream
        codec = s.codec_context.name
        is_image = codec in ("png", "mjpeg", "bmp", "tiff", "webp", "jpeg2000") and (s.frames or 1) <= 1
        container = self._container.format.name
        suffix = Path(self.source).suffix.lower()
        if (container == "image2" or container.endswith("_pipe")) and suffix in VIDEO_EXTENSIONS:
            raise NotAVideoError(f"{self.source}: a still {codec} image, not a video (despite its "
                                 f"{suffix} name)")
        self._frames = self._decode()
        try:
            self._first = next(self._frames)
        except StopIteration:
            declared = self._declared_end()
            if self._packets and codec == "webp":  # FFmpeg's WebP decoder reads stills only
                what = "an animated WebP, which FFmpeg cannot decode (convert it to GIF or a video)"
            elif self._packets:
                what = f"truncated or damaged: none of its {self._packets} video packet(s) decodes"
            elif declared:
                what = f"truncated or damaged: no frame of the {declared:.2f} s it declares can be read"
            else:
                what = "the video stream holds no frames (an empty recording?)"
            raise CorruptVideoError(f"{self.source}: {what}") from None
        display = _display_of(self._first, s, self.source, is_image)
        width, height = display.size(self._first.width, self._first.height)
        duration = fps = None
        if is_image:  # FFmpeg's 25 fps and one frame's duration mean nothing for a photo
            pass
        elif s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif (end := self._declared_end()) is not None:  # Matroska: the track's own end
            duration = max(0.0, end - (self._first.time or 0.0))
        elif self._container.duration:  # the longest stream's: audio may run on
            duration = self._container.duration / av.time_base
        if not is_image and s.average_rate:
            fps = float(s.average_rate)
        frames = s.frames or (round(duration * fps) if duration and fps else None)
        return VideoInfo(self.source, width, height, display, fps, duration,
                         1 if is_image else frames, codec, s.index, is_image)

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Frames in display order; packets that fail to decode are counted and skipped.

        A stream that stops well before the end its container declares is an error (the file is
        truncated, or damaged past that point), never a silently shorter video.
        """
        last: av.VideoFrame | None = None
        for packet in self._demux():
            if packet is not None and packet.size and not packet.is_discard:
                self._packets += 1
            try:
                frames = self._stream.decode(packet)  # None: the segment's end, drain the decoder
            except av.error.InvalidDataError:
                self._rejected += bool(packet and packet.size)  # a flush is no packet of the video
                continue
            except av.FFmpegError as exc:
                if not self._decoded and self._segment.key_pts is None:  # nothing of it decodes
                    raise CorruptVideoError(f"{self.source}: cannot decode ({_reason(exc)})") from exc
                self._rejected += 1
                continue
            for frame in frames:
                if packet is None:  # drained frames carry no time base of their own
                    frame.time_base = self._stream.time_base
                self._decoded += 1
                last = frame
                yield frame
        self._ended = True
        if not self._segment.is_last:
            return  # the stream goes on: only its last segment can tell whether it is complete
        threads = self._stream.codec_context.thread_count
        if threads > 1 and 0 < self._packets - self._rejected - self._decoded <= threads:
            for frame in self._decode_tail_again(last):
                self._decoded += 1
                last = frame
                yield frame
        if last is not None:
            self._check_complete(last)

    def _decode_tail_again(self, last: av.VideoFrame | None) -> Iterator[av.VideoFrame]:
        """The frames after ``last`` once more, decoded without frame threads.

        With frame threads, an error in one of the last frames surfaces at the final flush before
        the frames queued behind it, and PyAV cannot receive those afterwards: with 16 decoder
        threads (a 16-core machine), damage within a video's last 16 frames lost all of them. So
        when frames are missing at the end, the tail is decoded again on one thread, from the
        keyframe before ``last``. Input read from a pipe cannot be read again.
        """
        if self.source == STDIN or (last is not None and last.pts is None):
            return
        with av.open(self.source) as container:
            stream = container.streams.video[self._stream_position]
            stream.thread_count = 1
            if last is not None:
                container.seek(last.pts, stream=stream, backward=True)
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    after = last is None or (packet.pts is not None and packet.pts > last.pts)
                    self._rejected += bool(packet.size) and after
                    continue
                for frame in frames:
                    if last is None or (frame.pts is not None and frame.pts > last.pts):
                        yield frame

    def _demux(self) -> Iterator[av.Packet | None]:
        """The stream's (segment's) packets, then None at a segment's end (not the stream's);
        a read error part-way is the file's fault, not the video's end."""
        segment = self._segment
        if segment.key_pts is not None:
            self._container.seek(segment.key_pts, stream=self._stream, backward=True)
        packets = self._container.demux(self._stream)
        started = segment.key_pts is None
        counted = 0
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                if not started:
                    raise CorruptVideoError(f"{self.source}: seeking to the keyframe at pts "
                                            f"{segment.key_pts} failed; rerun with --workers 1")
                return
            except (av.FFmpegError, OSError) as exc:
                raise CorruptVideoError(f"{self.source}: read error after "
                                        f"{self._segment.first + self._decoded} frame(s) "
                                        f"({_reason(exc)})") from exc
            if not started:
                started = _is_segment_key(packet, segment)
                if not started:
                    continue  # the seek landed on an earlier keyframe
            if packet.size and not packet.is_discard:
                if counted == segment.count:
                    yield None
                    return
                counted += 1
            yield packet

    def _check_complete(self, last: av.VideoFrame) -> None:
        """Raise if the frames stop more than a frame and a half short of the declared end."""
        declared = self._declared_end()
        if declared is None or last.time is None:
            return
        rate = self._stream.average_rate
        step = (float(last.duration * last.time_base) if last.duration and last.time_base
                else 1.0 / float(rate) if rate else 0.0)
        end = float(last.time) + step
        if declared - end > max(1.5 * step, 0.01):
            raise CorruptVideoError(
                f"{self.source}: truncated or damaged: the video stops at {end:.2f} s of the "
                f"{declared:.2f} s it declares ({self._segment.first + self._decoded} frames decoded)")

    def _declared_end(self) -> float | None:
        """Where the stream says it ends, from containers that store it rather than estimate it:
        MP4/MOV and AVI (stream duration), Matroska/WebM (the track's DURATION tag)."""
        s = self._stream
        container = self._container.format.name
        if container.startswith("matroska"):
            return _clock_seconds(s.metadata.get("DURATION"))
        if (container.startswith("mov") or container == "avi") and s.duration and s.start_time is not None:
            return float((s.start_time + s.duration) * s.time_base)
        return None

    def frames(self) -> Iterator[DecodedFrame]:
        """Every frame with its index and time; times missing from the stream are extrapolated.

        A frame's time is its pts. MP4/MOV and Matroska store each frame's pts (and only they
        are cut into parts, which must time frames as one pipeline does). Elsewhere the pts are
        trusted unless they go backwards more often than the dts (FFmpeg's best-effort
        timestamp): AVI stores no pts, and H.264 with B-frames there decodes with pts out of
        display order while the dts still rise.
        """
        if self._first is None:
            return
        display = self.info.display
        step = 1.0 / self.info.fps if self.info.fps else 1.0 / 30.0
        previous = None
        stored_pts = self._container.format.name.startswith(_SPLITTABLE_CONTAINERS)
        faults = _TimestampFaults()
        index = self._segment.first
        frame = self._first
        self._first = None
        while True:
            stamp = frame.pts if stored_pts else faults.best_effort(frame.pts, frame.dts)
            time_s = None if stamp is None or frame.time_base is None else float(stamp * frame.time_base)
            if time_s is None:
                time_s = 0.0 if previous is None else previous + step
            yield DecodedFrame(index, float(time_s), frame, display, self.source)
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


class _TimestampFaults:
    """FFmpeg's ``guess_correct_pts``: count how often pts and dts fail to rise, trust the one
    that fails less (pts on a tie). Once the dts are trusted, a frame without one (the last
    frames, flushed out of the decoder) gets None, to be extrapolated: its pts would go back."""

    def __init__(self) -> None:
        self.pts_faults = self.dts_faults = 0
        self.last_pts: int | None = None
        self.last_dts: int | None = None

    def best_effort(self, pts: int | None, dts: int | None) -> int | None:
        if dts is not None:
            self.dts_faults += self.last_dts is not None and dts <= self.last_dts
            self.last_dts = dts
        if pts is not None:
            self.pts_faults += self.last_pts is not None and pts <= self.last_pts
            self.last_pts = pts
        if self.pts_faults <= self.dts_faults:
            return pts if pts is not None else dts
        return dts


def _is_segment_key(packet: av.Packet, segment: Segment) -> bool:
    """Whether ``packet`` is the keyframe a segment starts at (by byte offset where known)."""
    if packet.pts != segment.key_pts or not packet.is_keyframe:
        return False
    if segment.key_pos is not None and segment.key_pos >= 0 and packet.pos is not None and packet.pos >= 0:
        return packet.pos == segment.key_pos
    return packet.dts == segment.key_dts


# Containers whose key flags promise that decoding can start there with nothing later depending on
# anything earlier (MP4/MOV sync samples, Matroska key blocks); elsewhere they may be guesses.
_SPLITTABLE_CONTAINERS = ("mov", "matroska")


def scan_packets(source: str, stream: int = 0, min_pixels: int = 0) -> PacketTable:
    """The packet table of a video stream, read without decoding (about 15 ms a minute of 720p).

    A file that cannot be opened raises as :class:`VideoReader` would; one without that stream,
    or without a decoder for it, or with frames of fewer than ``min_pixels`` pixels, gives an
    empty table that cannot be cut (the reader then says what is wrong, if anything).
    """
    with _open_container(Path(source)) as container:
        videos = container.streams.video
        context = videos[stream].codec_context if 0 <= stream < len(videos) else None
        if context is None or context.width * context.height < min_pixels:
            return PacketTable(*(np.zeros(0, np.int64),) * 3, np.zeros(0, bool), Fraction(1), False)
        video = videos[stream]
        pts: list[int] = []
        dts: list[int] = []
        pos: list[int] = []
        key: list[bool] = []
        splittable = container.format.name.startswith(_SPLITTABLE_CONTAINERS)
        starts_clean = clean_start_test(video.codec_context.name, video.codec_context.extradata)
        try:
            for packet in container.demux(video):
                if not packet.size:
                    continue
                located = packet.pos is not None and packet.pos >= 0 or packet.dts is not None
                if packet.is_discard or packet.pts is None or not located:
                    splittable = False  # no time to cut by, or no way to find the packet again
                pts.append(packet.pts or 0)
                dts.append(-1 if packet.dts is None else packet.dts)
                pos.append(-1 if packet.pos is None else packet.pos)
                key.append(packet.is_keyframe and starts_clean(bytes(packet)))
        except (av.FFmpegError, OSError):
            splittable = False  # the reader will say what is wrong with it
        return PacketTable(np.array(pts, np.int64), np.array(dts, np.int64),
                           np.array(pos, np.int64), np.array(key, bool),
                           Fraction(video.time_base or Fraction(1, 1)), splittable)


def _clock_seconds(text: str | None) -> float | None:
    """``HH:MM:SS.fraction`` (Matroska's DURATION tag) in seconds; None if absent or malformed."""
    try:
        hours, minutes, seconds = (text or "").split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


ENCODERS = ("libx264", "h264_nvenc")
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
_NVENC_PRESETS = dict(zip(PRESETS, ("p1", "p1", "p2", "p3", "p3", "p4", "p5", "p6", "p7")))


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
            raise InvalidOptionError(f"--encoder must be one of {', '.join(ENCODERS)}, got {self.codec!r}")
        if not 0 <= self.crf <= 51:
            raise InvalidOptionError(f"--crf must be within [0, 51], got {self.crf}")
        if self.preset not in PRESETS:
            raise InvalidOptionError(f"--preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")

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
        width=fitted_width, height=fitted_height).to_ndarray()
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - fitted_height) // 2, (width - fitted_width) // 2
    canvas[top:top + fitted_height, left:left + fitted_width] = fitted
    return canvas


# Image outputs: extension -> (encoder, pixel format, encoder options).
IMAGE_ENCODERS = {".jpg": ("mjpeg", "yuvj444p", {"qmin": "1", "qmax": "3"}),
                  ".jpeg": ("mjpeg", "yuvj444p", {"qmin": "1", "qmax": "3"}),
                  ".png": ("png", "rgb24", {}), ".webp": ("libwebp", "yuv420p", {"quality": "92"}),
                  ".tif": ("tiff", "rgb24", {}), ".tiff": ("tiff", "rgb24", {}),
                  ".bmp": ("bmp", "bgr24", {}), ".ppm": ("ppm", "rgb24", {})}


def write_image(path: str, name: str, rgb: np.ndarray) -> None:
    """Encode one ``(H, W, 3)`` RGB picture to ``path`` in the format ``name``'s extension says.

    ``path`` may be a temporary file of any name (the image muxer is told not to read it as a
    numbered pattern); an extension without an encoder here raises ``InvalidOptionError``.
    """
    suffix = Path(name).suffix.lower()
    if suffix not in IMAGE_ENCODERS:
        raise InvalidOptionError(f"cannot write a photo as {suffix or 'a file without extension'}: "
                                 f"use {', '.join(IMAGE_ENCODERS)}")
    codec, pix_fmt, options = IMAGE_ENCODERS[suffix]
    height, width = rgb.shape[:2]
    try:
        with av.open(path, "w", format="image2", options={"update": "1"}) as container:
            stream = container.add_stream(codec, rate=1)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            stream.options = options
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            container.mux(stream.encode(frame.reformat(format=pix_fmt)))
            container.mux(stream.encode())
    except OSError as exc:
        raise OutputNotWritableError(f"{name}: cannot write ({exc.strerror or exc})") from exc


class VideoWriter:
    """Encode RGB frames to H.264 with the source's own timestamps; copy the source's audio as is.

    The video stream takes the time base and colour description of ``like`` (a decoded source
    frame) and each frame the pts it had, so variable frame rates and late starts survive
    exactly and colours convert back with the matrix and range they were decoded with. Audio
    packets are remuxed without re-encoding, read from the source in step with the video
    packets, so the file comes out interleaved and memory stays bounded. As a context manager,
    leaving normally finishes the file and an exception abandons it. ``path`` is written;
    messages call it ``name``.
    """

    def __init__(self, path: str, name: str, container_format: str, width: int, height: int,
                 like: av.VideoFrame, rate: Fraction | None, encoder: EncoderOptions,
                 audio_from: str | None = None,
                 span: tuple[float, float | None] = (0.0, None)) -> None:
        self.name = name
        self._span = span  # seconds of source audio kept; its start becomes time 0
        self._colors = (like.colorspace, like.color_range)
        self._audio_name = audio_from
        self._audio_source: av.container.InputContainer | None = None
        self._audio_streams: dict[int, av.stream.Stream] = {}
        self._audio_packets: Iterator[av.Packet] = iter(())
        self._pending: av.Packet | None = None
        try:
            # MP4/MOV: the index goes to the front when the file is finished (faststart), so
            # that a browser plays it while it loads.
            options = {"movflags": "+faststart"} if container_format in ("mp4", "mov") else {}
            self._output = av.open(path, "w", format=container_format, options=options)
        except (av.FFmpegError, OSError) as exc:
            raise OutputNotWritableError(f"{name}: cannot write ({_reason(exc)})") from exc
        try:
            self._video = self._add_video(width, height, like, rate, encoder)
            if audio_from is not None:
                self._add_audio(audio_from)
            try:
                self._output.start_encoding()
            except (av.FFmpegError, OSError) as exc:
                audio = ", ".join(s.codec_context.name for s in self._audio_streams.values())
                hint = "; try .mkv" if container_format != "matroska" else ""
                raise OutputNotWritableError(
                    f"{name}: cannot store H.264{f' with {audio} audio' if audio else ''} in "
                    f"{container_format} ({_reason(exc)}){hint}") from exc
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
            context = stream.codec_context
            context.time_base = like.time_base
            context.colorspace, context.color_range = self._colors
            context.color_primaries, context.color_trc = like.color_primaries, like.color_trc
            stream.options = encoder.codec_options()
            context.open()
        except (av.FFmpegError, ValueError) as exc:
            if encoder.codec == "h264_nvenc":
                raise DeviceUnavailableError(
                    f"--encoder h264_nvenc does not run on this machine ({_reason(exc)})") from exc
            raise InvalidOptionError(f"{self.name}: {encoder.codec} cannot encode {width}x{height} "
                                     f"video ({_reason(exc)})") from exc
        return stream

    def _add_audio(self, source: str) -> None:
        """Output streams copying the source's audio, fed from a second reader of the source."""
        self._audio_source = _open_container(Path(source))
        streams = self._audio_source.streams.audio
        self._audio_streams = {s.index: self._output.add_stream_from_template(s) for s in streams}
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
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.colorspace, frame.color_range = self._colors  # the encoder converts to YUV with these
        frame.pts = pts
        frame.time_base = self._video.codec_context.time_base
        if duration:
            frame.duration = duration  # the last frame's duration sets the stream's
        try:
            self._mux(self._video.encode(frame))
        except (av.FFmpegError, OSError) as exc:
            raise OutputNotWritableError(f"{self.name}: write failed ({_reason(exc)})") from exc

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
                                            f"({_reason(exc)})") from exc
                if self._pending is None:
                    return
            packet = self._pending
            start = packet.dts if packet.dts is not None else packet.pts
            offset = self._span[0]
            if until is not None and start is not None and start * packet.time_base - offset > until:
                return
            self._pending = None
            if not packet.size:  # each stream ends with an empty flush packet
                continue
            if offset or self._span[1] is not None:
                seconds = float((start or 0) * packet.time_base)
                end = self._span[1]
                if seconds < offset or (end is not None and seconds >= end):
                    continue
                ticks = round(offset / packet.time_base)
                packet.pts = None if packet.pts is None else packet.pts - ticks
                packet.dts = None if packet.dts is None else packet.dts - ticks
            packet.stream = self._audio_streams[packet.stream.index]
            self._output.mux(packet)

    def close(self) -> None:
        """Flush the encoder, copy the rest of the audio and write the trailer."""
        try:
            self._mux(self._video.encode(None))
            self._copy_audio(until=None)
            self._output.close()
        except (av.FFmpegError, OSError) as exc:
            raise OutputNotWritableError(f"{self.name}: write failed ({_reason(exc)})") from exc
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
