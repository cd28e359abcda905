"""The public API: what `import blazecli` offers, detect_video/open_video, keyword-only options."""

from __future__ import annotations

import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import blazecli
from blazecli import choices
from blazecli.inference.ties import TIE_RESOLVERS
from blazecli.models import MODELS

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "demo.mp4"


def test_import_loads_neither_onnxruntime_nor_av() -> None:
    code = ("import sys, blazecli; blazecli.__all__; blazecli.InvalidOptionError; "
            "print(sorted(m for m in ('onnxruntime', 'av', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_public_name_resolves() -> None:
    for name in blazecli.__all__:
        assert getattr(blazecli, name) is not None
    assert (REPO / "blazecli" / "py.typed").is_file()


def test_choices_are_the_library_s() -> None:
    assert tuple(MODELS) == choices.MODELS
    assert sorted(TIE_RESOLVERS) == sorted(choices.TIES)


def test_face_detector_takes_options_or_keywords_not_both() -> None:
    with pytest.raises(TypeError, match="not both"):
        blazecli.FaceDetector(blazecli.DetectorOptions(model="full"), model="short")
    with pytest.raises(TypeError):
        blazecli.DetectorOptions("full")
    with pytest.raises(ValueError, match="`threshold` must be within"):
        blazecli.DetectorOptions(threshold=2.0)


def test_detect_video_yields_every_frame_and_returns_the_summary(tmp_path: Path) -> None:
    """Same faces as `blazecli detect` writes, frame by frame, with the summary at the end."""
    from typer.testing import CliRunner

    from blazecli.cli import app

    out = tmp_path / "rows.parquet"
    assert CliRunner().invoke(app, ["detect", str(DEMO), "-o", str(out), "-q"]).exit_code == 0
    rows = pd.read_parquet(out)

    frames = []
    generator = blazecli.detect_video(str(DEMO))
    try:
        while True:
            frames.append(next(generator))
    except StopIteration as stop:
        summary = stop.value
    assert [f.index for f in frames] == list(range(len(frames)))
    assert summary.frames_processed == len(frames) and summary.faces == len(rows)
    boxes = np.concatenate([f.faces.boxes for f in frames])
    np.testing.assert_array_equal(boxes, rows[["x_min", "y_min", "x_max", "y_max"]].to_numpy())
    ids = np.concatenate([f.faces.track_id for f in frames])
    np.testing.assert_array_equal(ids, rows["track_id"].to_numpy())


def test_open_video_closes_its_decoder_when_the_loop_breaks() -> None:
    with blazecli.open_video(str(DEMO), every=2, tracking=False) as video:
        for frame in video:
            assert frame.index % 2 == 0 and (frame.faces.track_id < 0).all()
            break
    assert not any(t.name == "blazecli-decode" for t in threading.enumerate())
    generator = blazecli.detect_video(str(DEMO))
    next(generator)
    generator.close()  # the `with` inside ends: GeneratorExit closes the decoder


def test_a_video_read_twice_or_after_close_says_so() -> None:
    """The second loop, or a loop after close(), waited for ever on a decoding thread that had
    been told to stop."""
    code = ("import blazecli, sys\n"
            f"video = blazecli.open_video({str(DEMO)!r}, end_s=0.4)\n"
            "print(len(list(video)))\n"
            "try:\n    list(video)\nexcept RuntimeError as exc:\n    print(exc)\n"
            f"closed = blazecli.open_video({str(DEMO)!r})\n"
            "closed.close()\n"
            "try:\n    list(closed)\nexcept RuntimeError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    said = "a video's frames are read once, and not once it is closed: open it again to read them again"
    assert done.stdout.splitlines() == ["10", said, said]


def test_a_second_loop_while_the_first_reads_is_refused() -> None:
    """A second iter() of one video under way started a second decoding thread on the same
    container: a segfault (4 runs of 4), or two threads reading it that hung."""
    code = ("import threading, blazecli\n"
            f"video = blazecli.open_video({str(DEMO)!r})\n"
            "first = iter(video)\n"
            "print(next(first).index)\n"
            "try:\n    next(iter(video))\nexcept RuntimeError as exc:\n    print(exc)\n"
            "print(sum(1 for _ in first))\n"
            "from blazecli.jobs.detect import VideoJob\n"  # two loops at once beneath the API
            f"job = VideoJob({str(DEMO)!r}, blazecli.FaceDetector())\n"
            "said = []\n"
            "def read():\n"
            "    try:\n        said.append(sum(len(b.index) for b in job.batches()))\n"
            "    except RuntimeError as exc:\n        said.append(str(exc))\n"
            "readers = [threading.Thread(target=read) for _ in range(2)]\n"
            "[r.start() for r in readers]\n"
            "[r.join(60) for r in readers]\n"
            "job.close()\n"
            "print(sorted(said, key=str))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    said = "a video's frames are read once, and not once it is closed: open it again to read them again"
    assert done.stdout.splitlines() == ["0", said, "99", str([100, said])]


def test_close_while_a_loop_reads_ends_the_loop() -> None:
    """close() in the loop's body, or from another thread (a stop button), left the loop
    waiting for ever on a decode thread that had stopped, with two threads alive."""
    code = ("import threading, blazecli\n"
            f"video = blazecli.open_video({str(DEMO)!r})\n"
            "seen = []\n"
            "for frame in video:\n"
            "    seen.append(frame.index)\n"
            "    if frame.index == 2:\n"
            "        video.close()\n"
            "print(seen)\n"
            f"video = blazecli.open_video({str(DEMO)!r}, batch_size=1)\n"
            "started = threading.Event()\n"
            "def read():\n"
            "    for frame in video:\n"
            "        started.set()\n"
            "reader = threading.Thread(target=read)\n"
            "reader.start()\n"
            "started.wait(30)\n"
            "video.close()\n"
            "reader.join(30)\n"
            "print(reader.is_alive(), sorted(t.name for t in threading.enumerate()))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[0, 1, 2]", "False ['MainThread']"], (done.stdout, done.stderr)


def test_close_stops_an_iterator_taken_and_left_part_way() -> None:
    """close(), or the end of the `with` block, left an iterator taken with iter() and not run
    to its end holding its sampling and inference threads and the file, until it was dropped."""
    code = ("import threading, blazecli\n"
            f"video = blazecli.open_video({str(DEMO)!r})\n"
            "frames = iter(video)\n"
            "next(frames)\n"
            "video.close()\n"
            "print(sorted(t.name for t in threading.enumerate()), next(frames, 'ended'))\n"
            f"with blazecli.open_video({str(DEMO)!r}) as video:\n"
            "    frames = iter(video)\n"
            "    next(frames)\n"
            "print(sorted(t.name for t in threading.enumerate()), next(frames, 'ended'))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["['MainThread'] ended"] * 2, (done.stdout, done.stderr)


def test_paths_and_mistaken_arguments() -> None:
    """A pathlib.Path was a TypeError from a URL pattern; a model name where a detector or
    options go, an AttributeError; every=2.5 processed every fifth frame."""
    assert sum(1 for _ in blazecli.detect_video(DEMO, end_s=0.2)) == 5  # DEMO is a Path
    with pytest.raises(TypeError, match=r"FaceDetector\(model='full'\)"):
        blazecli.FaceDetector("full")
    with pytest.raises(TypeError, match="give `model=` instead"):
        blazecli.open_video(DEMO, detector="short")
    for every in (2.5, True, "2"):
        with pytest.raises(blazecli.InvalidOptionError, match="whole number of frames"):
            blazecli.open_video(DEMO, every=every)
    frames = [f.index for f in blazecli.detect_video(DEMO, every=np.int64(40))]
    assert frames == [0, 40, 80]


@pytest.mark.parametrize(("make", "message"), [
    (lambda: blazecli.FaceDetector(max_faces=1.5), "`max_faces` must be a whole number, got 1.5"),
    (lambda: blazecli.FaceDetector(threshold=True), "`threshold` must be a number, got True"),
    (lambda: blazecli.FaceDetector(threshold="0.5"), "`threshold` must be a number, got '0.5'"),
    (lambda: blazecli.FaceDetector(threads=1.5), "`threads` must be a whole number, got 1.5"),
    (lambda: blazecli.open_video(DEMO, keyframes="no"), "`keyframes` must be True or False"),
    (lambda: blazecli.open_video(DEMO, tracking="yes"), "`tracking` must be True or False"),
    (lambda: blazecli.open_video(DEMO, start_s="1"), "`start_s` must be a number"),
    (lambda: blazecli.open_video(DEMO, stream="0"), "`stream` must be a whole number"),
    (lambda: blazecli.open_video(DEMO, batch_size=2.5), "`batch_size` must be a whole number"),
    (lambda: blazecli.open_video(DEMO, fps="5"), "`fps` must be a number, got '5'"),
    (lambda: blazecli.TrackerOptions(smooth="no"), "`smooth` must be True or False"),
    (lambda: blazecli.FaceDetector(brighten="yes"), "`brighten` must be True or False"),
    (lambda: blazecli.TrackerOptions(min_iou=float("nan")), r"`min_iou` must be within \[0, 1\)"),
    (lambda: blazecli.TrackerOptions(max_jump=-1), r"`max_jump` must be within \(0, "),
    (lambda: blazecli.TrackerOptions(max_missed=1.5), "`max_missed` must be a whole number"),
    (lambda: blazecli.TrackerOptions(derivative_cutoff=0), r"`derivative_cutoff` must be within \(0, "),
    (lambda: blazecli.FaceDetector(tiles=None), "`tiles` must be none, auto or RxC"),  # read as 'none'
])
def test_a_value_of_the_wrong_type_is_refused_in_the_parameters_name(make, message) -> None:  # noqa: ANN001
    """Such values passed for others: keyframes="no" read only keyframes, max_faces=1.5 kept
    2 faces, threshold=True found none; or failed later in words that did not name them."""
    with pytest.raises(blazecli.InvalidOptionError, match=message):
        make()


def test_a_bytes_path_is_refused_as_a_type_not_called_missing() -> None:
    with pytest.raises(TypeError, match="`path` takes a str or os.PathLike"):
        blazecli.open_video(str(DEMO).encode())


def test_numpy_scalars_and_stacked_frames_are_taken() -> None:
    detector = blazecli.FaceDetector(max_faces=np.int64(2), threshold=np.float32(0.5))
    assert detector.options.max_faces == 2 and type(detector.options.max_faces) is int
    assert blazecli.TrackerOptions(smooth=np.bool_(False), max_missed=np.int64(3)).smooth is False
    from blazecli.media.reader import VideoReader

    with VideoReader(DEMO) as reader:
        image = next(reader.frames()).to_rgb()
    one = detector.detect_image(image)
    assert len(one) == 2  # the demo's two faces
    stacked = detector.detect(np.stack([image, image]))
    from_generator = detector.detect(im for im in (image, image))
    for faces in [*stacked, *from_generator]:
        np.testing.assert_array_equal(faces.boxes, one.boxes)
    with pytest.raises(TypeError, match="use detect_image"):
        detector.detect(image[..., 0])  # one grey image


def test_the_model_follows_the_tiles_as_on_the_command_line() -> None:
    """The library kept the short-range model with tiles, which takes textures in them for
    faces; the command line chose the full-range one."""
    from blazecli.inference.detector import DetectorOptions

    assert DetectorOptions().model == "short" and DetectorOptions(tiles="auto").model == "full"
    assert DetectorOptions(tiles="2x2", model="short").model == "short"
    assert DetectorOptions(tiles="none", model="full").model == "full"


def test_open_video_refuses_a_detector_and_options() -> None:
    detector = blazecli.FaceDetector()
    with pytest.raises(TypeError, match="not both"):
        blazecli.open_video(str(DEMO), detector=detector, model="full")


@pytest.mark.parametrize("module", ["detector", "pipeline", "runner", "sinks"])
def test_old_import_paths_warn(module: str) -> None:
    sys.modules.pop(f"blazecli.{module}", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        __import__(f"blazecli.{module}")
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)


@pytest.mark.parametrize("option, said", [("fill_gaps", "tracking=TrackerOptions"), ("workers", "DetectorOptions")])
def test_open_video_names_an_option_it_does_not_take(option: str, said: str) -> None:
    """`open_video(path, fill_gaps=True)` was refused by DetectorOptions.__init__, a class the
    caller never named."""
    with pytest.raises(TypeError, match=f"open_video.*{option}.*{said}"):
        blazecli.open_video(str(DEMO), **{option: True})
