"""Times of frames where containers store them badly: FFmpeg's best-effort pts, AVI's places in
decode order, and Matroska's DURATION tag."""

from __future__ import annotations

import heapq


class TimestampFaults:
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


class DecodeOrderSlots:
    """Presentation times for a container that stores only each frame's place in decode order
    (AVI: its dts; FFmpeg's pts there are guesses, out of order where B-frames are).

    The places of all frames are the same set in either order, so the k-th frame shown has the
    k-th smallest place: each packet sent to the decoder adds its place, each frame out takes
    the smallest one waiting. The frame's own dts would be that of the packet that pushed it
    out, late by the decoder's reorder delay.
    """

    def __init__(self) -> None:
        self._waiting: list[int] = []

    def sent(self, dts: int | None) -> None:
        if dts is not None:
            heapq.heappush(self._waiting, dts)

    def refused(self, dts: int | None) -> None:
        """A packet the decoder refused makes no frame: its place goes unshown."""
        if dts in self._waiting:
            self._waiting.remove(dts)
            heapq.heapify(self._waiting)

    def shown(self) -> int | None:
        """The place of the next frame out; None where no packet with a place is waiting."""
        return heapq.heappop(self._waiting) if self._waiting else None


def clock_seconds(text: str | None) -> float | None:
    """``HH:MM:SS.fraction`` (Matroska's DURATION tag) in seconds; None if absent or malformed."""
    try:
        hours, minutes, seconds = (text or "").split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None
