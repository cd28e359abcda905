"""Tiled detection: overlapping crops of a frame, each sampled to the model input as a whole frame
is, so that faces too small for the whole frame's input are found (pure numpy).

BlazeFace finds a face once it spans about ``min_face_fraction`` of the side of the square it
is sampled from (``ModelSpec.min_face_fraction``). A crop of side ``s`` therefore finds faces
down to ``s * min_face_fraction`` frame pixels. The ``auto`` grid picks ``s`` from the smallest
face to find; tiles overlap by a quarter of their side. A face cut by a tile's edge is still
boxed whole (BlazeFace regresses the whole face, as at a frame's edge), so the candidates of
every tile are kept and blending merges the views of one face.

``auto`` lays its grid staggered: half a step off a grid that starts at the frame's corner, so
that its outer tiles reach past the frame by up to half a step (that part is sampled black, as
MediaPipe pads a letterbox) and a face the frame's edge cuts lies well inside an edge tile,
not on its border. A photo, whose tiles run once, gets the corner grid too: a face on the seams
of one grid lies well inside a tile of the other. A video visits the staggered grid alone, a
few tiles a frame: its edge tiles carry most of what the second grid finds, and one grid comes
round sooner, so that tracking and the hiding cover have less to carry.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

TILE_MODES = ("none", "auto")
"""``--tiles`` words; ``RxC`` (rows x columns, e.g. ``2x3``) is the third form."""

MIN_FACE_PX = 20
"""``auto`` finds faces down to this width in pixels of the displayed frame..."""
MIN_FACE_OF_LONG_SIDE = 1 / 64
"""...or this share of the frame's long side where that is more (large frames stay cheap)."""
MIN_FACE_OF_LONG_SIDE_STILL = 1 / 256
"""The same share for a photo: its tiles all run once, so it takes a finer grid (a 12-megapixel
photo finds faces down to 20 px, not 62); the share only bounds the cost of huge scans."""
GRID_OVERLAP = 0.25
"""Overlap of neighbouring tiles, as a share of a tile's side."""
_GRID = re.compile(r"^\s*([0-9]+)\s*[xX]\s*([0-9]+)\s*$")


@dataclass(frozen=True)
class Tiling:
    """``mode``: ``none``, ``auto`` or ``grid`` (``rows`` x ``cols``)."""

    mode: str = "none"
    rows: int = 1
    cols: int = 1

    def __str__(self) -> str:
        """The canonical ``--tiles`` text (``auto``, ``2x3``), as the metadata states it."""
        return f"{self.rows}x{self.cols}" if self.mode == "grid" else self.mode

    @classmethod
    def parse(cls, text: str) -> Tiling:
        """``none``, ``auto`` or ``RxC``; raises ``ValueError`` in the parameter's name."""
        if not isinstance(text, str):  # str(None) would read as none
            raise ValueError(f"`tiles` must be none, auto or RxC (such as 2x3), got {text!r}")
        word = text.strip().lower()
        if word in TILE_MODES:
            return cls(word)
        match = _GRID.match(word)
        if match is None:
            raise ValueError(f"`tiles` must be none, auto or RxC (such as 2x3), got {text!r}")
        rows, cols = int(match[1]), int(match[2])
        if not (1 <= rows <= 16 and 1 <= cols <= 16):
            raise ValueError(f"`tiles` RxC takes 1 to 16 rows and 1 to 16 columns, got {text!r}")
        if rows * cols == 1:
            raise ValueError(f"`tiles` 1x1 is the whole frame, which runs anyway: give none, or more "
                             f"rows or columns, got {text!r}")
        return cls("grid", rows, cols)


def _spans(length: int, side: float, count: int) -> np.ndarray:
    """``count`` evenly spaced ``(start, extent)`` of ``side`` pixels covering ``length``."""
    side = min(float(length), side)
    starts = np.linspace(0.0, length - side, count) if count > 1 else np.zeros(1)
    return np.stack([np.round(starts), np.full(count, round(side))], axis=1)


def _count(length: int, side: float, overlap: float) -> int:
    """Tiles of ``side`` with at least ``overlap`` between neighbours that cover ``length``."""
    if side >= length:
        return 1
    return max(1, math.ceil((length - overlap) / (side - overlap)))


@lru_cache(maxsize=64)
def tile_regions(width: int, height: int, tiling: Tiling, min_face_fraction: float,
                 still: bool = False) -> np.ndarray:
    """Tiles of a frame shown ``width`` x ``height``: int64 ``(T, 4)`` ``x, y, w, h``.

    ``still``: a photo, whose ``auto`` grid is finer (:data:`MIN_FACE_OF_LONG_SIDE_STILL`).
    Empty where the whole frame already finds faces of the wanted size. Read-only: it is cached.
    """
    if tiling.mode == "none":
        regions = np.zeros((0, 4), np.int64)
    elif tiling.mode == "grid":
        # No more columns or rows than the frame has pixels (a tiny image): no tile under a pixel.
        across, down = min(tiling.cols, width), min(tiling.rows, height)
        tile_w = min(width, width / across * (1 + GRID_OVERLAP))
        tile_h = min(height, height / down * (1 + GRID_OVERLAP))
        regions = _grid(_spans(width, tile_w, across), _spans(height, tile_h, down))
        if len(regions) == 1:  # the whole frame, which runs anyway
            regions = np.zeros((0, 4), np.int64)
    else:
        spans = _auto_spans(width, height, min_face_fraction, still)
        if spans is None:
            regions = np.zeros((0, 4), np.int64)
        else:
            columns, rows = spans
            staggered = _grid(_staggered(columns), _staggered(rows))
            regions = np.concatenate([_grid(columns, rows), staggered]) if still else staggered
    regions.setflags(write=False)
    return regions


def _auto_spans(width: int, height: int, min_face_fraction: float,
                still: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """``auto``'s corner grid as column and row spans; None where the whole frame's own view
    is about as fine."""
    long_side = max(width, height)
    share = MIN_FACE_OF_LONG_SIDE_STILL if still else MIN_FACE_OF_LONG_SIDE
    smallest = max(MIN_FACE_PX, long_side * share)
    side = smallest / min_face_fraction
    if side >= 0.75 * long_side:
        return None
    overlap = side * GRID_OVERLAP
    return (_spans(width, side, _count(width, side, overlap)),
            _spans(height, side, _count(height, side, overlap)))


def _staggered(spans: np.ndarray) -> np.ndarray:
    """Spans shifted by half their step, one more of them: the first and last reach past the
    frame by half a step (the frame's edge then lies inside a tile, not on its border)."""
    starts, side = spans[:, 0], spans[0, 1]
    step = starts[1] - starts[0] if len(starts) > 1 else side * (1 - GRID_OVERLAP)
    shifted = np.concatenate([starts[:1] - step / 2, starts + step / 2])
    return np.stack([np.round(shifted), np.full(len(shifted), side)], axis=1)


def _grid(columns: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Row-major product of column and row spans -> ``(T, 4)`` ``x, y, w, h``."""
    x, w = np.repeat(columns[None, :, 0], len(rows), 0).ravel(), np.tile(columns[:, 1], len(rows))
    y, h = np.repeat(rows[:, 0], len(columns)), np.repeat(rows[:, 1], len(columns))
    return np.stack([x, y, w, h], axis=1).astype(np.int64)


def tiles_along(regions: np.ndarray, strips: np.ndarray, width: int, height: int) -> np.ndarray:
    """Which ``regions`` (``x, y, w, h``) reach into the strips along the edges of a frame shown
    ``width`` x ``height``: ``strips`` gives their widths in pixels, left, top, right, bottom
    (0: no strip on that side). Their positions in ``regions``."""
    x, y, w, h = regions.T
    left, top, right, bottom = strips
    return np.flatnonzero((x < left) | (y < top) | (x + w > width - right) | (y + h > height - bottom))


def tile_period(tiles: int, per_frame: int) -> int:
    """Frames over which a video visits every tile once, ``per_frame`` tiles a frame."""
    return max(1, math.ceil(tiles / per_frame))


def tiles_for_frame(tiles: int, period: int, frame_number: int, opening: bool = False) -> np.ndarray:
    """The tiles frame ``frame_number`` (its count among processed frames) runs: every
    ``period``-th, starting at its phase, so that ``period`` frames cover them all; all of them
    where the frame is an ``opening``.

    A frame that opens a shot (the video's first, the first after a cut) runs every tile, as a
    photo does: no earlier round has found its faces, and in a moving shot a face first found a
    round later has moved since, so the cover held back from that sighting misses it."""
    if opening:
        return np.arange(tiles)
    return np.arange(frame_number % period, tiles, period)
