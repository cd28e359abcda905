"""Frames -> model input: letterbox to a square, sample down, scale to [-1, 1]; and the way back.

The ``mediapipe`` sampling reproduces MediaPipe's CPU ImageToTensor path bit for bit: OpenCV
``warpPerspective`` with ``INTER_LINEAR`` and a zero border, mapping the corners of the padded
square onto the tensor's 0 and ``size`` edges, so tensor pixel ``j`` samples the source at
``offset + S * j`` with ``S = max(w, h) / size``. OpenCV rounds that position to 1/32 px and
blends the four neighbours with integer weights; doing the same keeps results one to one with
MediaPipe (plain resizes land 3-5 % of the inter-ocular distance away).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

_SUBPIXEL_BITS = 5  # OpenCV's INTER_BITS: positions rounded to 1/32 px
_SUBPIXEL = 1 << _SUBPIXEL_BITS


@dataclass(frozen=True)
class Letterbox:
    """Where the model's square input lies on a frame: ``pixel = offset + side * normalized``.

    ``width`` x ``height`` is what was sampled: the whole frame, or a tile of it whose top-left
    corner is at ``(x, y)`` on the frame.
    """

    width: int
    height: int
    x: int = 0
    y: int = 0

    @property
    def side(self) -> int:
        """Side of the padded square in frame pixels."""
        return max(self.width, self.height)

    @property
    def offset(self) -> tuple[float, float]:
        """Frame position of the square's top-left corner (negative on the padded axis)."""
        return self.x + (self.width - self.side) / 2, self.y + (self.height - self.side) / 2


@dataclass(frozen=True)
class Display:
    """How a player shows a stored frame: its pixels stretched to ``sar`` times their height in
    width (non-square pixels), mirrored left to right if ``mirrored``, then rotated ``rotation``
    degrees counter-clockwise (0, 90, 180 or 270).

    Every display matrix of quarter turns and flips is one of these eight: a vertical flip is
    a mirror and half a turn. Outputs are in pixels of the frame so shown.
    """

    rotation: int = 0
    mirrored: bool = False
    sar: Fraction = Fraction(1)

    @classmethod
    def from_matrix(cls, matrix: np.ndarray | None, sar: Fraction | None = None) -> Display:
        """The display of an FFmpeg display matrix (9 int32, ``[a b u; c d v; x y w]``).

        FFmpeg's matrix takes a stored pixel ``(x, y)`` (y down) to ``(a x + c y, b x + d y)``.
        A negative determinant mirrors; undoing the mirror (negating ``a`` and ``b``) leaves a
        rotation by ``atan2(c, a)`` counter-clockwise, rounded to a quarter turn. PyAV's own
        ``rotation`` reads a mirror as half a turn, which shows the frame upside down.
        """
        rotation, mirrored = 0, False
        if matrix is not None:
            a, b, _, c, d = np.asarray(matrix[:5], np.float64)
            mirrored = bool(a * d - b * c < 0)
            degrees = np.degrees(np.arctan2(c, -a if mirrored else a))
            rotation = int(round(degrees / 90.0)) * 90 % 360
        return cls(rotation, mirrored, Fraction(sar) if sar and sar > 0 else Fraction(1))

    @property
    def turned(self) -> bool:
        """Whether stored rows are shown as columns."""
        return self.rotation in (90, 270)

    def stretched_width(self, width: int) -> int:
        """Columns of a stored row once its pixels are square (before the rotation)."""
        return max(1, round(width * self.sar))

    def size(self, width: int, height: int) -> tuple[int, int]:
        """``(width, height)`` shown of a frame stored ``width`` x ``height``."""
        stretched = self.stretched_width(width)
        return (height, stretched) if self.turned else (stretched, height)


@dataclass(frozen=True)
class SamplingTaps:
    """Source rows/columns and integer weights of OpenCV's fixed-point bilinear sampling.

    ``rows``/``cols``: ``(size, 2)`` int64 indices of the two neighbours, clipped into the frame;
    ``row_weights``/``col_weights``: ``(size, 2)`` int32 in 1/32 units, zero for taps outside the frame.
    """

    rows: np.ndarray
    cols: np.ndarray
    row_weights: np.ndarray
    col_weights: np.ndarray


def _axis_taps(length: int, offset: float, step: float, size: int,
               scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Taps on an axis of ``length`` stored pixels for positions ``offset + step * j`` shown.

    ``scale``: stored pixels per shown pixel (non-square pixels); pixel centres line up, so
    shown position ``p`` is stored ``(p + 0.5) * scale - 0.5``. At 1.0 the arithmetic is
    exactly that of square pixels.
    """
    offset, step = (offset + 0.5) * scale - 0.5, step * scale
    position = offset + step * np.arange(size, dtype=np.float64)
    fixed = np.rint(position * _SUBPIXEL).astype(np.int64)  # cvRound: half to even
    first = fixed >> _SUBPIXEL_BITS
    frac = fixed & (_SUBPIXEL - 1)
    index = np.stack([first, first + 1], axis=1)  # (size, 2)
    weight = np.stack([_SUBPIXEL - frac, frac], axis=1).astype(np.int32)
    inside = (index >= 0) & (index < length)
    return np.clip(index, 0, length - 1), np.where(inside, weight, 0).astype(np.int32)


@lru_cache(maxsize=64)
def mediapipe_taps(width: int, height: int, size: int,
                   stored: tuple[int, int] | None = None) -> SamplingTaps:
    """The taps for a frame shown ``width`` x ``height``; cached since every frame of a video
    shares them. ``stored``: the ``(columns, rows)`` it has before its non-square pixels are
    stretched to that size, in display orientation; the taps then index those."""
    box = Letterbox(width, height)
    step = box.side / size
    ox, oy = box.offset
    columns, rows_stored = stored or (width, height)
    rows, row_weights = _axis_taps(rows_stored, oy, step, size, rows_stored / height)
    cols, col_weights = _axis_taps(columns, ox, step, size, columns / width)
    return SamplingTaps(rows, cols, row_weights, col_weights)


@dataclass(frozen=True, eq=False)
class SamplingPlan:
    """What sampling one frame size reads and how it weighs it, precomputed once per size.

    Only output pixels with a tap on the frame are computed (``out_rows`` x ``out_cols``); the
    rest of the letterbox is zero. ``source_rows``: the stored rows the taps read, ascending (a
    16:9 frame needs about 1 row in 5); ``index``: ``(4, P)`` positions of the four tap pixels of
    each output pixel in the ``(len(source_rows) * stored_width)`` pixels of just those rows;
    ``weight``: ``(4, P * 3)`` uint32 ``wy * wx`` in 1/1024 units, repeated per channel.
    """

    size: int
    out_rows: slice
    out_cols: slice
    source_rows: np.ndarray
    index: np.ndarray
    weight: np.ndarray


def _stored_position(rows: np.ndarray, cols: np.ndarray, width: int, height: int,
                     display: Display) -> tuple[np.ndarray, np.ndarray]:
    """Display ``(rows, cols)`` (before any stretch) -> stored ``(rows, cols)``: the rotation
    undone, then the mirror."""
    rows, cols = {0: (rows, cols), 180: (height - 1 - rows, width - 1 - cols),
                  90: (cols, width - 1 - rows), 270: (height - 1 - cols, rows)}[display.rotation]
    return (rows, width - 1 - cols) if display.mirrored else (rows, cols)


@lru_cache(maxsize=8)
def sampling_plan(width: int, height: int, size: int, display: Display = Display()) -> SamplingPlan:
    """The plan for frames stored ``width`` x ``height`` and shown as ``display`` says.

    The letterbox is that of the frame as shown; on a stretched axis the taps fall between
    stored pixels, and sampling blends those instead of a stretched copy of the frame.
    """
    taps = mediapipe_taps(*display.size(width, height), size,
                          (height, width) if display.turned else (width, height))
    rows_inside = np.flatnonzero(taps.row_weights.any(axis=1))
    cols_inside = np.flatnonzero(taps.col_weights.any(axis=1))
    if rows_inside.size == 0 or cols_inside.size == 0:  # a sliver of a frame: all padding
        rows_inside = cols_inside = np.zeros(0, np.int64)
    out_rows = slice(rows_inside[0], rows_inside[-1] + 1) if rows_inside.size else slice(0, 0)
    out_cols = slice(cols_inside[0], cols_inside[-1] + 1) if cols_inside.size else slice(0, 0)
    pick_row, pick_col = [0, 0, 1, 1], [0, 1, 0, 1]  # top-left, top-right, bottom-left, bottom-right
    rows = taps.rows[out_rows][:, pick_row].T[:, :, None]  # (4, R, 1) display rows
    cols = taps.cols[out_cols][:, pick_col].T[:, None, :]  # (4, 1, C)
    stored_rows, stored_cols = np.broadcast_arrays(*_stored_position(rows, cols, width, height, display))
    source_rows, position = np.unique(stored_rows, return_inverse=True)
    index = (position.reshape(stored_rows.shape) * width + stored_cols).reshape(4, -1).astype(np.intp)
    weight = (taps.row_weights[out_rows][:, pick_row].T[:, :, None]
              * taps.col_weights[out_cols][:, pick_col].T[:, None, :])  # (4, R, C)
    weight = np.repeat(weight[..., None], 3, axis=3).reshape(4, -1).astype(np.uint32)
    return SamplingPlan(size, out_rows, out_cols, source_rows, index, weight)


def sample_mediapipe(image: np.ndarray, size: int, display: Display = Display()) -> np.ndarray:
    """Letterbox ``(H, W, 3)`` uint8 RGB to ``(size, size, 3)`` uint8 exactly as MediaPipe does.

    ``display``: how the stored image is shown; the result is of the image as shown, without turning, mirroring or stretching it first.
    """
    height, width = image.shape[:2]
    plan = sampling_plan(width, height, size, display)
    return blend_rows(np.take(image, plan.source_rows, axis=0), plan)


def blend_rows(rows_rgb: np.ndarray, plan: SamplingPlan) -> np.ndarray:
    """Blend the plan's taps out of ``(len(plan.source_rows), W, 3)`` RGB into the model input."""
    return blend_taps(np.ascontiguousarray(rows_rgb).reshape(1, -1, 3), plan.index, plan)[0]


def blend_taps(pixels: np.ndarray, index: np.ndarray, plan: SamplingPlan) -> np.ndarray:
    """Blend the taps at ``index`` (``(4, P)``) of each frame's ``(N, M, 3)`` pixels: ``(N, S, S, 3)``.

    OpenCV's 2-D fixed-point sum: coefficients ``32*wy*wx`` summed, then ``(sum + 2^14) >> 15``,
    i.e. ``(sum(wy*wx*p) + 512) >> 10``. The four taps are four contiguous rows of one array,
    so each step is a single long numpy loop (3-4x faster than blending rows then columns over
    strided views, where numpy's inner loops were 3 channels long), for all frames at once.
    """
    count = len(pixels)
    taps = np.take(pixels, index, axis=1).reshape(count, 4, -1).astype(np.uint32)
    taps *= plan.weight
    total = taps[:, 0] + taps[:, 1]
    total += taps[:, 2]
    total += taps[:, 3]
    total += 512
    total >>= 10
    out = np.zeros((count, plan.size, plan.size, 3), np.uint8)
    out[:, plan.out_rows, plan.out_cols] = total.reshape(
        count, plan.out_rows.stop - plan.out_rows.start, plan.out_cols.stop - plan.out_cols.start, 3)
    return out


def to_model_input(samples: np.ndarray) -> np.ndarray:
    """uint8 RGB ``(N, S, S, 3)`` -> float32 in [-1, 1], as MediaPipe's value-range transform."""
    return samples.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Accept grey ``(H, W)``, RGB or RGBA uint8 and return ``(H, W, 3)`` RGB."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"frames must be numpy arrays, got {type(image).__name__} "
                        "(np.asarray(pil_image) converts a Pillow image)")
    if image.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {image.dtype}")
    if image.ndim in (2, 3) and 0 in image.shape[:2]:
        raise ValueError(f"frames must hold at least one pixel, got shape {image.shape}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return image[:, :, :3]
    raise ValueError(f"frames must be (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
