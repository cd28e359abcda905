"""Raw model outputs + anchors -> scored candidate faces for a whole batch at once (pure numpy).

Follows MediaPipe's TensorsToDetectionsCalculator for the face models: boxes come as
``x, y, w, h`` (``reverse_output_order``), divided by the input size, centres offset by the
anchor, sizes taken as they are (fixed-size anchors, no exponential); logits are clipped to
+-100 before the sigmoid. Coordinates stay normalized to the model input here.
"""

from __future__ import annotations

import numpy as np

from ..detections import Detections

SCORE_CLIP = 100.0


def scores_from_logits(logits: np.ndarray) -> np.ndarray:
    """Sigmoid of clipped logits; NaN stays NaN so that it never passes a threshold."""
    clipped = np.clip(logits.astype(np.float32), -SCORE_CLIP, SCORE_CLIP)
    with np.errstate(over="ignore"):  # exp(100) overflows float32 to inf: the score is then 0
        return (1.0 / (1.0 + np.exp(-clipped))).astype(np.float32)


def decode_candidates(regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray,
                      box_scale: float, min_score: float) -> Detections:
    """Candidates scoring at least ``min_score`` in a batch.

    regressors: ``(N, A, 16)``; logits: ``(N, A, 1)``; anchors: ``(A, 2)`` normalized centres.
    Returns normalized ``Detections`` whose ``frame_index`` is the position in the batch. Only
    the few anchors above threshold are decoded.
    """
    scores = scores_from_logits(logits[..., 0])  # (N, A)
    frame, anchor = np.nonzero(scores >= min_score)  # NaN compares False
    raw = regressors[frame, anchor].astype(np.float32) / np.float32(box_scale)  # (K, 16)
    centre = anchors[anchor]  # (K, 2)
    box_centre = raw[:, 0:2] + centre
    half_size = raw[:, 2:4] / 2
    boxes = np.concatenate([box_centre - half_size, box_centre + half_size], axis=1)  # (K, 4)
    keypoints = raw[:, 4:16].reshape(-1, 6, 2) + centre[:, None, :]  # (K, 6, 2)
    return Detections(boxes, keypoints, scores[frame, anchor], frame)
