"""Where one video can be cut into parts that decode independently, for worker processes.

A cut goes before a keyframe packet that no frame displays across: every earlier packet shows
before it and no later one does. Decoding from such a keyframe needs nothing earlier (the
containers split here mark a packet key only when that holds for decoding; for H.264 and HEVC
the packet must also hold an IDR or IRAP picture), and each part's frames come out exactly as
the same frames of the whole video would, in the same order: the parts are the whole, cut.
:func:`scan_packets` reads the packet table without decoding; the rest is pure numpy and
bytes over that table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .files import open_container, video_streams


@dataclass(frozen=True)
class PacketTable:
    """A video stream's packets in decoding order, as the reader counts them (data, not discarded).

    ``pts``: presentation timestamps in the stream's time base; ``pos``: byte offsets (-1 if
    unknown); ``keyframe``: the container marks the packet as a place to start decoding, and
    its data passes :func:`clean_start_test`.
    ``splittable``: False when something rules cutting out (missing timestamps, packets an edit
    list hides, a container whose key flags are guesses).
    ``marked_key``: the container's key flag alone (an open GOP's I frames too), where read.
    """

    pts: np.ndarray  # int64 (N,)
    dts: np.ndarray  # int64 (N,)
    pos: np.ndarray  # int64 (N,)
    keyframe: np.ndarray  # bool (N,)
    time_base: Fraction
    splittable: bool
    marked_key: np.ndarray | None = None  # bool (N,)


@dataclass(frozen=True)
class Segment:
    """Packets ``[first, first + count)`` of the stream; ``count`` None: to the stream's end.

    ``first`` is also the index of the segment's first frame when every packet decodes to one
    frame (the reader's count); ``key_pts``/``key_dts``/``key_pos`` identify its first packet
    after a seek (None for the stream's start). ``start_s``/``end_s``: the presentation times
    the segment covers, ``[start_s, end_s)``, from the packet table.
    """

    first: int
    count: int | None
    key_pts: int | None = None
    key_dts: int | None = None
    key_pos: int | None = None
    start_s: float = float("-inf")
    end_s: float = float("inf")

    @property
    def is_last(self) -> bool:
        return self.count is None


WHOLE = Segment(0, None)


# H.264 and HEVC containers mark recovery points key as well (an H.264 I picture that is not IDR),
# after which later pictures may still refer to earlier ones. A cut needs an IDR picture there
# (HEVC: an IRAP picture, whose trailing pictures refer to nothing before it). Other codecs' key
# frames reset every reference. NAL unit type from a NAL unit's first byte, and the clean types:
_CLEAN_NAL_TYPES: dict[str, tuple[Callable[[int], int], frozenset[int]]] = {
    "h264": (lambda first: first & 0x1F, frozenset({5})),
    "hevc": (lambda first: (first >> 1) & 0x3F, frozenset(range(16, 22))),
}


def clean_start_test(codec: str, extradata: bytes | None) -> Callable[[bytes], bool]:
    """A test of a key packet's data: does decoding start clean there (see above)?"""
    if codec not in _CLEAN_NAL_TYPES:
        return lambda data: True
    nal_type, clean = _CLEAN_NAL_TYPES[codec]
    length = _nal_length_size(codec, extradata)
    return lambda data: any(nal_type(first) in clean for first in _nal_first_bytes(data, length))


def _nal_length_size(codec: str, extradata: bytes | None) -> int | None:
    """Bytes of each NAL unit's length prefix (avcC / hvcC extradata); None: Annex B start codes."""
    if not extradata or extradata[0] != 1:
        return None
    if codec == "h264" and len(extradata) >= 5:
        return (extradata[4] & 3) + 1
    if codec == "hevc" and len(extradata) >= 23:
        return (extradata[21] & 3) + 1
    return None


def _nal_first_bytes(data: bytes, length: int | None) -> Iterator[int]:
    if length is None:
        for unit in data.split(b"\x00\x00\x01")[1:]:
            if unit:
                yield unit[0]
        return
    at = 0
    while at + length < len(data):
        size = int.from_bytes(data[at:at + length], "big")
        yield data[at + length]
        at += length + size


def cut_points(table: PacketTable) -> np.ndarray:
    """Packet indices (> 0) where the stream can be cut: keyframes no frame displays across."""
    pts = table.pts
    if not table.splittable or len(pts) < 2:
        return np.zeros(0, np.intp)
    shown_before = np.maximum.accumulate(pts)[:-1]  # latest pts among packets [0, k)
    shown_from = np.minimum.accumulate(pts[::-1])[::-1][1:]  # earliest pts among packets [k, N)
    at = pts[1:]
    ok = table.keyframe[1:] & (shown_before < at) & (shown_from == at)
    return np.flatnonzero(ok) + 1


def plan_segments(table: PacketTable, target_packets: int) -> list[Segment]:
    """Cut at the first cut point at least ``target_packets`` after the previous cut (segments
    run longer where keyframes are sparse); one segment if the stream cannot be cut."""
    chosen: list[int] = []
    for k in cut_points(table).tolist():
        if k - (chosen[-1] if chosen else 0) >= target_packets:
            chosen.append(k)
    if not chosen:
        return [WHOLE]
    total = len(table.pts)
    bounds = [0, *chosen, total]
    segments = []
    for first, end in zip(bounds[:-1], bounds[1:], strict=False):
        last = end == total
        key_pts, key_dts, key_pos = ((None, None, None) if first == 0 else
                                     (int(table.pts[first]), int(table.dts[first]), int(table.pos[first])))
        start_s = float("-inf") if first == 0 else float(int(table.pts[first]) * table.time_base)
        end_s = float("inf") if last else float(int(table.pts[end]) * table.time_base)
        segments.append(Segment(first, None if last else end - first, key_pts, key_dts, key_pos, start_s, end_s))
    return segments


def is_segment_key(packet: av.Packet, segment: Segment) -> bool:
    """Whether ``packet`` is the keyframe a segment starts at (by byte offset where known)."""
    if packet.pts != segment.key_pts or not packet.is_keyframe:
        return False
    if segment.key_pos is not None and segment.key_pos >= 0 and packet.pos is not None and packet.pos >= 0:
        return packet.pos == segment.key_pos
    return packet.dts == segment.key_dts


# Containers whose key flags promise that decoding can start there with nothing later depending on
# anything earlier (MP4/MOV sync samples, Matroska key blocks); elsewhere they may be guesses.
SPLITTABLE_CONTAINERS = ("mov", "matroska")


def scan_packets(source: str, stream: int = 0, min_pixels: int = 0) -> PacketTable:
    """The packet table of a video stream, read without decoding (about 15 ms a minute of 720p).

    A file that cannot be opened raises as :class:`VideoReader` would; one without that stream,
    or without a decoder for it, or with frames of fewer than ``min_pixels`` pixels, gives an
    empty table that cannot be cut (the reader then says what is wrong, if anything).
    """
    with open_container(Path(source)) as container:
        videos = video_streams(container)
        context = videos[stream].codec_context if 0 <= stream < len(videos) else None
        if context is None or context.width * context.height < min_pixels:
            return PacketTable(*(np.zeros(0, np.int64),) * 3, np.zeros(0, bool), Fraction(1), False)
        video = videos[stream]
        pts: list[int] = []
        dts: list[int] = []
        pos: list[int] = []
        key: list[bool] = []
        marked: list[bool] = []
        splittable = container.format.name.startswith(SPLITTABLE_CONTAINERS)
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
                marked.append(packet.is_keyframe)
        except (av.FFmpegError, OSError):
            splittable = False  # the reader will say what is wrong with it
        return PacketTable(np.array(pts, np.int64), np.array(dts, np.int64),
                           np.array(pos, np.int64), np.array(key, bool),
                           Fraction(video.time_base or Fraction(1, 1)), splittable,
                           np.array(marked, bool))

