"""Tiled detection: small faces found, one face per face across seams, and none mode untouched."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from blazecli.detections import Detections
from blazecli.inference.detector import FaceDetector
from blazecli.inference.tiles import (
    MIN_FACE_PX,
    Tiling,
    tile_period,
    tile_regions,
    tiles_along,
    tiles_for_frame,
)
from blazecli.jobs.detect import TILES_PER_FRAME
from blazecli.media.selection import FrameSelection

FACE_IN_HEAD = (47, 52, 142, 147)  # the face box inside astronaut[30:260, 130:330], px


def paste_head(astronaut: np.ndarray, frame: np.ndarray, face_width: float,
               face_x: int, face_y: int) -> np.ndarray:
    """Paste the astronaut's head so that its face box is ``face_width`` wide at ``face_x, face_y``;
    returns that box."""
    scale = face_width / (FACE_IN_HEAD[2] - FACE_IN_HEAD[0])
    head = np.asarray(Image.fromarray(astronaut[30:260, 130:330]).resize(
        (round(200 * scale), round(230 * scale)), Image.Resampling.BILINEAR))
    x, y = round(face_x - FACE_IN_HEAD[0] * scale), round(face_y - FACE_IN_HEAD[1] * scale)
    frame[y:y + head.shape[0], x:x + head.shape[1]] = head
    return np.array([face_x, face_y, face_x + face_width, face_y + face_width], np.float32)


@pytest.mark.parametrize("text, expected", [("none", Tiling()), ("auto", Tiling("auto")),
                                            ("2x3", Tiling("grid", 2, 3)),
                                            (" 4X4 ", Tiling("grid", 4, 4))])
def test_parse(text: str, expected: Tiling) -> None:
    assert Tiling.parse(text) == expected


@pytest.mark.parametrize("text", ["", "1x1", "0x2", "2x", "x3", "17x2", "many",
                                  "\uff12x\uff12"])  # the last: full-width digits
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="tiles"):
        Tiling.parse(text)


@pytest.mark.parametrize("width, height", [(1280, 720), (640, 360), (500, 375), (1920, 1080),
                                           (720, 1280), (3840, 2160)])
def test_auto_tiles_cover_the_frame_finely_enough(width: int, height: int) -> None:
    fraction = 0.08
    regions = tile_regions(width, height, Tiling("auto"), fraction, still=True)  # both grids
    smallest = max(MIN_FACE_PX, max(width, height) / 64)
    assert len(regions)
    x, y, w, h = regions.T
    assert (w * fraction <= smallest + 1).all() and (h * fraction <= smallest + 1).all()
    inside = (x >= 0) & (y >= 0) & (x + w <= width) & (y + h <= height)
    first = regions[:np.argmin(inside)]  # the first grid lies on the frame; the staggered one,
    assert len(first) and not inside[len(first)]  # after it, starts past the frame's corner
    covered = np.zeros((height, width), bool)
    for rx, ry, rw, rh in first.tolist():
        covered[ry:ry + rh, rx:rx + rw] = True
    assert covered.all()
    staggered = regions[len(first):]
    step = np.diff(np.unique(first[:, 0]))[0] if len(np.unique(first[:, 0])) > 1 else w[0] * 0.75
    assert (staggered[:, 0] >= -step / 2 - 1).all() and (staggered[:, 0] + w[0] <= width + step / 2 + 1).all()


def test_staggered_grid_holds_the_first_grids_seams_inside_its_tiles() -> None:
    """Each seam of the first grid, and each edge of the frame, lies well inside a staggered tile."""
    regions = tile_regions(1280, 720, Tiling("auto"), 0.08, still=True)
    side = int(regions[0, 2])
    inside = (regions[:, 0] >= 0) & (regions[:, 0] + side <= 1280)
    first = np.unique(regions[(regions[:, 1] == 0) & inside, 0])
    staggered = np.unique(regions[~inside | (regions[:, 1] < 0), 0])
    lines = np.concatenate([[0, 1280], first + side, first[1:]])  # frame edges, tile borders
    for line in lines.tolist():
        depth = np.minimum(line - staggered, staggered + side - line)  # inside a staggered tile
        assert depth.max() >= side / 4, line


def test_auto_skips_small_frames() -> None:
    assert len(tile_regions(160, 120, Tiling("auto"), 0.08)) == 0
    assert len(tile_regions(1280, 720, Tiling(), 0.08)) == 0


def test_grid_has_rows_times_columns() -> None:
    regions = tile_regions(1280, 720, Tiling("grid", 2, 3), 0.08)
    assert len(regions) == 6
    assert regions[:, 2].max() == round(1280 / 3 * 1.25)


@pytest.mark.parametrize("tiles, per_frame", [(40, 2), (6, 2), (1, 2), (7, 7)])
def test_period_visits_every_tile_once(tiles: int, per_frame: int) -> None:
    period = tile_period(tiles, per_frame)
    later = range(period, 2 * period)  # the first frame runs more (below)
    visited = np.concatenate([tiles_for_frame(tiles, period, n) for n in later])
    assert sorted(visited.tolist()) == list(range(tiles))
    assert max(len(tiles_for_frame(tiles, period, n)) for n in later) <= per_frame
    # A frame that opens a shot (the first, the first after a cut) runs every tile.
    assert tiles_for_frame(tiles, period, 0, opening=True).tolist() == list(range(tiles))
    assert tiles_for_frame(tiles, period, period).tolist() == list(range(0, tiles, period))
    assert tiles_for_frame(tiles, period, period + 1, opening=True).tolist() == list(range(tiles))


@pytest.mark.parametrize("width, height", [(640, 360), (1280, 720), (1920, 1080), (480, 640)])
def test_a_video_visits_the_staggered_grid_a_photo_both(width: int, height: int) -> None:
    """A video's grid covers the frame once and reaches past each edge by half a step, so
    that the frame's edge lies inside its outer tiles; a photo's tiles are that grid and the
    one that starts at the frame's corner."""
    video = tile_regions(width, height, Tiling("auto"), 0.08)
    photo = tile_regions(width, height, Tiling("auto"), 0.08, still=True)
    x, y, w, h = video.T
    step = np.diff(np.unique(x))[0]
    assert x.min() == -round(step / 2) and (x + w).max() - width == pytest.approx(step / 2, abs=1)
    assert y.min() < 0 and (y + h).max() > height
    covered = np.zeros((height, width), bool)
    for left, top, side_w, side_h in video.tolist():
        covered[max(top, 0):top + side_h, max(left, 0):left + side_w] = True
    assert covered.all()
    corner = photo[:np.argmax(photo[:, 0] < 0)]  # the staggered grid follows, from past the corner
    assert len(corner) and (corner[:, :2] >= 0).all()
    assert (corner[:, 0] + corner[:, 2] <= width).all() and (corner[:, 1] + corner[:, 3] <= height).all()
    if photo[0, 2] == video[0, 2]:  # where both find the same smallest faces (not 1080p: 20 px, not 30)
        np.testing.assert_array_equal(photo[len(corner):], video)


@pytest.fixture(scope="module")
def tiled() -> FaceDetector:
    return FaceDetector(model="full", tiles="auto")


def test_the_cpu_runs_a_batch_in_parts_that_fit_its_caches(astronaut: np.ndarray, tiled: FaceDetector,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Four full-range inputs a run (a 192 px input's activations outgrow the caches in runs
    of 8), with the candidates of one run of all of them."""
    samples = np.stack([tiled.sample(np.roll(astronaut, 8 * k, axis=1)) for k in range(10)])
    sizes: list[int] = []
    run = tiled.session.run
    monkeypatch.setattr(tiled.session, "run", lambda part: sizes.append(len(part)) or run(part))
    parts = tiled.candidates(samples, at_once=1)
    assert sizes == [4, 4, 2]
    monkeypatch.setattr(FaceDetector, "run_size", property(lambda self: 10))
    assert tiled.candidates(samples, at_once=1) == parts and sizes[3:] == [10]
    assert len(np.unique(parts.frame_index)) == 10  # the face in each


def test_small_face_found_with_tiles_only(astronaut: np.ndarray, tiled: FaceDetector) -> None:
    frame = np.full((720, 1280, 3), 120, np.uint8)
    truth = paste_head(astronaut, frame, 28, 900, 400)
    assert len(FaceDetector(model="full").detect_image(frame)) == 0
    faces = tiled.detect_image(frame)
    assert len(faces) == 1
    assert np.abs(faces.boxes[0] - truth).max() < 0.25 * 28


def test_a_photo_takes_a_finer_grid_than_a_video_frame(cli, tmp_path: Path, astronaut: np.ndarray,
                                                      tiled: FaceDetector) -> None:
    """Its tiles all run once: a 25 px face in a 2600 px photo was below the video grid's floor
    (1/64 of the long side, 41 px), and stayed showing in a hidden photo."""
    video = tile_regions(2600, 1950, Tiling("auto"), 0.08)
    still = tile_regions(2600, 1950, Tiling("auto"), 0.08, still=True)
    assert video[0, 2] * 0.08 == pytest.approx(2600 / 64, abs=1)
    assert still[0, 2] * 0.08 == pytest.approx(MIN_FACE_PX, abs=1)
    frame = np.full((1950, 2600, 3), 120, np.uint8)
    truth = paste_head(astronaut, frame, 25, 1700, 900)
    assert len(tiled.detect([frame])[0]) == 0  # as a video frame
    faces = tiled.detect_image(frame)
    assert len(faces) == 1 and np.abs(faces.boxes[0] - truth).max() < 0.25 * 25
    photo = tmp_path / "group.png"
    Image.fromarray(frame).save(photo)
    assert cli("detect", str(photo), "-o", str(tmp_path / "faces.csv"), "--tiles", "auto").exit_code == 0
    assert len(pd.read_csv(tmp_path / "faces.csv")) == 1


@pytest.mark.parametrize("face_width", [30, 60, 90])
def test_face_across_a_seam_is_one_detection(astronaut: np.ndarray, tiled: FaceDetector,
                                             face_width: int) -> None:
    regions = tiled.tile_regions(1280, 720, still=True)  # as detect_image cuts a photo
    seam = int(regions[1, 0])  # the second column starts inside the first
    frame = np.full((720, 1280, 3), 120, np.uint8)
    truth = paste_head(astronaut, frame, face_width, seam - face_width // 2, 300)
    faces = tiled.detect_image(frame)
    assert len(faces) == 1
    assert np.abs(faces.boxes[0] - truth).max() < 0.25 * face_width


def test_tiles_none_is_the_untiled_detector(astronaut: np.ndarray) -> None:
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[100:612, 300:812] = astronaut
    plain = FaceDetector(model="full").detect_image(frame)
    none = FaceDetector(model="full", tiles="none").detect_image(frame)
    assert len(plain) == 1 and plain == none


def test_big_face_with_tiles_stays_one_face(astronaut: np.ndarray, tiled: FaceDetector) -> None:
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[100:612, 300:812] = astronaut
    plain = FaceDetector(model="full").detect_image(frame)
    faces = tiled.detect_image(frame)
    assert len(faces) == 1
    # one blended face where the whole frame and the tiles each saw it (tiles see it finer)
    assert np.abs(faces.boxes - plain.boxes).max() < 0.15 * (plain.boxes[0, 2] - plain.boxes[0, 0])


@pytest.fixture(scope="module")
def small_face_clip(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray):
    """12 frames of 640x360 with one face 26 px wide: too small for the whole frame's view."""
    from clips import write_clip

    frame = np.full((360, 640, 3), 110, np.uint8)
    truth = paste_head(astronaut, frame, 26, 420, 150)
    path = write_clip(tmp_path_factory.mktemp("tiles") / "small.mp4", lambda i: frame, 12)
    return path, truth


def _rows(clip, *options: str):
    from blazecli.inference.detector import DetectorOptions
    from blazecli.jobs.detect import VideoJob
    from blazecli.temporal.tracking import TrackerOptions

    tiles = options[0] if options else "none"
    job = VideoJob(str(clip), FaceDetector(DetectorOptions(model="full", tiles=tiles)),
                   tracking=TrackerOptions(smooth=False, fill_gaps=True))
    try:
        return [batch for batch in job.batches()], job
    finally:
        job.close()


def test_video_tiles_find_the_small_face_in_every_frame(small_face_clip) -> None:
    clip, truth = small_face_clip
    batches, _ = _rows(clip)
    assert sum(len(b.faces) for b in batches) == 0
    batches, job = _rows(clip, "auto")
    faces = [b.faces for b in batches]
    frames = np.concatenate([f.frame_index for f in faces])
    # found where its tile ran, held by the tracker (filled gaps) in the frames between
    assert sorted(frames.tolist()) == list(range(12))
    boxes = np.concatenate([f.boxes for f in faces])
    assert np.abs(boxes - truth).max() < 0.3 * 26
    assert len(set(np.concatenate([f.track_id for f in faces]).tolist())) == 1
    assert 0 < job.tiles_per_frame <= 3


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core runs one batch at a time")
def test_video_batches_run_side_by_side_with_tiles(small_face_clip) -> None:
    """A tiled video runs two batches at once, each on its share of the threads: the same rows
    as one at a time."""
    import threading
    import time

    from blazecli.inference.detector import DetectorOptions
    from blazecli.jobs.detect import VideoJob

    clip, _ = small_face_clip
    rows = []
    for threads in (None, 1):
        detector = FaceDetector(DetectorOptions(model="full", tiles="auto", threads=threads))
        running, most = [0], [0]
        lock, run = threading.Lock(), detector.session.run

        def counted(samples, run=run, running=running, most=most, lock=lock):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.05)  # long enough for the next batch to start beside this one
            try:
                return run(samples)
            finally:
                with lock:
                    running[0] -= 1

        detector.session.run = counted  # type: ignore[method-assign]
        job = VideoJob(str(clip), detector, batch_size=2)
        try:
            rows.append(face_rows(job.batches()))
        finally:
            job.close()
        assert most[0] == (2 if threads is None else 1)
    np.testing.assert_array_equal(rows[0], rows[1])


def face_rows(batches) -> np.ndarray:
    """Frame index, score and box of every face of a job, in order."""
    faces = [b.faces for b in batches]
    return np.concatenate([np.c_[f.frame_index, f.scores, f.boxes] for f in faces])


def test_open_video_holds_frames_for_gaps_filled_a_tile_period_back(tmp_path, astronaut) -> None:
    """At 720p a tile comes back every few frames: faces the tracker fills into the gaps land in
    their own frames, also across batches."""
    from clips import write_clip

    import blazecli
    from blazecli.temporal.tracking import TrackerOptions

    frame = np.full((720, 1280, 3), 110, np.uint8)
    paste_head(astronaut, frame, 28, 700, 400)
    clip = write_clip(tmp_path / "small720.mp4", lambda i: frame, 30)
    with blazecli.open_video(str(clip), model="full", tiles="auto",
                             tracking=TrackerOptions(smooth=False, fill_gaps=True)) as video:
        frames = list(video)
    assert [f.index for f in frames] == list(range(30))
    seen = [len(f.faces) for f in frames]
    first, last = seen.index(1), len(seen) - 1 - seen[::-1].index(1)
    assert first <= 10 and all(n == 1 for n in seen[first:last + 1])
    assert all((f.faces.frame_index == f.index).all() for f in frames)


@pytest.mark.slow
def test_segment_threads_give_the_rows_of_one_pipeline_with_tiles(cli, tmp_path, astronaut) -> None:
    """Parts of a split video run the tiles one pipeline would run on the same frames."""
    from clips import write_clip

    frame = np.full((720, 1280, 3), 110, np.uint8)
    paste_head(astronaut, frame, 28, 700, 400)
    clip = write_clip(tmp_path / "long.mp4", lambda i: frame, 150, options={"g": "9"})
    outs = []
    for threads in ("1", "2"):
        out = tmp_path / f"t{threads}.parquet"
        assert cli("detect", str(clip), "-o", str(out), "--model", "full", "--tiles", "auto",
                   "--no-smooth", "--segment-threads", threads).exit_code == 0
        outs.append(pd.read_parquet(out).drop(columns=["track_id"]))
    assert len(outs[0]) > 0
    pd.testing.assert_frame_equal(outs[0], outs[1])


def test_tiles_cycle_through_frames_chosen_by_time(tmp_path, astronaut) -> None:
    """--fps picks frames whose indices may all share a phase with the tile period: the tiles
    still come round, by the count of frames processed."""
    from clips import write_clip

    import blazecli

    frame = np.full((720, 1280, 3), 110, np.uint8)
    paste_head(astronaut, frame, 28, 340, 600)  # whole only in tile 22 of 28 (period 10)
    clip = write_clip(tmp_path / "every10.mp4", lambda i: frame, 100)  # 25 fps
    with blazecli.open_video(str(clip), model="full", tiles="auto", tracking=False,
                             fps=2.5) as video:
        frames = list(video)
    assert [f.index for f in frames] == [*range(0, 100, 10), 99]  # 99 is nearest the 4.0 s tick
    assert sum(len(f.faces) for f in frames) >= 1


def edge_cut_face(astronaut: np.ndarray) -> np.ndarray:
    """A 720p frame with a 28 px face cut 12 px by its left edge: no tile of the first grid
    finds it (its face lies on their border), the second grid's edge tile does."""
    canvas = np.full((720, 1380, 3), 110, np.uint8)
    paste_head(astronaut, canvas, 28, 100 - 12, 300)
    return np.ascontiguousarray(canvas[:, 100:])


def test_the_first_frame_runs_every_tile(tmp_path, astronaut) -> None:
    """A small face in a moving shot was first found when its tile came round, up to a tile
    period in: by then it had moved, and the cover held back from there missed it at the start.
    A face the frame's edge cuts needs the second grid too."""
    from clips import write_clip

    import blazecli

    frame = edge_cut_face(astronaut)
    clip = write_clip(tmp_path / "small.mp4", lambda i: frame, 3)
    with blazecli.open_video(str(clip), model="full", tiles="auto", tracking=False) as video:
        frames = list(video)
    assert [len(f.faces) for f in frames] == [1, 0, 0]


@pytest.mark.parametrize("sweep", [True, False])
def test_a_sweeping_job_runs_every_tile_on_the_first_frame_after_a_start(tmp_path, astronaut,
                                                                         sweep: bool) -> None:
    """annotate --start: the first frame shown had no earlier round either. A job that is not
    swept runs the tiles of the frame's place in the video, as a split video's parts do."""
    from clips import write_clip

    from blazecli.jobs.detect import VideoJob

    frame = edge_cut_face(astronaut)
    clip = write_clip(tmp_path / "small.mp4", lambda i: frame, 8)  # 25 fps
    job = VideoJob(str(clip), FaceDetector(model="full", tiles="auto"), keep_frames=True,
                   selection=FrameSelection(start_s=0.2), sweep_new_views=sweep)
    with job:
        faces = [(batch.index.tolist(), batch.faces.frame_index.tolist()) for batch in job.batches()]
    assert faces[0][0][0] == 5
    assert (5 in faces[0][1]) is sweep, faces


@pytest.mark.parametrize("sweep", [True, False])
def test_the_first_frame_after_a_cut_runs_a_grid_of_tiles_when_asked(tmp_path, astronaut, sweep: bool) -> None:
    """A small face in the first frame of a new shot waited for its tile to come round; frames
    before then held no mask where it was, once it had moved or left. annotate sweeps cuts."""
    from clips import write_clip

    from blazecli.jobs.detect import VideoJob

    before = np.tile(np.linspace(40, 220, 1280).astype(np.uint8)[None, :, None], (720, 1, 3))
    after = np.full((720, 1280, 3), 110, np.uint8)
    paste_head(astronaut, after, 28, 100, 360)  # in none of the tiles frames 8-11 run on their own
    clip = write_clip(tmp_path / "cut.mp4", lambda i: before if i < 8 else after, 12,
                      options={"x264-params": "keyint=8:min-keyint=8:scenecut=0"})  # keyframes at 0 and 8
    job = VideoJob(str(clip), FaceDetector(model="full", tiles="auto"), keep_frames=True, sweep_new_views=sweep)
    with job:
        faces = Detections.merge(batch.faces for batch in job.batches())
    found = sorted(set(faces.frame_index.tolist()))
    assert (found[:1] == [8]) is sweep, found


@pytest.mark.parametrize("sweep", [True, False])
def test_a_cut_off_the_keyframes_is_swept_where_the_camera_is_next_measured(tmp_path, astronaut,
                                                                           sweep: bool) -> None:
    """An encoder that puts no keyframe at a cut: the frame the camera is next measured on
    (every 4th) finds the shot unlike the last and runs every tile."""
    from clips import write_clip

    from blazecli.jobs.detect import VideoJob

    before = np.tile(np.linspace(40, 220, 1280).astype(np.uint8)[None, :, None], (720, 1, 3))
    after = np.full((720, 1280, 3), 110, np.uint8)
    paste_head(astronaut, after, 28, 100, 360)  # in none of the tiles frames 9-11 run on their own
    clip = write_clip(tmp_path / "cut.mp4", lambda i: before if i < 9 else after, 14,
                      options={"x264-params": "keyint=100:scenecut=0"})  # one keyframe, at 0
    job = VideoJob(str(clip), FaceDetector(model="full", tiles="auto"), keep_frames=True, sweep_new_views=sweep)
    with job:
        faces = Detections.merge(batch.faces for batch in job.batches())
    found = sorted(set(faces.frame_index.tolist()))
    assert (found[:1] == [12]) is sweep, found


def test_sweeps_never_take_the_room_of_later_frames_in_a_batch(tmp_path) -> None:
    """Every frame a cut (noise, all keyframes): the sweeps that fit a batch run, the others
    wait, and each frame still runs its own tiles. They took the later frames' room, which
    failed the run once a batch had several."""
    from clips import write_clip

    from blazecli.jobs.detect import VideoJob

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (24, 400, 400, 3), dtype=np.uint8)
    clip = write_clip(tmp_path / "noise.mp4", lambda i: frames[i], 24, options={"x264-params": "keyint=1"})
    job = VideoJob(str(clip), FaceDetector(model="full", tiles="auto"), batch_size=8, sweep_new_views=True)
    with job:
        indices = [index for batch in job.batches() for index in batch.index.tolist()]
    assert indices == list(range(24))


def test_new_scenery_that_a_pan_brings_in_is_swept(tmp_path, astronaut) -> None:
    """A camera panning 16 px a frame brings a small face in at the right edge, whole from frame
    14 on: the tiles along that edge run once the new strip is half a tile wide, before the face's
    tile comes round (a face that enters and leaves between two rounds stayed showing)."""
    from clips import write_clip

    from blazecli.jobs.detect import VideoJob

    coarse = np.random.default_rng(0).uniform(60, 200, (40, 120, 3)).astype(np.uint8)
    scenery = np.array(Image.fromarray(coarse).resize((3200, 720)))  # texture: the pan is measurable
    paste_head(astronaut, scenery, 28, 1280 + 192, 400)
    clip = write_clip(tmp_path / "pan.mp4", lambda i: scenery[:, 16 * i:16 * i + 1280], 30)
    first_found = []
    for sweep in (True, False):
        job = VideoJob(str(clip), FaceDetector(model="full", tiles="auto"), keep_frames=True,
                       sweep_new_views=sweep)
        with job:
            faces = Detections.merge(batch.faces for batch in job.batches())
        first_found.append(int(faces.frame_index.min()))
    swept, waited = first_found
    assert 14 <= swept <= 18 < waited, first_found


def test_hiding_holds_a_tiled_face_two_tile_rounds_after_it_is_last_seen(cli, tmp_path,
                                                                         astronaut) -> None:
    """A small face only tiles find is seen once a round: after it leaves, its mask stays two
    rounds (``--cover`` is the lower bound), not just the 10 frames of the profile."""
    from clips import write_clip

    from blazecli.media.reader import VideoReader

    frame = np.full((720, 1280, 3), 110, np.uint8)
    empty = frame.copy()
    x0, y0, x1, y1 = paste_head(astronaut, frame, 28, 700, 400).round().astype(int).tolist()
    shown = 30
    clip = write_clip(tmp_path / "leaves.mp4", lambda i: frame if i < shown else empty, 90)
    out = tmp_path / "hidden.mp4"
    assert cli("annotate", str(clip), "-o", str(out), "--fill", "255,0,0").exit_code == 0
    period = tile_period(len(tile_regions(1280, 720, Tiling("auto"), 0.08)), TILES_PER_FRAME)
    with VideoReader(out) as reader:
        red = [int(f.to_rgb()[(y0 + y1) // 2, (x0 + x1) // 2, 0]) > 200 for f in reader.frames()]
    assert all(red[:shown])  # hidden while shown (found, or held between tile rounds)
    held = red.index(False)  # last seen in the last round it was shown, then held two rounds
    assert shown + 10 < shown - period + 2 * period <= held <= shown + 2 * period
    assert not any(red[held:])


def test_tiled_inference_takes_every_core_unless_told() -> None:
    """With tiles, inference is most of the work: it gets every core by default."""
    import os

    from blazecli.inference.session import default_threads

    cores = os.cpu_count() or 2
    assert default_threads(tiled=True) == cores
    assert default_threads() == max(1, cores // 2)
    tiled = FaceDetector(model="full", tiles="auto")
    runs = tiled.parallel_runs
    assert runs == min(cores, 2)  # two batches at once, each on half the threads
    assert tiled.session.inference.get_session_options().intra_op_num_threads * runs == cores - cores % runs
    alone = FaceDetector(model="full", tiles="auto", threads=1)
    assert (alone.session.inference.get_session_options().intra_op_num_threads, alone.parallel_runs) == (1, 1)


def test_annotate_gives_tiled_inference_every_core_and_untiled_half() -> None:
    """annotate encodes beside inference. Untiled, inference keeps to half the cores; tiled, it
    is most of the work (and the hiding profile's encoder is cheap) and takes every core, as
    detect's does. A thread count given is kept."""
    import os

    from blazecli.inference.detector import DetectorOptions
    from blazecli.jobs.annotate import AnnotateSettings, annotate_video
    from blazecli.outputs.draw import Anonymizer

    seen: list[int] = []

    def make(options: DetectorOptions) -> FaceDetector:
        detector = FaceDetector(options)
        threads = detector.session.inference.get_session_options().intra_op_num_threads
        seen.append(threads * detector.parallel_runs)
        return detector

    demo = str(Path(__file__).resolve().parents[1] / "examples" / "demo.mp4")
    cores = os.cpu_count() or 2
    for tiles, threads in (("auto", None), ("none", None), ("auto", 1)):
        settings = AnnotateSettings(detector=DetectorOptions(model="full", tiles=tiles, threads=threads),
                                    anonymizer=Anonymizer("blur"), draw=False, selection=FrameSelection(end_s=0.2))
        with tempfile.TemporaryDirectory() as tmp:
            annotate_video(demo, str(Path(tmp) / "out.mp4"), settings, make_detector=make)
    assert seen == [cores - cores % min(cores, 2), max(1, cores // 2), 1]


@pytest.mark.parametrize("options, model", [((), "short"), (("--tiles", "auto"), "full"),
                                            (("--tiles", "2x2", "--model", "short"), "short")])
def test_detect_with_tiles_uses_the_full_range_model_unless_told(cli, tmp_path, astronaut, options,
                                                                 model) -> None:
    """The short-range model, made for faces near a front camera, takes textures in tiles for
    faces: tiles go with the full-range model unless --model says otherwise."""
    import json

    photo = tmp_path / "photo.png"
    Image.fromarray(astronaut).save(photo)
    out = tmp_path / "faces.csv"
    assert cli("detect", str(photo), "-o", str(out), *options).exit_code == 0
    assert json.loads((tmp_path / "faces.csv.meta.json").read_text())["model"] == model


@pytest.mark.parametrize("width, height, grid", [(1, 1, "3x3"), (2, 2, "16x16"), (2, 40, "16x16"), (3, 1, "2x5")])
def test_a_grid_finer_than_the_frame_has_pixels_is_capped(width: int, height: int, grid: str) -> None:
    """A tiny image with a fine grid once crashed (a tile under a pixel: division by zero)."""
    regions = tile_regions(width, height, Tiling.parse(grid), 0.08)
    assert (regions[:, 2:] >= 1).all()
    faces = FaceDetector(model="full", tiles=grid).detect_image(np.full((height, width, 3), 128, np.uint8))
    assert len(faces) == 0


@pytest.mark.parametrize("given, stated", [("AUTO ", "auto"), (" 2 X 3", "2x3"), ("none", "none")])
def test_tiles_are_stated_in_their_canonical_form(given: str, stated: str) -> None:
    """The metadata and reports once carried ' 2 X 3' as typed."""
    from blazecli.inference.detector import DetectorOptions

    assert DetectorOptions(tiles=given).tiles == stated


@pytest.mark.parametrize("text, said", [("0x0", "1 to 16 rows and 1 to 16 columns"),
                                        ("100x100", "1 to 16 rows and 1 to 16 columns"),
                                        ("1x1", "1x1 is the whole frame")])
def test_a_refused_grid_says_why(text: str, said: str) -> None:
    """`--tiles 0x0` was told it is "not 1x1"."""
    with pytest.raises(ValueError, match=said):
        Tiling.parse(text)


@pytest.mark.parametrize(("strips", "expected"), [
    ((10, 0, 0, 0), [0, 2]), ((0, 0, 0, 10), [2, 3]), ((0, 5, 5, 0), [0, 1, 3]), ((0, 0, 0, 0), []),
    ((70, 0, 0, 0), [0, 1, 2, 3]),  # a strip wider than a tile reaches the next column
])
def test_tiles_along_the_edges_with_new_scenery(strips: tuple[int, ...], expected: list[int]) -> None:
    regions = np.array([[0, 0, 60, 60], [40, 0, 60, 60], [0, 40, 60, 60], [40, 40, 60, 60]])
    assert tiles_along(regions, np.array(strips, float), 100, 100).tolist() == expected
