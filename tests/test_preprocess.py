"""Letterbox geometry and MediaPipe's fixed-point bilinear sampling, on hand-computed cases."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from blazecli.media.display import Display
from blazecli.media.sampling import (
    Letterbox,
    as_rgb,
    mediapipe_taps,
    sample_mediapipe,
    sampling_plan,
    to_model_input,
)


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
    (np.zeros((0, 10, 3), np.uint8), "at least one pixel"),
    (np.zeros((10, 0), np.uint8), "at least one pixel"),
])
def test_as_rgb_rejects_bad_input(image: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        as_rgb(image)


def test_as_rgb_wants_an_array() -> None:
    with pytest.raises(TypeError, match="np.asarray"):
        as_rgb([[0, 0, 0]])


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (1, 700), (700, 1), (61, 97), (480, 640), (720, 1280)])
@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_sampling_equals_sampling_the_rotated_image(shape: tuple[int, int], rotation: int) -> None:
    """Sampling a stored frame for display equals rotating it first, without the full copy."""
    image = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), np.uint8)
    shown = np.ascontiguousarray(np.rot90(image, rotation // 90))
    np.testing.assert_array_equal(sample_mediapipe(image, 128, Display(rotation)), sample_mediapipe(shown, 128))


def test_plan_reads_only_the_rows_its_taps_need() -> None:
    """720p -> 128: 72 output rows lie on the frame, each reading 2 rows; the rest is padding."""
    plan = sampling_plan(1280, 720, 128)
    assert (plan.out_rows.start, plan.out_rows.stop) == (28, 100)
    assert (plan.out_cols.start, plan.out_cols.stop) == (0, 128)
    assert len(plan.source_rows) == 144
    assert plan.weight.sum(axis=0).max() == 1024  # weights of the four taps sum to one inside


# --- how frames are shown: display matrices and non-square pixels ---------------------------

QUARTER_TURNS_AND_MIRRORS = [(a, b, c, d) for a, b, c, d in
                             [(1, 0, 0, 1), (0, 1, -1, 0), (-1, 0, 0, -1), (0, -1, 1, 0),
                              (-1, 0, 0, 1), (1, 0, 0, -1), (0, 1, 1, 0), (0, -1, -1, 0)]]


def shown_as(image: np.ndarray, display: Display) -> np.ndarray:
    """What ``Display`` promises: mirrored left to right, then turned counter-clockwise."""
    return np.rot90(image[:, ::-1] if display.mirrored else image, display.rotation // 90)


def shown_by_matrix(image: np.ndarray, a: int, b: int, c: int, d: int) -> np.ndarray:
    """FFmpeg's definition, pixel by pixel: stored ``(x, y)`` goes to ``(a x + c y, b x + d y)``,
    the result moved back into view."""
    height, width = image.shape[:2]
    y, x = np.mgrid[:height, :width]
    to_x, to_y = a * x + c * y, b * x + d * y
    to_x, to_y = to_x - to_x.min(), to_y - to_y.min()
    out = np.zeros((to_y.max() + 1, to_x.max() + 1, *image.shape[2:]), image.dtype)
    out[to_y, to_x] = image[y, x]
    return out


@pytest.mark.parametrize("a, b, c, d", QUARTER_TURNS_AND_MIRRORS)
@pytest.mark.parametrize("scale", [1 << 16, 3 << 15])
def test_display_matrix_turns_and_mirrors_as_ffmpeg_defines(a: int, b: int, c: int, d: int,
                                                            scale: int) -> None:
    image = np.random.default_rng(0).integers(0, 256, (3, 5, 3), np.uint8)
    matrix = np.array([a * scale, b * scale, 0, c * scale, d * scale, 0, 0, 0, 1 << 30], np.int32)
    display = Display.from_matrix(matrix)
    np.testing.assert_array_equal(shown_as(image, display), shown_by_matrix(image, a, b, c, d))
    assert display.mirrored == (a * d - b * c < 0)


@pytest.mark.parametrize("matrix, display", [
    (None, Display()),
    ([-65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30], Display(0, True)),  # hflip: PyAV says -180
    ([65536, 0, 0, 0, -65536, 0, 0, 0, 1 << 30], Display(180, True)),  # vflip
    ([0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30], Display(270)),  # PyAV's -90
    ([0] * 9, Display()),  # degenerate: shown as stored
])
def test_display_of_known_matrices(matrix: list[int] | None, display: Display) -> None:
    assert Display.from_matrix(None if matrix is None else np.array(matrix, np.int32)) == display


@pytest.mark.parametrize("display, stored, shown", [
    (Display(sar=Fraction(64, 45)), (720, 576), (1024, 576)),  # PAL 16:9
    (Display(sar=Fraction(2)), (160, 180), (320, 180)),
    (Display(90, sar=Fraction(2)), (160, 180), (180, 320)),  # the stretch is of stored rows
    (Display(270, True, Fraction(1, 2)), (3, 8), (8, 2)),
    (Display(sar=Fraction(4095, 4096)), (1920, 1080), (1920, 1080)),
])
def test_displayed_size(display: Display, stored: tuple[int, int], shown: tuple[int, int]) -> None:
    assert display.size(*stored) == shown


def test_from_matrix_reads_missing_or_zero_aspect_as_square() -> None:
    assert Display.from_matrix(None, None).sar == Display.from_matrix(None, Fraction(0)).sar == 1


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (61, 97), (480, 640)])
@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_mirrored_sampling_equals_sampling_the_mirrored_image(shape: tuple[int, int], rotation: int) -> None:
    image = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), np.uint8)
    display = Display(rotation, mirrored=True)
    np.testing.assert_array_equal(sample_mediapipe(image, 128, display),
                                  sample_mediapipe(shown_as(image, display), 128))


def test_pixels_square_within_rounding_sample_as_square() -> None:
    image = np.random.default_rng(1).integers(0, 256, (90, 160, 3), np.uint8)
    np.testing.assert_array_equal(sample_mediapipe(image, 128, Display(sar=Fraction(4095, 4096))),
                                  sample_mediapipe(image, 128))


@pytest.mark.parametrize("mirrored", [False, True])
@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_stretched_sampling_equals_sampling_the_stretched_image(rotation: int, mirrored: bool) -> None:
    """A ramp of 4 levels per shown pixel each way, stored squeezed 2:1 (pairs of stored columns
    averaged): bilinear sampling is exact on a ramp, so sampling the stored frame must give the
    ramp shown, pixel centres lined up. Stretching the wrong axis, or lining up the left edges
    instead of the centres (half a shown pixel: 2 levels), shows."""
    y, x = np.mgrid[:24, :32]
    shown = np.repeat((10 + 4 * x + 4 * y)[:, :, None], 3, axis=2).astype(np.uint8)
    display = Display(rotation, mirrored, Fraction(2))
    upright = np.rot90(shown, -rotation // 90)  # stretched and mirrored, not yet turned
    stored = (upright[:, ::-1] if mirrored else upright).astype(int)
    stored = ((stored[:, 0::2] + stored[:, 1::2]) // 2).astype(np.uint8)  # exact: pairs differ by 4
    assert display.size(stored.shape[1], stored.shape[0]) == (32, 24)
    # 32x24 -> 64: tensor pixel (j, i) samples shown (j / 2 - 4, i / 2); 2 shown px off the edges.
    inside = (slice(2 * (4 + 2), 2 * (4 + 24 - 3)), slice(4, 2 * (32 - 3)))
    got = sample_mediapipe(stored, 64, display)[inside].astype(int)
    assert np.abs(got - sample_mediapipe(shown, 64)[inside]).max() <= 1
