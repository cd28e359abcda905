"""Marking and hiding faces on RGB frames (hiding also in a YUV frame's planes): pure numpy,
in place, no I/O.

Everything is slicing and boolean masks over the small rectangle around each face (a loop over
faces, never over pixels), so annotating costs little next to decoding and encoding. Text uses
a built-in 5x7 bitmap font scaled by whole factors, so there is no font file to find and no
Pillow or OpenCV to install.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..choices import ANONYMIZE_METHODS, HIDING_SCALE, MASK_SHAPES
from ..detections import Detections
from ..errors import InvalidOptionError

UNTRACKED_COLOR = (0, 255, 0)  # faces without a track id
NAMED_COLORS = {"black": (0, 0, 0), "white": (255, 255, 255), "gray": (128, 128, 128),
                "grey": (128, 128, 128), "red": (255, 0, 0), "green": (0, 128, 0),
                "blue": (0, 0, 255), "yellow": (255, 255, 0), "cyan": (0, 255, 255),
                "magenta": (255, 0, 255)}
"""The names ``--fill`` takes (CSS's values for them)."""

_GLYPH_ROWS = {
    "0": ("01110", "10001", "10011", "10101", "11001", "10001", "01110"),
    "1": ("00100", "01100", "00100", "00100", "00100", "00100", "01110"),
    "2": ("01110", "10001", "00001", "00010", "00100", "01000", "11111"),
    "3": ("11111", "00010", "00100", "00010", "00001", "10001", "01110"),
    "4": ("00010", "00110", "01010", "10010", "11111", "00010", "00010"),
    "5": ("11111", "10000", "11110", "00001", "00001", "10001", "01110"),
    "6": ("00110", "01000", "10000", "11110", "10001", "10001", "01110"),
    "7": ("11111", "00001", "00010", "00100", "01000", "01000", "01000"),
    "8": ("01110", "10001", "10001", "01110", "10001", "10001", "01110"),
    "9": ("01110", "10001", "10001", "01111", "00001", "00010", "01100"),
    ".": ("00000", "00000", "00000", "00000", "00000", "01100", "01100"),
    "#": ("01010", "01010", "11111", "01010", "11111", "01010", "01010"),
    " ": ("00000",) * 7,
}
FONT = {ch: np.array([[c == "1" for c in row] for row in rows]) for ch, rows in _GLYPH_ROWS.items()}
"""5x7 glyphs (True = ink) for the characters a label needs: digits, '.', '#' and space."""


@dataclass(frozen=True)
class Style:
    """Line width, keypoint radius and text scale, in pixels of the frame drawn on."""

    thickness: int = 2
    radius: int = 3
    font_scale: int = 2

    @classmethod
    def for_frame(cls, width: int, height: int) -> Style:
        """Sizes that look alike at any resolution: a pixel of line and of font per 240 pixels
        of the frame's short side (2 at 360p, 3 at 720p, 4 at 1080p)."""
        unit = max(1, round(min(width, height) / 240))
        return cls(unit, unit + 1, unit)


@dataclass(frozen=True)
class Anonymizer:
    """How faces are hidden: blur, pixelate or fill the box grown by ``scale`` about its centre.

    ``shape`` ellipse follows the head's outline (deface's default); box covers the whole grown
    rectangle. ``color`` is the fill colour. The 1.6x default is the area deface hides (its
    ``mask_scale`` 1.3 grows each side by 30 %): BlazeFace's box is the face alone, and at 1.3x
    a detector still found the blurred head around it.
    """

    method: str
    scale: float = HIDING_SCALE
    shape: str = "ellipse"
    color: tuple[int, int, int] = (0, 0, 0)

    def __post_init__(self) -> None:
        if self.method not in ANONYMIZE_METHODS:
            raise InvalidOptionError(f"`method` must be one of {', '.join(ANONYMIZE_METHODS)}, "
                                     f"got {self.method!r}")
        if self.shape not in MASK_SHAPES:
            raise InvalidOptionError(f"`shape` must be one of {', '.join(MASK_SHAPES)}, "
                                     f"got {self.shape!r}")
        if not 0 < self.scale <= 10:
            raise InvalidOptionError(f"`scale` must be within (0, 10], got {self.scale}")

    @property
    def hides_in_planes(self) -> bool:
        """Whether :meth:`apply_planes` can hide faces in a YUV frame's own planes: a blur only,
        being linear (blurring Y, U and V looks as blurring R, G and B); pixelate's blocks and
        the fill colour are defined in RGB."""
        return self.method == "blur"

    def apply(self, image: np.ndarray, boxes: np.ndarray) -> None:
        """Hide every ``(N, 4)`` box of ``image`` (uint8 ``(H, W, C)``), in place."""
        self._hide([image], np.asarray(boxes, np.float64))

    def apply_planes(self, planes: list[np.ndarray], boxes: np.ndarray) -> None:
        """Hide every ``(N, 4)`` box (in pixels of the first plane) in each uint8 ``(h, w)``
        plane of a frame, in place: the first full size, the others as subsampled (4:2:0's
        chroma at half size gets the box and the blur halved, the same strength on screen)."""
        if not self.hides_in_planes:
            raise InvalidOptionError(f"faces are hidden in YUV planes by blur only, not {self.method}")
        height, width = planes[0].shape
        boxes = np.asarray(boxes, np.float64)
        # Planes of one size (the two chroma planes) are hidden as the channels of one image:
        # one mask and one blur a face for both, where most faces are small and the work a face
        # costs more than its pixels.
        for shape in dict.fromkeys(plane.shape for plane in planes):
            along = np.array([shape[1] / width, shape[0] / height] * 2)
            self._hide([plane[:, :, None] for plane in planes if plane.shape == shape], boxes * along)

    def _hide(self, images: list[np.ndarray], boxes: np.ndarray) -> None:
        """Hide every box in ``images`` of one size (uint8 ``(H, W, C)``) as in one image whose
        channels are theirs, in place."""
        height, width = images[0].shape[:2]
        for box in boxes:
            found = mask_region(box, self.scale, self.shape, width, height)
            if found is None:
                continue
            rows, cols, mask = found
            regions = [image[rows, cols] for image in images]
            region = regions[0] if len(regions) == 1 else np.concatenate(regions, axis=2)
            # The strength follows the face, up to twice the image's size: a stronger one spreads
            # no further, and a box read from a file far outside the frame asked for gigabytes.
            side = min(max(box[2] - box[0], box[3] - box[1]) * self.scale, 2 * max(width, height))
            if self.method == "fill":
                hidden = np.broadcast_to(np.asarray(self.color, np.uint8), region.shape)
            elif self.method == "blur":
                hidden = blur(region, max(1, round(side / 2)))  # deface's strength
            else:
                # 5 blocks across the hidden area, 3 across the face: at 10 (blocks of a sixth of
                # the face) a detector still found a third of small faces through them.
                hidden = pixelate(region, max(1, math.ceil(side / 5)))
            where = True if mask is None else mask[:, :, None]
            first = 0
            for part in regions:
                np.copyto(part, hidden[:, :, first:first + part.shape[2]], where=where)
                first += part.shape[2]


def parse_color(text: str) -> tuple[int, int, int]:
    """``black``/``white``/``gray``, ``#rrggbb`` (or ``rrggbb``) or ``r,g,b`` -> an RGB triple."""
    value = text.strip().lower()
    if value in NAMED_COLORS:
        return NAMED_COLORS[value]
    try:
        if "," in value:
            parts = tuple(int(p) for p in value.split(","))
        else:
            hex_ = value.removeprefix("#")
            parts = tuple(int(hex_[i:i + 2], 16) for i in (0, 2, 4)) if len(hex_) == 6 else ()
    except ValueError:
        parts = ()
    if len(parts) != 3 or not all(0 <= p <= 255 for p in parts):
        raise InvalidOptionError(f"`color`: cannot read {text!r} as a colour (use a name such as black or red, "
                                 "#rrggbb or r,g,b)")
    return parts[0], parts[1], parts[2]


def mask_region(box: np.ndarray, scale: float, shape: str, width: int,
                height: int) -> tuple[slice, slice, np.ndarray | None] | None:
    """The pixels that hide a face: row and column slices of the grown box, clipped to the
    frame, and for an ellipse the ``(h, w)`` mask inside them (``None``: the whole rectangle).

    The ellipse is that of the unclipped box, so a face cut by the frame edge stays covered.
    """
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    rx, ry = (box[2] - box[0]) * scale / 2, (box[3] - box[1]) * scale / 2
    x0, x1 = max(0, math.floor(cx - rx)), min(width, math.ceil(cx + rx))
    y0, y1 = max(0, math.floor(cy - ry)), min(height, math.ceil(cy + ry))
    if x1 <= x0 or y1 <= y0 or rx <= 0 or ry <= 0:
        return None
    rows, cols = slice(y0, y1), slice(x0, x1)
    if shape == "box":
        return rows, cols, None
    dy = (np.arange(y0, y1) + 0.5 - cy) / ry
    dx = (np.arange(x0, x1) + 0.5 - cx) / rx
    return rows, cols, (dx * dx)[None, :] <= (1.0 - dy * dy)[:, None]  # one pass over the pixels


def _block_means(region: np.ndarray, block: int) -> np.ndarray:
    """float32 mean colour of each ``block`` x ``block`` tile from the top-left (edges repeated)."""
    h, w, channels = region.shape
    ph, pw = h + -h % block, w + -w % block
    padded = region
    if (ph, pw) != (h, w):  # np.pad(mode="edge") does this at several times the cost on small faces
        padded = np.empty((ph, pw, channels), region.dtype)
        padded[:h, :w] = region
        padded[h:, :w] = region[-1:]
        padded[:, w:] = padded[:, w - 1:w]
    rows = padded.reshape(ph // block, block, pw, channels).sum(axis=1, dtype=np.float32)
    return rows.reshape(ph // block, pw // block, block, channels).sum(axis=2) / (block * block)


@lru_cache(maxsize=1024)
def _blur_spread(length: int, tile: int, k: int) -> np.ndarray:
    """``(length, ceil(length / tile))`` float32: two box passes of ``k`` pixels over the means
    of tiles of ``tile`` pixels (edges repeated), interpolated back to every pixel. Faces keep
    their sizes from frame to frame, so these are cached."""
    count = -(-length // tile)
    taps = max(1, round(k / tile))  # the box, in tiles
    rows = np.repeat(np.arange(count), taps)
    box = np.zeros((count, count))
    np.add.at(box, (rows, np.clip(rows - taps // 2 + np.tile(np.arange(taps), count), 0, count - 1)),
              1 / taps)
    at = np.clip((np.arange(length) + 0.5) / tile - 0.5, 0, count - 1)  # among the tiles' centres
    low = at.astype(np.int64)
    interpolate = np.zeros((length, count))
    interpolate[np.arange(length), low] = 1 - (at - low)
    interpolate[np.arange(length), np.minimum(low + 1, count - 1)] += at - low
    return (interpolate @ box @ box).astype(np.float32)


ONE_THREAD_PRODUCT = 4 * 65536
"""The most multiply-adds (m * n * k) a blur hands BLAS in one product: OpenBLAS runs smaller
products on the calling thread, larger ones on its own threads, which then spin on the cores
that decoding and inference need."""


def _one_thread_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` in bands of ``a``'s rows, each under :data:`ONE_THREAD_PRODUCT`."""
    out = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b))
    step = max(1, ONE_THREAD_PRODUCT // max(1, a.shape[1] * b.shape[1]))
    for start in range(0, a.shape[0], step):
        np.matmul(a[start:start + step], b, out=out[start:start + step])
    return out


def blur(region: np.ndarray, k: int) -> np.ndarray:
    """Two box passes of ``k`` pixels per axis (close to a Gaussian): features vanish, the
    face's overall colour stays, as deface's blur does.

    Such a blur keeps no detail finer than about k/6 pixels, so it runs on the means of tiles
    that size and is interpolated back. The passes and the interpolation are linear: one
    cached matrix per axis, a few small products per face, with no per-pass Python work (faces
    are many and small).
    """
    h, w, channels = region.shape
    tile = max(1, k // 6)
    small = _block_means(region, tile)  # (tiles down, tiles across, channels)
    down, across = small.shape[:2]
    rows = _one_thread_product(_blur_spread(h, tile, k), small.reshape(down, across * channels))
    # Channels to the rows, so that the second pass too is a product of two matrices.
    rows = rows.reshape(h, across, channels).transpose(0, 2, 1).reshape(h * channels, across)
    out = _one_thread_product(rows, _blur_spread(w, tile, k).T)
    out += 0.5  # means mixed with weights summing to 1: within 0..255
    return out.astype(np.uint8).reshape(h, channels, w).transpose(0, 2, 1)


def pixelate(region: np.ndarray, block: int) -> np.ndarray:
    """Blocks of ``block`` x ``block`` pixels, each its mean colour, anchored at the top-left."""
    h, w = region.shape[:2]
    means = np.rint(_block_means(region, block)).astype(np.uint8)
    return np.repeat(np.repeat(means, block, 0), block, 1)[:h, :w]


def track_colors(track_id: np.ndarray) -> np.ndarray:
    """``(N, 3)`` uint8: one bright colour per track id, the same in every frame and every run.

    Hues step by the golden ratio, so consecutive ids (faces that appear together) stay far
    apart on the colour wheel. Faces without a track get ``UNTRACKED_COLOR``.
    """
    ids = np.asarray(track_id, np.int64)
    hue = (ids * 0.6180339887498949 + 0.05) % 1.0
    k = (np.array([5.0, 3.0, 1.0]) + hue[:, None] * 6.0) % 6.0  # HSV -> RGB with s=0.85, v=1
    rgb = 1.0 - 0.85 * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    colors = np.rint(rgb * 255).astype(np.uint8)
    colors[ids < 0] = UNTRACKED_COLOR
    return colors


def text_mask(text: str, scale: int) -> np.ndarray:
    """``(7 * scale, (6 * len - 1) * scale)`` bool: ``text`` in the bitmap font, one blank
    column between glyphs, each font pixel a ``scale`` x ``scale`` square."""
    gap = np.zeros((7, 1), bool)
    glyphs = [part for ch in text for part in (FONT[ch], gap)][:-1]
    return np.kron(np.hstack(glyphs), np.ones((scale, scale), bool))


def fill_rect(image: np.ndarray, x0: int, y0: int, x1: int, y1: int, color: np.ndarray) -> None:
    """Paint ``[x0, x1) x [y0, y1)``, clipped to the image."""
    height, width = image.shape[:2]
    x0, x1, y0, y1 = max(x0, 0), min(x1, width), max(y0, 0), min(y1, height)
    if x1 > x0 and y1 > y0:
        image[y0:y1, x0:x1] = color


def draw_box(image: np.ndarray, box: np.ndarray, color: np.ndarray, thickness: int) -> None:
    """Outline of ``x_min, y_min, x_max, y_max``: four bands centred on the box's edges."""
    x0, y0, x1, y1 = (int(round(float(v))) - thickness // 2 for v in box)
    t = thickness
    fill_rect(image, x0, y0, x1 + t, y0 + t, color)  # top
    fill_rect(image, x0, y1, x1 + t, y1 + t, color)  # bottom
    fill_rect(image, x0, y0, x0 + t, y1 + t, color)  # left
    fill_rect(image, x1, y0, x1 + t, y1 + t, color)  # right


def draw_points(image: np.ndarray, points: np.ndarray, colors: np.ndarray, radius: int) -> None:
    """Filled discs at ``(K, 2)`` ``(x, y)`` points, colours ``(K, 3)``: all in one scatter."""
    dy, dx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    inside = dx * dx + dy * dy <= radius * radius + radius  # a round disc at small radii too
    dy, dx = dy[inside], dx[inside]
    centres = np.rint(np.asarray(points, np.float64)).astype(np.int64)
    ys = centres[:, 1:2] + dy  # (K, P)
    xs = centres[:, 0:1] + dx
    height, width = image.shape[:2]
    valid = (ys >= 0) & (ys < height) & (xs >= 0) & (xs < width)
    image[ys[valid], xs[valid]] = np.broadcast_to(colors[:, None, :], ys.shape + (3,))[valid]


def draw_label(image: np.ndarray, text: str, x: int, y: int, color: np.ndarray, scale: int) -> None:
    """``text`` on a ``color`` tag whose bottom-left corner is ``(x, y)``; where that would
    leave the frame at the top, the tag hangs below ``y`` instead (inside the box), and it
    slides sideways to stay whole within the frame."""
    ink = text_mask(text, scale)
    pad = scale
    h, w = ink.shape[0] + 2 * pad, ink.shape[1] + 2 * pad
    top = y - h if y - h >= 0 else max(y, 0)
    tag = np.empty((h, w, 3), np.uint8)
    tag[...] = color
    luma = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    tag[pad:pad + ink.shape[0], pad:pad + ink.shape[1]][ink] = 0 if luma >= 128 else 255
    height, width = image.shape[:2]
    x = min(max(x, 0), max(width - w, 0))  # slide sideways into view rather than cut the text
    x0, y0, x1, y1 = x, max(top, 0), min(x + w, width), min(top + h, height)
    if x1 > x0 and y1 > y0:
        image[y0:y1, x0:x1] = tag[y0 - top:y1 - top, x0 - x:x1 - x]


def face_label(score: float, track_id: int) -> str:
    """``#3 0.97``: track id (when tracked) and score."""
    return f"#{track_id} {score:.2f}" if track_id >= 0 else f"{score:.2f}"


def draw_faces(image: np.ndarray, faces: Detections, style: Style) -> None:
    """Boxes, the six keypoints and a label per face, coloured by track."""
    if not len(faces):
        return
    colors = track_colors(faces.track_id)
    for box, color, score, track in zip(faces.boxes, colors, faces.scores.tolist(), faces.track_id.tolist(),
                                        strict=True):
        draw_box(image, box, color, style.thickness)
        x = int(round(float(box[0]))) - style.thickness // 2
        y = int(round(float(box[1]))) - style.thickness // 2
        draw_label(image, face_label(score, track), x, y, color, style.font_scale)
    draw_points(image, faces.keypoints.reshape(-1, 2), np.repeat(colors, 6, axis=0), style.radius)


def annotate_frame(image: np.ndarray, faces: Detections, style: Style | None,
                   anonymizer: Anonymizer | None = None) -> None:
    """Hide the faces (with an ``anonymizer``), then mark them (with a ``style``), in place.

    Hiding comes first so that boxes drawn over hidden faces stay crisp.
    """
    if anonymizer is not None:
        anonymizer.apply(image, faces.boxes)
    if style is not None:
        draw_faces(image, faces, style)
