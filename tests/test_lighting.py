"""A brightened look at dark inputs: the lift on arrays, and faces found in the dark."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from blazecli.inference.detector import FaceDetector
from blazecli.inference.lighting import BLACK_LEVEL, DARK_LEVEL, LIFTED_LEVEL, brightened, lit_means


def test_lit_means_leave_black_padding_out() -> None:
    samples = np.zeros((3, 8, 8, 3), np.uint8)
    samples[0, :4] = 128  # half letterbox: the picture's own level counts
    samples[1] = 64
    means = lit_means(samples)
    assert means[0] == pytest.approx(128 / 255)
    assert means[1] == pytest.approx(64 / 255)
    assert means[2] == 1.0  # all black: nothing to lift


def test_only_dark_inputs_get_a_lifted_copy() -> None:
    rng = np.random.default_rng(0)
    bright = rng.integers(60, 200, (8, 8, 3)).astype(np.uint8)
    dark = rng.integers(1, 30, (8, 8, 3)).astype(np.uint8)
    dark[:2] = 0  # padding
    which, lifted = brightened(np.stack([bright, dark, bright]))
    assert which.tolist() == [1]
    assert lifted.shape == (1, 8, 8, 3) and lifted.dtype == np.uint8
    assert (lifted[0, :2] == 0).all()  # black stays black
    assert lit_means(lifted)[0] == pytest.approx(LIFTED_LEVEL, abs=0.08)
    # the lift keeps the order of levels: one curve for the whole input
    order = np.argsort(dark[2:].ravel(), kind="stable")
    assert (np.diff(lifted[0, 2:].ravel()[order].astype(int)) >= 0).all()


def test_neither_lit_nor_black_inputs_are_lifted() -> None:
    """Lit: nothing to gain. Near black (a black suit): only noise to lift."""
    samples = np.stack([np.full((4, 4, 3), round(DARK_LEVEL * 255) + 1, np.uint8),
                        np.full((4, 4, 3), max(1, round(BLACK_LEVEL * 255) - 1), np.uint8)])
    which, lifted = brightened(samples)
    assert len(which) == 0 and lifted.shape == (0, 4, 4, 3)


@pytest.fixture(scope="module")
def dark_astronaut(astronaut: np.ndarray) -> np.ndarray:
    """The astronaut at 7 % of its light (lit pixels 0.035 of full scale on average)."""
    return (astronaut * 0.07).astype(np.uint8)


DARK_THRESHOLD = 0.8
"""Above the short-range model's score for the dark astronaut as decoded (0.73), under its
score lit (0.89)."""


def test_a_face_in_the_dark_is_found_brightened_only(astronaut: np.ndarray,
                                                     dark_astronaut: np.ndarray) -> None:
    plain = FaceDetector(model="short", threshold=DARK_THRESHOLD)
    lit = plain.detect_image(astronaut)
    assert len(lit) == 1 and len(plain.detect_image(dark_astronaut)) == 0
    faces = FaceDetector(model="short", threshold=DARK_THRESHOLD, brighten=True).detect_image(dark_astronaut)
    assert len(faces) == 1
    side = lit.boxes[0, 2] - lit.boxes[0, 0]
    assert np.abs(faces.boxes[0] - lit.boxes[0]).max() < 0.1 * side


def test_brighten_changes_nothing_on_a_lit_frame(astronaut: np.ndarray) -> None:
    """No input is dark: the same inference, the same faces (MediaPipe's output)."""
    assert lit_means(astronaut[None])[0] > DARK_LEVEL
    plain = FaceDetector(model="full", tiles="auto").detect_image(astronaut)
    assert len(plain) == 1
    assert FaceDetector(model="full", tiles="auto", brighten=True).detect_image(astronaut) == plain


def test_detect_brighten_on_the_command_line(cli, tmp_path, dark_astronaut: np.ndarray) -> None:  # noqa: ANN001
    from PIL import Image

    photo = tmp_path / "dark.png"
    Image.fromarray(dark_astronaut).save(photo)
    for flags, faces in (([], 0), (["--brighten"], 1)):
        out = tmp_path / f"faces{len(flags)}.parquet"
        assert cli("detect", str(photo), "-o", str(out), "--threshold", str(DARK_THRESHOLD), *flags).exit_code == 0
        assert len(pd.read_parquet(out)) == faces
        assert json.loads(pq.read_metadata(out).metadata[b"blazecli"])["brighten"] is bool(flags)
