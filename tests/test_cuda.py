"""The CUDA path: the same answers as the CPU, through bound device buffers.

Skipped where CUDA does not run (CI has no GPU); run on a GPU machine with
``python -m pytest tests/test_cuda.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from blazecli.errors import DeviceUnavailableError
from blazecli.inference.candidates import scores_from_logits
from blazecli.inference.session import BoundSession, create_session, open_model
from blazecli.media.sampling import sample_mediapipe
from blazecli.models import MODELS, ModelSpec

# The CPU's bounds against TFLite: TF32 is off (session.CUDA_OPTIONS), so CUDA computes in float32.
REGRESSOR_TOLERANCE_PX = 0.05
SCORE_TOLERANCE = 1e-4
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "demo.mp4"


def _cuda_runs() -> bool:
    try:
        create_session(MODELS["short"].cuda_path, "cuda")
    except DeviceUnavailableError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _cuda_runs(), reason="CUDA does not run here")


@pytest.fixture(scope="module", params=sorted(MODELS))
def cuda_model(request: pytest.FixtureRequest) -> tuple[ModelSpec, BoundSession]:
    spec = MODELS[request.param]
    return spec, open_model(spec, "cuda")


def test_cuda_runs_the_uint8_form_through_bound_buffers(cuda_model) -> None:
    _, session = cuda_model
    assert isinstance(session, BoundSession)
    assert session.provider == "cuda" and session.takes_uint8


def test_cuda_reproduces_tflite(cuda_model, data_dir: Path, astronaut: np.ndarray,
                                camera_rgb: np.ndarray) -> None:
    spec, session = cuda_model
    reference = np.load(data_dir / f"tflite_reference_{spec.name}_range.npz")
    images = {"astronaut": astronaut, "camera": camera_rgb}
    samples = np.stack([sample_mediapipe(images[str(n)], spec.input_size) for n in reference["names"]])
    regressors, logits = session.run(samples)
    np.testing.assert_allclose(regressors, reference["regressors"], rtol=0,
                               atol=REGRESSOR_TOLERANCE_PX)
    np.testing.assert_allclose(scores_from_logits(logits), scores_from_logits(reference["classificators"]),
                               rtol=0, atol=SCORE_TOLERANCE)


def test_batches_of_any_size_in_any_order_match_the_cpu(cuda_model, astronaut: np.ndarray) -> None:
    """Each capacity's buffers are reused, and padding never leaks into the real frames."""
    spec, session = cuda_model
    cpu = create_session(spec.path, "cpu")
    rng = np.random.default_rng(7)
    samples = rng.integers(0, 256, (9, spec.input_size, spec.input_size, 3), np.uint8)
    for i in range(0, 9, 2):
        samples[i] = sample_mediapipe(np.roll(astronaut, 11 * i, axis=1), spec.input_size)
    for start, count in [(0, 9), (2, 3), (1, 9 - 1), (4, 1), (0, 3), (0, 9)]:
        batch = samples[start:start + count]
        regressors, logits = session.run(batch)
        expected_regressors, expected_logits = cpu.run(batch)
        np.testing.assert_allclose(regressors, expected_regressors, atol=REGRESSOR_TOLERANCE_PX)
        np.testing.assert_allclose(scores_from_logits(logits), scores_from_logits(expected_logits),
                                   atol=SCORE_TOLERANCE)


@pytest.mark.parametrize("options", [[], ["--model", "full", "--tiles", "auto"]], ids=["plain", "tiled"])
def test_detect_on_cuda_finds_the_faces_the_cpu_finds(tmp_path: Path, options: list[str]) -> None:
    """Tiled too: a CUDA batch of 64 frames carries their tiles, run in parts of 64 inputs."""
    from typer.testing import CliRunner

    from blazecli.cli import app

    tables = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / f"{device}.parquet"
        result = CliRunner().invoke(app, ["detect", str(EXAMPLE), "-o", str(out), "--device", device,
                                          "--quiet", *options])
        assert result.exit_code == 0, result.output
        tables[device] = pq.read_table(out).to_pandas()
    from blazecli.inference.detector import FaceDetector

    assert FaceDetector(device="cuda").batch_size == 64  # the CPU's 8 gave the same rows
    cpu, cuda = tables["cpu"], tables["cuda"]
    assert len(cpu) > 0
    assert cuda["frame_index"].tolist() == cpu["frame_index"].tolist()
    assert cuda["track_id"].tolist() == cpu["track_id"].tolist()
    for column in ("x_min", "y_min", "x_max", "y_max", "left_eye_x", "right_eye_y"):
        np.testing.assert_allclose(cuda[column], cpu[column], atol=0.5)


def test_annotate_hides_on_cuda_as_on_the_cpu(tmp_path: Path) -> None:
    """The hiding profile (full model, tiles, cover) on CUDA: same frames hidden as on the CPU."""
    import re
    import subprocess
    import sys

    said = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / f"{device}.mp4"
        result = subprocess.run([sys.executable, "-m", "blazecli", "annotate", str(EXAMPLE), "-o", str(out),
                                 "--blur", "--device", device], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        found = re.search(r"frames with faces hidden: ([\d,]+) found", result.stderr)
        assert found is not None, result.stderr
        said[device] = int(found[1].replace(",", ""))
    assert said["cuda"] == said["cpu"] > 0
