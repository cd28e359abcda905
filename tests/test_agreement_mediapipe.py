"""blazecli finds the faces Google's MediaPipe FaceDetector finds, at the same places.

Golden data: ``tests/data/mediapipe_reference_*.json`` (``tools/make_mediapipe_reference.py``).
Images are decoded exactly as there (PyAV, first frame, ``rgb24``) and their pixel hashes checked
before anything is compared.

Two tolerances. Where the letterbox sampling positions never fall exactly halfway between two
1/32 px steps, blazecli reproduces MediaPipe's input bit for bit and the results agree to float
precision; that is checked tightly, so a regression in any stage shows. Where positions hit such
ties (sizes like 225 or 427 px), no fixed rounding rule reproduces MediaPipe (presumably the
noise of its OpenCV perspective matrix decides), a few input pixels differ by 1-4 levels, and
only the looser tolerance holds.

MediaPipe reports boxes as integer ``origin`` and ``size``, each truncated separately (so the far
corner is up to 2 px below the exact one); boxes are compared under that truncation.
"""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from blazecli.detections import Detections
from blazecli.inference.detector import FaceDetector
from blazecli.media.sampling import Letterbox

DATA = Path(__file__).resolve().parent / "data"
MODEL_KEYS = {"short": "short_range", "full": "full_range"}
REFERENCES = {model: json.loads((DATA / f"mediapipe_reference_{key}.json").read_text())
              for model, key in MODEL_KEYS.items()}

# Images whose sampling has no ties: MediaPipe's exact input, so float-level agreement.
EXACT = {"keypoints": 1e-5, "box": 1e-3, "score": 1e-5}  # keypoints/box: fraction of face width
# Images with ties: a few input pixels differ. Measured worst: 0.18 % keypoints, 1.5e-3 score
# (takeo.ppm, full range); 1e-3 as first planned is too tight for that one.
TIES = {"keypoints": 5e-3, "box": 5e-3, "score": 2e-3}


def reference_cases() -> list:
    return [pytest.param(model, record["source"], id=f"{model}-{record['source']}")
            for model, reference in REFERENCES.items() for record in reference["images"]]


def rgb_sha256(rgb: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest()


@cache
def decode_first_frame(path: Path) -> np.ndarray:
    """As the reference script: PyAV's first frame as rgb24 (cached: both models use it)."""
    import av

    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def sampling_has_ties(width: int, height: int, size: int) -> bool:
    """Whether some tensor pixel samples exactly halfway between two 1/32 px positions."""
    box = Letterbox(width, height)
    for offset in (Fraction(box.offset[0]), Fraction(box.offset[1])):
        for j in range(size):
            position = (offset + Fraction(box.side, size) * j) * 32
            if position.denominator == 2:
                return True
    return False


def truncation_gap(value: np.ndarray, truncated: np.ndarray) -> np.ndarray:
    """How far ``value`` lies from the values that C's ``(int)`` truncates to ``truncated``."""
    value = np.asarray(value, np.float64)
    low = np.where(truncated > 0, truncated, truncated - 1.0)
    high = np.where(truncated < 0, truncated, truncated + 1.0)
    # int(v) == t  <=>  low < v < high, with v == t allowed (t > 0: [t, t+1); t < 0: (t-1, t]).
    return np.maximum(np.maximum(low - value, value - high), 0.0)


def match(ours: Detections, theirs: list[dict]) -> list[tuple[int, dict]]:
    """Greedy one-to-one matching on mean keypoint distance, closest pairs first."""
    if not theirs:
        return []
    reference = np.array([face["keypoints"] for face in theirs])  # (M, 6, 2)
    distance = np.linalg.norm(ours.keypoints[:, None] - reference[None], axis=3).mean(axis=2)
    pairs = []
    for _ in range(min(distance.shape)):
        i, j = np.unravel_index(np.argmin(distance), distance.shape)
        pairs.append((int(i), theirs[j]))
        distance[i, :] = np.inf
        distance[:, j] = np.inf
    return pairs


def agreement(ours: Detections, theirs: list[dict]) -> dict[str, float]:
    """Worst keypoint error and box truncation gap (fractions of face width), score difference,
    and the plain corner difference in pixels (for reports; truncation makes it up to 2 px)."""
    worst = {"keypoints": 0.0, "box": 0.0, "score": 0.0, "corner_px": 0.0}
    for index, face in match(ours, theirs):
        ref_box = np.array(face["box"], np.float64)
        width = ref_box[2] - ref_box[0]
        keypoint_error = np.linalg.norm(ours.keypoints[index] - np.array(face["keypoints"]), axis=1)
        box = ours.boxes[index].astype(np.float64)
        origin_gap = truncation_gap(box[:2], ref_box[:2])
        size_gap = truncation_gap(box[2:] - box[:2], ref_box[2:] - ref_box[:2])
        worst["keypoints"] = max(worst["keypoints"], keypoint_error.max() / width)
        worst["box"] = max(worst["box"], max(origin_gap.max(), size_gap.max()) / width)
        worst["score"] = max(worst["score"], abs(float(ours.scores[index]) - face["score"]))
        worst["corner_px"] = max(worst["corner_px"], np.abs(box - ref_box).max())
    return worst


@pytest.fixture(scope="module")
def detectors() -> dict[str, FaceDetector]:
    """One detector per model for the whole module, with the reference's settings."""
    built = {}
    for model, reference in REFERENCES.items():
        options = reference["options"]
        assert options["min_suppression_threshold"] == 0.3
        built[model] = FaceDetector(model=model, threshold=options["min_detection_confidence"],
                                    tie="blend", resize="mediapipe", device="cpu")
    return built


@pytest.fixture(scope="module")
def reference_image(request: pytest.FixtureRequest, astronaut: np.ndarray):
    """``source -> (H, W, 3)`` RGB, skipping shared images where ``shared/`` is absent."""
    def load(source: str) -> np.ndarray:
        if source == "skimage:astronaut":
            return astronaut
        assert source.startswith("shared:"), source
        shared = request.getfixturevalue("shared_data")
        return decode_first_frame(shared / "images" / source.removeprefix("shared:"))
    return load


def test_reference_covers_astronaut_and_models() -> None:
    for model, reference in REFERENCES.items():
        assert reference["model"] == f"face_detection_{MODEL_KEYS[model]}.tflite"
        assert reference["options"]["min_detection_confidence"] == 0.5
        assert reference["images"][0]["source"] == "skimage:astronaut"
        assert len(reference["images"][0]["faces"]) == 1


@pytest.mark.parametrize("model, source", reference_cases())
def test_same_faces_as_mediapipe(model: str, source: str, detectors, reference_image) -> None:
    record = next(r for r in REFERENCES[model]["images"] if r["source"] == source)
    rgb = reference_image(source)
    assert rgb.shape == (record["height"], record["width"], 3)
    assert rgb_sha256(rgb) == record["rgb_sha256"], (
        f"{source}: decoded pixels differ from those MediaPipe saw (scikit-image/PyAV version?); "
        "the comparison would be meaningless")

    detector = detectors[model]
    faces = detector.detect_image(rgb)
    assert len(faces) == len(record["faces"])
    if not record["faces"]:
        return
    tolerance = (TIES if sampling_has_ties(record["width"], record["height"],
                                           detector.spec.input_size) else EXACT)
    worst = agreement(faces, record["faces"])
    assert worst["keypoints"] <= tolerance["keypoints"], worst
    assert worst["box"] <= tolerance["box"], worst
    assert worst["score"] <= tolerance["score"], worst


@pytest.mark.parametrize("model", sorted(REFERENCES))
def test_no_face_on_a_face_free_photo(model: str, detectors) -> None:
    """scikit-image's coffee cup: neither model fires at 0.5 (best scores about 0.37 and 0.06)."""
    from skimage import data

    assert len(detectors[model].detect_image(data.coffee())) == 0


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(REFERENCES))
def test_no_face_on_masked_face_photo(model: str, detectors, shared_data: Path) -> None:
    """MediaPipe finds no face in this one either; blazecli must not invent one."""
    record = next(r for r in REFERENCES[model]["images"]
                  if r["source"] == "shared:counts/insightface_mask_white.jpg")
    assert record["faces"] == []
    rgb = decode_first_frame(shared_data / "images" / "counts" / "insightface_mask_white.jpg")
    assert rgb_sha256(rgb) == record["rgb_sha256"]
    assert len(detectors[model].detect_image(rgb)) == 0


def test_tie_detection_helpers() -> None:
    """The tolerance split rests on these: pin them on sizes from the reference."""
    assert not sampling_has_ties(512, 512, 128) and not sampling_has_ties(500, 375, 192)
    assert sampling_has_ties(150, 225, 192) and sampling_has_ties(427, 240, 128)
    np.testing.assert_allclose(truncation_gap(np.array([5.0, 5.9, 6.2, 4.7, -0.5, -2.5]),
                                                 np.array([5, 5, 5, 5, 0, -2])),
                               [0.0, 0.0, 0.2, 0.3, 0.0, 0.0], atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(REFERENCES))
def test_same_faces_as_mediapipe_on_video(model: str, detectors, shared_data: Path) -> None:
    """MediaPipe's VIDEO mode on a real clip against blazecli's video pipeline (no tracking).

    The frames reach the model through the pipeline's own decoding and sampling, so this also
    pins the pipeline's frame order, timing and sampling against MediaPipe's own results.
    """
    from blazecli.jobs.detect import VideoJob

    video = REFERENCES[model]["video"]
    path = shared_data / video["source"].removeprefix("shared:")
    job = VideoJob(str(path), detectors[model])
    faces = Detections.merge([batch.faces for batch in job.batches()])
    frames = video["frames"]
    assert job.summary.frames_processed == len(frames) == 77
    tolerance = TIES if sampling_has_ties(640, 480, detectors[model].spec.input_size) else EXACT
    for frame in frames:
        ours = faces[faces.frame_index == frame["frame_index"]]
        assert len(ours) == len(frame["faces"]), frame["frame_index"]
        worst = agreement(ours, frame["faces"])
        assert worst["keypoints"] <= tolerance["keypoints"], (frame["frame_index"], worst)
        assert worst["box"] <= tolerance["box"], (frame["frame_index"], worst)
        assert worst["score"] <= tolerance["score"], (frame["frame_index"], worst)
