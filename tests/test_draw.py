"""Drawing and hiding faces on arrays (``blazecli.outputs.draw``): exact pixels, no video involved."""

from __future__ import annotations

import numpy as np
import pytest

from blazecli.detections import Detections
from blazecli.errors import InvalidOptionError
from blazecli.outputs.draw import (
    FONT,
    UNTRACKED_COLOR,
    Anonymizer,
    Style,
    annotate_frame,
    blur,
    draw_box,
    draw_label,
    draw_points,
    face_label,
    mask_region,
    parse_color,
    pixelate,
    text_mask,
    track_colors,
)

RED = np.array([255, 0, 0], np.uint8)


def textured(height: int = 120, width: int = 160, seed: int = 0) -> np.ndarray:
    """Noise: every pixel differs from its neighbours, so any smoothing shows."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def face(box: tuple[float, float, float, float], track: int = -1, score: float = 0.9) -> Detections:
    x0, y0, x1, y1 = box
    points = np.array([[x0 + (x1 - x0) * f, (y0 + y1) / 2] for f in (0.3, 0.7, 0.5, 0.5, 0.1, 0.9)])
    return Detections(np.array([box]), points[None], np.array([score]), track_id=np.array([track]))


def test_box_outline_is_on_the_edges_and_leaves_the_inside() -> None:
    image = np.zeros((60, 80, 3), np.uint8)
    draw_box(image, np.array([10.2, 20.0, 49.8, 40.0]), RED, thickness=1)
    red = (image == RED).all(axis=2)
    assert red[20, 10:51].all() and red[40, 10:51].all()  # top and bottom rows, ends included
    assert red[20:41, 10].all() and red[20:41, 50].all()  # left and right columns
    assert red.sum() == 2 * 41 + 2 * 19
    assert not red[21:40, 11:50].any()


def test_thick_box_is_centred_on_the_edge_and_clipped_at_the_border() -> None:
    image = np.zeros((50, 50, 3), np.uint8)
    draw_box(image, np.array([-10.0, 10.0, 30.0, 70.0]), RED, thickness=3)  # leaves left and bottom
    red = (image == RED).all(axis=2)
    assert red[9:12, 0:32].all() and not red[8].any() and not red[12, 1:29].any()
    assert red[9:, 29:32].all() and not red[20, 32:].any()


def test_keypoints_are_round_dots_at_their_pixel() -> None:
    image = np.zeros((40, 40, 3), np.uint8)
    colors = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    draw_points(image, np.array([[10.4, 12.6], [39.0, 0.0]]), colors, radius=2)
    assert (image[13, 10] == [255, 0, 0]).all()
    assert (image[13, 8] == [255, 0, 0]).all() and (image[11, 10] == [255, 0, 0]).all()
    assert not image[11, 8].any()  # the disc's corner stays empty
    assert (image[0, 39] == [0, 0, 255]).all() and (image[2, 39] == [0, 0, 255]).all()  # clipped dot
    assert (image.any(axis=2)).sum() == 21 + 8  # a whole disc, and the corner of one in frame


def test_font_renders_digits_at_integer_scales() -> None:
    assert all(glyph.shape == (7, 5) for glyph in FONT.values())
    mask = text_mask("10", 3)
    assert mask.shape == (21, 33)  # 7 rows; 5 + gap + 5 columns, each pixel 3x3
    np.testing.assert_array_equal(mask[::3, ::3][:, :5], FONT["1"])
    np.testing.assert_array_equal(mask[::3, ::3][:, 6:], FONT["0"])
    assert not mask[:, 15:18].any()  # the gap column


def test_label_sits_above_the_box_or_inside_it_at_the_top_edge() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    draw_label(image, "#7 0.93", 20, 50, RED, scale=2)
    tag = (image == RED).all(axis=2)
    rows, cols = np.nonzero(tag | image.any(axis=2))
    height = 7 * 2 + 2 * 2
    assert rows.min() == 50 - height and rows.max() == 49 and cols.min() == 20
    assert (image[50 - height:50, 20:20 + 10] == [255, 255, 255]).all(axis=2).any()  # white ink on red
    top = np.zeros((100, 200, 3), np.uint8)
    draw_label(top, "1", 190, 5, RED, scale=2)
    rows, cols = np.nonzero(top.any(axis=2))
    assert rows.min() == 5 and cols.max() == 199  # hangs down, slides left to stay whole


def test_labels_say_track_and_score() -> None:
    assert face_label(0.934, 3) == "#3 0.93"
    assert face_label(0.5, -1) == "0.50"


def test_track_colours_are_stable_distinct_and_bright() -> None:
    colors = track_colors(np.array([0, 1, 2, 3, 0, -1]))
    np.testing.assert_array_equal(colors[0], colors[4])
    np.testing.assert_array_equal(colors[5], UNTRACKED_COLOR)
    distinct = colors[:4].astype(int)
    gaps = np.abs(distinct[:, None] - distinct[None]).sum(axis=2)
    assert gaps[~np.eye(4, dtype=bool)].min() > 100
    assert (colors[:4].max(axis=1) == 255).all()


def test_style_grows_with_the_frame() -> None:
    assert Style.for_frame(640, 360) == Style(2, 3, 2)
    assert Style.for_frame(1280, 720) == Style(3, 4, 3)
    assert Style.for_frame(720, 1280) == Style(3, 4, 3)  # portrait: the short side counts
    assert Style.for_frame(160, 120) == Style(1, 2, 1)


def test_ellipse_mask_is_the_grown_box_and_survives_clipping() -> None:
    rows, cols, mask = mask_region(np.array([40.0, 20.0, 60.0, 60.0]), 1.5, "ellipse", 100, 100)
    assert (rows, cols) == (slice(10, 70), slice(35, 65))
    assert mask.shape == (60, 30) and mask[30, 15] and not mask[0, 0] and not mask[59, 29]
    assert mask[30].all() and mask[:, 15].all()  # the axes span the whole grown box
    rows, cols, clipped = mask_region(np.array([-10.0, 20.0, 10.0, 60.0]), 1.5, "ellipse", 100, 100)
    assert cols == slice(0, 15)
    full = mask_region(np.array([40.0, 20.0, 60.0, 60.0]), 1.5, "ellipse", 100, 100)[2]
    np.testing.assert_array_equal(clipped, full[:, 15:])
    assert mask_region(np.array([40.0, 20.0, 60.0, 60.0]), 1.3, "box", 100, 100)[2] is None
    assert mask_region(np.array([200.0, 20.0, 260.0, 60.0]), 1.3, "box", 100, 100) is None


@pytest.mark.parametrize("method", ["blur", "pixelate", "fill"])
def test_hiding_changes_the_face_and_nothing_else(method: str) -> None:
    image = textured()
    before = image.copy()
    box = np.array([[50.0, 30.0, 90.0, 80.0]])
    Anonymizer(method, scale=1.3, shape="box", color=(0, 255, 0)).apply(image, box)
    rows, cols, _ = mask_region(box[0], 1.3, "box", 160, 120)
    inside = np.zeros(image.shape[:2], bool)
    inside[rows, cols] = True
    np.testing.assert_array_equal(image[~inside], before[~inside])
    change = np.abs(image[inside].astype(int) - before[inside]).mean()
    assert change > 40, change  # noise has a mean absolute deviation of ~64 from its mean
    if method == "fill":
        assert (image[inside] == [0, 255, 0]).all()


def test_ellipse_leaves_the_corners_of_the_grown_box() -> None:
    image = textured()
    before = image.copy()
    box = np.array([50.0, 30.0, 90.0, 80.0])
    Anonymizer("fill", shape="ellipse").apply(image, box[None])
    rows, cols, mask = mask_region(box, 1.6, "ellipse", 160, 120)
    region, original = image[rows, cols], before[rows, cols]
    assert (region[mask] == 0).all()
    np.testing.assert_array_equal(region[~mask], original[~mask])
    assert (~mask).sum() > 0.15 * mask.size  # the four corners: 1 - pi/4 of the rectangle


def test_blur_keeps_the_mean_and_removes_the_detail() -> None:
    region = textured(60, 40).astype(np.uint8)
    out = blur(region, 15)
    assert out.dtype == np.uint8 and out.shape == region.shape
    assert abs(out.mean() - region.mean()) < 2
    assert out.std() < 0.25 * region.std()
    flat = np.full((30, 30, 3), 77, np.uint8)
    np.testing.assert_array_equal(blur(flat, 9), flat)  # edges repeated: nothing darkens


def box_passes_step_by_step(region: np.ndarray, k: int) -> np.ndarray:
    """The blur spelled out: tile means, two box passes per axis over them (edges repeated),
    then each pixel interpolated linearly between the tiles' centres."""
    tile = max(1, k // 6)
    h, w, _ = region.shape
    padded = np.pad(region.astype(np.float64), ((0, -h % tile), (0, -w % tile), (0, 0)), mode="edge")
    small = padded.reshape(padded.shape[0] // tile, tile, -1, tile, region.shape[2]).mean(axis=(1, 3))
    taps = max(1, round(k / tile))
    for axis in (0, 1, 0, 1):
        moved = np.moveaxis(small, axis, 0)
        edged = np.concatenate([moved[:1]] * (taps // 2) + [moved] + [moved[-1:]] * (taps - 1 - taps // 2))
        small = np.moveaxis(np.stack([edged[i:i + taps].mean(axis=0) for i in range(len(moved))]), 0, axis)
    for axis, length in ((0, h), (1, w)):
        at = np.clip((np.arange(length) + 0.5) / tile - 0.5, 0, small.shape[axis] - 1)
        low = np.floor(at).astype(int)
        high = np.minimum(low + 1, small.shape[axis] - 1)
        share = (at - low).reshape([-1 if a == axis else 1 for a in range(3)])
        small = np.take(small, low, axis) * (1 - share) + np.take(small, high, axis) * share
    return np.rint(small).astype(np.uint8)


@pytest.mark.parametrize(("height", "width", "channels", "k"),
                         [(61, 47, 3, 15), (120, 97, 1, 60), (9, 7, 1, 4), (3, 2, 3, 1), (40, 40, 1, 240)])
def test_blur_equals_its_box_passes_done_step_by_step(height: int, width: int, channels: int, k: int) -> None:
    region = np.random.default_rng(k).integers(0, 256, (height, width, channels), dtype=np.uint8)
    difference = blur(region, k).astype(int) - box_passes_step_by_step(region, k)
    assert np.abs(difference).max() <= 1 and (difference != 0).mean() < 0.01  # float rounding only


def test_pixelate_makes_constant_blocks_of_the_mean() -> None:
    region = textured(25, 23)
    out = pixelate(region, 10)
    assert out.shape == region.shape
    assert (out[:10, :10] == out[0, 0]).all()
    np.testing.assert_array_equal(out[0, 0], np.rint(region[:10, :10].reshape(-1, 3).mean(0)))
    assert (out[20:25, 20:23] == out[24, 22]).all()  # edge blocks padded by repetition


def test_pixelate_leaves_five_blocks_across_the_hidden_area() -> None:
    """Blocks of a tenth of the hidden area (a sixth of the face) let a detector find a third
    of a clip's small faces through them."""
    image = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    Anonymizer("pixelate", shape="box").apply(image, np.array([[60.0, 60.0, 110.0, 110.0]]))  # 80 px hidden
    row = image[85, 45:125].astype(int)
    blocks = 1 + np.count_nonzero(np.abs(np.diff(row, axis=0)).sum(axis=1))
    assert blocks == 5


def test_annotate_frame_hides_first_then_draws_on_top() -> None:
    image = textured(120, 160)
    faces = face((50.0, 30.0, 90.0, 80.0), track=4)
    annotate_frame(image, faces, Style(1, 1, 1), Anonymizer("fill", shape="box"))
    color = track_colors(np.array([4]))[0]
    assert (image[30, 50:91] == color).all()  # the box, over the filled area
    assert (image[55, 60] == 0).all()  # filled inside
    untouched = textured(120, 160)
    annotate_frame(untouched, faces, None, None)
    np.testing.assert_array_equal(untouched, textured(120, 160))


@pytest.mark.parametrize("text, rgb", [("black", (0, 0, 0)), ("Red", (255, 0, 0)), ("#FF8000", (255, 128, 0)),
                                       ("10,20,30", (10, 20, 30)), ("ffffff", (255, 255, 255))])
def test_parse_color(text: str, rgb: tuple[int, int, int]) -> None:
    assert parse_color(text) == rgb


@pytest.mark.parametrize("text", ["purple-ish", "#12345", "1,2", "300,0,0"])
def test_bad_colour_is_a_clear_error(text: str) -> None:
    with pytest.raises(InvalidOptionError, match="`color`"):
        parse_color(text)


def test_bad_anonymizer_options_are_clear_errors() -> None:
    with pytest.raises(InvalidOptionError, match="`scale`"):
        Anonymizer("blur", scale=0)
    with pytest.raises(InvalidOptionError, match="`shape`"):
        Anonymizer("blur", shape="circle")


@pytest.mark.parametrize("method", ["blur", "pixelate"])
def test_a_box_far_outside_the_frame_hides_its_part_within_bounded_work(method: str) -> None:
    """A box read from a file reaching 1e5 (or 1e30) px past a 160 px frame asked the blur for
    tiles that size: gigabytes, or NumPy's 'maximum allowed dimension exceeded'. The strength
    stops at twice the image's size, where it already spreads over the whole region."""
    image = textured(160, 120).astype(np.uint8)

    def hidden(reach: float) -> np.ndarray:  # a box ``reach`` px either side of x = 80, grown 1.6x
        out = image.copy()
        Anonymizer(method, shape="box").apply(out, np.array([[80 - reach, 20.0, 80 + reach, 60.0]]))
        return out

    at_the_cap = hidden(2 * 160 / 1.6 / 2)  # its grown side is twice the frame's width
    assert not np.array_equal(at_the_cap[8:72], image[8:72])
    np.testing.assert_array_equal(at_the_cap[72:], image[72:])
    for reach in (1e5, 1e30):
        np.testing.assert_array_equal(hidden(reach), at_the_cap)
