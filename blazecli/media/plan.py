"""What a sampled read decodes, worked out from the packet table before decoding (pure numpy).

Frame ``k`` of a video is its ``k``-th packet by pts: each packet decodes to one frame, as
segments count them too. So before any decoding the frame each packet holds is known, and
with it whether the selection wants it: the reader then skips what nobody will look at.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import numpy as np

from .packets import PacketTable, Segment, cut_points
from .selection import FrameSelection

SKIPS_PER_PACKET = frozenset({"h264", "hevc", "vp9"})
"""Decoders that read ``skip_frame`` afresh for each packet, frame threads included (checked
frame by frame against a full decode in the tests). libdav1d reads it once, as it opens: later
it is ignored, and set before it would hide wanted frames too."""


@dataclass(frozen=True)
class DecodePlan:
    """``rank``: each packet's frame, in decoding order; ``wanted``: per frame; ``index_of``:
    pts -> frame; ``reach``: frames before the span's end, counted as read once done.
    ``needed``: per packet, in decoding order: whether it is sent to the decoder. Between two
    clean cuts (see :func:`.packets.cut_points`), the packets after the last wanted one are
    not, since no wanted frame refers to a later packet: the decoder is drained and flushed
    before the first one left out, as after a seek, and goes on at the next cut.
    ``alone``: keyframes only; each is decoded on its own, the decoder drained and flushed after
    it as after a seek, and no other packet is sent. Fed one after another instead, an open
    GOP's I frames (not IDR) came out of FFmpeg's H.264 decoder in the wrong order or not at
    all: their picture order counts go by the frames left out. ``start``: the part to read from,
    a clean cut before the first wanted frame, where there is one.
    """

    rank: np.ndarray
    wanted: np.ndarray
    index_of: dict[int, int]
    needed: np.ndarray
    time_base: Fraction
    reach: int
    alone: bool
    start: Segment | None

    @property
    def last_wanted(self) -> int:
        chosen = np.flatnonzero(self.wanted)
        return int(chosen[-1]) if len(chosen) else -1

    @cached_property
    def wanted_before(self) -> np.ndarray:
        """Per frame, how many frames before it are wanted."""
        return np.cumsum(self.wanted) - self.wanted


def plan_decoding(table: PacketTable, selection: FrameSelection, declared_end: float | None,
                  frame_step: float) -> DecodePlan | None:
    """The plan of a sampled read of the whole stream, or None where the packets cannot number
    the frames (no stored pts, repeated pts, a stream shorter than it declares: a full read then
    says what is wrong)."""
    pts = table.pts
    if not table.splittable or not len(pts) or len(np.unique(pts)) != len(pts):
        return None
    order = np.argsort(pts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    times = [int(p) * table.time_base for p in pts[order].tolist()]
    if declared_end is not None and declared_end - (float(times[-1]) + frame_step) > max(1.5 * frame_step, 0.01):
        return None
    marked = table.marked_key if table.marked_key is not None else table.keyframe
    wanted = selection.picks(times, marked[order])
    reach = sum(1 for t in times if not selection.past_end(t))
    chosen = np.flatnonzero(wanted)
    cuts = cut_points(table)  # a cut's packet index is its frame's index
    start = None
    if selection.start_s is not None and len(chosen):
        before = cuts[cuts <= chosen[0]]
        if len(before):
            k = int(before[-1])
            start = Segment(k, None, int(pts[k]), int(table.dts[k]), int(table.pos[k]))
    index_of = dict(zip(pts[order].tolist(), range(len(pts)), strict=True))
    return DecodePlan(rank, wanted, index_of, _needed(wanted[rank], cuts), table.time_base, reach,
                      selection.keyframes, start)


def _needed(wanted_packets: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Per packet: whether a wanted packet of its part (between two cuts) comes at it or later."""
    part = np.zeros(len(wanted_packets), np.intp)
    part[cuts] = 1
    part = np.cumsum(part)
    last = np.full(part[-1] + 1, -1, np.intp)
    at = np.flatnonzero(wanted_packets)
    np.maximum.at(last, part[at], at)
    return np.arange(len(wanted_packets)) <= last[part]
