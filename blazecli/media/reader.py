"""Decoding one video (or image) stream: frames in display order with their presentation time.

Times come from pts and the stream's time base (never an assumed constant fps); each frame
carries how the stream is shown (rotation, mirror, non-square pixels), so that callers work in
the coordinates of the frame as a player shows it. A stream that stops short of the length
its container declares is an error, not a shorter video.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from itertools import chain
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..checks import whole_number
from ..errors import (
    CorruptVideoError,
    InvalidOptionError,
    NoVideoStreamError,
)
from .display import SWSCALE_THREADS, Display, display_of, orient
from .files import (
    LIVE_READ_TIMEOUT_S,
    STDIN,
    StdinReader,
    is_live,
    is_url,
    local_path,
    open_container,
    open_live,
    reason,
    video_streams,
)
from .packets import SPLITTABLE_CONTAINERS, WHOLE, Segment, is_segment_key, scan_packets
from .plan import SKIPS_PER_PACKET, DecodePlan, plan_decoding
from .selection import FrameSelection, RatePicker
from .stills import (
    TIFF_JPEG,
    gif_stops_short,
    is_animated_webp,
    is_heif_still,
    jpeg_stops_short,
    png_profile_beyond,
    png_size,
    tiff_compression,
    tiff_pages,
)
from .timestamps import DecodeOrderSlots, TimestampFaults, clock_seconds

PICTURES_CUT_SHORT = {"gif": ("GIF", gif_stops_short), "mjpeg": ("JPEG", jpeg_stops_short)}
"""Codecs whose files FFmpeg decodes in part without a word when they are cut short, each with
its name and the test of its file."""
CLOCK_CONTAINERS = ("mpegts", "mpeg")
"""Demuxers whose times are a running clock, not a place in the file: MPEG-TS and MPEG-PS."""


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
    first_time_s: float | None = None  # the first frame read's presentation time, where stored
    clock_start_s: float = 0.0  # where an MPEG-TS or -PS clock (which starts anywhere) begins; else 0
    size_bytes: int | None = None  # a file's size, read whole: tells a copy from another video alike

    @property
    def first_frame_note(self) -> str:
        """For a span that holds no frame: where the frames' times begin, as `start_s` and
        `end_s` count presentation time (a stream may start at 1000 s); empty if unknown."""
        if self.first_time_s is None:
            return ""
        if self.duration_s is None:
            return f" (times are as stored: its first frame is at {self.first_time_s:g} s)"
        return (f" (times are as stored: its frames run from {self.first_time_s:g} s to "
                f"{self.first_time_s + self.duration_s:g} s, where its last frame ends)")


class Chapter(NamedTuple):
    """A chapter of a video: its span in seconds, and its metadata (``title``, ...)."""

    start_s: float
    end_s: float
    metadata: dict[str, str]


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
        return self._converted("rgb24", "RGB", width=self.display.stretched_width(self.frame.width))

    def small_grey(self, pixels: int, converter: VideoReformatter | None = None) -> np.ndarray:
        """The frame as shown, shrunk to about ``pixels`` grey pixels (uint8), each the mean of
        the area it covers: what camera motion is measured on. ``converter``: a thread's own
        swscale context, where another thread may be converting this frame at the same time
        (the frame's own context is for one at a time)."""
        width, height = self.size
        ratio = math.sqrt(pixels / (width * height))
        columns, rows = max(2, round(width * ratio)), max(2, round(height * ratio))
        if self.display.turned:
            columns, rows = rows, columns
        return self._converted("gray", "grey", converter, width=columns, height=rows, interpolation="AREA")

    def _converted(self, pixel_format: str, name: str, converter: VideoReformatter | None = None,
                   width: int | None = None, height: int | None = None,
                   interpolation: str | None = None) -> np.ndarray:
        """The frame in ``pixel_format`` (called ``name`` in errors), at that size where given,
        as shown; by ``converter`` if given, else by the frame's own swscale context."""
        try:
            if converter is None:
                image = self.frame.to_ndarray(format=pixel_format, threads=SWSCALE_THREADS, width=width,
                                              height=height, interpolation=interpolation)
            else:
                image = converter.reformat(self.frame, width, height, pixel_format, interpolation=interpolation,
                                           threads=SWSCALE_THREADS).to_ndarray()
        except (av.FFmpegError, ValueError) as exc:
            raise CorruptVideoError(f"{self.source}: frame {self.index}: cannot convert pixel format "
                                    f"{self.frame.format.name} to {name} ({reason(exc)})") from exc
        return orient(image, self.display)

    @property
    def grey(self) -> bool:
        """Stored without colour (grey, with or without opacity): a photo written back stays
        grey where its format can."""
        fmt = self.frame.format
        return not fmt.has_palette and sum(not c.is_alpha for c in fmt.components) == 1

    @property
    def sample_bits(self) -> int:
        """Bits a sample as stored (16 in a 16-bit PNG): pictures are processed and written with 8."""
        return max(c.bits for c in self.frame.format.components)

    def alpha(self) -> np.ndarray | None:
        """The frame's opacity as shown, ``(H, W)`` uint8, or None where it has none (or is
        opaque throughout): a photo written back keeps what was transparent transparent."""
        fmt = self.frame.format
        if not (fmt.has_palette or any(c.is_alpha for c in fmt.components)):
            return None
        rgba = self.frame.to_ndarray(format="rgba", threads=SWSCALE_THREADS,
                                     width=self.display.stretched_width(self.frame.width))
        if rgba[:, :, 3].min() == 255:
            return None
        return np.ascontiguousarray(orient(rgba[:, :, 3:], self.display)[:, :, 0])


def too_large_to_decode(width: int, height: int) -> bool:
    """Whether FFmpeg refuses a picture of this size (``av_image_check_size``: the padded size,
    in bytes of eight-byte pixels, must fit a C int)."""
    return (width + 128) * (height + 128) >= (2**31 - 1) // 8


MAX_DECODED_PROFILE = 64 << 20
"""A PNG whose colour profile unpacks to more is refused before FFmpeg decodes it: its decoder
unpacks the profile whole, and a small file can hold gigabytes of it."""
PHOTO_CODECS = ("png", "mjpeg", "bmp", "tiff", "webp", "jpeg2000", "ppm", "pgm", "pgmyuv", "pbm", "pam",
                "gif")
"""Codecs of still pictures: one frame of them alone is a photo (an animated GIF is a video)."""

_MP4_ON_A_PIPE = (
    "{source}: an MP4/MOV read from a pipe cannot be decoded when it keeps its index at the end of the "
    "file (as most do), which a pipe cannot seek back to: pass the path instead, or remux it to "
    "Matroska or fragmented MP4 on the way, e.g. `ffmpeg -i x.mp4 -c copy -f matroska -` into "
    "blazecli's `-`")


class VideoReader:
    """Decode one video (or image) stream frame by frame; use as a context manager.

    ``stream``: which video stream (0 = the first). ``threads``: decoder threads (0 = FFmpeg's choice).
    ``segment``: decode only that part of the stream (planned by :mod:`.packets`); its
    frames are numbered from ``segment.first``. ``selection``: :meth:`frames` yields only the
    frames it chooses, and frames it leaves out are not decoded where the container's packets
    say which they are (MP4/MOV, Matroska; a file, the whole stream): a start is reached by a
    seek, unwanted non-reference frames are skipped by the decoder, packets after the last wanted
    one before a clean cut are not decoded, and keyframes are read alone.
    ``keep_partial``: a stream that stops short of its declared end (or at a read error) ends
    there, recorded in ``truncated``, not an error.

    ``input_format``: FFmpeg's input format (its ``-f``), for devices (``v4l2`` and
    ``/dev/video0``) and sources it cannot tell by their content. A URL, a device or a pipe
    is ``live``: frames are timed from the first one received (a stream's own clock starts
    anywhere), and a read error after the first frame ends the input (``read_error``), as a
    dropped connection does; it is not reconnected.
    """

    def __init__(self, source: str | Path, stream: int = 0, threads: int = 0,
                 segment: Segment = WHOLE, selection: FrameSelection | None = None,
                 keep_partial: bool = False, input_format: str | None = None) -> None:
        self.source = str(source)
        whole_number("stream", stream, 0)  # before the file is opened: a usage error
        self.live = is_live(self.source, input_format)
        self.read_error: str | None = None  # why a live input ended early
        self._segment = segment
        self._selection = selection
        self.frames_read = 0  # frames of the video passed, decoded or not (up to the span's end)
        self._keep_partial = keep_partial
        self.truncated: tuple[float | None, float | None] | None = None  # (stopped at, declared end) s
        self._opened_by_ffmpeg = input_format is not None or is_url(self.source)  # no file behind
        if self._opened_by_ffmpeg:
            self._container = open_live(self.source, input_format)
        else:
            self._container = open_container(StdinReader() if self.source == STDIN else self.source)
        try:
            videos = video_streams(self._container)
            if not videos:
                kinds = sorted({s.type for s in self._container.streams if s.type != "video"})
                cover = " and a cover picture" if self._container.streams.video else ""
                held = (f"only {' and '.join(kinds)}{cover}" if kinds
                        else "no streams at all: an empty recording, or damaged or truncated")
                raise NoVideoStreamError(f"{self.source}: no video stream ({held})")
            if not 0 <= stream < len(videos):
                raise InvalidOptionError(
                    f"{self.source}: `stream={stream}` does not exist (it has {len(videos)} video stream(s))")
            self._stream = videos[stream]
            self._stream_position = stream  # among the video streams
            if self._stream.codec_context is None:
                raise CorruptVideoError(f"{self.source}: this FFmpeg has no decoder for its video codec "
                                        "(unknown or unsupported)")
            self._threads = threads
            self._stream.thread_type = "AUTO"
            self._stream.thread_count = threads
            self._packets = 0  # packets with data, not counting those an edit list hides
            self._rejected = 0  # packets the decoder refused with an error
            self._decoded = 0
            self._ended = False
            self._first: av.VideoFrame | None = None
            # AVI stores no presentation times: frames are timed by their places in decode order.
            self._slots = DecodeOrderSlots() if self._container.format.name == "avi" else None
            self._missing = 0  # wanted frames a planned read never got
            self._decoded_before = 0  # frames decoded by a planned read given up for damage
            self._plan = self._plan_for(selection)
            self.info = self._probe()
            self.chapters = self._chapters()  # read now: the container closes once read to its end
        except BaseException:
            self._container.close()
            raise

    def _chapters(self) -> list[Chapter]:
        """The container's chapters, in seconds of the frames' times (a live input's count from
        its first frame)."""
        origin = (self.info.first_time_s or 0.0) if self.live else 0.0
        return [Chapter(float(chapter["start"] * chapter["time_base"]) - origin,
                        float(chapter["end"] * chapter["time_base"]) - origin, dict(chapter["metadata"]))
                for chapter in self._container.chapters()]

    @property
    def frames_decoded(self) -> int:
        """Frames the decoder made, wanted or not."""
        return self._decoded_before + self._decoded

    @property
    def skipped_packets(self) -> int:
        """Packets that became no frame: refused by the decoder, or (known once the stream has been
        read to its end) dropped by it without a word, as decoders do with damaged references."""
        if self._plan is not None:  # frames are skipped on purpose: count the wanted ones lost
            return max(self._rejected, self._missing)
        if self._ended:
            return max(self._rejected, self._packets - self._decoded)
        return self._rejected

    def _picture_size(self) -> tuple[int, int] | None:
        """A still picture's size as stored: FFmpeg's, or a PNG header's where FFmpeg gave none."""
        context = self._stream.codec_context
        if context.width and context.height:
            return context.width, context.height
        return png_size(self.source) if Path(self.source).is_file() else None

    def _probe(self) -> VideoInfo:
        """Read stream facts; the first frame is decoded here because the display matrix lives
        on frames."""
        s = self._stream
        codec = s.codec_context.name
        container = self._container.format.name
        # FFmpeg reads the content, not the name: a photo named .mp4 is read as the photo it is.
        # A video container that states no frame count (Matroska) holds a video: a webcam's
        # MJPEG in .mkv is one. A picture's own demuxer that counts none (image2, a pipe's, a
        # GIF's on a pipe) may hold several pictures: the frames tell, below.
        on_disk = Path(self.source).is_file()  # its bytes can be looked at: not stdin, a pipe, a URL
        is_image = (codec in PHOTO_CODECS
                    and (s.frames == 1 or not s.frames and (container in ("image2", "gif")
                                                            or container.endswith("_pipe")))
                    or s.frames == 1 and on_disk and is_heif_still(self.source))
        stops_short = PICTURES_CUT_SHORT.get(codec)
        if stops_short is not None and on_disk and stops_short[1](self.source):
            if not self._keep_partial:
                raise CorruptVideoError(f"{self.source}: truncated or damaged: the {stops_short[0]} "
                                        "stops before its end")
            self.truncated = (None, None)
        if is_image and codec == "tiff" and on_disk:
            pages = tiff_pages(self.source)
            if pages > 1:
                raise CorruptVideoError(f"{self.source}: a TIFF of {pages} pages, of which FFmpeg reads the "
                                        "first only: split it into one file a page")
            if tiff_compression(self.source) in TIFF_JPEG:
                raise CorruptVideoError(f"{self.source}: a TIFF of JPEG-compressed pixels, which FFmpeg "
                                        "decodes as black: save it with another compression (LZW, Deflate) "
                                        "or as a JPEG")
        if (is_image and codec == "png" and on_disk
                and png_profile_beyond(self.source, MAX_DECODED_PROFILE)):
            raise CorruptVideoError(f"{self.source}: its colour profile unpacks to over "
                                    f"{MAX_DECODED_PROFILE >> 20} MB (profiles take kilobytes), which "
                                    "FFmpeg would unpack whole: damaged or hostile; save it without one")
        self._frames = self._decode()
        try:
            self._first = next(self._frames)
        except StopIteration:
            declared = self._declared_end()
            if self._packets and codec == "webp" and not on_disk:
                what = ("a WebP that does not decode: animated (FFmpeg decodes stills only; convert "
                        "it to GIF or a video), or damaged")
            elif self._packets and codec == "webp" and is_animated_webp(self.source):
                what = "an animated WebP, which FFmpeg cannot decode (convert it to GIF or a video)"
            elif self._packets and codec == "webp":
                what = "truncated or damaged: its WebP picture does not decode"
            elif self._packets and is_image and (size := self._picture_size()) and too_large_to_decode(*size):
                what = (f"its {size[0]}x{size[1]} picture is larger than FFmpeg decodes (about 268 "
                        "megapixels): scale it down first")
            elif self._packets and is_image:
                what = (f"its {codec} picture does not decode: damaged, or a kind FFmpeg does not read"
                        + (" (such as floating-point samples)" if codec == "tiff" else ""))
            elif self._packets:
                what = f"truncated or damaged: none of its {self._packets} video packet(s) decodes"
            elif declared:
                what = f"truncated or damaged: no frame of the {declared:.2f} s it declares can be read"
            else:
                what = "the video stream holds no frames (an empty recording?)"
            raise CorruptVideoError(f"{self.source}: {what}") from None
        if is_image and not s.frames:
            second = next(self._frames, None)
            is_image = second is None
            if second is not None:
                self._frames = chain([second], self._frames)
        display = display_of(self._first, s, self.source, is_image)
        width, height = display.size(self._first.width, self._first.height)
        duration = fps = None
        if is_image:  # FFmpeg's 25 fps and one frame's duration mean nothing for a photo
            pass
        elif self.live:  # what a stream declares is its first part's (a fragmented MP4's fragment)
            pass
        elif s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif (end := self._declared_end()) is not None:  # Matroska: the track's own end
            began = self._first.time or 0.0
            if self._segment.key_pts is not None and s.start_time is not None and s.time_base:
                began = float(s.start_time * s.time_base)  # read from a keyframe part-way
            duration = max(0.0, end - began)
        elif self._container.duration:  # the longest stream's: audio may run on
            duration = self._container.duration / av.time_base
        if not is_image and s.average_rate:
            fps = float(s.average_rate)
        frames = s.frames or (round(duration * fps) if duration and fps else None)
        # A broadcast stream's clock starts anywhere (an HLS segment from minute 50 at 3000 s):
        # its copies start from its earliest stream, as ffmpeg's do.
        clock = self._container.start_time
        clock_start = (clock / av.time_base if clock is not None and not self.live
                       and container in CLOCK_CONTAINERS else 0.0)
        size_bytes = Path(self.source).stat().st_size if on_disk and not self.live else None
        return VideoInfo(self.source, width, height, display, fps, duration,
                         1 if is_image else frames, codec, s.index, is_image,
                         None if is_image else self._first.time, clock_start, size_bytes)

    def _plan_for(self, selection: FrameSelection | None) -> DecodePlan | None:
        """The plan of a sampled read; None where frames cannot be counted from the packets
        (or nothing is left out): then every frame is decoded and the selection applied to them."""
        if (selection is None or selection.takes_all or self.live or self._segment is not WHOLE
                or self.source == STDIN):  # a file on stdin: the packets are read by name
            return None
        rate = self._stream.average_rate
        plan = plan_decoding(scan_packets(self.source, self._stream_position), selection,
                             self._declared_end(), 1 / float(rate) if rate else 0.0)
        if plan is not None and plan.start is not None:
            self._segment = plan.start  # seek to the clean cut before the first wanted frame
        return plan

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Frames in display order; packets that fail to decode are counted and skipped.

        A stream that stops well before the end its container declares is an error (the file is
        truncated, or damaged past that point), never a silently shorter video.

        With a plan, the frame a packet holds is known from its pts before decoding. A wanted
        one is decoded. An unwanted one is skipped by a decoder that reads ``skip_frame`` per
        packet unless other frames refer to it (NONREF), and not sent at all where the plan does
        not need it; a keyframes-only read sends keyframes alone (see :class:`DecodePlan`) and
        no other packet. Until the first frame is out (the probe), the decoder skips nothing,
        and a packet the plan does not need is sent only to a drained decoder.
        """
        last: av.VideoFrame | None = None
        plan = self._plan
        context = self._stream.codec_context
        toggles = plan is not None and not plan.alone and context.name in SKIPS_PER_PACKET
        fed = False  # packets sent since the decoder was last drained
        for packet in self._demux():
            alone = left_out = False
            if plan is not None and packet is not None and packet.size and not packet.is_discard:
                at = self._segment.first + self._packets
                wanted = plan.wanted[plan.rank[at]]
                if plan.alone:
                    alone = wanted or not self._decoded
                    left_out = not alone
                else:  # the probe's first frame is drained out as well
                    left_out = not plan.needed[at] and (fed or self._decoded > 0)
                    if toggles and self._decoded:
                        context.skip_frame = "DEFAULT" if wanted else "NONREF"
            if packet is not None and packet.size and not packet.is_discard:
                self._packets += 1
            if left_out and not fed:
                continue
            # Alone: the packet, then a drain; the first packet left out: a drain of those before.
            for sent in (None,) if left_out else (packet, None) if alone else (packet,):
                if self._slots is not None and sent is not None and sent.size:
                    self._slots.sent(sent.dts)
                try:
                    frames = self._stream.decode(sent)  # None: a segment's end, drain the decoder
                except av.FFmpegError as exc:
                    if self._slots is not None and sent is not None:
                        self._slots.refused(sent.dts)
                    if isinstance(exc, av.error.InvalidDataError):
                        self._rejected += bool(sent and sent.size)  # a flush is no packet of the video
                        continue
                    if not self._decoded and self._segment.key_pts is None:  # nothing decodes
                        raise CorruptVideoError(f"{self.source}: does not decode: damaged, or a kind FFmpeg "
                                                f"does not read (FFmpeg: {reason(exc)})") from exc
                    self._rejected += 1
                    continue
                for frame in frames:
                    if sent is None:  # drained frames carry no time base of their own
                        frame.time_base = self._stream.time_base
                    if self._slots is not None:
                        frame.pts = self._slots.shown()
                    self._decoded += 1
                    last = frame
                    yield frame
            fed = not (alone or left_out)
            if not fed:
                context.flush_buffers()  # drained: ready for the next keyframe, as after a seek
        self._ended = True
        if plan is not None or self._opened_by_ffmpeg:
            # A plan's table was held against the declared end, and frames were skipped on
            # purpose. A stream or device has no end to hold it to (a pipe may carry a whole file's).
            return
        threads = self._stream.codec_context.thread_count
        if threads > 1 and self._packets - self._rejected - self._decoded > 0:
            for frame in self._decode_tail_again(last):
                self._decoded += 1
                last = frame
                yield frame
        if self._segment.is_last and last is not None:  # only the last segment knows the end
            self._check_complete(last)

    def _decode_tail_again(self, last: av.VideoFrame | None) -> Iterator[av.VideoFrame]:
        """The frames after ``last`` to the segment's end once more, decoded without frame threads.

        With frame threads, an error surfaces at the final flush before the frames queued behind
        it, and PyAV cannot receive those afterwards: with 16 decoder threads (a 16-core
        machine), damage within the last 16 frames of a video, or of a part of it
        (``--workers``), lost all of them. So when some packet gave no frame, what follows
        ``last`` is decoded again on one thread, from the keyframe before it. Input read from a
        pipe cannot be read again.
        """
        if self.source == STDIN or (last is not None and last.pts is None):
            return
        segment = self._segment
        start = last.pts if last is not None else segment.key_pts
        with av.open(local_path(self.source)) as container:
            stream = video_streams(container)[self._stream_position]
            stream.thread_count = 1
            if start is not None:
                container.seek(start, stream=stream, backward=True)
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    after = last is None or (packet.pts is not None and packet.pts > last.pts)
                    before_end = packet.pts is None or float(packet.pts * stream.time_base) < segment.end_s
                    self._rejected += bool(packet.size) and after and before_end
                    continue
                for frame in frames:
                    if frame.pts is not None and float(frame.pts * stream.time_base) >= segment.end_s:
                        return  # the next segment's: frames come out in presentation order
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
                                            f"{segment.key_pts} failed; rerun with `workers=1`") from None
                return
            except (av.FFmpegError, OSError) as exc:
                silent = isinstance(exc, av.ExitError)  # the read timed out
                if self.live and self._decoded:
                    self.read_error = (f"nothing arrived for {LIVE_READ_TIMEOUT_S:g} s" if silent
                                       else f"read error ({reason(exc)})")
                    yield None  # the frames still in the decoder
                    return
                if self.live and silent:
                    raise CorruptVideoError(
                        f"{self.source}: no video frame arrived within {LIVE_READ_TIMEOUT_S:g} s "
                        "(a stream joined part-way shows nothing until its next keyframe)") from exc
                if self._keep_partial and self._decoded:
                    self.truncated = (None, self._declared_end())
                    return
                if self._nothing_decoded_of_a_pipe("mov"):
                    raise CorruptVideoError(_MP4_ON_A_PIPE.format(source=self.source)) from exc
                if self._nothing_decoded_of_a_pipe("tiff"):  # its directories lie anywhere
                    raise CorruptVideoError(f"{self.source}: a TIFF cannot be read from a pipe, which "
                                            "cannot seek to its parts: pass the path instead") from exc
                raise CorruptVideoError(f"{self.source}: read error after "
                                        f"{self._segment.first + self._decoded} frame(s) "
                                        f"({reason(exc)})") from exc
            if not started:
                started = is_segment_key(packet, segment)
                if not started:
                    continue  # the seek landed on an earlier keyframe
            if packet.size and not packet.is_discard:
                if counted == segment.count:
                    yield None
                    return
                counted += 1
            yield packet

    def _nothing_decoded_of_a_pipe(self, demuxer: str) -> bool:
        """Whether nothing was decoded yet of stdin or a pipe that this demuxer (its name's
        start: ``mov`` for MP4/MOV) reads."""
        piped = self.source == STDIN or not Path(self.source).is_file()
        return piped and not self._decoded and self._container.format.name.startswith(demuxer)

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
            if self._keep_partial:
                self.truncated = (end, declared)
                return
            raise CorruptVideoError(
                f"{self.source}: truncated or damaged: the video stops at {end:.2f} s of the "
                f"{declared:.2f} s it declares ({self._segment.first + self._decoded} frames decoded)")

    def _declared_end(self) -> float | None:
        """Where the stream says it ends, from containers that store it rather than estimate it:
        MP4/MOV and AVI (stream duration), Matroska/WebM (the track's DURATION tag)."""
        s = self._stream
        container = self._container.format.name
        if container.startswith("matroska"):
            return clock_seconds(s.metadata.get("DURATION"))
        if (container.startswith("mov") or container == "avi") and s.duration and s.start_time is not None:
            return float((s.start_time + s.duration) * s.time_base)
        return None

    def frames(self) -> Iterator[DecodedFrame]:
        """Every frame with its index and time; times missing from the stream are extrapolated.

        A frame's time is its pts. MP4/MOV and Matroska store each frame's pts (and only they
        are cut into parts, which must time frames as one pipeline does). AVI stores none: its
        frames are timed by their places in decode order (:class:`DecodeOrderSlots`).
        Elsewhere the pts are trusted unless they go backwards more often than the dts
        (FFmpeg's best-effort timestamp).
        """
        if self._first is None:
            return
        if self._plan is not None:
            yield from self._planned_frames(self._plan)
            return
        display = self.info.display
        step = 1.0 / self.info.fps if self.info.fps else 1.0 / 30.0
        previous = None
        stored_pts = self._container.format.name.startswith(SPLITTABLE_CONTAINERS)
        origin = None
        faults = TimestampFaults()
        selection = self._selection
        picker: RatePicker[DecodedFrame] | None = None
        if selection is not None and selection.fps is not None:
            picker = selection.rate_picker()
        index = self._segment.first
        frame = self._first
        self._first = None
        while True:
            stamp = frame.pts if stored_pts else faults.best_effort(frame.pts, frame.dts)
            if stamp is not None and self.live:  # counted from the first, in the stream's ticks:
                origin = stamp if origin is None else origin  # exact, as a file's times are
                stamp -= origin
            time_s = None if stamp is None or frame.time_base is None else float(stamp * frame.time_base)
            if time_s is None:
                time_s = 0.0 if previous is None else previous + step
            if selection is not None and selection.past_end(time_s):
                break  # not counted: parts of a split video stop before it too
            self.frames_read += 1
            decoded = DecodedFrame(index, float(time_s), frame, display, self.source)
            if selection is None:
                yield decoded
            elif picker is not None:
                if selection.in_span(time_s):
                    exact = (Fraction(stamp) * frame.time_base
                             if stamp is not None and frame.time_base is not None else Fraction(time_s))
                    yield from picker.push(decoded, exact)
            elif selection.keyframes:
                if frame.key_frame and selection.in_span(time_s):
                    yield decoded
            elif selection.wants(index, time_s):
                yield decoded
            previous = float(time_s)
            index += 1
            try:
                frame = next(self._frames)
            except StopIteration:
                break
        if picker is not None:
            yield from picker.finish()

    def _planned_frames(self, plan: DecodePlan) -> Iterator[DecodedFrame]:
        """The wanted frames of a planned read, numbered by pts; it stops after the last one.

        Numbered by pts, a frame has the index a full read counts for it only while no frame
        before it was lost. At the first sign of damage (a packet refused, a wanted frame that
        never came, a frame out of place) the read starts over from the stream's start, decoding
        every frame and counting them, and goes on after the last frame it yielded.
        """
        display = self.info.display
        last = plan.last_wanted
        frame: av.VideoFrame | None = self._first
        self._first = None
        got = 0
        yielded = -1
        while frame is not None and last >= 0:
            pts = frame.pts
            index = plan.index_of.get(pts) if pts is not None else None
            lost = int(plan.wanted_before[index]) - got if index is not None else 0
            if self._rejected or pts is None or index is None or index <= yielded or lost:
                yield from self._read_whole_after(yielded)
                return
            if plan.wanted[index]:
                self.frames_read = max(self.frames_read, index + 1)
                got += 1
                yielded = index
                yield DecodedFrame(index, float(pts * plan.time_base), frame, display,
                                   self.source)
                if index >= last:
                    break
            frame = next(self._frames, None)
        self._missing = int(plan.wanted.sum()) - got
        self.frames_read = plan.reach

    def _read_whole_after(self, yielded: int) -> Iterator[DecodedFrame]:
        """The selected frames after frame ``yielded``, as a read without a plan numbers them."""
        self._decoded_before += self._decoded
        self._plan = None
        self._segment = WHOLE
        self._packets = self._rejected = self._decoded = self._missing = 0
        self.frames_read = 0
        self._container.close()
        self._container = open_container(Path(self.source))
        self._stream = video_streams(self._container)[self._stream_position]
        self._stream.thread_type = "AUTO"
        self._stream.thread_count = self._threads
        self._frames = self._decode()
        self._first = next(self._frames, None)
        for decoded in self.frames():
            if decoded.index > yielded:
                yield decoded

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
