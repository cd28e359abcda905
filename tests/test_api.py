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


def test_a_video_read_twice_says_so() -> None:
    """The second loop waited for ever on a decoding thread that had been told to stop."""
    code = ("import blazecli, sys\n"
            f"video = blazecli.open_video({str(DEMO)!r}, end_s=0.4)\n"
            "print(len(list(video)))\n"
            "try:\n    list(video)\nexcept RuntimeError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["10", "a video's frames are read once: open it again to read them again"]


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
