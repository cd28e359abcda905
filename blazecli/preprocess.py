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
from functools import lru_cache

import numpy as np

_SUBPIXEL_BITS = 5  # OpenCV's INTER_BITS: positions rounded to 1/32 px
_SUBPIXEL = 1 << _SUBPIXEL_BITS


@dataclass(frozen=True)
class Letterbox:
    """Where the model's square input lies on a frame: ``pixel = offset + side * normalized``."""

    width: int
    height: int

    @property
    def side(self) -> int:
        """Side of the padded square in frame pixels."""
        return max(self.width, self.height)

    @property
    def offset(self) -> tuple[float, float]:
        """Frame position of the square's top-left corner (negative on the padded axis)."""
        return (self.width - self.side) / 2, (self.height - self.side) / 2


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


def _axis_taps(length: int, offset: float, step: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    position = offset + step * np.arange(size, dtype=np.float64)
    fixed = np.rint(position * _SUBPIXEL).astype(np.int64)  # cvRound: half to even
    first = fixed >> _SUBPIXEL_BITS
    frac = fixed & (_SUBPIXEL - 1)
    index = np.stack([first, first + 1], axis=1)  # (size, 2)
    weight = np.stack([_SUBPIXEL - frac, frac], axis=1).astype(np.int32)
    inside = (index >= 0) & (index < length)
    return np.clip(index, 0, length - 1), np.where(inside, weight, 0).astype(np.int32)


@lru_cache(maxsize=64)
def mediapipe_taps(width: int, height: int, size: int) -> SamplingTaps:
    """The taps for one frame size; cached since every frame of a video shares them."""
    box = Letterbox(width, height)
    step = box.side / size
    ox, oy = box.offset
    rows, row_weights = _axis_taps(height, oy, step, size)
    cols, col_weights = _axis_taps(width, ox, step, size)
    return SamplingTaps(rows, cols, row_weights, col_weights)


def sample_mediapipe(rgb: np.ndarray, size: int) -> np.ndarray:
    """Letterbox ``(H, W, 3)`` uint8 RGB to ``(size, size, 3)`` uint8 exactly as MediaPipe does."""
    height, width = rgb.shape[:2]
    taps = mediapipe_taps(width, height, size)
    grid = np.take(np.take(rgb, taps.rows.reshape(-1), axis=0), taps.cols.reshape(-1), axis=1)
    return blend_taps(grid, taps)


def blend_taps(grid: np.ndarray, taps: SamplingTaps) -> np.ndarray:
    """Combine the gathered ``(2*size, 2*size, C)`` neighbour grid into ``(size, size, C)``.

    Integer sums are exact, so blending rows then columns equals OpenCV's 2-D fixed-point sum:
    coefficients ``32*wy*wx`` summed, then ``(sum + 2^14) >> 15``, i.e. ``(sum' + 512) >> 10``.
    Rows fit uint16 (at most 255 * 32), which keeps the arrays small and the loops fast.
    """
    size = taps.rows.shape[0]
    g = grid.reshape(size, 2, -1)  # (S, 2, 2S*C) uint8
    wy = taps.row_weights.astype(np.uint16)
    rows = g[:, 0] * wy[:, 0:1] + g[:, 1] * wy[:, 1:2]  # (S, 2S*C) uint16
    rows = rows.reshape(size, size, 2, -1)  # (S, S, 2, C)
    wx = taps.col_weights.astype(np.uint32)[None, :, :, None]  # (1, S, 2, 1)
    total = rows[:, :, 0] * wx[:, :, 0] + rows[:, :, 1] * wx[:, :, 1]  # (S, S, C) uint32
    return ((total + 512) >> 10).astype(np.uint8)


def to_model_input(samples: np.ndarray) -> np.ndarray:
    """uint8 RGB ``(N, S, S, 3)`` -> float32 in [-1, 1], as MediaPipe's value-range transform."""
    return samples.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Accept grey ``(H, W)``, RGB or RGBA uint8 and return ``(H, W, 3)`` RGB."""
    if image.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return image[:, :, :3]
    raise ValueError(f"frames must be (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
