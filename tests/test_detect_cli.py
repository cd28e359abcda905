"""``blazecli detect`` end to end on generated clips, the demo clip and (where present) real videos."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from clips import (
    Path2D,
    astronaut_head,
    blank_clip,
    compose,
    moving_face_clip,
    stored_for,
    write_clip,
)
from typer.testing import CliRunner

from blazecli.cli import app
from blazecli.outputs.sinks import SCHEMA, read_metadata

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "demo.mp4"
REQUIRED_COLUMNS = [
    "video", "frame_index", "time_s", "track_id", "score", "x_min", "y_min", "x_max", "y_max",
    "right_eye_x", "right_eye_y", "left_eye_x", "left_eye_y", "nose_tip_x", "nose_tip_y",
    "mouth_center_x", "mouth_center_y", "right_ear_tragion_x", "right_ear_tragion_y",
    "left_ear_tragion_x", "left_ear_tragion_y", "frame_width", "frame_height",
]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return moving_face_clip(tmp_path_factory.mktemp("clips") / "face.mp4", frames=24)


@pytest.fixture(scope="module")
def demo_rows(cli, tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("demo") / "faces.parquet"
    result = cli("detect", str(DEMO), "-o", str(out))
    assert result.exit_code == 0, result.output
    return pd.read_parquet(out)


def test_demo_clip_two_faces_in_every_frame(demo_rows: pd.DataFrame) -> None:
    assert list(demo_rows.columns[:len(REQUIRED_COLUMNS)]) == REQUIRED_COLUMNS
    per_frame = demo_rows.groupby("frame_index").size()
    assert len(per_frame) == 100 and (per_frame == 2).all()
    assert demo_rows["score"].min() > 0.6
    assert (demo_rows["frame_width"] == 640).all() and (demo_rows["frame_height"] == 360).all()
    np.testing.assert_allclose(demo_rows.groupby("frame_index")["time_s"].first(),
                               np.arange(100) / 25, atol=1e-6)
    # Two tracks, one per face, for the whole clip (the faces brush past each other at 2 s).
    assert sorted(demo_rows.groupby("track_id").size().tolist()) == [100, 100]
    assert (demo_rows.groupby("frame_index").track_id.nunique() == 2).all()
    # Boxes contain their eyes, and eyes lie in the upper half of the box.
    for side in ("right_eye", "left_eye"):
        assert ((demo_rows[f"{side}_x"] > demo_rows.x_min) & (demo_rows[f"{side}_x"] < demo_rows.x_max)).all()
        assert (demo_rows[f"{side}_y"] < (demo_rows.y_min + demo_rows.y_max) / 2).all()


def test_parquet_types_and_metadata(cli, tmp_path: Path, clip: Path) -> None:
    out = tmp_path / "faces.parquet"
    assert cli("detect", str(clip), "-o", str(out), "--every", "3").exit_code == 0
    import pyarrow.parquet as pq

    schema = pq.read_schema(out)
    for name in REQUIRED_COLUMNS:
        assert schema.field(name).type == SCHEMA.field(name).type
    meta = read_metadata(str(out))
    assert meta["model"] == "short" and meta["tie"] == "blend" and meta["threshold"] == 0.5
    (video,) = meta["videos"]
    assert video["frames_read"] == 24 and video["frames_processed"] == 8 and video["every"] == 3
    assert video["frames_decoded"] == 22  # frame 21 is the last wanted: 22 and 23 are not decoded
    rows = pd.read_parquet(out)
    assert sorted(rows.frame_index.unique()) == list(range(0, 24, 3))


def test_csv_jsonl_parquet_hold_the_same_rows(cli, tmp_path: Path, clip: Path) -> None:
    tables = {}
    for ext in ("parquet", "csv", "jsonl"):
        out = tmp_path / f"faces.{ext}"
        assert cli("detect", str(clip), "-o", str(out)).exit_code == 0
        tables[ext] = {"parquet": pd.read_parquet, "csv": pd.read_csv,
                       "jsonl": lambda p: pd.read_json(p, lines=True)}[ext](out)
    assert len(tables["parquet"]) == 24
    for ext in ("csv", "jsonl"):
        assert list(tables[ext].columns) == list(tables["parquet"].columns)
        for column in REQUIRED_COLUMNS[5:]:
            np.testing.assert_allclose(tables[ext][column], tables["parquet"][column], rtol=1e-6)
        assert (tables[ext]["frame_index"] == tables["parquet"]["frame_index"]).all()
    assert json.loads((tmp_path / "faces.csv.meta.json").read_text())["videos"][0]["frames_processed"] == 24
    for ext in ("parquet", "csv", "jsonl"):  # the example reads each with its facts
        shown = subprocess.run([sys.executable, str(REPO / "examples" / "read_faces.py"),
                                str(tmp_path / f"faces.{ext}")], capture_output=True, text=True, check=True)
        assert "24 frames processed, 24 with a face, 24 faces" in shown.stdout
        assert "faces per frame: 1 in 24 frames" in shown.stdout
    spec = importlib.util.spec_from_file_location("read_faces", REPO / "examples" / "read_faces.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    for ext in ("csv", "jsonl"):  # exactly: pandas' default JSON parser was 1 ulp off on most times
        times = example.read(str(tmp_path / f"faces.{ext}"))[0].time_s.to_numpy()
        np.testing.assert_array_equal(times, tables["parquet"].time_s.to_numpy())


def test_stdout_pipe_closed_early_ends_quietly(clip: Path, tmp_path: Path) -> None:
    """And a --report is written, saying why the run stopped (it was not, in silence)."""
    report, copy = tmp_path / "report.json", tmp_path / "copy.mp4"
    shutil.copy(DEMO, copy)  # rows of two videos: more than the pipe holds, so it closes on the run
    shell = f"'{sys.executable}' -m blazecli detect '{DEMO}' '{copy}' -o - --report '{report}' | head -3"
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {shell}"], capture_output=True, text=True)
    lines = done.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith('"video","frame_index"')
    assert "Traceback" not in done.stderr and "Exception" not in done.stderr
    assert done.returncode == 0, done.stderr
    assert json.loads(report.read_text())["stopped"] == "the reader closed stdout"


_LOADED = ("import sys\nfrom blazecli.cli import app\ntry:\n    app(sys.argv[1:])\nexcept SystemExit:\n"
           "    pass\nprint('loaded:', *(m for m in ('av', 'onnxruntime', 'pandas', 'rich') if m in sys.modules))")


def test_start_up_loads_only_what_the_command_needs(tmp_path: Path) -> None:
    """``--help`` loads neither PyAV nor ONNX Runtime; ``detect`` never loads pandas (0.2-0.4 s);
    neither loads Rich when it draws and says nothing."""
    def loaded(*args: str) -> list[str]:
        done = subprocess.run([sys.executable, "-c", _LOADED, *args], capture_output=True, text=True,
                              check=True)
        return done.stdout.splitlines()[-1].split()[1:]

    assert loaded("detect", "--help") == []
    assert loaded("detect", str(DEMO), "-o", str(tmp_path / "f.parquet"), "--quiet") == ["av", "onnxruntime"]
    assert (tmp_path / "f.parquet").exists()


def test_still_image_is_one_frame(cli, tmp_path: Path, astronaut: np.ndarray) -> None:
    import av

    image = tmp_path / "astronaut.png"
    frame = av.VideoFrame.from_ndarray(astronaut, format="rgb24")
    frame.save(str(image))
    out = tmp_path / "faces.csv"
    assert cli("detect", str(image), "-o", str(out)).exit_code == 0
    rows = pd.read_csv(out)
    assert len(rows) == 1 and rows.frame_index[0] == 0
    # MediaPipe's own box for this photo is (177, 82)-(272, 177), rounded to whole pixels.
    np.testing.assert_allclose(rows[["x_min", "y_min", "x_max", "y_max"]].iloc[0], [177, 82, 272, 177], atol=2)


def test_rotation_metadata_is_applied(cli, tmp_path: Path) -> None:
    head = astronaut_head(150)
    path = Path2D((60, 40), (2, 1))
    upright = lambda i: compose(320, 240, [(head, path)], i)  # noqa: E731
    write_clip(tmp_path / "upright.mp4", upright, 12)
    write_clip(tmp_path / "sideways.mp4", lambda i: np.ascontiguousarray(np.rot90(upright(i), -1)), 12,
               rotation=90)
    frames = {}
    for name in ("upright", "sideways"):
        out = tmp_path / f"{name}.parquet"
        assert cli("detect", str(tmp_path / f"{name}.mp4"), "-o", str(out)).exit_code == 0
        frames[name] = pd.read_parquet(out)
    a, b = frames["upright"], frames["sideways"]
    assert (b.frame_width == 320).all() and (b.frame_height == 240).all()
    assert read_metadata(str(tmp_path / "sideways.parquet"))["videos"][0]["rotation"] == 90
    np.testing.assert_allclose(a[["x_min", "y_min", "x_max", "y_max"]], b[["x_min", "y_min", "x_max", "y_max"]], atol=2)


def test_facts_describe_the_video_track_and_the_span(cli, tmp_path: Path, astronaut: np.ndarray) -> None:
    """Matroska whose audio runs on after the video: the video's own duration (the container's
    is the audio's). Frames at or after --end are not counted as read. A photo has no fps."""
    from clips import _write_tone

    clip = tmp_path / "long_audio.mkv"
    with av.open(str(clip), "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        audio = container.add_stream("aac", rate=16000)
        for i in range(25):
            frame = av.VideoFrame.from_ndarray(np.full((120, 160, 3), 10 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        _write_tone(container, audio, 3.0)
    out = tmp_path / "faces.parquet"
    assert cli("detect", str(clip), "-o", str(out), "--end", "0.5").exit_code == 0
    video_facts = read_metadata(str(out))["videos"][0]
    assert abs(video_facts["duration_s"] - 1.0) < 0.05 and video_facts["fps"] == 25
    assert video_facts["frames_read"] == 13  # 0.00 .. 0.48 s; the frame at 0.52 s ends the span
    photo = tmp_path / "photo.png"
    av.VideoFrame.from_ndarray(astronaut, format="rgb24").save(str(photo))
    assert cli("detect", str(photo), "-o", str(out), "--overwrite").exit_code == 0
    photo_facts = read_metadata(str(out))["videos"][0]
    assert photo_facts["fps"] is None and photo_facts["duration_s"] is None


def test_avi_with_b_frames_is_timed_in_display_order(cli, tmp_path: Path) -> None:
    """AVI stores no pts: H.264 with B-frames decodes with pts out of display order (1, 2, 3,
    5, 4, ...), and each frame's dts is late by the decoder's reorder delay. Frame k is shown
    at k / fps, from 0."""
    head = astronaut_head(100)
    path = Path2D((40, 40), (6, 0))  # 6 px a frame to the right
    clip = write_clip(tmp_path / "b.avi", lambda i: compose(320, 240, [(head, path)], i), 24, fps=30,
                      options={"preset": "medium"})
    with av.open(str(clip)) as container:  # the case itself: pts that go back
        pts = [f.pts for f in container.decode(video=0)]
    assert any(b <= a for a, b in zip(pts, pts[1:], strict=False))
    out = tmp_path / "faces.csv"
    assert cli("detect", str(clip), "-o", str(out), "--no-smooth").exit_code == 0
    rows = pd.read_csv(out)
    assert len(rows) == 24
    np.testing.assert_allclose(rows.time_s, rows.frame_index / 30, atol=1e-6)
    assert rows.frame_index.tolist() == list(range(24))
    assert (np.diff(rows.x_min) > 0).all()  # in display order: the face moves right every frame


def test_photo_exif_orientation_is_applied(cli, tmp_path: Path) -> None:
    """Photos stored turned or mirrored with each EXIF orientation (2, 4, 5, 7 mirror) read as
    Pillow's exif_transpose shows them: like the upright photo."""
    from PIL import Image, ImageOps

    upright = compose(320, 240, [(astronaut_head(150), Path2D((60, 40), (0, 0)))], 0)
    Image.fromarray(upright).save(tmp_path / "upright.jpg", quality=95)
    turns = [np.rot90(flipped, k) for flipped in (upright, upright[:, ::-1]) for k in range(4)]
    for orientation in range(2, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        for stored in turns:  # the one Pillow shows upright
            image = Image.fromarray(np.ascontiguousarray(stored))
            image.getexif()[0x0112] = orientation
            if np.array_equal(np.asarray(ImageOps.exif_transpose(image)), upright):
                break
        suffix = "png" if orientation == 5 else "jpg"
        Image.fromarray(np.ascontiguousarray(stored)).save(tmp_path / f"o{orientation}.{suffix}", exif=exif)
    out = tmp_path / "faces.csv"
    assert cli("detect", str(tmp_path), "-o", str(out)).exit_code == 0
    rows = pd.read_csv(out)
    assert len(rows) == 8 and (rows.frame_width == 320).all() and (rows.frame_height == 240).all()
    reference = rows[rows.video.str.endswith("upright.jpg")][REQUIRED_COLUMNS[5:21]].astype(float)
    np.testing.assert_allclose(rows[REQUIRED_COLUMNS[5:21]].astype(float),
                               np.repeat(reference.to_numpy(), 8, axis=0), atol=2.5)


@pytest.fixture(scope="module")
def upright(cli, tmp_path_factory) -> tuple[Callable[[int], np.ndarray], pd.DataFrame]:
    """A face clip stored as shown, and its faces: what every way of storing it must give."""
    head = astronaut_head(150)
    path = Path2D((60, 40), (2, 1))
    frame_at = lambda i: compose(320, 240, [(head, path)], i)  # noqa: E731
    clip = write_clip(tmp_path_factory.mktemp("upright") / "upright.mp4", frame_at, 12)
    out = clip.with_suffix(".parquet")
    assert cli("detect", str(clip), "-o", str(out)).exit_code == 0
    return frame_at, pd.read_parquet(out)


@pytest.mark.parametrize("rotation, hflip, squeeze, atol", [
    (0, True, 1, 2),  # stored mirrored with an hflip matrix, which PyAV reads as half a turn
    (90, True, 1, 2),
    (0, False, 2, 3),  # anamorphic: stored 160 wide, pixels twice as wide as tall
    (270, True, 2, 3),  # all at once; the stretch is of stored rows, shown as columns
])
def test_display_matrix_and_pixel_aspect_are_applied(
        cli, tmp_path: Path, upright: tuple[Callable[[int], np.ndarray], pd.DataFrame], rotation: int,
        hflip: bool, squeeze: int, atol: float) -> None:
    frame_at, expected = upright
    clip = write_clip(tmp_path / "stored.mp4", lambda i: stored_for(frame_at(i), rotation, hflip, squeeze),
                      12, rotation=rotation, hflip=hflip, sar=Fraction(squeeze))
    out = tmp_path / "stored.parquet"
    assert cli("detect", str(clip), "-o", str(out)).exit_code == 0
    faces = pd.read_parquet(out)
    assert len(faces) == len(expected) == 12
    assert (faces.frame_width == 320).all() and (faces.frame_height == 240).all()
    assert (faces.right_eye_x < faces.left_eye_x).all()  # the subject's right eye is image-left
    assert (faces.score > 0.85).all()
    coordinates = [c for c in SCHEMA.names if c.endswith(("_x", "_y", "_min", "_max"))]
    np.testing.assert_allclose(faces[coordinates], expected[coordinates], atol=atol)
    video = read_metadata(str(out))["videos"][0]
    assert (video["width"], video["height"], video["sample_aspect_ratio"]) == (320, 240, f"{squeeze}/1")
    assert (video["rotation"], video["mirrored"]) == (-rotation % 360 if hflip else rotation, hflip)


def test_folder_input_to_folder_output_keeps_going_past_bad_files(cli, tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    moving_face_clip(src / "a.mp4", frames=6)
    blank_clip(src / "sub" / "b.mkv", frames=5)
    (src / "broken.mp4").write_bytes(b"this is not a video" * 10)
    out = tmp_path / "out"
    result = cli("detect", str(src), "-o", str(out) + "/")
    assert result.exit_code == 1
    assert "broken.mp4" in result.output
    assert (out / "a.mp4.parquet").is_file() and (out / "sub" / "b.mkv.parquet").is_file()
    assert not (out / "broken.mp4.parquet").exists()
    assert len(pd.read_parquet(out / "a.mp4.parquet")) == 6
    assert len(pd.read_parquet(out / "sub" / "b.mkv.parquet")) == 0  # processed, no face
    assert read_metadata(str(out / "sub" / "b.mkv.parquet"))["videos"][0]["frames_processed"] == 5
    assert not list(out.rglob(".*tmp"))
    # A rerun with --skip-existing does nothing new.
    again = cli("detect", str(src), "-o", str(out) + "/", "--skip-existing")
    assert again.exit_code == 1 and "broken.mp4" in again.output


def test_brackets_and_control_characters_in_names_are_shown_as_they_are(cli, tmp_path: Path) -> None:
    """Rich read names as markup: x[red]y.mp4 was shown as xy.mp4, and a folder "q[" holding
    "z].mp4" (the path q[/z].mp4) raised MarkupError, a traceback."""
    folder = tmp_path / "q["
    folder.mkdir()
    clip = moving_face_clip(folder / "z].mp4", frames=3)
    styled = moving_face_clip(tmp_path / "x[red]y\tz.mp4", frames=3)
    (tmp_path / "o[").mkdir()
    out = tmp_path / "o[/r].csv"
    result = cli.verbose("detect", str(clip), str(styled), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and "x[red]y\\tz.mp4" in result.output
    missing = cli.verbose("detect", str(tmp_path / "gone[/x].mp4"), "-o", str(tmp_path / "g.csv"))
    assert missing.exit_code == 1 and "gone[/x].mp4: no such file" in missing.output


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_skip_existing_redoes_an_output_that_lost_a_part(cli, tmp_path: Path, fmt: str) -> None:
    """Rows deleted to redo an input left their sidecar, and the rerun failed on it ("already
    exists"); rows without their sidecar were taken for done, and stayed without metadata."""
    src = tmp_path / "in"
    src.mkdir()
    moving_face_clip(src / "a.mp4", frames=4)
    moving_face_clip(src / "b.mp4", frames=5)
    out = tmp_path / "out"
    assert cli("detect", str(src), "-o", f"{out}/", "--format", fmt).exit_code == 0
    rows_a, rows_b = out / f"a.mp4.{fmt}", out / f"b.mp4.{fmt}"
    sidecar_b = out / f"b.mp4.{fmt}.meta.json"
    kept = rows_b.read_bytes()
    rows_a.unlink()  # to redo a
    sidecar_b.unlink()  # lost
    result = cli.verbose("detect", str(src), "-o", f"{out}/", "--format", fmt, "--skip-existing")
    assert result.exit_code == 0, result.output
    assert "2 file(s)" in result.output  # both redone, none skipped
    for rows in (rows_a, rows_b):
        assert rows.is_file() and (out / (rows.name + ".meta.json")).is_file()
    assert rows_b.read_bytes() == kept
    report = tmp_path / "report.json"
    again = cli.verbose("detect", str(src), "-o", f"{out}/", "--format", fmt, "--skip-existing", "--report",
                        str(report))
    assert again.exit_code == 0 and "skipped 2 existing" in again.output
    assert json.loads(report.read_text())["provider"] is None  # nothing ran: it said ""


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"", "empty file"),
    (b"\x00\x01garbage" * 100, "not a video"),
])
def test_bad_input_fails_cleanly_without_output(cli, tmp_path: Path, content: bytes | None, message: str) -> None:
    source = tmp_path / "input.mp4"
    if content is not None:
        source.write_bytes(content)
    out = tmp_path / "faces.parquet"
    result = cli("detect", str(source), "-o", str(out))
    assert result.exit_code != 0
    assert message in result.output and "input.mp4" in result.output
    assert not out.exists() and not list(tmp_path.glob(".*tmp"))


def test_existing_output_is_not_clobbered(cli, tmp_path: Path, clip: Path) -> None:
    out = tmp_path / "faces.csv"
    out.write_text("precious")
    result = cli("detect", str(clip), "-o", str(out))
    assert result.exit_code == 5 and "--overwrite" in result.output
    assert out.read_text() == "precious"
    assert cli("detect", str(clip), "-o", str(out), "--overwrite").exit_code == 0
    assert len(pd.read_csv(out)) == 24


def test_tracking_can_be_turned_off_and_is_recorded(cli, tmp_path: Path, clip: Path) -> None:
    out = tmp_path / "faces.parquet"
    assert cli("detect", str(clip), "-o", str(out), "--no-track").exit_code == 0
    assert pd.read_parquet(out).track_id.isna().all()
    assert read_metadata(str(out))["tracking"] is None
    assert cli("detect", str(clip), "-o", str(out), "--overwrite", "--no-smooth", "--smooth-beta", "3").exit_code == 0
    assert (pd.read_parquet(out).track_id == 0).all()
    tracking = read_metadata(str(out))["tracking"]
    assert tracking["smooth"] is False and tracking["beta"] == 3


def test_version_without_a_command() -> None:
    from blazecli import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"{__version__}\n"


def test_bad_options_are_clear_errors(cli, tmp_path: Path, clip: Path) -> None:
    result = cli("detect", str(clip), "-o", str(tmp_path / "faces.txt"))
    assert result.exit_code == 2 and "extension" in result.output
    result = cli("detect", str(clip), "-o", str(tmp_path / "faces.csv"), "--format", "parquet")
    assert result.exit_code == 2 and "contradicts the extension" in result.output
    assert not (tmp_path / "faces.csv").exists()
    result = cli("detect", str(clip), "-o", str(tmp_path / "f.csv"), "--threshold", "2")
    assert result.exit_code == 2 and "--threshold" in result.output


def test_python_api_misuse_is_a_clear_error(astronaut: np.ndarray) -> None:
    from blazecli.inference.detector import FaceDetector

    detector = FaceDetector(device="cpu")
    with pytest.raises(TypeError, match="detect_image"):  # one image, not 512 grey frames
        detector.detect(astronaut)
    assert len(detector.detect_image(astronaut)) == 1
    with pytest.raises(ValueError, match="at least one pixel"):
        detector.detect_image(np.zeros((0, 10, 3), np.uint8))


def test_batch_size_follows_the_device_and_does_not_change_rows(cli, tmp_path: Path,
                                                               demo_rows: pd.DataFrame) -> None:
    from blazecli.inference.detector import FaceDetector

    assert FaceDetector(device="cpu").batch_size == 8  # 64 on CUDA: tests/test_cuda.py
    out = tmp_path / "faces.parquet"
    assert cli("detect", str(DEMO), "-o", str(out), "--batch-size", "64").exit_code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), demo_rows)
    result = cli("detect", str(DEMO), "-o", str(tmp_path / "g.csv"), "--no-track", "--fill-gaps")
    assert result.exit_code == 2 and "needs tracking" in result.output  # was a silent no-op
    for ray_option in (["--ray-workers", "0"], ["--ray-address", "auto"]):  # silent no-ops too
        result = cli("detect", str(DEMO), "-o", str(tmp_path / "r.csv"), *ray_option)
        assert result.exit_code == 2 and "give --ray too" in result.output
        assert not (tmp_path / "r.csv").exists()
    for size in ("0", "1025", "1000000"):  # a million: 46 GB of samples, allocated on a thread
        result = cli("detect", str(DEMO), "-o", str(tmp_path / "f.csv"), "--batch-size", size)
        assert result.exit_code == 2 and "--batch-size must be within 1 to 1024" in result.output


def test_time_span_and_max_faces(cli, tmp_path: Path) -> None:
    out = tmp_path / "faces.parquet"
    assert cli("detect", str(DEMO), "-o", str(out), "--start", "1", "--end", "2", "--max-faces", "1").exit_code == 0
    rows = pd.read_parquet(out)
    assert rows.time_s.min() >= 1 and rows.time_s.max() < 2
    assert rows.groupby("frame_index").size().max() == 1
    assert len(rows) == 25
    # A span past the end of the 4 s clip is not an error, but it is said.
    result = CliRunner().invoke(app, ["detect", str(DEMO), "-o", str(tmp_path / "none.csv"), "--start", "10"])
    assert result.exit_code == 0 and "no frame lies between --start and --end" in result.output
    # The demo's one keyframe is its first: later frames lie in the span, but no keyframe.
    result = CliRunner().invoke(app, ["detect", str(DEMO), "-o", str(tmp_path / "k.csv"), "--start", "1",
                                      "--keyframes"])
    assert result.exit_code == 0 and "no keyframe lies between --start and --end" in result.output
    # Frames lie in the span, but none that --every or --fps chooses: it said no frame did.
    for chosen, said in ((["--every", "50"], "--every 50"), (["--fps", "0.1"], "--fps 0.1")):
        result = CliRunner().invoke(app, ["detect", str(DEMO), "-o", str(tmp_path / "e.csv"), "--start", "2.1",
                                          "--end", "3.9", "--overwrite", *chosen])
        assert result.exit_code == 0 and f"no frame chosen by {said} lies between" in result.output


def test_device_failure_ends_the_run_once_without_output(tmp_path: Path) -> None:
    from blazecli.errors import DeviceUnavailableError
    from blazecli.jobs.runner import DetectRun, DetectSettings

    def no_cuda(options):
        raise DeviceUnavailableError("--device cuda was asked for, but CUDA does not run here")

    run_ = DetectRun(DetectSettings(), make_detector=no_cuda)
    with pytest.raises(DeviceUnavailableError):  # not one failed input after another
        run_.run([str(DEMO), str(DEMO)], str(tmp_path / "faces.parquet"))
    assert run_.report.failed == [] and list(tmp_path.iterdir()) == []


def test_stdin_input(tmp_path: Path, clip: Path) -> None:
    mkv = moving_face_clip(tmp_path / "face.mkv", frames=8)
    out = tmp_path / "faces.csv"
    with open(mkv, "rb") as handle:
        done = subprocess.run([sys.executable, "-m", "blazecli", "detect", "-", "-o", str(out), "-q"],
                              stdin=handle, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(out)) == 8


def test_an_empty_pipe_is_said_to_be_empty(tmp_path: Path) -> None:
    """It was "not a video or image FFmpeg can read (Invalid data found...)"."""
    out = tmp_path / "faces.csv"
    done = subprocess.run([sys.executable, "-m", "blazecli", "detect", "-", "-o", str(out), "-q"],
                          input=b"", capture_output=True, timeout=60)
    assert done.returncode == 1 and b"stdin: nothing came in" in done.stderr, done.stderr
    assert not out.exists()


# --- real videos, where ../shared/data exists ----------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", ["liveportrait_d3.mp4", "liveportrait_d18.mp4", "liveportrait_s18.mp4"])
def test_talking_heads_found_in_almost_every_frame(cli, shared_data: Path, tmp_path: Path, name: str) -> None:
    out = tmp_path / "faces.parquet"
    assert cli("detect", str(shared_data / "videos" / name), "-o", str(out)).exit_code == 0
    frames = read_metadata(str(out))["videos"][0]["frames_processed"]
    found = pd.read_parquet(out).frame_index.nunique()
    assert found / frames >= 0.98, (found, frames)


@pytest.mark.slow
def test_phone_video_is_read_upright(cli, shared_data: Path, tmp_path: Path) -> None:
    """The sideways-stored phone clip gives the boxes of the upright original.

    The phone copy was re-encoded, so pixels differ slightly. The signer's face (upper half of
    the frame; the short-range model also fires on her hands now and then, weakly and unsteadily)
    is matched by IoU: 95 % of box coordinates agree within 2 px, all within 4 px.
    """
    from blazecli.inference.ties import pairwise_iou

    rows = {}
    for name in ("phone_again_rot90.mp4", "intel_asl_gestures_again.mkv"):
        out = tmp_path / f"{name}.parquet"
        assert cli("detect", str(shared_data / "videos" / name), "-o", str(out)).exit_code == 0
        faces = pd.read_parquet(out)
        rows[name] = faces[(faces.y_min + faces.y_max) / 2 < 240]
    phone, upright = rows["phone_again_rot90.mp4"], rows["intel_asl_gestures_again.mkv"]
    assert (phone.frame_width == 640).all() and (phone.frame_height == 480).all()
    box = ["x_min", "y_min", "x_max", "y_max"]
    differences = []
    for frame, mine in phone.groupby("frame_index"):
        theirs = upright[upright.frame_index == frame]
        if len(theirs) == 0:
            continue
        iou = pairwise_iou(mine[box].to_numpy(), theirs[box].to_numpy())
        for i, j in enumerate(iou.argmax(axis=1)):
            if iou[i, j] > 0.5:
                differences.append(np.abs(mine[box].to_numpy()[i] - theirs[box].to_numpy()[j]))
    differences = np.concatenate(differences)
    assert len(differences) >= 4 * 0.95 * upright.frame_index.nunique()
    assert np.percentile(differences, 95) <= 2.0 and differences.max() <= 4.0


def test_clip_whose_frames_fill_whole_row_chunks(cli, tmp_path: Path) -> None:
    """256 frames = exactly two Arrow chunks of 128: nothing is left over at the end."""
    clip = moving_face_clip(tmp_path / "c.mkv", frames=256, width=160, height=120, head_height=90,
                            velocity=(0.0, 0.0))
    out = tmp_path / "faces.parquet"
    result = cli("detect", str(clip), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out).frame_index.nunique() == 256


def test_a_missing_output_folder_is_said_of_the_output(tmp_path: Path) -> None:
    """For a CSV, the sidecar beside it was checked first: the message named `f.csv.meta.json`."""
    demo = Path(__file__).resolve().parents[1] / "examples" / "demo.mp4"
    out = tmp_path / "missing" / "f.csv"
    done = subprocess.run([sys.executable, "-m", "blazecli", "detect", str(demo), "-o", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 5
    assert f"{out}: folder {out.parent} does not exist" in done.stderr and ".meta.json" not in done.stderr
