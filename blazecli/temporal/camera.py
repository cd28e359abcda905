"""Camera motion: the pan and zoom between frames, from small grey copies of them (pure numpy).

Masks held over frames where a face was not seen must move with the face. A face in a panning
or zooming shot moves with the camera, which its track alone does not show: between two tile
rounds the track has one sighting, or two far apart. So the hiding cover works in the scene's
coordinates, in which a face still in the scene stays still whatever the camera does.

The motion is a zoom and a pan, ``after = scale * before + shift``, fitted by inverse
compositional Lucas-Kanade (Baker & Matthews, IJCV 2004) from coarse to fine on copies 64
pixels wide at 16:9, every few frames: a fraction of a millisecond a frame, where tracking
features would cost more than the detector. Each copy is normalized to mean 0 and spread 1, so
a fade does not read as motion, and the fit is reweighted (Huber) so that a person walking
through the shot moves it less than the room does. A fit that leaves the frames unlike each
other (a cut) gives no motion.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

import numpy as np

from ..detections import Detections

Payload = TypeVar("Payload")

GREY_PIXELS = 64 * 36
"""About how many pixels the grey copies the motion is measured on have: a 720p frame's
20-pixel squares, each their mean. Larger copies cost more than they add: a mask is wider than
the pixel or two this misplaces a face by."""
MOTION_EVERY = 4
"""The motion is measured between every this many frames and spread evenly over the frames
between: a camera's pan or zoom holds that long, and a quarter of the frames costs a quarter."""
MIN_LEVEL_ROWS = 8
"""The coarsest level of the fit has at least this many rows and columns: fewer, too few pixels."""
ITERATIONS = 8
"""Most Gauss-Newton steps a level..."""
CONVERGED = 0.05
"""...fewer once no step moves a pixel of the level by more than this."""
HUBER = 0.5
"""Residuals (in spreads of the normalized copies) beyond this weigh less, as 1/|r|."""
SAME_SHOT_RESIDUAL = 0.6
"""A fit whose remaining difference is larger (root mean square, in spreads) is not the same
shot: two unrelated frames differ by about 1.4, a pan over a textured scene leaves about 0.2."""
MOST_ZOOM = 1.25
"""A zoom beyond this factor (either way) between two measured frames is no camera's: no
motion is taken."""
STILL = 0.25
"""Motion that moves no point of the frame by this many pixels is taken as none: a still
camera stays exactly still instead of drifting with noise."""


@dataclass(frozen=True)
class CameraPose:
    """Where the scene sits in a frame: a scene point ``p`` shows at ``scale * p + shift``
    pixels. The first frame defines the scene's coordinates (``scale`` 1, ``shift`` 0)."""

    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)

    def then(self, scale: float, shift: tuple[float, float]) -> CameraPose:
        """This pose followed by the motion ``after = scale * before + shift``."""
        return CameraPose(self.scale * scale, (scale * self.shift[0] + shift[0],
                                               scale * self.shift[1] + shift[1]))

    def as_row(self) -> np.ndarray:
        """``(3,)``: scale, shift x, shift y."""
        return np.array([self.scale, *self.shift])

    def to_scene_faces(self, faces: Detections) -> Detections:
        """Faces in this frame's pixels -> in the scene (the same faces where the pose is the first's)."""
        if self == CameraPose():
            return faces
        return faces.with_coordinates(same_pixels(faces.coordinates(), CameraPose().as_row(), self.as_row()))

    def to_frame_faces(self, faces: Detections) -> Detections:
        """The inverse of :meth:`to_scene_faces`."""
        if self == CameraPose():
            return faces
        return faces.with_coordinates(same_pixels(faces.coordinates(), self.as_row(), CameraPose().as_row()))


def same_pixels(coordinates: np.ndarray, seen_in: np.ndarray, shown_in: np.ndarray) -> np.ndarray:
    """``(N, 16)`` scene coordinates (x, y pairs, as ``Detections.coordinates``) of faces seen
    in frames of poses ``seen_in`` -> those of the same pixels in frames of poses ``shown_in``
    (each ``(3,)`` as :meth:`CameraPose.as_row`, or ``(N, 3)``, one a face)."""
    seen = np.broadcast_to(seen_in, (len(coordinates), 3))
    shown = np.broadcast_to(shown_in, (len(coordinates), 3))
    return (coordinates * seen[:, :1] + np.tile(seen[:, 1:], 8) - np.tile(shown[:, 1:], 8)) / shown[:, :1]


Grey = Callable[[int], np.ndarray]
"""A frame's grey copy at about the pixel count it is given, made only when asked for."""


def follow_camera(frames: Iterable[tuple[Payload, tuple[int, int], Grey]]) -> Iterator[tuple[Payload, CameraPose]]:
    """``(payload, frame size as shown, its grey copy)`` in frame order -> ``(payload, camera
    pose)``: where the scene sits in each frame, in the first frame's pixels. A frame of another
    size (a stream that switches resolution) shows the same scene at its own size.

    The copies are asked for only where the motion is measured (:data:`MOTION_EVERY`), so
    frames wait here that many at most. A Ctrl-C that stops the frames' source hands over the
    frames waiting, with the pose of the last measured, and is raised after.
    """
    pose = CameraPose()  # in the first frame's pixels
    first = (1, 1)
    measured: np.ndarray | None = None  # the normalized copy of the last measured frame
    waiting: list[tuple[Payload, tuple[int, int], Grey]] = []
    try:
        for payload, size, grey in frames:
            if measured is None:
                first, measured = size, normalized(grey(GREY_PIXELS))
                yield payload, pose
                continue
            waiting.append((payload, size, grey))
            if len(waiting) == MOTION_EVERY:
                measured, poses = _spread(measured, [grey for _, _, grey in waiting], pose, first)
                yield from _sized(waiting, poses, first)
                pose, waiting = poses[-1], []
    except KeyboardInterrupt:
        yield from _sized(waiting, [pose] * len(waiting), first)
        raise
    if waiting and measured is not None:
        _, poses = _spread(measured, [grey for _, _, grey in waiting], pose, first)
        yield from _sized(waiting, poses, first)


def _sized(frames: list[tuple[Payload, tuple[int, int], Grey]], poses: list[CameraPose],
           first: tuple[int, int]) -> Iterator[tuple[Payload, CameraPose]]:
    """Each frame's payload with its pose, in first-frame pixels, taken to its own size."""
    for (payload, (width, height), _), pose in zip(frames, poses, strict=True):
        if (width, height) != first:  # a frame of another proportion takes the mean scale
            pose = pose.then(math.sqrt(width / first[0] * height / first[1]), (0.0, 0.0))
        yield payload, pose


def _spread(measured: np.ndarray, waiting: list[Grey], pose: CameraPose, size: tuple[int, int],
            ) -> tuple[np.ndarray, list[CameraPose]]:
    """The motion (in pixels of a frame of ``size``) from the ``measured`` copy to the last
    ``waiting`` frame, spread evenly over the waiting frames (``pose`` before them): the last
    frame's copy and each frame's pose.

    Where the two are not one shot, the motion is measured frame to frame instead: a cut lies
    between two of them, and the frames after it still move with their own shot."""
    latest = normalized(waiting[-1](GREY_PIXELS))
    if measured.shape != latest.shape:  # the frames changed proportions: the motion is unknown
        return latest, [pose] * len(waiting)
    scales, shifts, one_shot = camera_motion(measured[None], latest[None], *size)
    if one_shot[0] or len(waiting) == 1:
        # n equal steps x -> a x + b make x -> a^n x + b (a^n - 1) / (a - 1).
        step_scale = float(scales[0]) ** (1 / len(waiting))
        growth = (scales[0] - 1) / (step_scale - 1) if abs(step_scale - 1) > 1e-12 else len(waiting)
        steps = [(step_scale, (float(shifts[0, 0] / growth), float(shifts[0, 1] / growth)))] * len(waiting)
    else:
        copies = [measured] + [normalized(grey(GREY_PIXELS)) for grey in waiting[:-1]] + [latest]
        if any(copy.shape != latest.shape for copy in copies):
            return latest, [pose] * len(waiting)
        scales, shifts, _ = camera_motion(np.stack(copies[:-1]), np.stack(copies[1:]), *size)
        steps = [(float(scale), (float(x), float(y))) for scale, (x, y) in zip(scales, shifts, strict=True)]
    poses = []
    for step_scale, step_shift in steps:
        pose = pose.then(step_scale, step_shift)
        poses.append(pose)
    return latest, poses


def one_shot(before: np.ndarray, after: np.ndarray, frame_width: int, frame_height: int) -> bool:
    """Whether two frames, by their grey copies, are of one shot: no cut between them."""
    first, second = normalized(before), normalized(after)
    return first.shape == second.shape and bool(
        camera_motion(first[None], second[None], frame_width, frame_height)[2][0])


def newly_shown(strips: np.ndarray, scale: float, shift: np.ndarray, frame_width: int, frame_height: int,
                ) -> np.ndarray:
    """Strips along a frame's edges that show scenery not looked at yet, after the camera moved
    (``after = scale * before + shift``, frame pixels): their widths in pixels, left, top, right,
    bottom, from those before the motion, ``strips``. A zoom out or a pan brings new scenery in
    at the edges; what was there moves inwards and stays unseen; what left the frame is gone."""
    size = np.array([frame_width, frame_height], np.float64)
    near = np.maximum(0.0, shift + scale * strips[:2])
    far = np.maximum(0.0, size - scale * (size - strips[2:]) - shift)
    return np.minimum(np.r_[near, far], np.r_[size, size])


def normalized(grey: np.ndarray) -> np.ndarray:
    """A grey copy as float32 with mean 0 and spread 1 (a flat one stays 0)."""
    values = grey.astype(np.float32)
    values -= values.mean()
    spread = float(values.std())
    return values / spread if spread > 1e-3 else values


def camera_motion(before: np.ndarray, after: np.ndarray, frame_width: int, frame_height: int,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The zoom and pan that take frame pixels of each ``before`` to those of its ``after``
    (``after = scale * before + shift``), from ``(B, rows, columns)`` :func:`normalized` grey
    copies: ``(B,)`` scales, ``(B, 2)`` shifts in frame pixels, and ``(B,)`` whether each pair
    is one shot.

    A pair that is not one shot (a cut), or whose fit fails, gets no motion (scale 1, shift 0),
    as does motion below :data:`STILL`. The pairs are fitted together, array by array: one
    pair alone would cost as many array operations as the batch.
    """
    count, rows, columns = before.shape
    scale, shift = np.ones(count), np.zeros((count, 2))  # in pixels of the finest copy, about its centre
    if count == 0 or min(rows, columns) < MIN_LEVEL_ROWS:
        return scale, shift, np.zeros(count, bool)
    levels = [(before, after)]
    while min(levels[-1][0].shape[1:]) >= 2 * MIN_LEVEL_ROWS:
        levels.append((_halved(levels[-1][0]), _halved(levels[-1][1])))
    fitted = np.ones(count, bool)
    residual = np.zeros(count)
    for depth in range(len(levels) - 1, -1, -1):
        template, image = levels[depth]
        scale, level_shift, residual, overlapping = _fit(template, image, scale, shift / 2 ** depth)
        shift = level_shift * 2 ** depth
        fitted &= overlapping
    per_pixel = np.array([frame_width / columns, frame_height / rows])
    # A copy's pixel x (about its centre) is frame pixel width / 2 + per_pixel * x.
    centre = np.array([frame_width / 2, frame_height / 2])
    frame_shift = (1 - scale)[:, None] * centre + shift * per_pixel
    farthest = np.maximum(np.abs(frame_shift), np.abs((scale - 1)[:, None] * 2 * centre + frame_shift)).max(axis=1)
    one_shot = (fitted & (residual <= SAME_SHOT_RESIDUAL) & (scale >= 1 / MOST_ZOOM) & (scale <= MOST_ZOOM)
                & np.isfinite(frame_shift).all(axis=1))
    moved = one_shot & (farthest >= STILL)
    return np.where(moved, scale, 1.0), np.where(moved[:, None], frame_shift, 0.0), one_shot


def _halved(images: np.ndarray) -> np.ndarray:
    """``(B, rows, columns)`` -> each image at half the size, each pixel the mean of four."""
    rows, columns = images.shape[1] // 2 * 2, images.shape[2] // 2 * 2
    even = images[:, :rows, :columns]
    return (even[:, 0::2, 0::2] + even[:, 1::2, 0::2] + even[:, 0::2, 1::2] + even[:, 1::2, 1::2]) / 4


def _fit(templates: np.ndarray, images: np.ndarray, scale: np.ndarray, shift: np.ndarray,
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gauss-Newton on one level from ``scale, shift`` (about the centre), for each pair: the
    fit, its remaining difference (root mean square over the pixels both frames show) and
    whether the frames still overlap by a quarter."""
    count, rows, columns = templates.shape
    x, y = _grid(rows, columns)
    centre_x, centre_y = (columns - 1) / 2, (rows - 1) / 2
    inner = templates[:, 1:-1, 1:-1].reshape(count, -1)
    gradient_x = ((templates[:, 1:-1, 2:] - templates[:, 1:-1, :-2]) / 2).reshape(count, -1)
    gradient_y = ((templates[:, 2:, 1:-1] - templates[:, :-2, 1:-1]) / 2).reshape(count, -1)
    steepest = np.stack([x * gradient_x + y * gradient_y, gradient_x, gradient_y], axis=1)  # (B, 3, N)
    ridge = 1e-6 * np.eye(3)  # a flat frame has no gradient: its step is then 0, not an error
    flat_images = images.reshape(-1)
    first_pixel = (np.arange(count) * rows * columns)[:, None]
    residual, overlapping = np.zeros(count), np.ones(count, bool)
    for _ in range(ITERATIONS):
        sample_x = scale[:, None] * x + (shift[:, :1] + centre_x)
        sample_y = scale[:, None] * y + (shift[:, 1:] + centre_y)
        inside = (sample_x >= 0) & (sample_x <= columns - 1) & (sample_y >= 0) & (sample_y <= rows - 1)
        shown = np.count_nonzero(inside, axis=1)
        overlapping = shown >= 0.25 * inside.shape[1]
        np.clip(sample_x, 0, columns - 1, out=sample_x)
        np.clip(sample_y, 0, rows - 1, out=sample_y)
        difference = (_sampled(flat_images, first_pixel, columns, rows, sample_x, sample_y) - inner) * inside
        residual = np.sqrt(np.einsum("bn,bn->b", difference, difference) / np.maximum(shown, 1))
        magnitude = np.abs(difference)
        weight = np.where(magnitude > HUBER, HUBER / np.maximum(magnitude, 1e-6), inside)
        weighted = steepest * weight[:, None, :]
        step = np.linalg.solve(weighted @ steepest.transpose(0, 2, 1) + ridge,
                               (weighted @ difference[:, :, None]))[:, :, 0]
        step = np.nan_to_num(step)  # bounded below: a step of a failing fit stays finite
        d_scale, d_shift = step[:, 0].clip(-0.2, 0.2), step[:, 1:].clip(-columns / 4, columns / 4)
        # Compose with the inverse of the step: p -> scale * (p - d_shift) / (1 + d_scale) + shift.
        shift = shift - scale[:, None] * d_shift / (1 + d_scale)[:, None]
        scale = scale / (1 + d_scale)
        if (np.abs(d_scale).max() * max(rows, columns) < CONVERGED
                and np.abs(d_shift).max() < CONVERGED):
            break
    return scale, shift, residual, overlapping


@cache
def _grid(rows: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """The inner pixels' ``x`` and ``y`` about the centre, flat (the border has no gradient)."""
    y, x = np.mgrid[1:rows - 1, 1:columns - 1].astype(np.float32)
    return (x - (columns - 1) / 2).ravel(), (y - (rows - 1) / 2).ravel()


def _sampled(flat_images: np.ndarray, first_pixel: np.ndarray, columns: int, rows: int,
             x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples at ``(B, N)`` points ``(x, y)`` inside each of the images laid end to end
    in ``flat_images``, image ``b`` starting at ``first_pixel[b]``."""
    left = np.minimum(x.astype(np.int64), columns - 2)
    top = np.minimum(y.astype(np.int64), rows - 2)
    across, down = x - left, y - top
    at = first_pixel + top * columns + left
    upper = flat_images[at] * (1 - across) + flat_images[at + 1] * across
    lower = flat_images[at + columns] * (1 - across) + flat_images[at + columns + 1] * across
    return upper * (1 - down) + lower * down
