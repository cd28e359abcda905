"""Which frames a run processes: every Nth, by time (``--fps``), keyframes only, within a span.

Pure logic over frame indices and presentation times, so that the reader can tell before
decoding which frames will be wanted (and skip the others) and the pipeline need not ask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, TypeVar

import numpy as np

from ..checks import real_number, switch, whole_number
from ..errors import InvalidOptionError

T = TypeVar("T")


MAX_EVERY = 2**31 - 1
"""The largest ``every``: frame indices are C longs in NumPy's arithmetic."""


@dataclass(frozen=True)
class FrameSelection:
    """Which frames to process: every Nth, or the frames nearest each tick of ``fps`` per second,
    or keyframes only; within a span of presentation time (seconds)."""

    every: int = 1
    start_s: float | None = None
    end_s: float | None = None
    fps: Fraction | float | None = None  # made an exact Fraction here
    keyframes: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "every", whole_number("every", self.every, 1, MAX_EVERY, " of frames"))
        object.__setattr__(self, "keyframes", switch("keyframes", self.keyframes))
        for name in ("start_s", "end_s"):
            value = getattr(self, name)
            if value is None:
                continue
            value = real_number(name, value)
            if not (value >= 0 and math.isfinite(value)):  # NaN too
                raise InvalidOptionError(f"`{name}` must be a finite number of seconds from 0, "
                                         f"got {value}")
            object.__setattr__(self, name, value)
        if self.start_s is not None and self.end_s is not None and self.end_s <= self.start_s:
            raise InvalidOptionError(f"`end_s` ({self.end_s}) must be after `start_s` ({self.start_s})")
        if self.fps is not None:
            real_number("fps", self.fps)
            if not (math.isfinite(self.fps) and self.fps > 0):
                raise InvalidOptionError(f"`fps` must be a positive number of frames a second, "
                                         f"got {self.fps}")
            # Exact ticks: 29.97 is 2997/100, not the nearest binary fraction.
            object.__setattr__(self, "fps", Fraction(str(self.fps)).limit_denominator(1_000_000))
        given = [f"`{name}`" for name, on in (("every", self.every > 1), ("fps", self.fps is not None),
                                              ("keyframes", self.keyframes)) if on]
        if len(given) > 1:
            raise InvalidOptionError(f"{' and '.join(given)} each choose the frames: give one")

    @property
    def takes_all(self) -> bool:
        """Whether every frame up to the end is processed (nothing to skip decoding)."""
        return self.every == 1 and self.fps is None and not self.keyframes and self.start_s is None

    @property
    def by_content(self) -> bool:
        """Whether the chosen frames depend on the video (times, keyframes), not on their index
        alone: the output's metadata then lists them."""
        return self.fps is not None or self.keyframes

    def in_span(self, time_s: float | Fraction) -> bool:
        """Whether a frame's time is in the span; compared as a float, as a read that is not
        planned times frames (an exact 4/5 is less than the float 0.8)."""
        time_s = float(time_s)
        return ((self.start_s is None or time_s >= self.start_s)
                and (self.end_s is None or time_s < self.end_s))

    def past_end(self, time_s: float | Fraction) -> bool:
        return self.end_s is not None and float(time_s) >= self.end_s

    def wants(self, index: int, time_s: float) -> bool:
        """Whether ``--every`` and the span take a frame (``--fps`` and ``--keyframes`` need more:
        :meth:`picks`, :class:`RatePicker`)."""
        return not index % self.every and self.in_span(time_s)

    def rate_picker(self) -> RatePicker:
        """The ``--fps`` picker, its ticks within the span."""
        if self.fps is None:
            raise ValueError("no `fps` to pick frames by")
        return RatePicker(Fraction(self.fps), self.start_s, self.end_s)

    def picks(self, times: Sequence[Fraction], keyframes: np.ndarray) -> np.ndarray:
        """Which frames of a whole video are processed, ``(N,)`` bool; ``times`` (exact, seconds)
        and ``keyframes`` are per frame in display order, indexed as the video's frames."""
        span = np.array([self.in_span(t) for t in times], bool)
        if self.keyframes:
            return span & np.asarray(keyframes, bool)
        if self.fps is None:
            return span & (np.arange(len(times)) % self.every == 0)
        chosen = np.zeros(len(times), bool)
        inside = np.flatnonzero(span).tolist()
        picker: RatePicker[int] = self.rate_picker()
        for i in inside:
            chosen[picker.push(i, times[i])] = True
        chosen[picker.finish()] = True
        return chosen


def _nearest_tick(time: Fraction, rate: Fraction) -> int:
    return math.floor(time * rate + Fraction(1, 2))


class RatePicker(Generic[T]):
    """``--fps``: each tick ``n / rate`` seconds (from the tick nearest the first frame to the
    one nearest the last, within ``[start_s, end_s)`` if given) picks the frame nearest it, the
    earlier one on a tie; a frame nearest several ticks is processed once. Variable frame rates
    are read by time, not by count.

    Frames arrive in display order; one is decided when the next one's time is known (or at the
    end), so :meth:`push` returns the frames decided, at most one.
    """

    def __init__(self, rate: Fraction, start_s: float | None = None,
                 end_s: float | None = None) -> None:
        self.rate = rate
        self._min_tick = None if start_s is None else math.ceil(Fraction(start_s) * rate)
        self._max_tick = None if end_s is None else math.ceil(Fraction(end_s) * rate) - 1
        self._held: tuple[T, Fraction] | None = None
        self._low: int | None = None  # the lowest tick the held frame can be nearest to

    def push(self, item: T, time: Fraction) -> list[T]:
        if self._held is None:
            self._low = _nearest_tick(time, self.rate)
            if self._min_tick is not None:
                self._low = max(self._low, self._min_tick)
            self._held = (item, time)
            return []
        held, held_time = self._held
        middle = (held_time + time) / 2  # ticks up to here (included) are the held frame's
        last_tick = self._below_end(math.floor(middle * self.rate))
        assert self._low is not None
        decided = [held] if last_tick >= self._low else []
        self._low = max(self._low, last_tick + 1)
        self._held = (item, time)
        return decided

    def finish(self) -> list[T]:
        """The last frame, if a tick up to the one nearest it is nearest to it."""
        if self._held is None or self._low is None:
            return []
        held, held_time = self._held
        self._held = None
        return [held] if self._below_end(_nearest_tick(held_time, self.rate)) >= self._low else []

    def _below_end(self, tick: int) -> int:
        return tick if self._max_tick is None else min(tick, self._max_tick)
