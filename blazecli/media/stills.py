"""The structure of still-picture files, read without decoding: PNG chunks, JPEG segments, WebP
chunks and TIFF directories.

They tell what FFmpeg's picture readers leave unsaid: a photo's EXIF orientation and colour
profile, whether a PNG is animated (FFmpeg reads an APNG as one picture unless told), how many
pages a TIFF holds (FFmpeg reads the first), a PNG's size where FFmpeg refuses it. A file read
for less than it holds would lose the rest without a word.
"""

from __future__ import annotations

import mmap
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_START = b"\xff\xd8"
_AFTER_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
"""The marker that ends a JPEG scan's coded data (0xFF 0x00 is a stuffed byte, 0xFFD0-D7 restarts)."""
ICC_JPEG_HEADER = b"ICC_PROFILE\x00"
"""What starts a JPEG APP2 segment holding a part of the colour profile (ICC.1, annex B)."""
MAX_ICC_PROFILE = 4 << 20
"""Bytes of colour profile read at most: real ones are a few kilobytes to a few megabytes, and a
PNG's compressed one could otherwise unpack to gigabytes."""
ICC_TIFF_TAG = 34675
"""The TIFF tag holding the colour profile (an UNDEFINED array)."""
ICC_JPEG_PART = 65519
"""Profile bytes one APP2 segment holds at most: 65535, less its length, header and numbering."""
MAX_TIFF_DIRECTORIES = 10_000
"""Directories walked at most: a damaged chain may loop."""
NEW_SUBFILE_TYPE = 254
"""TIFF tag whose bit 0 marks a reduced-resolution picture (a thumbnail), not a page."""
TIFF_COMPRESSION = 259
TIFF_JPEG = (6, 7)
"""TIFF compressions of JPEG data (old style, new style), which FFmpeg decodes as black."""
HEIF_STILL_BRANDS = frozenset({b"avif", b"heic", b"heix", b"mif1"})
"""ISO base media major brands of still pictures (AVIF, HEIC); ``avis`` and ``msf1`` are
sequences."""


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


def jpeg_segments(handle: BinaryIO) -> Iterator[tuple[int, int]]:
    """The marker segments of the JPEG file ``handle`` reads, from SOI to the first scan:
    ``(marker, data length)``, the handle at the segment's data while the caller looks."""
    handle.seek(0)
    if handle.read(2) != JPEG_START:
        return
    while True:
        marker = handle.read(2)
        if len(marker) < 2 or marker[0] != 0xFF or marker[1] in (0xD9, 0xDA):
            return
        if marker[1] == 0x01 or 0xD0 <= marker[1] <= 0xD8:  # no length
            continue
        (length,) = struct.unpack(">H", handle.read(2))
        data = handle.tell()
        yield marker[1], length - 2
        handle.seek(data + length - 2)


def webp_chunks(handle: BinaryIO) -> Iterator[tuple[bytes, int]]:
    """The RIFF chunks of the WebP file ``handle`` reads: ``(type, data length)``, the handle at
    the chunk's data while the caller looks."""
    handle.seek(0)
    head = handle.read(12)
    if head[:4] != b"RIFF" or head[8:] != b"WEBP":
        return
    while True:
        header = handle.read(8)
        if len(header) < 8:
            return
        (length,) = struct.unpack("<I", header[4:])
        data = handle.tell()
        yield header[:4], length
        handle.seek(data + length + (length & 1))


def icc_profile(path: str | Path) -> bytes | None:
    """The colour profile a PNG (``iCCP``), JPEG (APP2 parts), WebP (``ICCP``) or TIFF (its
    first page's tag 34675) file carries; None without one, or for one that is damaged (not
    the size its header states, a JPEG part missing) or over :data:`MAX_ICC_PROFILE`."""
    try:
        with open(path, "rb") as handle:
            profile = _stored_profile(handle)
    except (OSError, struct.error, ValueError, zlib.error):
        return None
    if profile is None or not 128 <= len(profile) <= MAX_ICC_PROFILE:
        return None
    return profile if struct.unpack(">I", profile[:4])[0] == len(profile) else None


def png_profile_beyond(path: str | Path, limit: int) -> bool:
    """Whether a PNG's colour profile unpacks to more than ``limit`` bytes (unpacked no further):
    FFmpeg's decoder unpacks it whole, gigabytes from a small file."""
    try:
        with open(path, "rb") as handle:
            found = _png_profile(handle, limit)
    except (OSError, struct.error, ValueError, zlib.error):
        return False
    return found is not None and len(found[0]) > limit


def _png_profile(handle: BinaryIO, limit: int) -> tuple[bytes, bool] | None:
    """A PNG's ``iCCP`` profile unpacked up to one byte over ``limit``, and whether that is all
    of it; None without one."""
    for kind, length in png_chunks(handle):
        if kind == b"iCCP":
            data = handle.read(length)
            name_end = data.index(b"\x00")  # a name, then the compression method (0)
            unpacking = zlib.decompressobj()
            return unpacking.decompress(data[name_end + 2:], limit + 1), unpacking.eof
    return None


def _stored_profile(handle: BinaryIO) -> bytes | None:
    """The profile's bytes as the file stores them, unchecked; a PNG's unpacked, at most one
    byte over :data:`MAX_ICC_PROFILE` (then it is refused, not unpacked whole)."""
    png = _png_profile(handle, MAX_ICC_PROFILE)
    if png is not None:
        profile, whole = png
        return profile if whole else None
    parts: dict[int, bytes] = {}
    count = 0
    for marker, length in jpeg_segments(handle):
        if marker == 0xE2 and length > 14 and handle.read(12) == ICC_JPEG_HEADER:
            number, count = handle.read(2)
            parts[number] = handle.read(length - 14)
    if parts:  # parts 1 to count, each once: a missing one leaves a profile cut short
        every_part = set(parts) == set(range(1, count + 1))
        return b"".join(parts[number] for number in sorted(parts)) if every_part else None
    for kind, length in webp_chunks(handle):
        if kind == b"ICCP":
            return handle.read(min(length, MAX_ICC_PROFILE + 1))
    for order, entries in tiff_directories(handle):  # the first page's
        return _tiff_bytes(handle, entries, order, ICC_TIFF_TAG)
    return None


def with_icc_profile(data: bytes, profile: bytes) -> bytes | None:
    """An encoded PNG or JPEG picture ``data`` carrying ``profile``, or None for another format.

    PNG: an ``iCCP`` chunk after the header (it must come before the image data); JPEG: APP2
    parts after SOI and the JFIF segment, which must come first."""
    if data.startswith(PNG_SIGNATURE):
        header_end = len(PNG_SIGNATURE) + 8 + 13 + 4  # IHDR: length, type, 13 bytes, CRC
        body = b"iCCP" + b"ICC profile\x00\x00" + zlib.compress(profile)
        chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
        return data[:header_end] + chunk + data[header_end:]
    if data.startswith(JPEG_START):
        parts = [profile[at:at + ICC_JPEG_PART] for at in range(0, len(profile), ICC_JPEG_PART)]
        if not 0 < len(parts) < 256:
            return None
        segments = b"".join(b"\xff\xe2" + struct.pack(">H", 2 + 14 + len(part)) + ICC_JPEG_HEADER
                            + bytes([number, len(parts)]) + part
                            for number, part in enumerate(parts, 1))
        at = 2
        if data[2:4] == b"\xff\xe0":  # JFIF's APP0 stays first
            at = 4 + struct.unpack(">H", data[4:6])[0]
        return data[:at] + segments + data[at:]
    return None


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


def _tiff_entry(entries: bytes, order: str, tag: int) -> tuple[int, int, bytes] | None:
    """A directory's entry for ``tag``: its type, count and last 4 bytes (the value, or where
    it lies); None without one."""
    for at in range(0, len(entries) - 11, 12):
        number, kind, count = struct.unpack(order + "HHI", entries[at:at + 8])
        if number == tag:
            return kind, count, entries[at + 8:at + 12]
    return None


def tiff_tag(entries: bytes, order: str, tag: int) -> int | None:
    """A directory's SHORT or LONG tag, if it has it."""
    entry = _tiff_entry(entries, order, tag)
    if entry is None or entry[0] not in (3, 4):  # SHORT or LONG, stored at the entry's end
        return None
    kind, _, value = entry
    return int(struct.unpack(order + ("H" if kind == 3 else "I"), value[:2 if kind == 3 else 4])[0])


def _tiff_bytes(handle: BinaryIO, entries: bytes, order: str, tag: int) -> bytes | None:
    """A directory's array tag of bytes (UNDEFINED), read from where its entry points; the
    handle is at the start of the TIFF file."""
    entry = _tiff_entry(entries, order, tag)
    if entry is None or entry[0] != 7:
        return None
    _, count, value = entry
    if count <= 4:
        return value[:count]
    handle.seek(struct.unpack(order + "I", value)[0])
    data = handle.read(count)
    return data if len(data) == count else None


def gif_stops_short(path: str | Path) -> bool:
    """Whether a GIF file ends before its trailer: its blocks, walked from the header, run out
    first. FFmpeg decodes what there is without a word: a cut animation as a shorter one, a
    cut picture as a garbled one. False for another file, or one damaged otherwise."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(13)
            if len(header) < 13 or header[:6] not in (b"GIF87a", b"GIF89a"):
                return False
            _skip_colour_table(handle, header[10])
            while kind := handle.read(1):
                if kind == b";":  # the trailer
                    return False
                if kind == b",":  # a picture: its descriptor, colours, LZW code size, data
                    descriptor = handle.read(9)
                    if len(descriptor) < 9:
                        return True
                    _skip_colour_table(handle, descriptor[8])
                    handle.read(1)
                elif kind == b"!":  # an extension: its label, then its data
                    handle.read(1)
                else:
                    return False  # not a block: damaged, which FFmpeg reports
                if not _skip_sub_blocks(handle):
                    return True
            return True
    except OSError:
        return False


def jpeg_stops_short(path: str | Path) -> bool:
    """Whether a JPEG file ends before its end-of-image marker: its segments and scans, walked
    from the start, run out first. FFmpeg decodes what there is, the rest grey, without a word.
    Data after the marker (a phone's motion photo appends its video) is not the picture's.
    False for another file, or one damaged otherwise."""
    try:
        with open(path, "rb") as handle:
            # Not read whole: MJPEG in AVI or Matroska (a webcam's) is told apart by its first
            # bytes, and a raw MJPEG stream of many pictures is walked to its first one's end.
            if handle.read(len(JPEG_START)) != JPEG_START:
                return False
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _jpeg_runs_out(data)
    except (OSError, ValueError):
        return False


def _jpeg_runs_out(data: mmap.mmap) -> bool:
    """Whether the JPEG in ``data`` ends before its end-of-image marker."""
    at = len(JPEG_START)
    while at + 2 <= len(data):
        if data[at] != 0xFF:
            return False  # not a marker: damaged, which FFmpeg reports
        marker = data[at + 1]
        if marker == 0xD9:  # end of image
            return False
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:  # fill, or no length
            at += 1 if marker == 0xFF else 2
            continue
        at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
        if marker == 0xDA:  # a scan: its coded data runs to the next marker
            found = _AFTER_SCAN.search(data, at)
            if found is None:
                return True
            at = found.start()
    return True


def _skip_colour_table(handle: BinaryIO, flags: int) -> None:
    if flags & 0x80:
        handle.seek(3 << ((flags & 7) + 1), 1)


def _skip_sub_blocks(handle: BinaryIO) -> bool:
    """Past a chain of data sub-blocks; False where the file ends inside it."""
    while size := handle.read(1):
        if not size[0]:
            return True
        handle.seek(size[0], 1)
    return False


def is_animated_webp(path: str | Path) -> bool:
    """Whether a file is an animated WebP: an ``ANIM`` chunk (FFmpeg decodes stills only)."""
    try:
        with open(path, "rb") as handle:
            return any(kind == b"ANIM" for kind, _ in webp_chunks(handle))
    except OSError:
        return False


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


def tiff_compression(path: str | Path) -> int | None:
    """The compression tag of a TIFF file's first page; None where it states none or the file
    is not a classic TIFF."""
    try:
        with open(path, "rb") as handle:
            for order, entries in tiff_directories(handle):
                return tiff_tag(entries, order, TIFF_COMPRESSION)
    except (OSError, struct.error):
        pass
    return None


def is_heif_still(path: str | Path) -> bool:
    """Whether a file is a still picture in an ISO base media container (AVIF, HEIC), by its
    ``ftyp`` major brand: FFmpeg reads it as a one-frame video."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError:
        return False
    return head[4:8] == b"ftyp" and head[8:12] in HEIF_STILL_BRANDS
