"""Camera motion: the pan and zoom between frames, and held masks that move with them."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from blazecli.detections import Detections
from blazecli.media.reader import VideoReader
from blazecli.temporal.camera import (
    MOTION_EVERY,
    CameraPose,
    camera_motion,
    follow_camera,
    newly_shown,
    normalized,
)
from blazecli.temporal.cover import cover_faces

WIDTH, HEIGHT = 1280, 720
CORNERS = np.array([[0.0, 0.0], [WIDTH, HEIGHT], [WIDTH / 2, HEIGHT / 2]])


def scene(seed: int = 0) -> np.ndarray:
    """A textured scene (smooth noise, 0-255) larger than the frames that film it."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (30, 50))
    rows = np.linspace(0, coarse.shape[0] - 1.001, 1200)
    columns = np.linspace(0, coarse.shape[1] - 1.001, 2000)
    top, left = rows.astype(int), columns.astype(int)
    down, across = (rows - top)[:, None], (columns - left)[None]
    return ((coarse[top][:, left] * (1 - across) + coarse[top][:, left + 1] * across) * (1 - down)
            + (coarse[top + 1][:, left] * (1 - across) + coarse[top + 1][:, left + 1] * across) * down)


def filmed(texture: np.ndarray, scale: float, shift: tuple[float, float], block: int = 20) -> np.ndarray:
    """The frame a camera shows where scene point ``p`` appears at ``scale * p + shift`` (frame
    pixels), shrunk by ``block`` (each pixel the mean of its block), as a grey copy is."""
    ys = ((np.arange(HEIGHT) + 0.5 - shift[1]) / scale).astype(int).clip(0, texture.shape[0] - 1)
    xs = ((np.arange(WIDTH) + 0.5 - shift[0]) / scale).astype(int).clip(0, texture.shape[1] - 1)
    frame = texture[ys][:, xs]
    return frame.reshape(HEIGHT // block, block, WIDTH // block, block).mean(axis=(1, 3))


def motion(before: np.ndarray, after: np.ndarray) -> tuple[float, np.ndarray]:
    scales, shifts, _ = camera_motion(normalized(before)[None], normalized(after)[None], WIDTH, HEIGHT)
    return float(scales[0]), shifts[0]


@pytest.mark.parametrize(("zoom", "pan"), [(1.0, (40.0, -25.0)), (0.92, (60.0, 30.0)),
                                           (1.08, (-90.0, -50.0)), (0.97, (0.0, 0.0))])
def test_a_known_pan_and_zoom_is_found_to_within_two_pixels(zoom: float, pan: tuple[float, float]) -> None:
    texture = scene()
    before_pose = CameraPose(1.5, (-500.0, -300.0))
    after_pose = before_pose.then(zoom, pan)
    scale, shift = motion(filmed(texture, before_pose.scale, before_pose.shift),
                          filmed(texture, after_pose.scale, after_pose.shift))
    found = scale * CORNERS + shift
    true = zoom * CORNERS + np.array(pan)
    assert np.abs(found - true).max() < 2.0, (scale, shift)


def test_a_still_camera_gives_no_motion_at_all() -> None:
    frame = filmed(scene(), 1.2, (-300.0, -200.0))
    noisy = frame + np.random.default_rng(1).normal(0, 2, frame.shape)
    assert motion(frame, noisy) == (1.0, pytest.approx(np.zeros(2), abs=0))


def test_a_fade_is_not_motion() -> None:
    frame = filmed(scene(), 1.2, (-300.0, -200.0))
    scale, shift = motion(frame, frame * 0.3 + 10)
    assert scale == 1.0 and not shift.any()


def test_a_cut_gives_no_motion() -> None:
    scale, shift = motion(filmed(scene(0), 1.2, (-300.0, -200.0)), filmed(scene(7), 1.0, (-100.0, -50.0)))
    assert scale == 1.0 and not shift.any()


def test_flat_frames_give_no_motion_and_no_error() -> None:
    flat = np.full((36, 64), 128.0)
    assert motion(flat, flat) == (1.0, pytest.approx(np.zeros(2), abs=0))
    assert motion(flat, filmed(scene(), 1.0, (0.0, 0.0)))[0] == 1.0


def test_poses_map_to_the_scene_and_back() -> None:
    pose = CameraPose(2.0, (10.0, -4.0)).then(0.5, (3.0, 1.0))
    assert pose.scale == 1.0 and pose.shift == (8.0, -1.0)
    faces = Detections(np.arange(8, dtype=np.float32).reshape(2, 4) * [1, 1, 3, 3], np.ones((2, 6, 2)), np.ones(2))
    zoomed = CameraPose(2.0, (10.0, 0.0))
    in_scene = zoomed.to_scene_faces(faces)
    assert np.allclose(in_scene.boxes[1], [(4 - 10) / 2, 5 / 2, (18 - 10) / 2, 21 / 2])
    assert np.allclose(zoomed.to_frame_faces(in_scene).coordinates(), faces.coordinates())
    assert CameraPose().to_scene_faces(faces) is faces  # a still camera changes nothing, not by a rounding


def panning(frames: int, per_frame: float) -> tuple[list[np.ndarray], list[int]]:
    """Grey copies of a pan of ``per_frame`` pixels a frame to the left, and a log of the
    frames whose copy was asked for."""
    texture = scene()
    copies = [filmed(texture, 1.0, (-200.0 - per_frame * i, -100.0)) for i in range(frames)]
    return copies, []


def test_follow_camera_measures_every_few_frames_and_spreads_the_motion() -> None:
    copies, asked = panning(11, 6.0)

    def grey(i: int):
        def copy(pixels: int) -> np.ndarray:
            asked.append(i)
            return copies[i]
        return copy

    poses = list(follow_camera((i, (WIDTH, HEIGHT), grey(i)) for i in range(len(copies))))
    assert [i for i, _ in poses] == list(range(11))
    assert asked == [0, MOTION_EVERY, 2 * MOTION_EVERY, 10]  # and the last
    shifts = np.array([pose.shift[0] for _, pose in poses])
    assert np.abs(shifts - (-6.0 * np.arange(11))).max() < 1.5
    assert all(abs(pose.scale - 1) < 1e-3 for _, pose in poses)


def test_after_a_cut_between_two_measures_the_frames_still_follow_their_shot() -> None:
    """Frames 0-5 pan right over one scene, 6-8 left over another: the cut lies between two
    measured frames (0, 4, 8), and frames 7 and 8 still get the second pan."""
    first, second = scene(0), scene(9)
    copies = ([filmed(first, 1.0, (-200.0 - 6.0 * i, -100.0)) for i in range(6)]
              + [filmed(second, 1.0, (-300.0 + 8.0 * i, -100.0)) for i in range(3)])
    poses = [pose for _, pose in follow_camera(
        (i, (WIDTH, HEIGHT), lambda pixels, copy=copy: copy) for i, copy in enumerate(copies))]
    steps = np.diff([pose.shift[0] for pose in poses])
    assert np.abs(steps[:4] + 6.0).max() < 1.5  # frames 1-4: the first pan, measured once
    assert np.abs(steps[4] + 6.0) < 1.5 and steps[5] == 0.0  # then frame by frame: the cut is no motion
    assert np.abs(steps[6:] - 8.0).max() < 1.5, steps


def test_a_stream_that_switches_resolution_shows_the_same_scene_at_its_new_size() -> None:
    """Frames 0-4 at 1280x720, 5-8 the same still view at 1920x1080 (their grey copies alike):
    a mask held from a face seen before the switch lands on it after."""
    copy = filmed(scene(), 1.0, (-200.0, -100.0))
    sizes = [(WIDTH, HEIGHT)] * 5 + [(1920, 1080)] * 4
    poses = [pose for _, pose in follow_camera((i, size, lambda pixels: copy) for i, size in enumerate(sizes))]
    assert [pose.scale for pose in poses] == [1.0] * 5 + [1.5] * 4
    frames = [(i, i, face(1, 200.0, 0) if i == 0 else Detections.empty(), pose) for i, pose in enumerate(poses)]
    held = [faces for _, faces in cover_faces(iter(frames), 8)]
    assert [300.0, 150.0, 345.0, 195.0] in held[6].boxes.tolist()  # the face, at the new size


def test_a_stop_of_the_source_hands_over_the_frames_waiting_for_a_measure() -> None:
    copies, _ = panning(3, 6.0)

    def source():
        for i, copy in enumerate(copies):
            yield i, (WIDTH, HEIGHT), (lambda pixels, copy=copy: copy)
        raise KeyboardInterrupt

    seen = []
    with pytest.raises(KeyboardInterrupt):
        for i, _ in follow_camera(source()):
            seen.append(i)
    assert seen == [0, 1, 2]


def face(track: int, x: float, frame: int) -> Detections:
    return Detections(np.array([[x, 100, x + 30, 130]]), np.zeros((1, 6, 2)), np.array([0.9]),
                      frame_index=np.array([frame]), track_id=np.array([track]))


def test_a_mask_held_in_a_pan_moves_with_the_camera() -> None:
    """A face seen once, in a pan of 40 px a frame to the right: its held mask follows, and the
    mask held where it was seen stays too (the motion may be misread)."""
    frames = [(i, i, face(1, 200.0, 0) if i == 0 else Detections.empty(), CameraPose(1.0, (40.0 * i, 0.0)))
              for i in range(6)]
    shown = [faces for _, faces in cover_faces(iter(frames), 4)]
    assert [sorted(faces.boxes[:, 0].tolist()) for faces in shown] == [
        [200.0], [200.0, 240.0], [200.0, 280.0], [200.0, 320.0], [200.0, 360.0], []]
    assert all(faces.interpolated.all() for faces in shown[1:5])


def test_a_mask_started_before_a_zoomed_face_is_first_seen_is_where_the_face_was() -> None:
    zooms = [CameraPose(1.25 ** i, (0.0, 0.0)) for i in range(5)]
    frames = [(i, i, face(1, 220.0, 4) if i == 4 else Detections.empty(), zooms[i]) for i in range(5)]
    shown = [faces for _, faces in cover_faces(iter(frames), 3)]
    assert shown[0].is_empty()
    for i in (1, 2, 3):
        where = np.array([220.0, 100, 250, 130]) / 1.25 ** (4 - i)
        assert np.abs(shown[i].boxes - where).max(axis=1).min() < 1e-3, (i, shown[i].boxes)


def test_grey_copies_of_a_real_video_measure_its_pan(tmp_path: Path) -> None:
    """Decoded H.264 frames of a pan of 8 px a frame: the poses follow it to within 2 px."""
    texture = scene()
    path = tmp_path / "pan.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for i in range(17):
            grey = texture[200:560, 300 + 8 * i:940 + 8 * i].astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.repeat(grey[:, :, None], 3, axis=2), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with VideoReader(path) as reader:
        poses = [pose for _, pose in follow_camera((d.index, d.size, d.small_grey) for d in reader.frames())]
    shifts = np.array([pose.shift for pose in poses])
    assert len(poses) == 17
    assert np.abs(shifts[:, 0] + 8.0 * np.arange(17)).max() < 2.0
    assert np.abs(shifts[:, 1]).max() < 2.0


def test_a_stop_of_the_source_hands_over_the_frames_the_cover_holds() -> None:
    def stopped_after_five():
        for i in range(5):
            yield i, i, face(1, 50.0, i) if i == 1 else Detections.empty(), CameraPose(1.0, (40.0 * i, 0.0))
        raise KeyboardInterrupt

    got = []
    with pytest.raises(KeyboardInterrupt):
        for payload, faces in cover_faces(stopped_after_five(), 10):
            got.append((payload, sorted(faces.boxes[:, 0].tolist())))
    assert got == [(0, [10.0, 50.0]), (1, [50.0]), (2, [50.0, 90.0]), (3, [50.0, 130.0]), (4, [50.0, 170.0])]


def test_annotate_holds_a_mask_on_a_face_the_camera_pans_past(cli, tmp_path: Path) -> None:
    """A face found in the first frame only (after it, its pieces are shuffled: no face), filmed
    by a camera panning 12 px a frame: the mask held over it follows it across the frame."""
    from clips import astronaut_head, write_clip
    from skimage import data

    scene_image = np.ascontiguousarray(data.coffee()[80:320])  # 240 x 600
    head = astronaut_head(100)
    shuffled = head[:96, :72].reshape(4, 24, 3, 24, 3).transpose(0, 2, 1, 3, 4).reshape(12, 24, 24, 3)
    shuffled = shuffled[np.random.default_rng(3).permutation(12)].reshape(4, 3, 24, 24, 3)
    shuffled = shuffled.transpose(0, 2, 1, 3, 4).reshape(96, 72, 3)
    at_x, at_y, pan = 110, 70, 12

    def frame_at(i: int) -> np.ndarray:
        scene = scene_image.copy()
        if i == 0:
            scene[at_y:at_y + head.shape[0], at_x:at_x + head.shape[1]] = head
        else:
            scene[at_y:at_y + 96, at_x:at_x + 72] = shuffled
        return scene[:, pan * i:pan * i + 320]

    clip = write_clip(tmp_path / "pan.mp4", frame_at, 12, options={"crf": "12"})
    out = tmp_path / "hidden.mp4"
    result = cli.verbose("annotate", str(clip), "-o", str(out), "--fill", "black")
    assert result.exit_code == 0, result.output
    assert "hidden: 1 found" in result.output  # the face in the first frame only
    hidden, _ = decode_rgb(out)
    for i in (3, 6, 8):
        x = at_x + 36 - pan * i  # the middle of where the face was, in frame i
        middle = hidden[i][at_y + 40:at_y + 56, x - 8:x + 8]
        assert middle.max() < 40, (i, middle.max())


def decode_rgb(path: Path) -> tuple[list[np.ndarray], int]:
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return frames, len(frames)


@pytest.mark.parametrize(("scale", "shift", "before", "after"), [
    (1.0, (-30.0, 0.0), (0, 0, 0, 0), (0, 0, 30, 0)),  # panning right: new scenery on the right
    (1.0, (20.0, 10.0), (50, 0, 40, 0), (70, 10, 20, 0)),  # panning left and up: the strips move
    (1.0, (-60.0, 0.0), (50, 0, 0, 0), (0, 0, 60, 0)),  # a left strip panned out of the frame
    (0.9, (64.0, 36.0), (0, 0, 0, 0), (64, 36, 64, 36)),  # zooming out about the centre
    (1.25, (-160.0, -90.0), (100, 100, 100, 100), (0, 35, 0, 35)),  # zooming in takes them out
    (1.0, (0.0, 0.0), (10, 20, 30, 40), (10, 20, 30, 40)),  # a still camera keeps them
    (1.0, (-2000.0, 0.0), (0, 0, 0, 0), (0, 0, WIDTH, 0)),  # never wider than the frame
])
def test_newly_shown_strips_follow_the_camera(scale: float, shift: tuple[float, float],
                                              before: tuple[int, ...], after: tuple[int, ...]) -> None:
    strips = newly_shown(np.array(before, float), scale, np.array(shift), WIDTH, HEIGHT)
    np.testing.assert_allclose(strips, after, atol=1e-9)


def test_a_measured_pan_shows_its_new_scenery_at_the_edge_it_moves_towards() -> None:
    texture = scene()
    scale, shift = motion(filmed(texture, 1.0, (0.0, 0.0)), filmed(texture, 1.0, (-48.0, 0.0)))
    strips = newly_shown(np.zeros(4), scale, shift, WIDTH, HEIGHT)
    assert abs(strips[2] - 48) < 2 and strips[[0, 1, 3]].max() < 2
