"""The temporal stage on synthetic tracks with known truth, and on a clip with a known path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from blazecli.detections import Detections
from blazecli.errors import InvalidOptionError
from blazecli.temporal.tracking import Tracker, TrackerOptions

FPS = 30.0
# A face template: box 100 px, keypoints at fixed offsets from the top-left corner.
_KEYPOINTS = np.array([[30, 40], [70, 40], [50, 60], [50, 80], [5, 45], [95, 45]], np.float64)


def face_at(x: float, y: float, size: float = 100.0) -> np.ndarray:
    """16-vector (box, keypoints) of a face whose box starts at (x, y)."""
    scale = size / 100.0
    return np.concatenate([[x, y, x + size, y + size], (_KEYPOINTS * scale + [x, y]).ravel()])


def frames_of(vectors: list[list[np.ndarray]], scores: float = 0.9) -> list[Detections]:
    """One Detections per frame from lists of 16-vectors."""
    out = []
    for i, faces in enumerate(vectors):
        v = np.array(faces, np.float64).reshape(-1, 16)
        out.append(Detections(v[:, :4], v[:, 4:].reshape(-1, 6, 2), np.full(len(v), scores),
                              np.full(len(v), i)))
    return out


def run(frames: list[Detections], batch: int = 1, every: int = 1,
        options: TrackerOptions | None = None) -> Detections:
    """Feed frames (every ``every``th) to a tracker in batches; return all its output."""
    tracker = Tracker(options)
    chosen = list(range(0, len(frames), every))
    out = []
    for begin in range(0, len(chosen), batch):
        indices = np.array(chosen[begin:begin + batch])
        faces = Detections.merge([frames[i] for i in indices])
        out.append(tracker.update(faces, indices, indices / FPS))
    return Detections.merge(out)


def vectors(faces: Detections) -> np.ndarray:
    return np.concatenate([faces.boxes, faces.keypoints.reshape(-1, 12)], axis=1)


def test_static_face_with_noise_gets_steadier() -> None:
    rng = np.random.default_rng(0)
    truth = face_at(200, 100)
    noisy = [[truth + rng.normal(0, 1.5, 16)] for _ in range(120)]
    out = run(frames_of(noisy))
    raw_error = np.sqrt(np.mean((np.array(noisy)[:, 0] - truth)[20:] ** 2))
    smooth_error = np.sqrt(np.mean((vectors(out) - truth)[20:] ** 2))
    assert (out.track_id == 0).all()
    assert smooth_error < 0.5 * raw_error, (raw_error, smooth_error)


@pytest.mark.parametrize("every", [1, 3])
def test_constant_speed_lags_at_most_one_frame_of_motion(every: int) -> None:
    speed = 4.0  # px per frame
    truth = [face_at(50 + speed * i, 80) for i in range(90)]
    out = run(frames_of([[v] for v in truth]), every=every)
    step = speed * every
    lag = np.abs(vectors(out)[:, 0] - np.array(truth)[out.frame_index, 0])
    assert lag[10:].max() <= step, lag[10:].max()
    assert (out.track_id == 0).all()


def test_two_faces_crossing_keep_their_ids() -> None:
    frames = [[face_at(20 + 5 * i, 100), face_at(420 - 5 * i, 160)] for i in range(80)]
    out = run(frames_of(frames))
    left_to_right = out.track_id[out.boxes[:, 1] < 130]
    right_to_left = out.track_id[out.boxes[:, 1] >= 130]
    assert len(set(left_to_right)) == 1 and len(set(right_to_left)) == 1
    assert set(left_to_right) != set(right_to_left)


def test_short_gap_keeps_id_and_fill_gaps_interpolates() -> None:
    path = [face_at(100 + 2 * i, 100) for i in range(30)]
    frames = [[v] if i not in (10, 11) else [] for i, v in enumerate(path)]
    out = run(frames_of(frames), batch=4, options=TrackerOptions(fill_gaps=True, smooth=False))
    assert set(out.track_id) == {0}
    filled = out[out.interpolated]
    assert sorted(filled.frame_index.tolist()) == [10, 11]
    np.testing.assert_allclose(vectors(filled)[np.argsort(filled.frame_index)],
                               np.array(path)[[10, 11]], atol=1e-6)
    assert len(out) == 30


def test_face_leaving_for_long_and_coming_back_gets_a_new_id() -> None:
    frames = [[face_at(100, 100)] if i < 10 or i >= 20 else [] for i in range(30)]
    out = run(frames_of(frames))
    assert set(out.track_id[out.frame_index < 10]) == {0}
    assert set(out.track_id[out.frame_index >= 20]) == {1}


def test_scene_cut_starts_a_new_track_instead_of_dragging() -> None:
    frames = [[face_at(50, 50)] if i < 15 else [face_at(500, 300)] for i in range(30)]
    out = run(frames_of(frames))
    after = out[out.frame_index >= 15]
    assert set(after.track_id) == {1}
    np.testing.assert_allclose(vectors(after)[0], face_at(500, 300))  # no pull from the old place


def test_ids_are_unique_and_never_reused() -> None:
    frames = [[face_at(100 * (i % 3), 0)] if i % 5 else [] for i in range(40)]
    out = run(frames_of(frames), options=TrackerOptions(max_missed=0))
    for track in np.unique(out.track_id):
        seen = out.frame_index[out.track_id == track]
        assert np.all(np.diff(np.sort(seen)) == 1)  # one unbroken run per id


def test_result_does_not_depend_on_batch_size() -> None:
    rng = np.random.default_rng(1)
    frames = [[face_at(100 + 3 * i, 90) + rng.normal(0, 1, 16), face_at(400, 80) + rng.normal(0, 1, 16)]
              for i in range(40)]
    reference = run(frames_of(frames), batch=1)
    for batch in (3, 8, 40):
        other = run(frames_of(frames), batch=batch)
        np.testing.assert_array_equal(other.track_id, reference.track_id)
        np.testing.assert_allclose(vectors(other), vectors(reference))


def test_no_smooth_keeps_coordinates_but_assigns_ids() -> None:
    rng = np.random.default_rng(2)
    frames = [[face_at(200, 100) + rng.normal(0, 2, 16)] for _ in range(10)]
    out = run(frames_of(frames), options=TrackerOptions(smooth=False))
    np.testing.assert_allclose(vectors(out), np.array(frames)[:, 0], rtol=1e-6)
    assert (out.track_id == 0).all()


def test_bad_options_are_user_errors() -> None:
    with pytest.raises(InvalidOptionError):
        TrackerOptions(min_cutoff=0)
    with pytest.raises(InvalidOptionError):
        TrackerOptions(beta=-1)


def test_moving_photo_smoothed_error_to_truth_is_below_raw(tmp_path: Path) -> None:
    """A still photo moved along a known sub-pixel path (pan and zoom) with the real detector."""
    from clips import astronaut_head, write_clip

    from blazecli.inference.detector import FaceDetector
    from blazecli.jobs.detect import VideoJob

    head = astronaut_head(240)
    frames = 60

    def pose(i: int) -> tuple[float, float, float]:
        scale = 0.7 + 0.15 * i / frames  # slow zoom in
        return 40 + 1.3 * i, 20 + 0.3 * i, scale  # pan right and a little down

    def frame_at(i: int) -> np.ndarray:
        x, y, scale = pose(i)
        h = round(head.shape[0] * scale)
        w = round(head.shape[1] * scale)
        rows = np.minimum((np.arange(h) / scale).astype(int), head.shape[0] - 1)
        cols = np.minimum((np.arange(w) / scale).astype(int), head.shape[1] - 1)
        out = np.full((288, 384, 3), 90, np.uint8)
        out[round(y):round(y) + h, round(x):round(x) + w] = head[rows][:, cols]
        return out

    clip = write_clip(tmp_path / "moving.mp4", frame_at, frames, fps=30, options={"crf": "12"})
    detector = FaceDetector(device="cpu")
    def keypoints_of(tracking: TrackerOptions) -> Detections:
        job = VideoJob(str(clip), detector, tracking=tracking)
        faces = Detections.merge([b.faces for b in job.batches()])
        assert len(faces) == frames and len(set(faces.track_id)) == 1
        return faces[np.argsort(faces.frame_index)]

    raw = keypoints_of(TrackerOptions(smooth=False))
    # Truth: the path is known exactly; where the keypoints sit on the photo is estimated once,
    # as the mean over all frames of the raw keypoints mapped back to photo coordinates.
    poses = np.array([pose(i) for i in range(frames)])  # (F, 3): x, y, scale
    origin, scale = np.round(poses[:, None, :2]), poses[:, None, 2:]
    local = ((raw.keypoints - origin[raw.frame_index]) / scale[raw.frame_index]).mean(axis=0)
    truth = local[None] * scale + origin  # (F, 6, 2)
    iod = np.linalg.norm(truth[:, 0] - truth[:, 1], axis=1)[:, None]

    def error(faces: Detections) -> float:
        i = faces.frame_index
        relative = np.linalg.norm(faces.keypoints - truth[i], axis=2) / iod[i]  # (N, 6)
        return float(np.sqrt(np.mean(relative[i >= 5] ** 2)))

    raw_error = error(raw)
    smooth_error = error(keypoints_of(TrackerOptions()))
    assert smooth_error < raw_error, (raw_error, smooth_error)


def test_a_size_change_or_time_going_back_ends_every_track() -> None:
    """A stream that switches resolution, or files joined end to end whose times restart:
    coordinates and times on either side do not compare, so no track or filter spans them."""
    tracker = Tracker(TrackerOptions())
    faces = Detections.merge(frames_of([[face_at(100 + 2 * i, 100)] for i in range(6)]))
    index = np.arange(6)
    times = np.array([0.0, 0.04, 0.08, 0.12, 0.04, 0.08])  # restarts at frame 4
    sizes = np.array([(320, 240)] * 2 + [(240, 240)] * 4)  # switches at frame 2
    tracked = tracker.update(faces, index, times, sizes)
    assert tracked.track_id.tolist() == [0, 0, 1, 1, 2, 2]
    # A fresh track starts from the detection itself: no smoothing across the break.
    np.testing.assert_allclose(tracked.boxes[[2, 4]], faces.boxes[[2, 4]])


def test_temporal_stage_takes_batches_longer_than_its_memory_of_frames() -> None:
    """A 300-frame batch (``--batch-size 512``) once lost the facts of its own first frames."""
    from blazecli.jobs.detect import TemporalStage

    count = 300
    faces = Detections.merge(frames_of([[face_at(100 + i, 100)] for i in range(count)]))
    index = np.arange(1000, 1000 + count)
    faces = faces.replace(frame_index=index[faces.frame_index])
    times = index / FPS
    widths, heights = np.full(count, 640, np.int32), np.full(count, 480, np.int32)
    batch = TemporalStage(TrackerOptions()).finish(index, times, widths, heights, faces)
    np.testing.assert_array_equal(batch.faces.frame_index, index)
    np.testing.assert_allclose(batch.face_time_s, times)
    np.testing.assert_array_equal(batch.face_height, heights)
    assert set(batch.faces.track_id) == {0}
