"""The structure of still-picture files, read without decoding: PNG chunks and TIFF directories.

They tell what FFmpeg's picture readers leave unsaid: a PNG's EXIF orientation, whether it is
animated (FFmpeg reads an APNG as one picture unless told), how many pages a TIFF holds
(FFmpeg reads the first), a PNG's size where FFmpeg refuses it. A file read for less than it
holds would lose the rest without a word.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_TIFF_DIRECTORIES = 10_000
"""Directories walked at most: a damaged chain may loop."""
NEW_SUBFILE_TYPE = 254
"""TIFF tag whose bit 0 marks a reduced-resolution picture (a thumbnail), not a page."""


def png_chunks(handle: BinaryIO) -> Iterator[tuple[bytes, int]]:
    """The chunks of the PNG file ``handle`` reads: ``(type, data length)``, the handle at the
    chunk's data while the caller looks; up to IEND or the file's end (none for another file)."""
    handle.seek(0)
    if handle.read(8) != PNG_SIGNATURE:
        return
    while True:
        header = handle.read(8)
        if len(header) < 8 or header[4:] == b"IEND":
            return
        (length,) = struct.unpack(">I", header[:4])
        data = handle.tell()
        yield header[4:], length
        handle.seek(data + length + 4)  # past the data and its CRC


def tiff_directories(handle: BinaryIO, base: int = 0) -> Iterator[tuple[str, bytes]]:
    """The directories of the TIFF block at ``base`` (a TIFF file, or EXIF inside a JPEG):
    ``(byte order, their 12-byte entries)`` in chain order; none for what is not classic TIFF."""
    handle.seek(base)
    header = handle.read(8)
    order = {b"II": "<", b"MM": ">"}.get(header[:2])
    if order is None or len(header) < 8 or struct.unpack(order + "H", header[2:4])[0] != 42:
        return
    (offset,) = struct.unpack(order + "I", header[4:8])
    seen: set[int] = set()
    while offset and offset not in seen and len(seen) < MAX_TIFF_DIRECTORIES:
        seen.add(offset)
        handle.seek(base + offset)
        (count,) = struct.unpack(order + "H", handle.read(2))
        entries = handle.read(12 * count)
        yield order, entries
        handle.seek(base + offset + 2 + 12 * count)
        (offset,) = struct.unpack(order + "I", handle.read(4))


def tiff_tag(entries: bytes, order: str, tag: int) -> int | None:
    """A directory's SHORT or LONG tag, if it has it."""
    for at in range(0, len(entries) - 11, 12):
        number, kind = struct.unpack(order + "HH", entries[at:at + 4])
        if number == tag and kind in (3, 4):  # SHORT or LONG, stored at the entry's end
            size = 2 if kind == 3 else 4
            (value,) = struct.unpack(order + ("H" if kind == 3 else "I"), entries[at + 8:at + 8 + size])
            return int(value)
    return None


def is_animated_png(path: str | Path) -> bool:
    """Whether a file is an animated PNG: an ``acTL`` chunk before the image data."""
    try:
        with open(path, "rb") as handle:
            for kind, _ in png_chunks(handle):
                if kind in (b"acTL", b"IDAT"):
                    return kind == b"acTL"
    except (OSError, struct.error):
        pass
    return False


def png_size(path: str | Path) -> tuple[int, int] | None:
    """A PNG's width and height from its header, or None for another file."""
    try:
        with open(path, "rb") as handle:
            for kind, _ in png_chunks(handle):
                if kind == b"IHDR":
                    width, height = struct.unpack(">II", handle.read(8))
                    return width, height
                return None
    except (OSError, struct.error):
        pass
    return None


def tiff_pages(path: str | Path) -> int:
    """Full-resolution pages of a TIFF file (directories not marked reduced-resolution by
    :data:`NEW_SUBFILE_TYPE`); 0 for a file that is not a classic TIFF."""
    try:
        with open(path, "rb") as handle:
            return sum(not (tiff_tag(entries, order, NEW_SUBFILE_TYPE) or 0) & 1
                       for order, entries in tiff_directories(handle))
    except (OSError, struct.error):
        return 0
