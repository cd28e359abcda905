"""Decoding raw outputs into candidates, on hand-built tensors whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from blazecli.inference.candidates import decode_candidates, scores_from_logits

ANCHORS = np.array([[0.5, 0.5], [0.25, 0.75], [0.75, 0.25]], np.float32)
SCALE = 128.0


def tensors(batch: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """All-zero regressors and very negative logits: nothing passes until a test says so."""
    return (np.zeros((batch, len(ANCHORS), 16), np.float32),
            np.full((batch, len(ANCHORS), 1), -50.0, np.float32))


def test_known_offset_gives_known_box_and_keypoints() -> None:
    regressors, logits = tensors()
    # centre offset (+12.8, -6.4) px, size 32 x 64 px, keypoint k offset (k, -2k) px.
    regressors[0, 1, :4] = [12.8, -6.4, 32.0, 64.0]
    regressors[0, 1, 4:] = np.array([[k, -2 * k] for k in range(6)], np.float32).ravel()
    logits[0, 1, 0] = 3.0
    faces = decode_candidates(regressors, logits, ANCHORS, SCALE, min_score=0.5)

    assert len(faces) == 1
    # centre (0.25 + 0.1, 0.75 - 0.05) = (0.35, 0.7); half size (0.125, 0.25)
    np.testing.assert_allclose(faces.boxes[0], [0.225, 0.45, 0.475, 0.95], atol=1e-6)
    expected_kp = [[0.25 + k / SCALE, 0.75 - 2 * k / SCALE] for k in range(6)]
    np.testing.assert_allclose(faces.keypoints[0], expected_kp, atol=1e-6)
    np.testing.assert_allclose(faces.scores, [1 / (1 + np.exp(-3.0))], rtol=1e-6)
    assert faces.frame_index.tolist() == [0]
    assert faces.track_id.tolist() == [-1]


def test_sizes_are_linear_not_exponential() -> None:
    """Face anchors are fixed-size: w/h regressors are pixels, not log-scales."""
    regressors, logits = tensors()
    regressors[0, 0, 2:4] = [128.0, 64.0]
    logits[0, 0, 0] = 5.0
    box = decode_candidates(regressors, logits, ANCHORS, SCALE, 0.5).boxes[0]
    np.testing.assert_allclose(box[2:] - box[:2], [1.0, 0.5], atol=1e-6)


def test_threshold_is_inclusive() -> None:
    regressors, logits = tensors()
    logits[0, :, 0] = [0.0, 1.25, 1.2499]  # sigmoid(0) is exactly 0.5
    faces = decode_candidates(regressors, logits, ANCHORS, SCALE, 0.5)
    assert len(faces) == 3
    assert faces.scores[0] == 0.5
    exact = float(scores_from_logits(np.array([1.25], np.float32))[0])
    faces = decode_candidates(regressors, logits, ANCHORS, SCALE, exact)
    np.testing.assert_array_equal(faces.scores, [exact])  # 1.2499 falls just below
    faces = decode_candidates(regressors, logits, ANCHORS, SCALE, float(np.nextafter(
        np.float32(exact), np.float32(1.0))))
    assert len(faces) == 0


def test_bad_logits_do_not_crash_and_nan_never_passes() -> None:
    values = [np.nan, np.inf, -np.inf, 1e30, -1e30, np.finfo(np.float32).max]
    regressors = np.zeros((1, len(values), 16), np.float32)
    anchors = (np.arange(len(values), dtype=np.float32)[:, None] + 1) / 10 * np.ones(2, np.float32)
    logits = np.array(values, np.float32).reshape(1, -1, 1)
    # No warnings for the user: exp(100) overflowing is expected (underflow numpy ignores anyway).
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        scores = scores_from_logits(logits[..., 0])[0]
    assert np.isnan(scores[0])
    np.testing.assert_array_equal(scores[1:], [1.0, 0.0, 1.0, 0.0, 1.0])

    for min_score, expected_anchors in [(0.0, [1, 2, 3, 4, 5]), (0.5, [1, 3, 5]), (1.0, [1, 3, 5])]:
        faces = decode_candidates(regressors, logits, anchors, SCALE, min_score)
        assert not np.isnan(faces.scores).any()
        np.testing.assert_allclose(faces.keypoints[:, 0], anchors[expected_anchors], atol=1e-7)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # inf - inf in the box corners
def test_nan_regressors_do_not_crash() -> None:
    regressors, logits = tensors()
    regressors[0, 0] = np.nan
    regressors[0, 2] = np.inf
    logits[0, [0, 2], 0] = 4.0
    faces = decode_candidates(regressors, logits, ANCHORS, SCALE, 0.5)
    assert len(faces) == 2
    assert np.isnan(faces.boxes[0]).all()


def test_batch_position() -> None:
    regressors, logits = tensors(batch=3)
    logits[0, 0, 0] = 2.0
    logits[2, 1, 0] = 2.0
    logits[2, 2, 0] = 3.0
    faces = decode_candidates(regressors, logits, ANCHORS, SCALE, 0.5)
    assert faces.frame_index.tolist() == [0, 2, 2]
    np.testing.assert_allclose(faces.keypoints[:, 0], ANCHORS[[0, 1, 2]], atol=1e-7)


def test_empty_result_shapes() -> None:
    regressors, logits = tensors(batch=2)
    faces = decode_candidates(regressors, logits, ANCHORS, SCALE, 0.5)
    assert len(faces) == 0
    assert faces.boxes.shape == (0, 4) and faces.boxes.dtype == np.float32
    assert faces.keypoints.shape == (0, 6, 2)
    assert faces.scores.shape == (0,)
    assert faces.frame_index.shape == (0,) and faces.frame_index.dtype == np.int64


def test_empty_batch() -> None:
    faces = decode_candidates(np.zeros((0, 3, 16), np.float32), np.zeros((0, 3, 1), np.float32),
                              ANCHORS, SCALE, 0.5)
    assert len(faces) == 0 and faces.keypoints.shape == (0, 6, 2)
