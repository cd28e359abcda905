"""The reader shows frames as a player does: display matrices (turns and mirrors) and
non-square pixels, read from clips written with them."""

from __future__ import annotations

import io
import struct
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from clips import stored_for, write_clip
from PIL import Image

from blazecli.media.display import Display, exif_orientation
from blazecli.media.reader import VideoReader


def quadrants(width: int = 64, height: int = 48) -> np.ndarray:
    """Four flat blocks of different colours: any turn or mirror moves one of them."""
    shown = np.zeros((height, width, 3), np.uint8)
    shown[:height // 2, :width // 2] = (220, 40, 40)
    shown[:height // 2, width // 2:] = (40, 220, 40)
    shown[height // 2:, :width // 2] = (40, 40, 220)
    shown[height // 2:, width // 2:] = (220, 220, 40)
    return shown


def assert_shows(rgb: np.ndarray, shown: np.ndarray) -> None:
    """Equal to ``shown`` up to coding noise, away from the blocks' edges (blurred by 4:2:0
    chroma and by stretching)."""
    assert rgb.shape == shown.shape
    inside = np.ones(shown.shape[:2], bool)
    inside[:, 30:34] = inside[22:26] = False
    assert np.abs(rgb.astype(int) - shown)[inside].max() <= 12


@pytest.mark.parametrize("squeeze", [1, 2])
@pytest.mark.parametrize("hflip", [False, True])
@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_frames_are_shown_turned_mirrored_and_stretched(tmp_path: Path, rotation: int, hflip: bool,
                                                        squeeze: int) -> None:
    shown = quadrants()
    clip = write_clip(tmp_path / "c.mp4", lambda i: stored_for(shown, rotation, hflip, squeeze), 2,
                      rotation=rotation, hflip=hflip, sar=Fraction(squeeze),
                      options={"qp": "0"})
    with VideoReader(clip) as reader:
        info = reader.info
        first = next(reader.frames())
        rgb = first.to_rgb()
    assert (info.width, info.height) == first.size == (64, 48)
    # PyAV writes the mirror after the turn; shown the other way round, the turn reverses.
    assert info.display == Display(-rotation % 360 if hflip else rotation, hflip, Fraction(squeeze))
    assert_shows(rgb, shown)


def test_a_vertical_flip_is_a_mirror_and_half_a_turn(tmp_path: Path) -> None:
    shown = quadrants()
    clip = tmp_path / "v.mkv"
    with av.open(str(clip), "w") as container:  # stored upside down, with a vflip matrix
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"qp": "0"}
        stream.set_display_rotation(0, vflip=True)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(shown[::-1]), format="rgb24")
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with VideoReader(clip) as reader:
        assert reader.info.display == Display(180, True)
        rgb = next(reader.frames()).to_rgb()
    assert_shows(rgb, shown)


def _tiff_block(orientation: int, order: str) -> bytes:
    """The smallest EXIF TIFF block: one IFD holding the orientation, in byte order ``order``."""
    mark = b"II*\x00" if order == "<" else b"MM\x00*"
    entry = struct.pack(order + "HHIHH", 0x0112, 3, 1, orientation, 0)
    return mark + struct.pack(order + "IH", 8, 1) + entry + b"\x00" * 4


def _png_with_exif_last(path: Path, image: Image.Image, block: bytes) -> None:
    """A PNG whose eXIf chunk comes after the image data (allowed; Pillow writes it before)."""
    plain = io.BytesIO()
    image.save(plain, "PNG")
    data = plain.getvalue()
    end = data.rindex(b"IEND") - 4
    chunk = struct.pack(">I", len(block)) + b"eXIf" + block + struct.pack(">I", zlib.crc32(b"eXIf" + block))
    path.write_bytes(data[:end] + chunk + data[end:])


def test_exif_orientation_is_found_wherever_the_format_puts_it(tmp_path: Path) -> None:
    """JPEG (both byte orders, after a comment that mentions Exif), PNG with eXIf after the
    image data, WebP, TIFF; files without EXIF have none."""
    image = Image.fromarray(quadrants())
    for orientation in (2, 5, 7):
        for order in "<>":
            block = _tiff_block(orientation, order)
            jpeg = io.BytesIO()
            image.save(jpeg, "JPEG", exif=b"Exif\x00\x00" + block)
            comment = b"\xff\xfe\x00\x10Exif\x00\x00MM\x00*bad!"  # a COM segment first: not EXIF
            path = tmp_path / f"{orientation}{order}.jpg"
            path.write_bytes(jpeg.getvalue()[:2] + comment + jpeg.getvalue()[2:])
            assert exif_orientation(str(path)) == orientation
        block = _tiff_block(orientation, "<")
        _png_with_exif_last(tmp_path / f"{orientation}.png", image, block)
        image.save(tmp_path / f"{orientation}.webp", exif=b"Exif\x00\x00" + block)
        image.save(tmp_path / f"{orientation}.tif", exif=b"Exif\x00\x00" + block)
        for suffix in ("png", "webp", "tif"):
            assert exif_orientation(str(tmp_path / f"{orientation}.{suffix}")) == orientation, suffix
    image.save(tmp_path / "none.jpg")
    assert exif_orientation(str(tmp_path / "none.jpg")) is None
    assert exif_orientation(str(tmp_path / "missing.jpg")) is None


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc")
def test_converting_kept_frames_starts_no_threads(tmp_path: Path) -> None:
    """swscale's default starts a thread pool for every frame object it converts; frames held
    for hiding's look-ahead kept hundreds of idle threads alive."""
    clip = write_clip(tmp_path / "c.mp4", lambda i: np.full((64, 96, 3), i * 8, np.uint8), 24)
    with VideoReader(clip) as reader:
        frames = list(reader.frames())
        before = len(list(Path("/proc/self/task").iterdir()))
        shown = [frame.to_rgb() for frame in frames]
        after = len(list(Path("/proc/self/task").iterdir()))
    assert len(shown) == 24 and shown[5][0, 0, 0] == pytest.approx(40, abs=2)
    assert after - before <= 2


def test_an_image_codec_in_matroska_is_a_video(tmp_path: Path) -> None:
    """Matroska states no frame count: a webcam's MJPEG in .mkv is a video of all its frames,
    not a photo of its first (which lost every other frame)."""
    clip = write_clip(tmp_path / "c.mkv", lambda i: np.full((48, 64, 3), i * 10, np.uint8), 12,
                      codec="mjpeg", pix_fmt="yuvj420p")
    with VideoReader(clip) as reader:
        frames = [frame.to_rgb() for frame in reader.frames()]
        assert not reader.info.is_image
    assert len(frames) == 12 and frames[11][0, 0, 0] == pytest.approx(110, abs=3)


def test_a_rotation_that_is_not_a_quarter_turn_is_rounded_and_said(tmp_path: Path) -> None:
    """A 45 degree display matrix was read as no turn at all, without a word."""
    import subprocess
    import sys

    clip = write_clip(tmp_path / "tilted.mp4", lambda i: quadrants(), 3, rotation=45)
    with VideoReader(str(clip)) as reader:
        display = reader.info.display
    assert (display.rotation, display.rounded_from) == (0, 45.0)
    assert Display.from_matrix(np.array([0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30], np.int32)).rounded_from is None
    for command, out in (("detect", "f.csv"), ("annotate", "a.mp4")):
        result = subprocess.run([sys.executable, "-m", "blazecli", command, str(clip), "-o", str(tmp_path / out)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "its display rotation of 45 degrees is not a quarter turn: frames are read turned by 0" in result.stderr
