"""Letterbox geometry and MediaPipe's fixed-point bilinear sampling, on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from blazecli.preprocess import (Letterbox, as_rgb, mediapipe_taps, sample_mediapipe,
                                 sampling_plan, to_model_input)


@pytest.mark.parametrize("width, height, side, offset", [
    (640, 480, 640, (0.0, -80.0)),   # landscape: padded above and below
    (480, 640, 640, (-80.0, 0.0)),   # portrait: padded left and right
    (300, 300, 300, (0.0, 0.0)),     # square: no padding
    (5, 2, 5, (0.0, -1.5)),          # odd padding splits into half pixels
])
def test_letterbox_geometry(width: int, height: int, side: int,
                            offset: tuple[float, float]) -> None:
    box = Letterbox(width, height)
    assert box.side == side
    assert box.offset == offset
    # The square's centre is the frame's centre.
    assert box.offset[0] + side / 2 == width / 2 and box.offset[1] + side / 2 == height / 2


def test_constant_image_inside_and_zero_padding() -> None:
    """200x100 landscape -> 128: S = 1.5625, tensor row j samples y = -50 + 1.5625 j."""
    image = np.full((100, 200, 3), 77, np.uint8)
    out = sample_mediapipe(image, 128)
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    # y in [0, 99] for j in 32..95: both taps inside (or a zero weight on the outer one).
    assert (out[32:96] == 77).all()
    # y <= -1 for j <= 31 and y >= 100 for j >= 96: both taps in the zero border.
    assert (out[:32] == 0).all() and (out[96:] == 0).all()


def test_fixed_point_bilinear_hand_computed() -> None:
    """5x5 -> 3: positions 0, 5/3, 10/3 round to 0, 53/32, 107/32 px.

    So tensor index 1 blends source 1 and 2 with weights (32 - 21, 21) = (11, 21), and index 2
    blends 3 and 4 with (21, 11). Each output is ``(sum w_y w_x p + 512) >> 10``.
    """
    image = np.zeros((5, 5, 3), np.uint8)
    image[2, 2] = [255, 9, 0]
    image[1, 1] = [64, 0, 0]
    image[0, 0] = [0, 0, 200]
    image[4, 4] = [0, 0, 50]
    out = sample_mediapipe(image, 3).astype(int)
    # (255*21*21 + 64*11*11 + 512) >> 10 = (112455 + 7744 + 512) >> 10 = 117
    # (plain float bilinear at 5/3 would give 120: the 1/32 rounding matters).
    assert out[1, 1, 0] == 117
    # (9*441 + 512) >> 10 = 4481 >> 10 = 4 (without the +512 rounding it would be 3).
    assert out[1, 1, 1] == 4
    # Position 0 has weight 32 on pixel 0: exactly the source value.
    assert out[0, 0, 2] == 200
    # (50*11*11 + 512) >> 10 = 6562 >> 10 = 6
    assert out[2, 2, 2] == 6
    assert out[0, 2].tolist() == [0, 0, 0] and out[2, 0].tolist() == [0, 0, 0]


def test_taps_weights_sum_to_one_inside() -> None:
    taps = mediapipe_taps(640, 480, 128)
    np.testing.assert_array_equal(taps.col_weights.sum(axis=1), 32)
    row_sums = taps.row_weights.sum(axis=1)
    assert row_sums[0] == 0 and row_sums[-1] == 0  # padding rows
    assert (row_sums[20:108] == 32).all()
    assert taps.rows.min() >= 0 and taps.rows.max() <= 479


@pytest.mark.parametrize("shape, peak", [
    ((1, 1, 3), 200), ((3, 5, 3), 200), ((5, 3, 3), 200),
    # 1 px tall, 700 wide: row 64 samples y = -349.5 + 5.46875 * 64 = 0.5, half in the border.
    ((1, 700, 3), 100),
])
def test_tiny_and_thin_images_do_not_crash(shape: tuple[int, int, int], peak: int) -> None:
    image = np.full(shape, 200, np.uint8)
    out = sample_mediapipe(image, 128)
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    assert out.max() == peak


def test_to_model_input_range() -> None:
    samples = np.array([[[[0, 255, 127]]]], np.uint8)
    values = to_model_input(samples)
    assert values.dtype == np.float32
    np.testing.assert_allclose(values.ravel(), [-1.0, 1.0, 127 * 2 / 255 - 1], atol=1e-6)


def test_as_rgb_grey_is_repeated() -> None:
    grey = np.arange(6, dtype=np.uint8).reshape(2, 3)
    rgb = as_rgb(grey)
    assert rgb.shape == (2, 3, 3)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[:, :, channel], grey)


def test_as_rgb_drops_alpha_and_keeps_rgb() -> None:
    rgba = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(as_rgb(rgba), rgba[:, :, :3])
    rgb = rgba[:, :, :3].copy()
    np.testing.assert_array_equal(as_rgb(rgb), rgb)


@pytest.mark.parametrize("image, message", [
    (np.zeros((4, 4, 3), np.float32), "uint8"),
    (np.zeros((4, 4, 3), np.uint16), "uint8"),
    (np.zeros((4, 4, 2), np.uint8), "shape|\\(H, W\\)"),
    (np.zeros((2, 4, 4, 3), np.uint8), "shape|\\(H, W\\)"),
    (np.zeros(4, np.uint8), "shape|\\(H, W\\)"),
])
def test_as_rgb_rejects_bad_input(image: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        as_rgb(image)


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (1, 700), (700, 1), (61, 97), (480, 640), (720, 1280)])
@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_sampling_equals_sampling_the_rotated_image(shape: tuple[int, int], rotation: int) -> None:
    """Sampling a stored frame for display equals rotating it first, without the full copy."""
    image = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), np.uint8)
    shown = np.ascontiguousarray(np.rot90(image, rotation // 90))
    np.testing.assert_array_equal(sample_mediapipe(image, 128, rotation), sample_mediapipe(shown, 128))


def test_plan_reads_only_the_rows_its_taps_need() -> None:
    """720p -> 128: 72 output rows lie on the frame, each reading 2 rows; the rest is padding."""
    plan = sampling_plan(1280, 720, 128)
    assert (plan.out_rows.start, plan.out_rows.stop) == (28, 100)
    assert (plan.out_cols.start, plan.out_cols.stop) == (0, 128)
    assert len(plan.source_rows) == 144
    assert plan.weight.sum(axis=0).max() == 1024  # weights of the four taps sum to one inside
