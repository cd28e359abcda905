"""Tie resolution (``blend`` = MediaPipe's weighted NMS, ``nms``) on hand-built candidates.

Hand-computed cases pin the arithmetic; hypothesis checks the properties that must hold for
any candidates: no more faces than candidates, input order irrelevant, blended boxes inside
their cluster, and bad (NaN/inf) model output never raising.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blazecli.detections import Detections
from blazecli.inference import ties
from blazecli.inference.ties import (
    MAX_CANDIDATES_PER_FRAME,
    blend,
    cluster,
    greedy_pairs,
    nms,
    pairwise_iou,
    resolve_frames,
    strongest,
)

RESOLVERS = {"blend": blend, "nms": nms}


def faces(boxes, scores, keypoints=None, frame_index=None) -> Detections:
    """Candidates from box lists; keypoints default to box-derived points (so duplicates agree)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if keypoints is None:
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        keypoints = centre[:, None, :] + np.arange(6, dtype=np.float32)[None, :, None] * 0.01
    return Detections(boxes, keypoints, scores, frame_index)


def canonical(dets: Detections) -> np.ndarray:
    """Rows ``score, box, keypoints`` sorted, to compare results regardless of output order."""
    rows = np.concatenate([dets.scores[:, None], dets.boxes, dets.keypoints.reshape(-1, 12),
                           dets.frame_index[:, None]], axis=1).astype(np.float64)
    keys = np.round(rows, 4)
    return rows[np.lexsort(keys.T[::-1])]


@pytest.mark.parametrize("method", sorted(RESOLVERS))
def test_empty_input(method: str) -> None:
    out = RESOLVERS[method](Detections.empty())
    assert len(out) == 0 and out.boxes.shape == (0, 4) and out.keypoints.shape == (0, 6, 2)
    assert len(resolve_frames(Detections.empty(), method, 0.3)) == 0


@pytest.mark.parametrize("method", sorted(RESOLVERS))
def test_one_candidate_is_kept_as_is(method: str) -> None:
    candidate = faces([[0.1, 0.2, 0.4, 0.6]], [0.8])
    out = RESOLVERS[method](candidate)
    assert len(out) == 1
    np.testing.assert_allclose(out.boxes, candidate.boxes, rtol=0, atol=1e-7)
    np.testing.assert_allclose(out.keypoints, candidate.keypoints, rtol=0, atol=1e-7)
    assert out.scores.tolist() == candidate.scores.tolist()


@pytest.mark.parametrize("method", sorted(RESOLVERS))
def test_identical_candidates_merge(method: str) -> None:
    candidates = faces([[0.1, 0.2, 0.4, 0.6]] * 3, [0.7, 0.7, 0.7])
    out = RESOLVERS[method](candidates)
    assert len(out) == 1
    np.testing.assert_allclose(out.boxes[0], [0.1, 0.2, 0.4, 0.6], rtol=0, atol=1e-6)
    np.testing.assert_allclose(out.scores, [0.7], rtol=1e-7)


@pytest.mark.parametrize("method", sorted(RESOLVERS))
def test_far_apart_faces_stay_two(method: str) -> None:
    candidates = faces([[0.0, 0.0, 0.2, 0.2], [0.6, 0.6, 0.9, 0.9]], [0.6, 0.9])
    out = RESOLVERS[method](candidates)
    assert len(out) == 2
    assert out.scores.tolist() == pytest.approx([0.9, 0.6])  # best first
    np.testing.assert_allclose(out.boxes, candidates.boxes[[1, 0]], atol=1e-7)


def test_blend_is_score_weighted_mean_with_best_score() -> None:
    boxes = [[0, 0, 10, 10], [1, 1, 11, 11], [0, 1, 10, 11]]  # IoU with the first: 0.68, 0.82
    scores = [0.9, 0.6, 0.5]
    keypoints = np.arange(3 * 12, dtype=np.float32).reshape(3, 6, 2)
    out = blend(faces(boxes, scores, keypoints), 0.3)
    assert len(out) == 1
    # (0.9*[0,0,10,10] + 0.6*[1,1,11,11] + 0.5*[0,1,10,11]) / 2.0
    np.testing.assert_allclose(out.boxes[0], [0.3, 0.55, 10.3, 10.55], rtol=1e-6)
    expected_kp = (0.9 * keypoints[0] + 0.6 * keypoints[1] + 0.5 * keypoints[2]) / 2.0
    np.testing.assert_allclose(out.keypoints[0], expected_kp, rtol=1e-6)
    assert out.scores[0] == np.float32(0.9)
    # nms keeps the best candidate untouched.
    kept = nms(faces(boxes, scores, keypoints), 0.3)
    np.testing.assert_array_equal(kept.boxes[0], boxes[0])
    np.testing.assert_array_equal(kept.keypoints[0], keypoints[0])


def test_clusters_are_greedy_not_transitive() -> None:
    """C overlaps B but not the leader A: B joins A, C stays a face of its own."""
    # IoU(A, B) = 60/140 = 0.43, IoU(B, C) = 50/150 = 0.33, IoU(A, C) = 10/190 = 0.05
    boxes = [[0, 0, 10, 10], [4, 0, 14, 10], [9, 0, 19, 10]]
    out = blend(faces(boxes, [0.9, 0.8, 0.7]), 0.3)
    assert len(out) == 2
    np.testing.assert_allclose(out.boxes[0], [0.8 * 4 / 1.7, 0, 10 + 0.8 * 4 / 1.7, 10], rtol=1e-6)
    np.testing.assert_allclose(out.boxes[1], boxes[2], atol=1e-6)


@pytest.mark.parametrize("method", sorted(RESOLVERS))
def test_iou_threshold_is_strictly_greater(method: str) -> None:
    # IoU 1/4 exactly (a 1x1 box inside a 4x1 box): at threshold 0.25 they stay apart.
    candidates = faces([[0, 0, 4, 1], [0, 0, 1, 1]], [0.9, 0.8])
    assert pairwise_iou(candidates.boxes)[0, 1] == 0.25
    assert len(RESOLVERS[method](candidates, 0.25)) == 2
    assert len(RESOLVERS[method](candidates, 0.2499)) == 1
    # IoU 3/10 at MediaPipe's 0.3 (both rounded to the same float32): not merged either.
    candidates = faces([[0, 0, 10, 1], [0, 0, 3, 1]], [0.9, 0.8])
    assert len(RESOLVERS[method](candidates, 0.3)) == 2
    candidates = faces([[0, 0, 10, 1], [0, 0, 3.01, 1]], [0.9, 0.8])
    assert len(RESOLVERS[method](candidates, 0.3)) == 1


@pytest.mark.parametrize("method", sorted(RESOLVERS))
def test_permutation_gives_same_faces(method: str) -> None:
    boxes = [[0, 0, 10, 10], [1, 1, 11, 11], [0, 1, 10, 11], [20, 20, 30, 30], [21, 20, 31, 30]]
    scores = [0.9, 0.6, 0.5, 0.8, 0.8]  # a tie in score, broken by box
    candidates = faces(boxes, scores)
    expected = canonical(RESOLVERS[method](candidates))
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(len(scores))
        np.testing.assert_allclose(canonical(RESOLVERS[method](candidates[order])), expected,
                                   rtol=0, atol=1e-6)


def test_resolve_frames_per_frame_and_max_faces() -> None:
    boxes = [[0, 0, 10, 10], [50, 50, 60, 60], [1, 1, 11, 11],  # frame 2: two faces + overlap
             [0, 0, 10, 10],                                   # frame 0: one face
             [0, 0, 10, 10], [30, 30, 40, 40], [60, 60, 70, 70]]  # frame 7: three faces
    scores = [0.6, 0.9, 0.7, 0.8, 0.55, 0.95, 0.75]
    frames = [2, 2, 2, 0, 7, 7, 7]
    candidates = faces(boxes, scores, frame_index=frames)

    out = resolve_frames(candidates, "blend", 0.3)
    assert out.frame_index.tolist() == [0, 2, 2, 7, 7, 7]
    assert out.scores.tolist() == pytest.approx([0.8, 0.9, 0.7, 0.95, 0.75, 0.55])
    # frame 2's overlapping pair blends: (0.7*[1,1,11,11] + 0.6*[0,0,10,10]) / 1.3
    np.testing.assert_allclose(out.boxes[2], np.array([1, 1, 11, 11]) * 0.7 / 1.3
                               + np.array([0, 0, 10, 10]) * 0.6 / 1.3, rtol=1e-6)

    top = resolve_frames(candidates, "nms", 0.3, max_faces=1)
    assert top.frame_index.tolist() == [0, 2, 7]
    assert top.scores.tolist() == pytest.approx([0.8, 0.9, 0.95])
    np.testing.assert_array_equal(top.boxes[2], [30, 30, 40, 40])
    assert len(resolve_frames(candidates, "blend", 0.3, max_faces=2)) == 5


# --- properties ------------------------------------------------------------------------------

_unit = st.floats(0.0, 1.0, width=32)


@st.composite
def candidate_sets(draw: st.DrawFn, max_size: int = 12) -> Detections:
    """A few clumps of jittered boxes (so clusters really form), some sizes degenerate."""
    centres = draw(st.lists(st.tuples(_unit, _unit), min_size=1, max_size=3))
    count = draw(st.integers(0, max_size))
    boxes, scores = [], []
    for _ in range(count):
        cx, cy = draw(st.sampled_from(centres))
        dx, dy = draw(st.floats(-0.05, 0.05)), draw(st.floats(-0.05, 0.05))
        w, h = draw(st.floats(0.0, 0.3)), draw(st.floats(0.0, 0.3))
        boxes.append([cx + dx - w / 2, cy + dy - h / 2, cx + dx + w / 2, cy + dy + h / 2])
        scores.append(draw(st.floats(0.015625, 1.0, width=32)))
    keypoints = draw(st.lists(st.floats(0.0, 1.0, width=32), min_size=count * 12,
                              max_size=count * 12))
    return faces(boxes, scores, np.array(keypoints, np.float32).reshape(count, 6, 2))


@settings(max_examples=200, deadline=None)
@given(candidates=candidate_sets(), method=st.sampled_from(sorted(RESOLVERS)),
       iou=st.sampled_from([0.1, 0.3, 0.7]))
def test_property_never_more_faces_than_candidates(candidates: Detections, method: str,
                                                   iou: float) -> None:
    out = RESOLVERS[method](candidates, iou)
    assert 0 < len(out) <= len(candidates) or len(candidates) == 0 == len(out)
    assert set(out.scores.tolist()) <= set(candidates.scores.tolist())  # scores are leaders'
    if len(out):
        assert out.scores[0] == candidates.scores.max()


@settings(max_examples=200, deadline=None)
@given(candidates=candidate_sets(), seed=st.integers(0, 2**32 - 1))
def test_property_blend_ignores_candidate_order(candidates: Detections, seed: int) -> None:
    order = np.random.default_rng(seed).permutation(len(candidates))
    np.testing.assert_allclose(canonical(blend(candidates[order])), canonical(blend(candidates)),
                               rtol=0, atol=1e-5)


@settings(max_examples=200, deadline=None)
@given(candidates=candidate_sets(), seed=st.integers(0, 2**32 - 1))
def test_property_nms_ignores_candidate_order(candidates: Detections, seed: int) -> None:
    # Keypoints follow the box: two candidates with equal box and score are then equal.
    candidates = faces(candidates.boxes, candidates.scores)
    order = np.random.default_rng(seed).permutation(len(candidates))
    np.testing.assert_array_equal(canonical(nms(candidates[order])), canonical(nms(candidates)))


@settings(max_examples=200, deadline=None)
@given(candidates=candidate_sets(), iou=st.sampled_from([0.1, 0.3, 0.7]))
def test_property_blended_box_inside_its_cluster(candidates: Detections, iou: float) -> None:
    leaders, cluster_of = cluster(candidates, iou)
    membership = cluster_of[None, :] == np.arange(len(leaders))[:, None]
    out = blend(candidates, iou)
    assert len(out) == len(leaders)
    assert membership.sum(axis=0).tolist() == [1] * len(candidates)  # a partition
    for face, members in zip(range(len(out)), membership, strict=False):
        group = candidates[members]
        eps = 1e-6
        assert (out.boxes[face] >= group.boxes.min(axis=0) - eps).all()
        assert (out.boxes[face] <= group.boxes.max(axis=0) + eps).all()
        assert (out.keypoints[face] >= group.keypoints.min(axis=0) - eps).all()
        assert (out.keypoints[face] <= group.keypoints.max(axis=0) + eps).all()
        assert out.scores[face] == group.scores.max()


_bad = st.sampled_from([np.nan, np.inf, -np.inf, 1e30, -1e30])


@settings(max_examples=200, deadline=None)
@given(candidates=candidate_sets(max_size=8), method=st.sampled_from(sorted(RESOLVERS)),
       data=st.data())
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_property_bad_values_do_not_raise(candidates: Detections, method: str,
                                          data: st.DataObject) -> None:
    """NaN/inf anywhere (a broken model or provider) must not raise; the count stays bounded."""
    boxes, scores = candidates.boxes.copy(), candidates.scores.copy()
    keypoints = candidates.keypoints.copy()
    for _ in range(data.draw(st.integers(0, 4))):
        if len(scores) == 0:
            break
        row = data.draw(st.integers(0, len(scores) - 1))
        target = data.draw(st.sampled_from(["box", "score", "keypoint"]))
        value = data.draw(_bad)
        if target == "box":
            boxes[row, data.draw(st.integers(0, 3))] = value
        elif target == "score":
            scores[row] = value
        else:
            keypoints[row, data.draw(st.integers(0, 5)), data.draw(st.integers(0, 1))] = value
    bad = faces(boxes, scores, keypoints)
    out = RESOLVERS[method](bad, 0.3)
    assert len(out) <= len(bad)
    assert len(resolve_frames(bad, method, 0.3, max_faces=2)) <= min(2, len(bad))


@settings(max_examples=200, deadline=None)
@given(candidates=candidate_sets(max_size=8), value=st.sampled_from([np.nan, np.inf, -np.inf]),
       column=st.integers(0, 3))
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_property_bad_box_does_not_spoil_other_faces(candidates: Detections, value: float,
                                                     column: int) -> None:
    """One candidate with a non-finite coordinate must leave the faces of finite clusters as
    they would be without it: one broken anchor must not turn every face of the frame to NaN
    (``0 * NaN`` in a weighted sum over all candidates would).
    """
    bad_box = np.array([[0.4, 0.4, 0.6, 0.6]], np.float32)
    bad_box[0, column] = value
    spoiled = Detections.merge([candidates, faces(bad_box, [0.5])])
    out = blend(spoiled, 0.3)
    finite = np.isfinite(out.boxes).all(axis=1)
    np.testing.assert_allclose(canonical(out[finite]), canonical(blend(candidates, 0.3)),
                               rtol=0, atol=1e-6)


def test_zero_score_cluster_blends_to_a_finite_box() -> None:
    """With ``--threshold 0`` the short model passes anchors whose score is exactly 0 (logits
    below about -88 on dark frames): such a cluster has no weight, and 0/0 must not make NaN."""
    candidates = faces([[0, 0, 10, 10], [1, 1, 11, 11]], [0.0, 0.0])
    out = blend(candidates, 0.3)
    assert len(out) == 1
    assert np.isfinite(out.boxes).all() and np.isfinite(out.keypoints).all()
    assert (out.boxes[0] >= [0, 0, 10, 10]).all() and (out.boxes[0] <= [1, 1, 11, 11]).all()


@settings(max_examples=150, deadline=None)
@given(frames=st.lists(candidate_sets(max_size=8), min_size=1, max_size=5),
       method=st.sampled_from(sorted(RESOLVERS)), iou=st.sampled_from([0.1, 0.3, 0.7]),
       max_faces=st.sampled_from([None, 1, 2]), seed=st.integers(0, 2**32 - 1))
def test_property_a_batch_resolves_like_each_frame_alone(frames: list[Detections], method: str,
                                                         iou: float, max_faces: int | None,
                                                         seed: int) -> None:
    """All frames of a batch are clustered at once; each must come out as if it were alone."""
    parts = [f.replace(frame_index=np.full(len(f), 3 * i)) for i, f in enumerate(frames)]
    batch = Detections.merge(parts)
    shuffled = batch[np.random.default_rng(seed).permutation(len(batch))]
    together = resolve_frames(shuffled, method, iou, max_faces)
    alone = Detections.merge([RESOLVERS[method](p, iou)[:max_faces] for p in parts])
    assert together.frame_index.tolist() == alone.frame_index.tolist()
    np.testing.assert_array_equal(together.scores, alone.scores)
    np.testing.assert_allclose(together.boxes, alone.boxes, rtol=0, atol=1e-6)
    np.testing.assert_allclose(together.keypoints, alone.keypoints, rtol=0, atol=1e-6)


def test_greedy_pairs_best_first_one_to_one_row_major_ties() -> None:
    score = np.array([[0.9, 0.8, 0.0],
                      [0.95, 0.1, 0.0],
                      [0.5, 0.5, 0.5]])
    allowed = score > 0.2
    rows, cols = greedy_pairs(score, allowed)
    assert list(zip(rows.tolist(), cols.tolist(), strict=False)) == [(1, 0), (0, 1), (2, 2)]
    rows, cols = greedy_pairs(np.full((2, 2), 0.5), np.ones((2, 2), bool))  # ties: row-major
    assert list(zip(rows.tolist(), cols.tolist(), strict=False)) == [(0, 0), (1, 1)]
    for shape in ((0, 3), (3, 0)):
        rows, cols = greedy_pairs(np.zeros(shape), np.zeros(shape, bool))
        assert rows.shape == cols.shape == (0,) and rows.dtype == np.int64


# --- a plain-loop reference of blending ---------------------------------------------------------


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two xyxy boxes, in float32 as the candidates are."""
    w = max(np.float32(0), min(a[2], b[2]) - max(a[0], b[0]))
    h = max(np.float32(0), min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    area_a = max(np.float32(0), a[2] - a[0]) * max(np.float32(0), a[3] - a[1])
    area_b = max(np.float32(0), b[2] - b[0]) * max(np.float32(0), b[3] - b[1])
    union = area_a + area_b - inter
    return float(inter / union) if union > 0 else 0.0


def reference_blend(candidates: Detections, iou_threshold: float) -> Detections:
    """MediaPipe's WEIGHTED non-max suppression, one frame and one candidate at a time: take the
    best remaining candidate, gather every remaining one whose IoU with it exceeds the threshold
    (itself included), output their score-weighted mean box and keypoints with its score."""
    keys = np.concatenate([candidates.boxes, candidates.keypoints.reshape(-1, 12)], axis=1)
    out_boxes, out_points, out_scores, out_frames = [], [], [], []
    for frame in sorted(set(candidates.frame_index.tolist())):
        members = [k for k in range(len(candidates)) if candidates.frame_index[k] == frame]
        remaining = sorted(members, key=lambda k: (-candidates.scores[k], *keys[k].tolist()))
        while remaining:
            leader = remaining[0]
            group = [k for k in remaining
                     if k == leader or _iou(candidates.boxes[leader], candidates.boxes[k]) > iou_threshold]
            remaining = [k for k in remaining if k not in group]
            weights = [float(candidates.scores[k]) for k in group]
            if sum(weights) <= 0:
                weights = [1.0] * len(group)
            total = sum(weights)
            box = [sum(w * float(candidates.boxes[k][i]) for w, k in zip(weights, group, strict=True)) / total
                   for i in range(4)]
            pairs = list(zip(weights, group, strict=True))
            points = [[sum(w * float(candidates.keypoints[k][p][d]) for w, k in pairs) / total
                       for d in range(2)] for p in range(6)]
            out_boxes.append(box)
            out_points.append(points)
            out_scores.append(candidates.scores[leader])
            out_frames.append(frame)
    return Detections(np.array(out_boxes).reshape(-1, 4), np.array(out_points).reshape(-1, 6, 2),
                      np.array(out_scores, np.float32), np.array(out_frames, np.int64))


def random_candidates(rng: np.random.Generator, frames: int, per_frame: int) -> Detections:
    """Boxes scattered around a few face positions per frame, so that clusters overlap."""
    n = frames * per_frame
    centres = rng.uniform(0.2, 0.8, (frames, 3, 2))[np.repeat(np.arange(frames), per_frame),
                                                     rng.integers(0, 3, n)]  # (n, 2)
    centres += rng.normal(0, 0.03, (n, 2))
    half = rng.uniform(0.05, 0.15, (n, 1))
    boxes = np.concatenate([centres - half, centres + half], axis=1)
    keypoints = centres[:, None, :] + rng.normal(0, 0.02, (n, 6, 2))
    scores = rng.uniform(0.5, 1.0, n).astype(np.float32)
    scores[rng.random(n) < 0.05] = 0.0  # some all-zero clusters take a plain mean
    return Detections(boxes, keypoints, scores, np.repeat(np.arange(frames), per_frame))


@pytest.mark.parametrize("seed", range(40))
def test_blend_equals_the_plain_loop_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    candidates = random_candidates(rng, frames=int(rng.integers(1, 4)), per_frame=int(rng.integers(1, 12)))
    threshold = float(rng.choice([0.1, 0.3, 0.5]))
    got, want = blend(candidates, threshold), reference_blend(candidates, threshold)
    np.testing.assert_array_equal(got.frame_index, want.frame_index)
    np.testing.assert_array_equal(got.scores, want.scores)
    np.testing.assert_allclose(got.boxes, want.boxes, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got.keypoints, want.keypoints, rtol=0, atol=1e-6)


@pytest.mark.parametrize("pairs", [1, 7, 150])
def test_clusters_are_the_same_computed_in_small_steps(monkeypatch: pytest.MonkeyPatch, pairs: int) -> None:
    candidates = random_candidates(np.random.default_rng(pairs), frames=3, per_frame=11)
    want = cluster(candidates, 0.3)
    monkeypatch.setattr(ties, "PAIRS_AT_ONCE", pairs)  # a frame in row steps, or frames at once
    got = cluster(candidates, 0.3)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_strongest_keeps_the_best_of_each_crowded_frame() -> None:
    scores = np.array([0.5, 0.9, 0.7, 0.8, 0.6, 0.95], np.float32)
    candidates = faces([[i, i, i + 5, i + 5] for i in range(6)], scores, frame_index=[0, 0, 0, 1, 1, 2])
    kept = strongest(candidates, limit=2)
    assert kept.frame_index.tolist() == [0, 0, 1, 1, 2]
    assert kept.scores.tolist() == pytest.approx([0.9, 0.7, 0.8, 0.6, 0.95])  # input order kept
    assert strongest(candidates, limit=3) is candidates


def test_every_anchor_of_a_tiled_photo_resolves_in_bounded_memory() -> None:
    # Threshold 0 on a photo's tiles makes every anchor of every tile a candidate (138,240 on a
    # 1126x661 photo): their pairwise overlaps alone would take 142 GiB.
    rng = np.random.default_rng(0)
    n = 138_240
    corner = rng.uniform(0, 1100, (n, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(10, 40, (n, 1))], axis=1)
    candidates = faces(boxes, rng.uniform(0, 1, n).astype(np.float32), frame_index=np.zeros(n, np.int64))
    out = resolve_frames(candidates, "blend", 0.3)
    assert 0 < len(out) <= MAX_CANDIDATES_PER_FRAME
    assert out.scores[0] == candidates.scores.max()
