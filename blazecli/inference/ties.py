"""Tie resolution between overlapping candidates of one frame (pure numpy).

``blend`` is BlazeFace's tie resolution, MediaPipe's WEIGHTED non-max suppression: take the
best remaining candidate, gather every remaining candidate whose IoU with it exceeds the
threshold, and output the score-weighted mean of their boxes and keypoints with the best
candidate's score. ``nms`` keeps the best candidate of each cluster as it is. Both share the
greedy clustering, done for every frame of a batch at once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..detections import Detections

MAX_CANDIDATES_PER_FRAME = 4096
"""A frame keeps at most its best this many candidates: more than an untiled frame's anchors
(2304 for the full-range model), so MediaPipe's output is untouched, while a near-zero
threshold on a tiled photo (every anchor of every tile) stays a bounded amount of work."""
PAIRS_AT_ONCE = 1 << 20
"""Candidate pairs whose overlap is computed in one step: the step's arrays stay tens of MB."""


def pairwise_iou(boxes: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """IoU of ``(..., K, 4)`` against ``(..., M, 4)`` xyxy boxes -> ``(..., K, M)``; 0 where the
    union is empty. Leading axes broadcast (one IoU matrix per frame of a batch)."""
    other = boxes if other is None else other
    top_left = np.maximum(boxes[..., :, None, :2], other[..., None, :, :2])
    bottom_right = np.minimum(boxes[..., :, None, 2:], other[..., None, :, 2:])
    overlap = np.maximum(bottom_right - top_left, 0)
    inter = overlap[..., 0] * overlap[..., 1]
    sides = np.maximum(boxes[..., 2:] - boxes[..., :2], 0)
    other_sides = np.maximum(other[..., 2:] - other[..., :2], 0)
    area = sides[..., 0] * sides[..., 1]
    other_area = other_sides[..., 0] * other_sides[..., 1]
    union = area[..., :, None] + other_area[..., None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def greedy_pairs(score: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one pairs of an ``(R, C)`` score matrix: the best allowed pair first, then
    the best among the rows and columns still free (ties in row-major order).

    Returns ``(rows, cols)`` in the order taken. The tracker (tracks to faces) and the stability
    metric (faces to shifted faces) share it.
    """
    rows, cols = np.nonzero(allowed)
    order = np.argsort(-score[rows, cols], kind="stable")
    used_rows, used_cols = np.zeros(score.shape[0], bool), np.zeros(score.shape[1], bool)
    taken: list[tuple[int, int]] = []
    most = min(score.shape)
    for i, j in zip(rows[order].tolist(), cols[order].tolist(), strict=False):
        if len(taken) == most:
            break
        if not (used_rows[i] or used_cols[j]):
            used_rows[i] = used_cols[j] = True
            taken.append((i, j))
    pairs = np.array(taken, np.int64).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def _ranking(candidates: Detections) -> np.ndarray:
    """By frame, then best first; equal scores ordered by coordinates so that the result
    ignores input order."""
    keys = np.concatenate([candidates.boxes, candidates.keypoints.reshape(-1, 12)], axis=1)
    return np.lexsort((*keys.T[::-1], -candidates.scores, candidates.frame_index))


def _segment_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Where each run of equal values begins in a sorted array."""
    return np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])


def _joins(boxes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """``(F, W, W)`` bool: which of each frame's ``(F, W, 4)`` boxes overlap above the
    threshold, computed in steps of at most :data:`PAIRS_AT_ONCE` pairs."""
    frames, width = boxes.shape[:2]
    joins = np.empty((frames, width, width), bool)
    frames_at_once = max(1, PAIRS_AT_ONCE // max(1, width * width))
    rows_at_once = width if frames_at_once > 1 else max(1, PAIRS_AT_ONCE // max(1, width))
    for f in range(0, frames, frames_at_once):
        frame = slice(f, f + frames_at_once)
        for r in range(0, width, rows_at_once):
            rows = slice(r, r + rows_at_once)
            joins[frame, rows] = pairwise_iou(boxes[frame, rows], boxes[frame]) > iou_threshold
    return joins


def strongest(candidates: Detections, limit: int = MAX_CANDIDATES_PER_FRAME) -> Detections:
    """The best ``limit`` candidates of each frame (all of them where a frame has no more)."""
    if len(candidates) <= limit or np.bincount(candidates.frame_index).max() <= limit:
        return candidates
    order = _ranking(candidates)
    starts = _segment_starts(candidates.frame_index[order])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    return candidates[np.sort(order[rank < limit])]


def cluster(candidates: Detections, iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy clusters within each frame: ``(leaders (C,), cluster_of (K,))``.

    Leaders are ordered by frame, then best first; ``cluster_of[k]`` is the position in
    ``leaders`` of candidate ``k``'s cluster. All frames of a batch are clustered at once:
    candidates are laid out as ``(frames, slots)`` in rank order, and each round takes the
    best remaining candidate of every frame as a leader together with what it overlaps, so
    the Python loop runs once per face of the busiest frame, not once per face of every frame.
    """
    n = len(candidates)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = _ranking(candidates)
    starts = _segment_starts(candidates.frame_index[order])
    counts = np.diff(np.r_[starts, n])
    row = np.repeat(np.arange(len(starts)), counts)  # frame block of each ranked candidate
    slot = np.arange(n) - np.repeat(starts, counts)  # its rank within the frame
    width = int(counts.max())
    boxes = np.zeros((len(starts), width, 4), np.float32)
    boxes[row, slot] = candidates.boxes[order]
    joins = _joins(boxes, iou_threshold)  # (F, W, W)
    joins |= np.eye(width, dtype=bool)  # a degenerate box still belongs to its own cluster
    remaining = np.zeros((len(starts), width), bool)
    remaining[row, slot] = True
    leader_slot = np.zeros((len(starts), width), np.int64)  # the slot each candidate joined
    while (live := np.flatnonzero(remaining.any(axis=1))).size:
        leader = remaining[live].argmax(axis=1)  # the best remaining candidate of each frame
        group = joins[live, leader] & remaining[live]  # (L, W)
        leader_slot[live] = np.where(group, leader[:, None], leader_slot[live])
        remaining[live] &= ~group
    is_leader = np.zeros((len(starts), width), bool)
    is_leader[row, slot] = leader_slot[row, slot] == slot
    position = np.cumsum(is_leader.ravel()).reshape(is_leader.shape) - 1  # row-major: frame, rank
    cluster_of = np.empty(n, np.int64)
    cluster_of[order] = position[row, leader_slot[row, slot]]
    leaders = order[is_leader[row, slot]]
    return leaders, cluster_of


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
    leaders, cluster_of = cluster(candidates, iou_threshold)
    count = len(leaders)
    weights = candidates.scores.astype(np.float64)
    total = np.bincount(cluster_of, weights, count)
    plain = total <= 0  # all-zero scores: a plain mean
    if plain.any():
        weights = np.where(plain[cluster_of], 1.0, weights)
        total = np.bincount(cluster_of, weights, count)
    coordinates = candidates.coordinates() * weights[:, None]  # (K, 16)
    sums = np.stack([np.bincount(cluster_of, column, count) for column in coordinates.T], axis=1)
    return candidates[leaders].with_coordinates(sums / total[:, None])


TIE_RESOLVERS: dict[str, Callable[[Detections, float], Detections]] = {"blend": blend, "nms": nms}


def resolve_frames(candidates: Detections, method: str, iou_threshold: float,
                   max_faces: int | None = None) -> Detections:
    """Resolve ties in each frame; frames keep their order, faces best first within a frame."""
    faces = TIE_RESOLVERS[method](strongest(candidates), iou_threshold)
    if max_faces is None or len(faces) == 0:
        return faces
    starts = _segment_starts(faces.frame_index)
    rank = np.arange(len(faces)) - np.repeat(starts, np.diff(np.r_[starts, len(faces)]))
    return faces[rank < max_faces]
