"""What a new user trips on: mislabelled photos, option mistakes, JSON Lines names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from corpus import still_image

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "demo.mp4"


@pytest.mark.parametrize("option", [["--stream", "-1"], ["--start", "-1"], ["--end", "-2"],
                                    ["--skip-existing", "--overwrite"]])
def test_option_mistakes_are_usage_errors(cli, tmp_path: Path, option: list[str]) -> None:
    out = tmp_path / "faces.csv"
    result = cli("detect", str(DEMO), "-o", str(out), *option)
    assert result.exit_code == 2, result.output
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".json", ".ndjson", ".jsonl"])
def test_json_lines_names(cli, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"faces{suffix}"
    assert cli("detect", str(DEMO), "-o", str(out), "--end", "0.2").exit_code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and {"frame_index", "x_min", "track_id"} <= set(rows[0])


@pytest.mark.parametrize("name, kind", [("holiday.mp4", "png"), ("holiday.mov", "jpg")])
def test_photo_named_like_a_video_is_read_as_the_photo(cli, tmp_path: Path, astronaut: np.ndarray,
                                                       name: str, kind: str) -> None:
    renamed = still_image(tmp_path / name, astronaut, kind)
    out = tmp_path / "faces.jsonl"
    assert cli("detect", str(renamed), "-o", str(out)).exit_code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["frame_index"] == 0
    assert cli("annotate", str(renamed), "-o", str(tmp_path / "drawn.png")).exit_code == 0
    assert cli("annotate", str(renamed), "-o", str(tmp_path / "drawn.mp4")).exit_code == 2


def test_detections_with_detector_options_is_refused(cli, tmp_path: Path) -> None:
    faces = tmp_path / "faces.parquet"
    assert cli("detect", str(DEMO), "-o", str(faces), "--end", "0.2").exit_code == 0
    out = tmp_path / "out.mp4"
    result = cli("annotate", str(DEMO), "-o", str(out), "--detections", str(faces),
                 "--model", "full", "--threshold", "0.3")
    assert result.exit_code == 2 and "--model, --threshold" in result.output
    assert not out.exists()


def test_plain_mp4_on_stdin_says_why_and_what_to_do(tmp_path: Path) -> None:
    import subprocess
    import sys

    from clips import write_clip

    noise = np.random.default_rng(0).integers(0, 256, (40, 240, 320, 3), np.uint8)
    clip = write_clip(tmp_path / "plain.mp4", lambda i: noise[i], 40, options={"qp": "0"})
    data = clip.read_bytes()  # large enough that the index is not in the first buffer read
    assert data.find(b"moov") > data.find(b"mdat")  # the index at the end, as most MP4s
    done = subprocess.run([sys.executable, "-m", "blazecli", "detect", "-", "-o",
                           str(tmp_path / "faces.csv"), "-q"], input=data, capture_output=True,
                          timeout=120)
    assert done.returncode == 1
    message = done.stderr.decode()
    assert "index at the end" in message and "give the file's path" in message
    assert "matroska" in message and "Traceback" not in message


def test_summary_of_a_run_that_processed_nothing(cli, tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    result = cli.verbose("detect", str(text), "-o", str(tmp_path / "faces.csv"))
    assert result.exit_code == 1
    assert "no frame processed" in result.output and "frames/s" not in result.output
