"""Anchor centres: MediaPipe's SsdAnchorsCalculator layout for both face models."""

from __future__ import annotations

import math

import numpy as np
import pytest

from blazecli.inference.anchors import anchors_per_location, generate_anchors
from blazecli.models import MODELS, AnchorOptions


def mediapipe_loop(options: AnchorOptions, input_size: int) -> np.ndarray:
    """SsdAnchorsCalculator's loops transcribed literally (centres only): a second opinion."""
    centres = []
    layer_id = 0
    while layer_id < options.num_layers:
        count = 0
        last = layer_id
        while last < options.num_layers and options.strides[last] == options.strides[layer_id]:
            count += len(options.aspect_ratios)
            if options.interpolated_scale_aspect_ratio > 0.0:
                count += 1
            last += 1
        stride = options.strides[layer_id]
        fm = math.ceil(input_size / stride)
        for y in range(fm):
            for x in range(fm):
                for _ in range(count):
                    centres.append(((x + options.anchor_offset) / fm,
                                    (y + options.anchor_offset) / fm))
        layer_id = last
    return np.array(centres, np.float32)


@pytest.fixture(scope="module")
def short() -> np.ndarray:
    spec = MODELS["short"]
    return generate_anchors(spec.anchors, spec.input_size)


@pytest.fixture(scope="module")
def full() -> np.ndarray:
    spec = MODELS["full"]
    return generate_anchors(spec.anchors, spec.input_size)


@pytest.mark.parametrize("key, count", [("short", 896), ("full", 2304)])
def test_count_and_dtype(key: str, count: int) -> None:
    spec = MODELS[key]
    anchors = generate_anchors(spec.anchors, spec.input_size)
    assert anchors.shape == (count, 2) == (spec.num_anchors, 2)
    assert anchors.dtype == np.float32
    assert ((anchors > 0) & (anchors < 1)).all()


def test_short_range_golden_rows(short: np.ndarray) -> None:
    # 16x16 grid (stride 8), 2 anchors per cell, row by row: x varies fastest.
    np.testing.assert_array_equal(short[:5], [[0.03125, 0.03125], [0.03125, 0.03125],
                                              [0.09375, 0.03125], [0.09375, 0.03125],
                                              [0.15625, 0.03125]])
    np.testing.assert_array_equal(short[32], [0.03125, 0.09375])  # second grid row
    np.testing.assert_array_equal(short[511], [0.96875, 0.96875])  # last of the 16x16 grid
    # Three stride-16 layers share one 8x8 grid: 6 anchors per cell from index 512.
    np.testing.assert_array_equal(short[512:518], np.full((6, 2), 0.0625))
    np.testing.assert_array_equal(short[518], [0.1875, 0.0625])
    np.testing.assert_array_equal(short[-1], [0.9375, 0.9375])


def test_full_range_golden_rows(full: np.ndarray) -> None:
    # One 48x48 grid, one anchor per cell (interpolated_scale_aspect_ratio = 0 adds none).
    np.testing.assert_allclose(full[0], [1 / 96, 1 / 96], rtol=0, atol=1e-7)
    np.testing.assert_allclose(full[1], [3 / 96, 1 / 96], rtol=0, atol=1e-7)
    np.testing.assert_allclose(full[48], [1 / 96, 3 / 96], rtol=0, atol=1e-7)
    np.testing.assert_allclose(full[-1], [95 / 96, 95 / 96], rtol=0, atol=1e-7)
    assert len(np.unique(full, axis=0)) == 2304


@pytest.mark.parametrize("key", sorted(MODELS))
def test_matches_mediapipe_loop(key: str) -> None:
    spec = MODELS[key]
    np.testing.assert_allclose(generate_anchors(spec.anchors, spec.input_size),
                               mediapipe_loop(spec.anchors, spec.input_size), rtol=0, atol=1e-7)


def test_anchors_per_location() -> None:
    assert anchors_per_location(MODELS["short"].anchors, 1) == 2
    assert anchors_per_location(MODELS["short"].anchors, 3) == 6
    assert anchors_per_location(MODELS["full"].anchors, 1) == 1
