"""Frames -> model input: letterbox to a square, sample down, scale to [-1, 1]; and the way back.

Arrays and decoded frames alike: sampling reads only the stored pixels its taps fall on,
straight from the Y, U and V planes of a decoded 4:2:0 frame where that is faster.

The ``mediapipe`` sampling reproduces MediaPipe's CPU ImageToTensor path bit for bit: OpenCV
``warpPerspective`` with ``INTER_LINEAR`` and a zero border, mapping the corners of the padded
square onto the tensor's 0 and ``size`` edges, so tensor pixel ``j`` samples the source at
``offset + S * j`` with ``S = max(w, h) / size``. OpenCV rounds that position to 1/32 px and
blends the four neighbours with integer weights; doing the same keeps results one to one with
MediaPipe (plain resizes land 3-5 % of the inter-ocular distance away).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import av
import numpy as np

from .display import SWSCALE_THREADS, UPRIGHT, Display, orient

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
def sampling_plan(width: int, height: int, size: int, display: Display = UPRIGHT) -> SamplingPlan:
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


def sample_mediapipe(image: np.ndarray, size: int, display: Display = UPRIGHT) -> np.ndarray:
    """Letterbox ``(H, W, 3)`` uint8 RGB to ``(size, size, 3)`` uint8 exactly as MediaPipe does.

    ``display``: how the stored image is shown; the result is of the image as shown, without
    turning, mirroring or stretching it first.
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


def as_rgb(image: np.ndarray, name: str = "frames") -> np.ndarray:
    """Accept grey ``(H, W)``, RGB or RGBA uint8 and return ``(H, W, 3)`` RGB; errors name the
    caller's parameter, ``name``."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"`{name}` must be numpy arrays, got {type(image).__name__} "
                        "(np.asarray(pil_image) converts a Pillow image)")
    if image.dtype != np.uint8:
        raise ValueError(f"`{name}` must be uint8, got {image.dtype}")
    if image.ndim in (2, 3) and 0 in image.shape[:2]:
        raise ValueError(f"`{name}` must hold at least one pixel, got shape {image.shape}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return image[:, :, :3]
    raise ValueError(f"`{name}` must be (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")


_YUV420 = frozenset({"yuv420p", "yuvj420p"})
# Above this share of the frame, converting it whole is faster: a gathered pixel costs several
# converted ones.
PAIRS_ROUTE_MAX_SHARE = 0.15


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
    tested), faster at 720p and 1080p than gathering and converting whole rows. Other pixel
    formats, odd sizes, and frames where the blocks are over ``PAIRS_ROUTE_MAX_SHARE`` of the
    frame (360p) convert the whole frame, faster there.

    Frames of one size and format share one small frame, one conversion and one blend: the
    Python work per call holds the GIL, which kept sampler threads from scaling when each call
    sampled one frame.
    """
    first = frames[0]
    plan = sampling_plan(first.width, first.height, size, display)
    key = _pairs_route_key(first, plan)
    if len(frames) > 1 and (key is None or any(_pairs_route_key(f, plan) != key for f in frames[1:])):
        return np.stack([sample_mediapipe_frame(f, display, size) for f in frames])
    if key is None:  # convert the whole frame (odd sizes: swscale interpolates their chroma)
        rows_rgb = np.take(first.to_ndarray(format="rgb24", threads=SWSCALE_THREADS), plan.source_rows, axis=0)
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
    if layout.pixels > PAIRS_ROUTE_MAX_SHARE * frame.width * frame.height:
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
    itself.
    """
    first, count = frames[0], len(frames)
    width, height = 2 * len(layout.col_pairs), 2 * len(layout.row_pairs) * count
    small = getattr(_scratch, "frame", None)
    if small is None or (small.width, small.height, small.format.name) != (width, height,
                                                                           first.format.name):
        small = _scratch.frame = av.VideoFrame(width, height, first.format.name)
    small.colorspace, small.color_range = first.colorspace, first.color_range
    luma, *chroma_planes = (np.frombuffer(p, np.uint8).reshape(-1, p.line_size) for p in small.planes)
    luma_pairs = luma[:height, :width].view(np.uint16).reshape(count, -1, len(layout.col_pairs))
    chroma = [plane[:height // 2, :width // 2].reshape(count, -1, len(layout.col_pairs))
              for plane in chroma_planes]
    for k, frame in enumerate(frames):
        source_luma, *source_chroma = frame.planes
        luma_pairs[k] = np.take(np.frombuffer(source_luma, np.uint16), layout.luma)
        for source, target in zip(source_chroma, chroma, strict=False):
            target[k] = np.take(np.frombuffer(source, np.uint8), layout.chroma)
    return small.to_ndarray(format="rgb24", threads=SWSCALE_THREADS)


def regions_rgb(frame: av.VideoFrame, display: Display, regions: np.ndarray) -> list[np.ndarray] | None:
    """Regions (``(T, 4)`` ``x, y, w, h``, each on the frame in part) of a decoded frame as shown,
    each uint8 RGB, black where it lies past the frame; None unless the frame is 4:2:0 of even
    size with square pixels.

    Only the 2x2 blocks of the planes under a region are converted, each luma pixel with its
    own chroma, so the pixels are those of a full-frame conversion (bit-identical, tested) at a
    fraction of its cost: the 2 tiles a 720p video frame runs are a seventh of it.
    """
    if frame.format.name not in _YUV420 or frame.width % 2 or frame.height % 2 or display.sar != 1:
        return None
    return [_region_rgb(frame, display, x, y, w, h) for x, y, w, h in regions.tolist()]


def _region_rgb(frame: av.VideoFrame, display: Display, x: int, y: int, w: int, h: int) -> np.ndarray:
    shown_width, shown_height = display.size(frame.width, frame.height)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, shown_width), min(y + h, shown_height)
    rows, cols = _stored_position(np.array([y0, y1 - 1]), np.array([x0, x1 - 1]), frame.width,
                                  frame.height, display)
    top, bottom, left, right = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
    block_top, block_left = top & ~1, left & ~1  # whole 2x2 blocks
    block_bottom, block_right = bottom + (bottom & 1), right + (right & 1)
    small = _small_frame(block_right - block_left, block_bottom - block_top, frame.format.name)
    small.colorspace, small.color_range = frame.colorspace, frame.color_range
    for index, (source, target) in enumerate(zip(frame.planes, small.planes, strict=True)):
        shift = 1 if index else 0  # chroma planes are half the size on both axes
        rows_of = np.frombuffer(source, np.uint8).reshape(-1, source.line_size)
        rows_to = np.frombuffer(target, np.uint8).reshape(-1, target.line_size)
        height, width = (block_bottom - block_top) >> shift, (block_right - block_left) >> shift
        rows_to[:height, :width] = rows_of[block_top >> shift:(block_top >> shift) + height,
                                           block_left >> shift:(block_left >> shift) + width]
    rgb = orient(small.to_ndarray(format="rgb24", threads=SWSCALE_THREADS)[top - block_top:bottom - block_top,
                                                  left - block_left:right - block_left], display)
    if (x0, y0, x1, y1) == (x, y, x + w, y + h):  # inside the frame: nothing to pad
        return rgb
    out = np.zeros((h, w, 3), np.uint8)
    out[y0 - y:y1 - y, x0 - x:x1 - x] = rgb
    return out


def _small_frame(width: int, height: int, pixel_format: str) -> av.VideoFrame:
    """A frame of that size for :func:`regions_rgb`, kept per thread and size: a fresh one each
    time cost as much as converting it. The few sizes of a video's tiles are kept."""
    frames: dict[tuple[int, int, str], av.VideoFrame] = getattr(_scratch, "regions", None) or {}
    _scratch.regions = frames
    key = (width, height, pixel_format)
    if key not in frames:
        if len(frames) >= 32:  # a stream that keeps switching sizes: start over
            frames.clear()
        frames[key] = av.VideoFrame(width, height, pixel_format)
    return frames[key]
