"""The shipped ONNX models are MediaPipe's TFLite models: same hashes, same outputs, dynamic batch.

The TFLite outputs were recorded by ``tools/make_tflite_reference.py`` (the interpreter is a
dev-only dependency); the inputs are recomputed here from scikit-image's photos.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

from blazecli.inference.candidates import scores_from_logits
from blazecli.inference.session import BoundSession, Session, create_session, open_model
from blazecli.media.sampling import sample_mediapipe
from blazecli.models import MODELS, ModelSpec

REGRESSOR_TOLERANCE_PX = 0.05  # raw regressor units are model-input pixels
SCORE_TOLERANCE = 1e-4
TFLITE_SHA256 = {  # blazecli/models/PROVENANCE.md's source column
    "short": "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
    "full": "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
}


def provenance_table() -> dict[str, tuple[str, str]]:
    """``onnx filename -> (source sha256, onnx sha256)`` parsed from PROVENANCE.md."""
    text = (MODELS["short"].path.parent / "PROVENANCE.md").read_text()
    rows = re.findall(r"^\| `([^`]+\.onnx)` \|.*\| `([0-9a-f]{64})` \| `([0-9a-f]{64})` \|$",
                      text, flags=re.MULTILINE)
    return {name: (source, onnx) for name, source, onnx in rows}


# The network as converted, shaped for x86 CPU kernels, and taking uint8 pixels (for CUDA).
FORMS = ("path", "nchwc_path", "cuda_path")


def cpu_session(path, bound: bool) -> Session:
    """A CPU session; ``bound`` runs it through I/O binding as CUDA does, on host buffers."""
    session = create_session(path, "cpu")
    return BoundSession(session.inference, "cpu", "cpu") if bound else session


@pytest.fixture(scope="module", params=[(key, form) for key in sorted(MODELS) for form in FORMS],
                ids=lambda p: f"{p[0]}-{p[1]}")
def model(request: pytest.FixtureRequest) -> tuple[ModelSpec, Session]:
    key, form = request.param
    spec = MODELS[key]
    return spec, cpu_session(getattr(spec, form), bound=form == "cuda_path")


@pytest.fixture(scope="module")
def reference_images(astronaut: np.ndarray, camera_rgb: np.ndarray) -> dict[str, np.ndarray]:
    return {"astronaut": astronaut, "camera": camera_rgb}


def test_provenance_lists_both_models_in_every_form() -> None:
    assert set(provenance_table()) == {getattr(spec, form).name for spec in MODELS.values()
                                       for form in FORMS}


@pytest.mark.parametrize("key", sorted(MODELS))
@pytest.mark.parametrize("form", FORMS)
def test_onnx_sha256_matches_provenance(key: str, form: str) -> None:
    path = getattr(MODELS[key], form)
    source, onnx = provenance_table()[path.name]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == onnx
    assert source == TFLITE_SHA256[key]


@pytest.mark.parametrize("machine, form", [("x86_64", "nchwc_path"), ("AMD64", "nchwc_path"),
                                           ("aarch64", "path"), ("arm64", "path")])
def test_cpu_sessions_use_the_form_that_suits_the_machine(monkeypatch: pytest.MonkeyPatch,
                                                          machine: str, form: str) -> None:
    import blazecli.inference.session as session_module

    opened = []
    monkeypatch.setattr(session_module.platform, "machine", lambda: machine)
    monkeypatch.setattr(session_module, "create_session",
                        lambda path, device, threads: opened.append((path, device)))
    open_model(MODELS["short"], "cpu")
    assert opened == [(getattr(MODELS["short"], form), "cpu")]


def test_onnx_reproduces_tflite(model: tuple[ModelSpec, Session], data_dir,
                                reference_images: dict[str, np.ndarray]) -> None:
    spec, session = model
    reference = np.load(data_dir / f"tflite_reference_{spec.name}_range.npz")
    assert str(reference["tflite_sha256"]) == TFLITE_SHA256[spec.name]
    names = [str(n) for n in reference["names"]]
    samples = np.stack([sample_mediapipe(reference_images[n], spec.input_size) for n in names])
    hashes = [hashlib.sha256(np.ascontiguousarray(s).tobytes()).hexdigest() for s in samples]
    assert hashes == [str(h) for h in reference["samples_sha256"]], \
        "preprocessing changed: the model inputs differ from those the TFLite reference saw"

    regressors, logits = session.run(samples)
    expected_regressors = reference["regressors"]
    expected_logits = reference["classificators"]
    assert regressors.shape == expected_regressors.shape
    assert logits.shape == expected_logits.shape
    np.testing.assert_allclose(regressors, expected_regressors, rtol=0, atol=REGRESSOR_TOLERANCE_PX)
    np.testing.assert_allclose(scores_from_logits(logits), scores_from_logits(expected_logits),
                               rtol=0, atol=SCORE_TOLERANCE)
    # The reference is not trivial: the astronaut's face scores high somewhere.
    assert scores_from_logits(expected_logits[names.index("astronaut")]).max() > 0.9


@pytest.mark.parametrize("batch", [1, 3])
def test_dynamic_batch_and_output_shapes(model: tuple[ModelSpec, Session], batch: int,
                                         astronaut: np.ndarray) -> None:
    spec, session = model
    rng = np.random.default_rng(0)
    samples = rng.integers(0, 256, (batch, spec.input_size, spec.input_size, 3), dtype=np.uint8)
    samples[0] = sample_mediapipe(astronaut, spec.input_size)
    regressors, logits = session.run(samples)
    assert regressors.shape == (batch, spec.num_anchors, 16)
    assert logits.shape == (batch, spec.num_anchors, 1)
    assert regressors.dtype == np.float32 and logits.dtype == np.float32
    # Batching does not mix images: the first one gives what it gives alone.
    alone_regressors, alone_logits = session.run(samples[:1])
    np.testing.assert_allclose(regressors[0], alone_regressors[0], atol=1e-3)
    np.testing.assert_allclose(logits[0], alone_logits[0], atol=1e-3)


def test_only_the_cuda_form_takes_uint8_pixels() -> None:
    spec = MODELS["short"]
    assert [create_session(getattr(spec, form), "cpu").takes_uint8 for form in FORMS] == \
        [False, False, True]


def test_bound_session_pads_batches_to_reused_power_of_two_buffers(astronaut: np.ndarray) -> None:
    spec = MODELS["short"]
    plain = create_session(spec.path, "cpu")
    bound = cpu_session(spec.cuda_path, bound=True)
    rng = np.random.default_rng(1)
    samples = rng.integers(0, 256, (9, spec.input_size, spec.input_size, 3), dtype=np.uint8)
    samples[4] = sample_mediapipe(astronaut, spec.input_size)
    for count in (3, 4, 1, 9, 3):
        regressors, logits = bound.run(samples[:count])
        expected_regressors, expected_logits = plain.run(samples[:count])
        assert regressors.shape == (count, spec.num_anchors, 16)
        np.testing.assert_allclose(regressors, expected_regressors, atol=1e-3)
        np.testing.assert_allclose(logits, expected_logits, atol=1e-3)
    assert sorted(bound._bound) == [1, 4, 16]  # one set of buffers per capacity, reused


def test_bound_session_is_safe_to_share_between_threads(astronaut: np.ndarray) -> None:
    """Threads running one bound session each get their own frames' outputs back."""
    from concurrent.futures import ThreadPoolExecutor

    spec = MODELS["short"]
    bound = cpu_session(spec.cuda_path, bound=True)
    rng = np.random.default_rng(2)
    batches = [rng.integers(0, 256, (4, spec.input_size, spec.input_size, 3), dtype=np.uint8)
               for _ in range(6)]
    batches[0][1] = sample_mediapipe(astronaut, spec.input_size)
    expected = [create_session(spec.path, "cpu").run(b)[1] for b in batches]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda b: bound.run(b)[1], batches * 3))
    for i, logits in enumerate(results):
        np.testing.assert_allclose(logits, expected[i % len(batches)], atol=1e-3)


@pytest.mark.parametrize("key, anchors", [("short", 896), ("full", 2304)])
def test_model_specs(key: str, anchors: int) -> None:
    spec = MODELS[key]
    assert spec.num_anchors == anchors
    assert spec.box_scale == spec.input_size
