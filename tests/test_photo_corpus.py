"""Everyday photo kinds, written by Pillow here, run as one folder through the CLI in a subprocess.

A signal (a segfault in a decoder binding, say) is a failure like any other exit code, which an
in-process runner would not see. Each photo holds the astronaut's face, so each must give rows.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image, ImageCms  # noqa: E402


def _srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def write_photo_corpus(folder: Path, rgb: np.ndarray) -> list[Path]:
    """One file per kind of photo people hand over: colour profiles, palettes, 16 bits, CMYK."""
    folder.mkdir(parents=True, exist_ok=True)
    icc = _srgb_profile()
    image = Image.fromarray(rgb)
    grey = image.convert("L")
    kinds: dict[str, tuple[Image.Image, dict]] = {
        "icc.png": (image, {"icc_profile": icc}),
        "palette_transparent.png": (image.convert("P", palette=Image.Palette.ADAPTIVE),
                                    {"transparency": 0}),
        "deep16.png": (Image.fromarray(np.asarray(grey, np.uint16) * 257), {}),
        "grey.png": (grey, {}),
        "rgba.png": (image.convert("RGBA"), {}),
        "icc.jpg": (image, {"icc_profile": icc}),
        "cmyk.jpg": (image.convert("CMYK"), {}),
        "progressive.jpg": (image, {"progressive": True, "quality": 90}),
        "plain.webp": (image, {"quality": 90}),
        "icc.webp": (image, {"quality": 90, "icc_profile": icc}),
        "plain.tiff": (image, {}),
        "icc.tiff": (image, {"icc_profile": icc}),
        "plain.bmp": (image, {}),
        "plain.ppm": (image, {}),
        "grey.pgm": (grey, {}),
        # other names of those kinds, which a folder was searched without: skipped in silence
        "camera.jfif": (image, {}),
        "camera.jpe": (image, {}),
        "plain.pnm": (image, {}),
    }
    paths = []
    for name, (picture, options) in kinds.items():
        path = folder / name
        picture.save(path, **options)
        paths.append(path)
    return paths


def blazecli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blazecli", *args, "--quiet"],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> list[Path]:
    return write_photo_corpus(tmp_path_factory.mktemp("photos") / "in", astronaut)


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


def test_folder_of_photo_kinds_to_one_file(photos: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "faces.parquet"
    done = blazecli("detect", str(photos[0].parent), "-o", str(out))
    assert done.returncode == 0, done.stderr
    rows = pd.read_parquet(out)
    per_photo = rows.groupby("video").size()
    assert sorted(Path(v).name for v in per_photo.index) == sorted(p.name for p in photos)
    assert (per_photo >= 1).all()
    # every kind shows the same face at the same place, whatever its pixel format
    centre_x = (rows.x_min + rows.x_max) / 2
    assert centre_x.max() - centre_x.min() < 8, rows[["video", "x_min", "x_max"]]
    assert not _leftovers(tmp_path)


def test_folder_of_photo_kinds_to_folder(photos: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = blazecli("detect", str(photos[0].parent), "-o", f"{out}/")
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"{p.name}.parquet" for p in photos)
    assert all(len(pd.read_parquet(out / name)) >= 1 for name in written)
    assert not _leftovers(tmp_path)


@pytest.mark.parametrize("name", ["icc.png", "icc.tiff", "palette_transparent.png"])
def test_stability_on_profiled_photo(photos: list[Path], name: str) -> None:
    done = blazecli("stability", str(photos[0].parent / name))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", ["icc.png", "icc.jpg", "plain.webp", "icc.tiff", "plain.ppm", "grey.pgm"])
def test_annotate_photo_keeps_size_and_format(photos: list[Path], tmp_path: Path, name: str) -> None:
    source = photos[0].parent / name
    out = tmp_path / f"hidden{source.suffix}"
    done = blazecli("annotate", str(source), "-o", str(out), "--blur")
    assert done.returncode == 0, done.stderr
    with Image.open(source) as before, Image.open(out) as after:  # PPM and PGM were "videos"
        assert (after.format, after.size, after.mode) == (before.format, before.size, before.mode)
        pixels = np.asarray(after.convert("RGB"), np.int16)
        original = np.asarray(before.convert("RGB"), np.int16)
    face = (slice(82, 177), slice(177, 272))  # the astronaut's face box
    assert np.abs(pixels[face] - original[face]).mean() > 8  # blurred
    assert np.abs(pixels[400:, :100] - original[400:, :100]).mean() < 6  # the rest kept (JPEG twice)
    assert not _leftovers(tmp_path)


@pytest.mark.parametrize(("name", "suffix", "kept"), [
    ("icc.png", ".png", True), ("icc.jpg", ".jpg", True), ("icc.png", ".jpeg", True),
    ("icc.webp", ".png", True), ("icc.tiff", ".jpg", True),
    ("icc.webp", ".webp", False), ("icc.tiff", ".tiff", False), ("plain.webp", ".png", None)])
def test_annotate_photo_keeps_its_colour_profile(photos: list[Path], tmp_path: Path, name: str,
                                                 suffix: str, kept: bool | None) -> None:
    """The profile was dropped: a wide-gamut photo came out in other colours. PNG and JPEG keep
    it; the others say that they do not."""
    source, out = photos[0].parent / name, tmp_path / f"hidden{suffix}"
    done = blazecli("annotate", str(source), "-o", str(out), "--blur")
    assert done.returncode == 0, done.stderr
    with Image.open(source) as before, Image.open(out) as after:
        assert after.info.get("icc_profile") == (before.info["icc_profile"] if kept else None)
    said = f"note: {out} is written without {name}'s colour profile"
    assert (said in done.stderr) is (kept is False), done.stderr


def test_a_photo_ffmpeg_cannot_decode_is_not_called_truncated(tmp_path: Path) -> None:
    """A floating-point TIFF is valid, but FFmpeg has no decoder for its samples."""
    source = tmp_path / "depth.tif"
    Image.fromarray(np.linspace(0, 1, 64 * 48, dtype=np.float32).reshape(48, 64), "F").save(source)
    done = blazecli("detect", str(source), "-o", str(tmp_path / "faces.csv"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "its tiff picture does not decode: damaged, or a kind FFmpeg does not read (such as " \
        "floating-point samples)" in done.stderr
    assert not (tmp_path / "faces.csv").exists()


def test_annotate_photo_to_video_name_is_refused(photos: list[Path], tmp_path: Path) -> None:
    done = blazecli("annotate", str(photos[0].parent / "icc.png"), "-o", str(tmp_path / "x.mp4"))
    assert done.returncode == 2 and "photo" in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_shared_photos_folder(shared_data: Path, tmp_path: Path) -> None:
    """The shared folder, a colour-profiled PNG among its photos, runs whole: every photo is
    processed, and the faces the default model finds are written."""
    from blazecli.outputs.sinks import read_metadata

    out = tmp_path / "faces.parquet"
    done = blazecli("detect", str(shared_data / "images"), "-o", str(out))
    assert done.returncode == 0, done.stderr
    photos = sorted(str(p) for p in (shared_data / "images").rglob("*")
                    if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".ppm"})
    facts = read_metadata(str(out))["videos"]
    assert sorted(f["video"] for f in facts) == photos
    assert all(f["frames_processed"] == 1 for f in facts)
    rows = pd.read_parquet(out)
    assert sum(f["faces"] for f in facts) == len(rows) > 0
    assert "skimage_astronaut.png" in " ".join(rows["video"])


def _jpeg_with_profile_parts(path: Path, rgb: np.ndarray, profile: bytes, drop: int | None = None) -> None:
    """A JPEG whose profile is split into 3 APP2 parts (``drop``: leave that one out)."""
    Image.fromarray(rgb).save(path, quality=90)
    data, part = path.read_bytes(), -(-len(profile) // 3)
    segments = [b"\xff\xe2" + (16 + len(chunk)).to_bytes(2, "big") + b"ICC_PROFILE\x00" + bytes([n, 3]) + chunk
                for n, chunk in enumerate((profile[i:i + part] for i in range(0, len(profile), part)), 1)
                if n != drop]
    path.write_bytes(data[:2] + b"".join(segments) + data[2:])


def test_damaged_or_oversized_profiles_are_not_read(tmp_path: Path, astronaut: np.ndarray) -> None:
    """A JPEG missing a part of its profile gave a truncated one, written on; a PNG whose profile
    unpacks to 1.5 GB took 6.5 GB of memory."""
    import zlib

    from blazecli.media.stills import MAX_ICC_PROFILE, icc_profile

    profile = _srgb_profile()
    whole, missing = tmp_path / "whole.jpg", tmp_path / "missing.jpg"
    _jpeg_with_profile_parts(whole, astronaut[:64, :64], profile)
    _jpeg_with_profile_parts(missing, astronaut[:64, :64], profile, drop=2)
    assert icc_profile(whole) == profile and icc_profile(missing) is None
    bomb = tmp_path / "bomb.png"
    Image.fromarray(astronaut[:8, :8]).save(bomb)
    data = bomb.read_bytes()
    body = b"iCCP" + b"x\x00\x00" + zlib.compress(profile[:4] + bytes(MAX_ICC_PROFILE * 4), 9)
    chunk = (len(body) - 4).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    bomb.write_bytes(data[:33] + chunk + data[33:])
    assert icc_profile(bomb) is None


def test_a_profile_for_other_channels_is_left_out_with_the_reason(tmp_path: Path, astronaut: np.ndarray) -> None:
    """A profile for other channels than those written (a grey photo's, when boxes are drawn in
    colour; Lab here) was said to be left out because of the output's format."""
    lab_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    source, out = tmp_path / "lab.png", tmp_path / "out.png"
    Image.fromarray(astronaut).save(source, icc_profile=lab_profile)
    done = blazecli("annotate", str(source), "-o", str(out), "--blur")
    assert done.returncode == 0, done.stderr
    assert "profile (it is for Lab pictures, and this one is written in RGB)" in done.stderr
    with Image.open(out) as after:
        assert "icc_profile" not in after.info


def test_a_png_whose_profile_unpacks_to_gigabytes_is_refused(tmp_path: Path, astronaut: np.ndarray) -> None:
    """FFmpeg's decoder unpacks a PNG's profile whole: one of 1.5 GB in a 2 MB file took 5 GB of
    memory and 9 s in `detect`."""
    import zlib

    from blazecli.media.reader import MAX_DECODED_PROFILE

    source = tmp_path / "bomb.png"
    Image.fromarray(astronaut[:8, :8]).save(source)
    data = source.read_bytes()
    body = b"iCCP" + b"x\x00\x00" + zlib.compress(bytes(MAX_DECODED_PROFILE + 1), 9)
    chunk = (len(body) - 4).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    source.write_bytes(data[:33] + chunk + data[33:])
    done = blazecli("detect", str(source), "-o", str(tmp_path / "faces.csv"))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "its colour profile unpacks to over 64 MB" in done.stderr
    assert not (tmp_path / "faces.csv").exists()
