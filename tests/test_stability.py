"""``blazecli stability``: the metric on hand-built faces, the job with fake detectors whose
errors are known exactly, the command end to end, and (where present) the real clips."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clips import blank_clip, moving_face_clip, write_clip
from hypothesis import given, settings
from hypothesis import strategies as st

from blazecli.detections import Detections
from blazecli.errors import InvalidOptionError
from blazecli.jobs.stability import MODES, StabilityJob, StabilitySettings
from blazecli.temporal.jitter import (
    Shift,
    common_scale,
    compare_shifted,
    match_faces,
    second_difference,
    shift_image,
    shift_offsets,
)

# Keypoints of the fake faces as fractions of their box: eyes 0.4 box widths apart.
FRACTIONS = np.array([(0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.5, 0.8), (0.1, 0.5), (0.9, 0.5)])


def face_at(x: float, y: float, size: float = 40.0) -> tuple[np.ndarray, np.ndarray]:
    box = np.array([x, y, x + size, y + size])
    return box, box[:2] + FRACTIONS * size


def faces(*corners: tuple[float, float], size: float = 40.0) -> Detections:
    """Faces with boxes at the given top-left corners (IOD = 0.4 * size)."""
    parts = [face_at(x, y, size) for x, y in corners]
    return Detections(np.array([p[0] for p in parts]).reshape(-1, 4),
                      np.array([p[1] for p in parts]).reshape(-1, 6, 2), np.ones(len(parts)))


def translate(dets: Detections, d: np.ndarray) -> Detections:
    """Every face moved by ``d`` (``(2,)`` or ``(N, 8, 2)`` per point)."""
    d = np.broadcast_to(np.asarray(d, np.float64), (len(dets), 8, 2))
    return dets.replace(boxes=dets.boxes + d[:, :2].reshape(-1, 4), keypoints=dets.keypoints + d[:, 2:])


# --- shifts -----------------------------------------------------------------------------------


def test_shift_parsing_and_pixels() -> None:
    assert Shift.parse("2px") == Shift(2, "px") and Shift.parse(" 3 ").label == "3px"
    assert Shift.parse("1%").label == "1%" and Shift.parse("0.5%") == Shift(0.5, "%")
    assert Shift.parse("1%").pixels(640, 480) == (6, 5)
    assert Shift.parse("2px").pixels(640, 480) == (2, 2)
    for bad in ("abc", "0px", "-2px", "1.5px", "2pt", ""):
        with pytest.raises(InvalidOptionError):
            Shift.parse(bad)
    with pytest.raises(InvalidOptionError, match="less than a pixel"):
        Shift.parse("0.1%").pixels(160, 120)
    with pytest.raises(InvalidOptionError, match="must be smaller than the 160x120 frame"):
        Shift.parse("120px").pixels(160, 120)  # the frame's own height: nothing of it left to compare
    assert Shift.parse("119px").pixels(160, 120) == (119, 119)
    with pytest.raises(InvalidOptionError, match="2px is given more than once"):
        StabilitySettings(shifts=(Shift.parse("2px"), Shift.parse("2.0px")))


def test_offsets_are_the_frame_then_four_copies_per_shift() -> None:
    offsets, which = shift_offsets((Shift(2), Shift(10, "%")), 100, 50)
    assert offsets.tolist() == [[0, 0], [2, 0], [-2, 0], [0, 2], [0, -2],
                                [10, 0], [-10, 0], [0, 5], [0, -5]]
    assert which.tolist() == [-1, 0, 0, 0, 0, 1, 1, 1, 1]
    with pytest.raises(InvalidOptionError, match="0.2% and 0.15% both move a copy of the 640x360 frame by 1x1 px"):
        shift_offsets((Shift(0.2, "%"), Shift(0.15, "%")), 640, 360)
    with pytest.raises(InvalidOptionError, match="2px and 1% both move"):
        shift_offsets((Shift(2), Shift(1, "%")), 200, 200)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(-11, 11), st.integers(-11, 11), st.data())
def test_shift_image_is_edge_padding_and_cropping(h: int, w: int, dx: int, dy: int, data) -> None:
    rgb = np.asarray(data.draw(st.lists(st.integers(0, 255), min_size=h * w * 3, max_size=h * w * 3)),
                     np.uint8).reshape(h, w, 3)
    pad = ((max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0)), (0, 0))
    padded = np.pad(rgb, pad, mode="edge")
    expected = padded[max(-dy, 0):max(-dy, 0) + h, max(-dx, 0):max(-dx, 0) + w]
    np.testing.assert_array_equal(shift_image(rgb, dx, dy), expected)


def test_shift_image_moves_content_by_the_offset() -> None:
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[5, 10] = 255
    moved = shift_image(rgb, 3, -2)
    assert list(zip(*np.nonzero(moved[:, :, 0]), strict=False)) == [(3, 13)]


# --- matching and the metric --------------------------------------------------------------------


def test_matching_is_one_to_one_best_iou_first() -> None:
    a = faces((0, 0), (100, 0)).boxes
    b = faces((2, 0), (1, 0), (300, 0)).boxes  # both near a[0]; the closer one wins it
    i, j = match_faces(a, b, 0.5)
    assert i.tolist() == [0] and j.tolist() == [1]
    i, j = match_faces(a, np.zeros((0, 4)), 0.5)
    assert len(i) == len(j) == 0


def compare(ref: Detections, moved: Detections, min_iod: float = 8.0):
    """Compared by their own IOD, leaving out those under ``min_iod`` px."""
    iod = ref.inter_ocular_distance
    return compare_shifted(ref, moved, iod, iod >= min_iod, 0.5)


def test_zero_jitter_gives_zero() -> None:
    ref = faces((10, 10), (200, 50))
    result = compare(ref, ref)
    assert result.errors.points.tolist() == [0.0, 0.0]
    assert result.unmatched == 0 and result.extra == 0


def test_a_constant_error_is_exact() -> None:
    ref = faces((10, 10), (200, 50))  # IOD 16
    result = compare(ref, translate(ref, [3.0, 4.0]))
    np.testing.assert_allclose(result.errors.points, 25 / 16 ** 2, rtol=1e-6)
    np.testing.assert_allclose(result.errors.box, 25 / 16 ** 2, rtol=1e-6)


def test_box_and_keypoint_errors_are_separate() -> None:
    ref = faces((10, 10))
    d = np.zeros((1, 8, 2))
    d[0, 2:, 0] = 2.0  # keypoints 2 px off, box exact
    result = compare(ref, translate(ref, d))
    assert result.errors.box.tolist() == [0.0]
    np.testing.assert_allclose(result.errors.keypoints, 4 / 16 ** 2, rtol=1e-6)
    np.testing.assert_allclose(result.errors.points, 6 / 8 * 4 / 16 ** 2, rtol=1e-6)


def test_known_noise_gives_the_expected_value() -> None:
    """Gaussian noise of sigma px per coordinate: E|d|^2 = 2 sigma^2 per point."""
    rng = np.random.default_rng(0)
    sigma, size = 1.5, 50.0  # IOD 20
    errors = []
    for _ in range(25):
        ref = faces(*[(100.0 * i, 0.0) for i in range(200)], size=size)
        moved = translate(ref, rng.normal(0, sigma, (len(ref), 8, 2)))
        errors.append(compare(ref, moved).errors.points)
    np.testing.assert_allclose(np.concatenate(errors).mean(), 2 * sigma ** 2 / 20 ** 2, rtol=0.05)


def test_small_unmatched_and_extra_faces_are_counted() -> None:
    ref = Detections.merge([faces((10, 10), (200, 10), (400, 10)),
                            faces((600, 10), size=10)])  # IOD 4: too small
    moved = Detections.merge([ref[[0, 3]], faces((800, 10))])  # face 1, 2 lost; one extra
    result = compare(ref, moved)
    assert len(result.errors.points) == 1 and result.unmatched == 2 and result.extra == 1


def test_scale_comes_from_the_anchor_and_turned_faces_are_left_out() -> None:
    own = faces((10, 10), (300, 10))
    anchor = faces((11, 10), size=50)  # matches the first face only; IOD 20
    iod, width = common_scale(own, anchor, 0.5)
    np.testing.assert_allclose(iod, [20.0, 16.0], rtol=1e-6)
    np.testing.assert_allclose(width, [50.0, 40.0], rtol=1e-6)
    settings = StabilitySettings(min_iod=8.0, min_iod_ratio=0.2)
    too_small, turned = settings.excluded(np.array([4.0, 9.0, 12.0, 30.0]), np.full(4, 50.0))
    assert too_small.tolist() == [True, False, False, False]
    assert turned.tolist() == [False, True, False, False]  # under 0.2 * 50 = 10 px


def test_second_difference() -> None:
    first, middle = faces((10, 10)), faces((14, 10))
    iod, measured = middle.inter_ocular_distance, np.ones(1, bool)
    still = second_difference(first, middle, faces((18, 10)), iod, measured, 0.5)
    assert still.points.tolist() == [0.0]  # constant speed: no jitter
    shaky = second_difference(first, middle, faces((21, 10)), iod, measured, 0.5)
    np.testing.assert_allclose(shaky.points, 9 / 16 ** 2, rtol=1e-6)
    assert len(second_difference(first, middle, faces((300, 10)), iod, measured, 0.5).points) == 0
    assert len(second_difference(first, middle, faces((18, 10)), iod, ~measured, 0.5).points) == 0


# --- the job, with fake detectors ---------------------------------------------------------------


class SquareDetector:
    """Finds the bright square of a synthetic clip exactly: a zero-jitter detector for ``blend``.

    ``nms`` reports the same face with every coordinate floored to a multiple of ``quantum``
    px: with the square on that grid and a 2 px shift, every point of every copy lands
    exactly 2 px off once moved back, so its MSE / IOD^2 is 4 / IOD^2.
    """

    def __init__(self, quantum: float = 4.0) -> None:
        self.quantum = quantum

    def __call__(self, images) -> dict[str, Detections]:
        boxes, keypoints = [], []
        for image in images:
            ys, xs = np.nonzero(image[:, :, 0] > 170)
            box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
            boxes.append(box)
            keypoints.append(box[:2] + FRACTIONS * (box[2:] - box[:2]))
        exact = Detections(np.array(boxes), np.array(keypoints), np.ones(len(images)),
                           np.arange(len(images)))
        q = self.quantum
        coarse = exact.replace(boxes=np.floor(exact.boxes / q) * q,
                               keypoints=np.floor(exact.keypoints / q) * q)
        return {"blend": exact, "nms": coarse}


def square_clip(path: Path, frames: int, x_at) -> Path:
    """A 40 px white square on grey, top-left at ``(x_at(i), 60)``; lossless so edges stay exact."""
    def frame(i: int) -> np.ndarray:
        rgb = np.full((240, 320, 3), 90, np.uint8)
        x = int(x_at(i))
        rgb[60:100, x:x + 40] = 255
        return rgb

    return write_clip(path, frame, frames, options={"qp": "0"})


def run_job(clip: Path, **kwargs) -> dict:
    return StabilityJob(str(clip), StabilitySettings(**kwargs), SquareDetector()).run().as_dict()


def test_fake_detectors_give_their_known_jitter(tmp_path: Path) -> None:
    clip = square_clip(tmp_path / "square.mp4", 8, lambda i: 100 + 4 * i)  # on the 4 px grid
    summary = run_job(clip)
    blend, nms, temporal = (summary["modes"][m] for m in ("blend", "nms", "temporal"))
    assert summary["frames"] == 8 and set(summary["modes"]) == set(MODES)
    for mode in (blend, nms, temporal):
        assert mode["frames"] == 8 and mode["faces"] == 8 and mode["faces_matched"] == 32
        assert mode["faces_unmatched"] == mode["extra_faces"] == mode["faces_too_small"] == 0
        assert mode["faces_turned"] == 0
        assert mode["frame_jitter_faces"] == 6  # frames 2..7 end a triple
    assert blend["mse_iod2"] == 0.0 and blend["rms_iod_pct"] == 0.0
    assert temporal["mse_iod2"] < 1e-10  # smoothing a steady input keeps it steady
    np.testing.assert_allclose(nms["mse_iod2"], 4 / 16 ** 2, rtol=1e-6)  # IOD 16 px
    np.testing.assert_allclose(nms["rms_iod_pct"], 12.5, rtol=1e-6)
    assert nms["frame_jitter_mse_iod2"] == blend["frame_jitter_mse_iod2"] == 0.0  # constant speed
    assert summary["reduction_pct"]["blend_vs_nms"]["rms_iod_pct"] == 100.0


def test_frame_jitter_of_an_accelerating_face(tmp_path: Path) -> None:
    clip = square_clip(tmp_path / "accelerating.mp4", 8, lambda i: 40 + 2 * i * i)
    blend = run_job(clip, every=1)["modes"]["blend"]
    # Second difference 4 px in x for every point, IOD 16 px.
    np.testing.assert_allclose(blend["frame_jitter_mse_iod2"], 16 / 16 ** 2, rtol=1e-6)
    assert blend["mse_iod2"] == 0.0


def test_frame_jitter_is_not_taken_across_a_join(tmp_path: Path) -> None:
    """Two MPEG-TS files joined (times restart, 320x240 then 240x240), a still square in each:
    the triples that span the join do not count, so the jitter stays zero."""
    def part(width: int, x: int):
        def frame(i: int) -> np.ndarray:
            rgb = np.full((240, width, 3), 90, np.uint8)
            rgb[60:100, x:x + 40] = 255
            return rgb
        return frame

    first = write_clip(tmp_path / "a.ts", part(320, 100), 5, options={"qp": "0"})
    second = write_clip(tmp_path / "b.ts", part(240, 108), 5, options={"qp": "0"})  # overlaps the first
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    summary = run_job(joined)
    for mode in MODES:
        figures = summary["modes"][mode]
        assert figures["frame_jitter_faces"] == 6, mode  # 3 triples in each part, none across
        assert figures["frame_jitter_mse_iod2"] < 1e-10, mode


def test_sampling_and_several_shifts(tmp_path: Path) -> None:
    clip = square_clip(tmp_path / "square.mp4", 10, lambda i: 100)
    summary = run_job(clip, shifts=(Shift(2), Shift(1, "%")), every=3, max_frames=3, min_iod=20)
    nms = summary["modes"]["nms"]
    assert summary["frames"] == 3 and nms["frames"] == 3 and set(nms["shifts"]) == {"2px", "1%"}
    assert nms["faces"] == nms["faces_too_small"] == 3 and nms["faces_matched"] == 0
    assert nms["mse_iod2"] is None and nms["shifts"]["1%"]["faces_unmatched"] == 0
    turned = run_job(clip, max_frames=2, min_iod_ratio=0.5)["modes"]["blend"]  # IOD = 0.4 box
    assert turned["faces"] == turned["faces_turned"] == 2 and turned["faces_too_small"] == 0


# --- the command --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return moving_face_clip(tmp_path_factory.mktemp("clips") / "face.mp4", frames=12)


def test_command_json_and_parquet(cli, tmp_path: Path, clip: Path) -> None:
    out = tmp_path / "jitter.parquet"
    result = cli("stability", str(clip), "--every", "3", "--json", "-o", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["model"] == "short" and summary["shifts"] == ["2px"] and summary["fill"] == "edge"
    for mode in MODES:
        figures = summary["modes"][mode]
        assert figures["frames"] == 4 and figures["faces"] == 4 and figures["faces_matched"] == 16
        assert 0 < figures["mse_iod2"] < 0.05
        np.testing.assert_allclose(figures["rms_iod_pct"], 100 * figures["mse_iod2"] ** 0.5)
    rows = pd.read_parquet(out)
    assert len(rows) == 4 * len(MODES) and sorted(rows.frame_index.unique()) == [0, 3, 6, 9]
    assert set(rows["mode"]) == set(MODES) and (rows.faces_matched == 4).all()
    assert (cli("stability", str(clip), "--every", "3", "-o", str(out)).exit_code == 5)  # exists


def test_an_output_that_is_the_input_is_refused(cli, tmp_path: Path, clip: Path) -> None:
    """A video named *.parquet given as its own -o was replaced by the per-frame values."""
    video = tmp_path / "face.parquet"
    video.write_bytes(clip.read_bytes())
    result = cli("stability", str(video), "--max-frames", "1", "-o", str(video), "--overwrite")
    assert result.exit_code == 2 and "is the input" in result.output, result.output
    assert video.read_bytes() == clip.read_bytes()


def test_command_table(cli, clip: Path) -> None:
    result = cli("stability", str(clip), "--max-frames", "2", "--shift", "1px,2px", "--shift", "1%")
    assert result.exit_code == 0, result.output
    assert "shift % IOD" in result.stdout and "blend vs nms" in result.stdout
    assert "30 %" in result.stdout and "1%" in result.stdout


@pytest.mark.parametrize("args, code, message", [
    (["--shift", "2.5px"], 2, "whole pixels"),
    (["--shift", "0.01%"], 2, "less than a pixel"),
    (["--max-frames", "0"], 2, "--max-frames"),
    (["-o", "out.csv"], 2, "Parquet"),
])
def test_command_errors(cli, clip: Path, args: list[str], code: int, message: str) -> None:
    result = cli("stability", str(clip), *args)
    assert result.exit_code == code and message in result.output


def test_command_counts_frames_without_a_face(cli, tmp_path: Path) -> None:
    result = cli("stability", str(blank_clip(tmp_path / "blank.mp4", frames=4)), "--json")
    assert result.exit_code == 0, result.output
    for figures in json.loads(result.stdout)["modes"].values():
        assert figures["frames"] == figures["frames_without_face"] == 4 and figures["faces"] == 0
        assert figures["mse_iod2"] is None and figures["rms_iod_pct"] is None
    table = cli("stability", str(tmp_path / "blank.mp4"))
    assert table.exit_code == 0 and "no face could be compared" in table.stdout


def test_a_photo_has_no_temporal_reduction(cli, tmp_path: Path, astronaut: np.ndarray) -> None:
    """Nothing is tracked over one picture: the temporal mode is the blend, and "-0.0 %" read
    as a measured result."""
    import av

    photo = tmp_path / "face.png"
    av.VideoFrame.from_ndarray(astronaut, format="rgb24").save(str(photo))
    result = cli("stability", str(photo), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["modes"]["blend"]["faces_matched"] > 0 and summary["reduction_pct"]["blend_vs_nms"]["mse_iod2"]
    assert set(summary["reduction_pct"]["temporal_vs_blend"].values()) == {None}
    table = cli("stability", str(photo))
    assert "temporal vs blend: shift jitter n/a RMS" in table.stdout


def test_command_missing_video(cli, tmp_path: Path) -> None:
    result = cli("stability", str(tmp_path / "nope.mp4"))
    assert result.exit_code == 2 and "no such file" in result.output


# --- the real clips -----------------------------------------------------------------------------

@pytest.mark.slow
def test_blending_is_steadier_than_nms_on_real_clips(shared_data: Path) -> None:
    """Every real clip, about 30 frames each, short-range model, --shift 2px (the issue's claim)."""
    from blazecli.inference.detector import FaceDetector
    from blazecli.jobs.stability import TieResolutions
    from blazecli.media.files import VIDEO_EXTENSIONS
    from blazecli.media.reader import VideoReader

    clips = sorted(p for p in (shared_data / "videos").iterdir() if p.suffix in VIDEO_EXTENSIONS)
    assert clips
    modes = TieResolutions(FaceDetector())
    for path in clips:
        with VideoReader(str(path)) as reader:
            every = max(1, (reader.info.frames_estimate or 30) // 30)
        summary = StabilityJob(str(path), StabilitySettings(every=every, max_frames=30), modes).run().as_dict()
        nms, blend = summary["modes"]["nms"], summary["modes"]["blend"]
        assert summary["frames"] == 30 and blend["faces_matched"] >= 40, path.name
        assert blend["rms_iod_pct"] < nms["rms_iod_pct"], (path.name, nms, blend)


def test_command_with_tiles_measures_the_tiled_detector(cli, tmp_path: Path, astronaut) -> None:
    """A face too small for the whole frame's view is measured once tiles find it."""
    from test_tiles import paste_head

    frame = np.full((360, 640, 3), 110, np.uint8)
    paste_head(astronaut, frame, 30, 400, 150)
    clip = write_clip(tmp_path / "small.mp4", lambda i: frame, 4)
    plain = json.loads(cli("stability", str(clip), "--model", "full", "--json").stdout)
    tiled = json.loads(cli("stability", str(clip), "--model", "full", "--tiles", "auto",
                           "--json").stdout)
    assert plain["modes"]["blend"]["faces"] == 0
    assert tiled["tiles"] == "auto" and tiled["modes"]["blend"]["faces"] == 4
    assert tiled["modes"]["blend"]["faces_matched"] == 16


def test_a_reader_that_stops_early_ends_the_table_quietly() -> None:
    """`stability ... | head -c 10` exited 1 without a word (Rich's own broken-pipe exit)."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    command = subprocess.Popen([sys.executable, "-m", "blazecli", "stability", str(repo / "examples" / "demo.mp4"),
                                "--max-frames", "3", "--quiet", "--device", "cpu"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(repo)})
    assert command.stdout is not None and command.stderr is not None
    head = command.stdout.read(10)
    command.stdout.close()
    stderr = command.stderr.read()
    assert command.wait(timeout=60) == 0, stderr
    assert len(head) == 10 and b"Traceback" not in stderr


def test_the_table_prints_in_an_ascii_locale() -> None:
    """Under LANG=C the table's "MSE/IOD" squared, written with a superscript 2, was a
    UnicodeEncodeError traceback."""
    import subprocess
    import sys

    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
           "PYTHONIOENCODING": "", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    demo = Path(__file__).resolve().parents[1] / "examples" / "demo.mp4"
    done = subprocess.run([sys.executable, "-m", "blazecli", "stability", str(demo), "--max-frames", "2"],
                          capture_output=True, env=env, timeout=120)
    assert done.returncode == 0 and b"MSE/IOD^2" in done.stdout + done.stderr, done.stderr[-500:]


def test_the_table_title_shows_the_name_as_it_is(tmp_path: Path, clip: Path) -> None:
    """The title read brackets in a name as markup (x[red]y.mp4 showed as xy.mp4), and wrote
    its control characters raw: an escape sequence recoloured the terminal."""
    import subprocess
    import sys

    for name, shown in (("x[red]y.mp4", "x[red]y.mp4"), ("e\x1b[31mR.mp4", "e\\x1b[31mR.mp4")):
        video = tmp_path / name
        video.write_bytes(clip.read_bytes())
        result = subprocess.run([sys.executable, "-m", "blazecli", "stability", str(video), "--max-frames", "2"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert f"{shown}: 2 frames" in result.stdout and "\x1b" not in result.stdout
