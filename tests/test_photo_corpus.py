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


def test_annotate_on_profiled_photo_ends_cleanly(photos: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "drawn.mp4"
    done = blazecli("annotate", str(photos[0].parent / "icc.png"), "-o", str(out))
    assert done.returncode in (0, 2), done.stderr  # never a signal
    assert "Traceback" not in done.stderr
    assert not _leftovers(tmp_path)


@pytest.mark.slow
def test_shared_photos_folder(shared_data: Path, tmp_path: Path) -> None:
    """The shared folder (a colour-profiled PNG among them) gives rows for every photo."""
    out = tmp_path / "faces.parquet"
    done = blazecli("detect", str(shared_data / "images"), "-o", str(out), "--model", "full")
    assert done.returncode == 0, done.stderr
    photos = [p for p in (shared_data / "images").rglob("*") if p.is_file()
              and p.suffix.lower() in {".png", ".jpg", ".jpeg", ".ppm"}]
    seen = set(pd.read_parquet(out)["video"])
    # photos with faces have rows (one count image has none by design)
    assert len(seen) >= len(photos) - 1
