"""Tie resolution between overlapping candidates of one frame (pure numpy).

``blend`` is BlazeFace's tie resolution, MediaPipe's WEIGHTED non-max suppression: take the
best remaining candidate, gather every remaining candidate whose IoU with it exceeds the
threshold, and output the score-weighted mean of their boxes and keypoints with the best
candidate's score. ``nms`` keeps the best candidate of each cluster as it is. Both share the
greedy clustering; only the loop over clusters (faces, not anchors) is in Python.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .detections import Detections


def pairwise_iou(boxes: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """IoU of ``(K, 4)`` against ``(M, 4)`` xyxy boxes -> ``(K, M)``; 0 where the union is empty."""
    other = boxes if other is None else other
    top_left = np.maximum(boxes[:, None, :2], other[None, :, :2])
    bottom_right = np.minimum(boxes[:, None, 2:], other[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    other_area = np.prod(np.clip(other[:, 2:] - other[:, :2], 0, None), axis=1)
    union = area[:, None] + other_area[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _ranking(candidates: Detections) -> np.ndarray:
    """Best first; equal scores ordered by coordinates so that the result ignores input order."""
    keys = np.concatenate([candidates.boxes, candidates.keypoints.reshape(-1, 12)], axis=1)
    return np.lexsort((*keys.T[::-1], -candidates.scores))


def cluster(candidates: Detections, iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy clusters: ``(leaders (C,), membership (C, K) bool)``, leaders best first."""
    order = _ranking(candidates)
    iou = pairwise_iou(candidates.boxes)
    remaining = np.ones(len(candidates), bool)
    leaders, members = [], []
    while remaining.any():
        leader = order[np.argmax(remaining[order])]
        group = remaining & (iou[leader] > iou_threshold)
        group[leader] = True  # a degenerate box still belongs to its own cluster
        leaders.append(leader)
        members.append(group)
        remaining &= ~group
    if not leaders:
        return np.zeros(0, np.int64), np.zeros((0, len(candidates)), bool)
    return np.array(leaders), np.stack(members)


def finite(candidates: Detections) -> Detections:
    """Drop candidates with NaN/inf anywhere: a broken model output must not poison a cluster."""
    ok = (np.isfinite(candidates.scores) & np.isfinite(candidates.boxes).all(axis=1)
          & np.isfinite(candidates.keypoints).all(axis=(1, 2)))
    return candidates if ok.all() else candidates[ok]


def nms(candidates: Detections, iou_threshold: float = 0.3) -> Detections:
    """Plain non-max suppression: the best candidate of each cluster."""
    candidates = finite(candidates)
    leaders, _ = cluster(candidates, iou_threshold)
    return candidates[leaders]


def blend(candidates: Detections, iou_threshold: float = 0.3) -> Detections:
    """BlazeFace blending: score-weighted mean of each cluster, with the leader's score."""
    candidates = finite(candidates)
    leaders, membership = cluster(candidates, iou_threshold)
    weights = membership * candidates.scores[None, :].astype(np.float64)  # (C, K)
    total = weights.sum(axis=1, keepdims=True)
    weights = np.where(total > 0, weights, membership)  # all-zero scores: a plain mean
    weights /= weights.sum(axis=1, keepdims=True)
    boxes = weights @ candidates.boxes.astype(np.float64)  # (C, 4)
    keypoints = np.einsum("ck,kpd->cpd", weights, candidates.keypoints.astype(np.float64))
    return candidates[leaders].replace(boxes=boxes, keypoints=keypoints)


TIE_RESOLVERS: dict[str, Callable[[Detections, float], Detections]] = {"blend": blend, "nms": nms}


def resolve_frames(candidates: Detections, method: str, iou_threshold: float,
                   max_faces: int | None = None) -> Detections:
    """Resolve ties frame by frame; frames keep their order, faces best first within a frame."""
    resolver = TIE_RESOLVERS[method]
    if len(candidates) == 0:
        return candidates
    grouped = candidates[np.argsort(candidates.frame_index, kind="stable")]
    _, starts = np.unique(grouped.frame_index, return_index=True)
    bounds = [*starts.tolist(), len(grouped)]
    faces = []
    for begin, end in zip(bounds[:-1], bounds[1:]):
        resolved = resolver(grouped[begin:end], iou_threshold)
        faces.append(resolved if max_faces is None else resolved[:max_faces])
    return Detections.merge(faces)
