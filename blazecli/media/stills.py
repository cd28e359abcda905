"""What FFmpeg's still-picture readers leave unsaid: whether a PNG is animated, and how many
pages a TIFF holds (reads of a file's chunk or directory structure, no decoding).

FFmpeg reads a PNG as one picture unless told it is an APNG, and a TIFF's first page only; a
file read for less than it holds would lose the rest without a word.
"""

from __future__ import annotations

import struct
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_TIFF_DIRECTORIES = 10_000
"""Directories walked at most: a damaged chain may loop."""


def is_animated_png(path: str | Path) -> bool:
    """Whether a file is an animated PNG: an ``acTL`` chunk before the image data."""
    try:
        with open(path, "rb") as handle:
            if handle.read(8) != PNG_SIGNATURE:
                return False
            while True:
                header = handle.read(8)
                if len(header) < 8 or header[4:] in (b"IDAT", b"IEND"):
                    return False
                if header[4:] == b"acTL":
                    return True
                (length,) = struct.unpack(">I", header[:4])
                handle.seek(length + 4, 1)  # data and CRC
    except OSError:
        return False


def png_size(path: str | Path) -> tuple[int, int] | None:
    """A PNG's width and height from its header (FFmpeg states none for a picture too large
    for it), or None for another file."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def tiff_pages(path: str | Path) -> int:
    """Full-resolution pages of a TIFF file: directories not marked as reduced-resolution
    (a thumbnail, NewSubfileType bit 0). 0 for a file that is not a classic TIFF."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(8)
            order = {b"II": "<", b"MM": ">"}.get(header[:2])
            if order is None or len(header) < 8 or struct.unpack(order + "H", header[2:4])[0] != 42:
                return 0
            (offset,) = struct.unpack(order + "I", header[4:8])
            pages, seen = 0, set[int]()
            while offset and offset not in seen and len(seen) < MAX_TIFF_DIRECTORIES:
                seen.add(offset)
                handle.seek(offset)
                (count,) = struct.unpack(order + "H", handle.read(2))
                entries = handle.read(12 * count)
                pages += not _reduced_resolution(entries, order)
                (offset,) = struct.unpack(order + "I", handle.read(4))
            return pages
    except (OSError, struct.error):
        return 0


def _reduced_resolution(entries: bytes, order: str) -> bool:
    """Whether a directory's NewSubfileType (tag 254) marks a reduced-resolution picture."""
    for at in range(0, len(entries) - 11, 12):
        tag, kind = struct.unpack(order + "HH", entries[at:at + 4])
        if tag == 254:
            wide = kind == 4  # a LONG, else a SHORT
            (value,) = struct.unpack(order + ("I" if wide else "H"), entries[at + 8:at + (12 if wide else 10)])
            return bool(value & 1)
    return False
