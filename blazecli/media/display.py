"""How a player shows a stored frame: stretch, mirror, rotation; from the display matrix or EXIF."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from typing import BinaryIO

import av
import numpy as np

from .stills import jpeg_segments, png_chunks, tiff_directories, tiff_tag, webp_chunks

SWSCALE_THREADS = 1
"""Threads of each swscale conversion. FFmpeg's default (one per core) starts a thread pool
for every frame object converted, which cost more than the conversion itself; the pipeline
already spreads frames over its own threads."""


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
    rounded_from: float | None = field(default=None, compare=False)
    """The display matrix's own angle where it is not a quarter turn (45, say): frames are shown
    turned by the nearest quarter, which the user is told."""

    @classmethod
    def from_matrix(cls, matrix: np.ndarray | None, sar: Fraction | None = None) -> Display:
        """The display of an FFmpeg display matrix (9 int32, ``[a b u; c d v; x y w]``).

        FFmpeg's matrix takes a stored pixel ``(x, y)`` (y down) to ``(a x + c y, b x + d y)``.
        A negative determinant mirrors; undoing the mirror (negating ``a`` and ``b``) leaves a
        rotation by ``atan2(c, a)`` counter-clockwise, rounded to a quarter turn. PyAV's own
        ``rotation`` reads a mirror as half a turn, which shows the frame upside down.
        """
        rotation, mirrored, rounded_from = 0, False, None
        if matrix is not None:
            a, b, _, c, d = np.asarray(matrix[:5], np.float64)
            mirrored = bool(a * d - b * c < 0)
            degrees = float(np.degrees(np.arctan2(c, -a if mirrored else a)))
            rotation = int(round(degrees / 90.0)) * 90 % 360
            if abs((degrees - rotation + 180) % 360 - 180) > 1:  # beyond the matrix's own rounding
                rounded_from = round(degrees % 360, 1)
        return cls(rotation, mirrored, Fraction(sar) if sar and sar > 0 else Fraction(1), rounded_from)

    @property
    def rounding_note(self) -> str | None:
        """What a user is told of a rotation that is not a quarter turn (None for one)."""
        if self.rounded_from is None:
            return None
        return (f"its display rotation of {self.rounded_from:g} degrees is not a quarter turn: "
                f"frames are read turned by {self.rotation}")

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


def rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a counter-clockwise display rotation to a stored ``(H, W, ...)`` image."""
    turns = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def orient(image: np.ndarray, display: Display) -> np.ndarray:
    """Mirror and rotate a stored ``(H, W, ...)`` image as ``display`` shows it (not its stretch)."""
    if display.mirrored:
        return np.ascontiguousarray(rotate(image[:, ::-1], display.rotation))
    return rotate(image, display.rotation)


# Video codecs whose decoders attach no side data with a metadata dictionary. PyAV (18.1 with
# FFmpeg 8 at least) frees such a dictionary twice once ``frame.side_data`` has wrapped it, and
# the process dies at the next garbage collection: a PNG's ICC profile carries its name there.
# Frames of other codecs are never asked for ``side_data``; ``frame.rotation`` reads the matrix
# in C and is safe, only blind to mirrors.
_SIDE_DATA_SAFE_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mpeg2video",
                                    "mpeg1video", "h263", "theora", "prores", "dnxhd", "ffv1",
                                    "vc1", "wmv3", "msmpeg4v3", "flv1", "rawvideo"})


def display_of(frame: av.VideoFrame, stream: av.VideoStream, source: str, still: bool) -> Display:
    """How ``frame`` is shown: its display matrix (FFmpeg hands the container's to every frame)
    read whole, since PyAV's ``rotation`` takes a mirror for half a turn, and the stream's
    sample aspect ratio (the container's, else the codec's, as FFmpeg guesses it).

    A photo's orientation is read from the file's own EXIF (FFmpeg 8 hands EXIF to a JPEG frame
    as side data PyAV 18 cannot list), and its pixels are square. The matrix is read from
    ``side_data`` only for the codecs in ``_SIDE_DATA_SAFE_CODECS``; others keep the turn alone.
    """
    turn = round((frame.rotation or 0) / 90.0) * 90 % 360
    if still:  # square pixels: FFmpeg reads a photo's DPI (JFIF, pHYs, TIFF) as an aspect
        # ratio, which no picture viewer applies
        orientation = exif_orientation(source) if os.path.isfile(source) else None
        return _EXIF_DISPLAYS.get(orientation or 0, Display(turn))
    sar = Display.from_matrix(None, stream.sample_aspect_ratio).sar
    if stream.codec_context.name not in _SIDE_DATA_SAFE_CODECS:
        return Display(turn, False, sar)
    try:
        matrix = frame.side_data.get("DISPLAYMATRIX")
    except ValueError:  # a side data type this PyAV cannot name
        return Display(turn, False, sar)
    return Display.from_matrix(None if matrix is None else np.frombuffer(bytes(matrix), np.int32),
                               stream.sample_aspect_ratio)


UPRIGHT = Display()  # stored as shown: no stretch, mirror or turn

# EXIF orientation -> display: 2, 4, 5 and 7 mirror (checked against Pillow's exif_transpose).
_EXIF_DISPLAYS = {1: UPRIGHT, 2: Display(0, True), 3: Display(180), 4: Display(180, True),
                  5: Display(90, True), 6: Display(270), 7: Display(270, True), 8: Display(90)}
_EXIF_HEADER = b"Exif\x00\x00"


def exif_orientation(path: str) -> int | None:
    """The EXIF orientation tag (1-8) of a JPEG, PNG, WebP or TIFF file, if it has one.

    The file's structure is walked (JPEG segments up to the image data, PNG and WebP chunks,
    wherever they lie) to its EXIF block; only IFD0's tag 0x0112 is read.
    """
    try:
        with open(path, "rb") as handle:
            base = _exif_offset(handle)
            return None if base is None else _ifd0_orientation(handle, base)
    except (OSError, struct.error):
        return None


def _exif_offset(handle: BinaryIO) -> int | None:
    """Where the file's EXIF TIFF block starts, if it has one."""
    head = handle.read(12)
    if head[:4] in (b"II*\x00", b"MM\x00*"):  # a TIFF file is its own block
        return 0
    for marker, _ in jpeg_segments(handle):
        start = handle.tell()
        if marker == 0xE1 and handle.read(6) == _EXIF_HEADER:
            return start + 6
    for kind, _ in png_chunks(handle):
        if kind == b"eXIf":
            return handle.tell()
    for kind, _ in webp_chunks(handle):
        if kind == b"EXIF":
            start = handle.tell()
            return start + 6 if handle.read(6) == _EXIF_HEADER else start
    return None


def _ifd0_orientation(handle: BinaryIO, base: int) -> int | None:
    """Tag 0x0112 of the first directory of the TIFF block at ``base``."""
    for order, entries in tiff_directories(handle, base):
        value = tiff_tag(entries, order, 0x0112)
        return value if value is not None and 1 <= value <= 8 else None
    return None
