"""The temporal stage: follow faces over time (track ids) and steady their boxes (pure numpy).

Per frame, faces are matched one to one to the live tracks (greedy on IoU with where each
track should be now: its last box moved on at its speed; gated by plausible motion), unmatched
faces start new tracks, and tracks missed for more than ``max_missed`` processed frames end.
Ids are never reused within a video.

Smoothing is a One Euro filter (Casiez et al., CHI 2012) on the 16 coordinates of each face
(box corners and six keypoints): a low-pass filter whose cutoff rises with the face's speed.
A still face gets a low cutoff (the wobble is averaged away); a moving face a high one (the
filter follows it with little lag). That is the same trade MediaPipe makes for landmarks, and
unlike a fixed average it needs no knowledge of the motion. Speeds are measured in face sizes
per second and the filter uses the real time between processed frames, so the tuning holds at
any resolution, frame rate or ``--every`` sampling. The state is a few numbers per live track.

The defaults (1 Hz, beta 10) were picked on a grid (min_cutoff 0.3/1/2 Hz x beta 1..40) by the
keypoint error to the true path of a photo panned and zoomed at three speeds through the real
detector: 5-10 % below the raw detections at every speed, where beta 1 lagged up to 70 % above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..checks import real_number, switch, whole_number
from ..detections import Detections
from ..errors import InvalidOptionError
from ..inference.ties import greedy_pairs, pairwise_iou

_MOST = 1e6  # bound of the filter's knobs


@dataclass(frozen=True)
class TrackerOptions:
    """Knobs of the temporal stage.

    smooth: filter coordinates (False: ids only, coordinates as detected).
    min_cutoff: Hz; lower = steadier still faces (and more lag when slow motion starts).
    beta: how fast the cutoff rises with speed (face sizes per second); higher = less lag.
    max_missed: processed frames a track may go without a detection and keep its id.
    fill_gaps: emit interpolated faces for the frames a surviving track was missed in. A
    frame's faces are then final only ``max_missed`` processed frames later, so a video's
    frames come out (and wait in memory) that many frames behind decoding.
    min_iou / max_jump: a face continues a track if their boxes overlap more than ``min_iou``
    or its centre moved less than ``max_jump`` face sizes; anything farther (a scene cut, a
    different person) starts a new track.
    """

    smooth: bool = True
    min_cutoff: float = 1.0
    beta: float = 10.0
    derivative_cutoff: float = 1.0
    max_missed: int = 2
    fill_gaps: bool = False
    min_iou: float = 0.2
    max_jump: float = 0.5

    def __post_init__(self) -> None:
        for name in ("smooth", "fill_gaps"):
            object.__setattr__(self, name, switch(name, getattr(self, name)))
        for name in ("min_cutoff", "beta", "derivative_cutoff", "min_iou", "max_jump"):
            object.__setattr__(self, name, real_number(name, getattr(self, name)))
        # Written so that NaN fails too; the upper bounds only keep the filter's arithmetic finite
        # (a cutoff far above the frame rate already means no smoothing).
        for name, unit in (("min_cutoff", " Hz"), ("derivative_cutoff", " Hz"), ("max_jump", " face sizes")):
            if not 0 < getattr(self, name) <= _MOST:
                raise InvalidOptionError(f"`{name}` must be within (0, {_MOST:g}]{unit}, got {getattr(self, name)}")
        if not 0 <= self.beta <= _MOST:
            raise InvalidOptionError(f"`beta` must be within [0, {_MOST:g}], got {self.beta}")
        if not 0 <= self.min_iou < 1:
            raise InvalidOptionError(f"`min_iou` must be within [0, 1), got {self.min_iou}")
        object.__setattr__(self, "max_missed", whole_number("max_missed", self.max_missed, 0))


def _alpha(cutoff: np.ndarray | float, dt: np.ndarray) -> np.ndarray:
    """Smoothing factor of a first-order low-pass at ``cutoff`` Hz for steps of ``dt`` s."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


def _face_size(values: np.ndarray) -> np.ndarray:
    """Box diagonal of ``(T, 16)`` face vectors: the unit speeds are measured in."""
    return np.maximum(np.hypot(values[:, 2] - values[:, 0], values[:, 3] - values[:, 1]), 1e-6)


@dataclass
class _Tracks:
    """Live tracks as parallel arrays (a handful of rows: the faces in view)."""

    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    values: np.ndarray = field(default_factory=lambda: np.zeros((0, 16)))  # filtered
    speed: np.ndarray = field(default_factory=lambda: np.zeros((0, 16)))  # filtered derivative
    time_s: np.ndarray = field(default_factory=lambda: np.zeros(0))  # last update
    missed: list[list[tuple[int, float]]] = field(default_factory=list)  # frames since seen

    def keep(self, mask: np.ndarray) -> None:
        self.ids, self.values, self.speed = self.ids[mask], self.values[mask], self.speed[mask]
        self.time_s = self.time_s[mask]
        self.missed = [m for m, k in zip(self.missed, mask, strict=False) if k]


class StreamBreaks:
    """Says which frames earlier ones no longer compare with: the frame size changed (a stream
    that switches resolution) or the time went back (files joined end to end)."""

    def __init__(self) -> None:
        self._last: tuple[float, tuple[int, int] | None] | None = None

    def breaks(self, time_s: float, size: tuple[int, int] | None) -> bool:
        last, self._last = self._last, (time_s, size)
        return last is not None and (time_s < last[0] or size != last[1])


class Tracker:
    """Streaming, deterministic temporal stage for one video; feed frames in order."""

    def __init__(self, options: TrackerOptions | None = None) -> None:
        self.options = options or TrackerOptions()
        self._tracks = _Tracks()
        self._next_id = 0
        self._breaks = StreamBreaks()

    def update(self, faces: Detections, frame_index: np.ndarray, time_s: np.ndarray,
               sizes: np.ndarray | None = None) -> Detections:
        """Track and smooth the faces of a batch of processed frames.

        ``frame_index``/``time_s`` list every processed frame of the batch in order, also those
        without faces (a missed frame counts towards ending a track); every face belongs to one
        of them. ``sizes``: each frame's ``(width, height)``. A frame whose size differs from
        the one before (a stream that switches resolution), or whose time goes back
        (files joined end to end), ends every track: coordinates and times on either side do
        not compare. Returns the faces with ``track_id`` set and smoothed coordinates, plus
        interpolated faces with ``fill_gaps``.
        """
        faces = faces[np.argsort(faces.frame_index, kind="stable")]
        observed = faces.coordinates()  # (K, 16)
        values = observed.copy()  # each frame's step writes its faces' rows
        ids = np.full(len(faces), -1, np.int64)
        bounds = np.searchsorted(faces.frame_index, frame_index, side="left").tolist()
        bounds.append(len(faces))
        gaps: list[tuple[int, Detections]] = []  # interpolated faces, placed before a frame's own
        shapes = [None] * len(frame_index) if sizes is None else [tuple(s) for s in sizes.tolist()]
        for i, (frame, t, shape) in enumerate(zip(frame_index.tolist(), time_s.tolist(), shapes, strict=False)):
            if self._breaks.breaks(t, shape):
                self._tracks.keep(np.zeros(len(self._tracks.ids), bool))
            rows = slice(bounds[i], bounds[i + 1])
            gap = self._step(observed[rows], faces.scores[rows], values[rows], ids[rows], frame, t)
            if gap is not None:
                gaps.append((bounds[i], gap))
        tracked = faces.with_coordinates(values, track_id=ids)
        if not gaps:
            return tracked
        pieces, start = [], 0
        for position, gap in gaps:
            pieces += [tracked[start:position], gap]
            start = position
        return Detections.merge([*pieces, tracked[start:]])

    def _step(self, observed: np.ndarray, scores: np.ndarray, values: np.ndarray, ids: np.ndarray,
              frame: int, t: float) -> Detections | None:
        """One frame: writes its faces' smoothed ``values`` and ``ids`` in place; returns the
        faces interpolated into the gaps of the tracks it continues (``fill_gaps``)."""
        tracks, opts = self._tracks, self.options
        size = _face_size(tracks.values)  # the tracks' unit of speed, for matching and filtering
        track_of, face_of = self._match(observed, t, size)
        gap_faces = None
        if len(face_of):
            gap_faces = self._gap_faces(track_of, observed[face_of], scores[face_of], t)
            values[face_of] = self._filter(track_of, observed[face_of], t, size[track_of])
            ids[face_of] = tracks.ids[track_of]

        if len(track_of) < len(tracks.ids):
            seen = np.zeros(len(tracks.ids), bool)
            seen[track_of] = True
            for k in np.flatnonzero(~seen).tolist():
                tracks.missed[k].append((frame, t))
            tracks.keep(seen | np.array([len(m) <= opts.max_missed for m in tracks.missed], bool))

        if len(face_of) < len(observed):
            new = np.ones(len(observed), bool)
            new[face_of] = False
            ids[new] = self._start(observed[new], t)
        return gap_faces

    def _match(self, observed: np.ndarray, t: float, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Greedy one-to-one matching on IoU with where each track should be now (``size``: the
        tracks' face sizes)."""
        tracks, opts = self._tracks, self.options
        if len(tracks.ids) == 0 or len(observed) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        dt = (t - tracks.time_s)[:, None]
        size = size[:, None]
        predicted = tracks.values + tracks.speed * size * dt
        iou = pairwise_iou(predicted[:, :4], observed[:, :4])  # (T, K)
        centre_t = (predicted[:, :2] + predicted[:, 2:4]) / 2
        centre_o = (observed[:, :2] + observed[:, 2:4]) / 2
        offset = centre_t[:, None] - centre_o[None]
        jump = np.hypot(offset[..., 0], offset[..., 1]) / size
        allowed = (iou > opts.min_iou) | (jump < opts.max_jump)
        # Prefer overlap; among non-overlapping candidates, prefer the nearer one.
        return greedy_pairs(iou + 1.0 / (1.0 + jump), allowed)

    def _filter(self, track_of: np.ndarray, observed: np.ndarray, t: float,
                size: np.ndarray) -> np.ndarray:
        """One Euro step for the matched tracks (``size``: their face sizes); returns what they
        output now.

        Without ``smooth`` the speed is still followed (matching predicts with it) but the
        output, and so the state interpolation starts from, is the detection itself.
        """
        tracks, opts = self._tracks, self.options
        dt = np.maximum(t - tracks.time_s[track_of], 1e-3)[:, None]  # (M, 1)
        previous = tracks.values[track_of]
        size = size[:, None]
        raw_speed = (observed - previous) / dt / size  # face sizes per second
        speed = tracks.speed[track_of] + _alpha(opts.derivative_cutoff, dt) * (raw_speed - tracks.speed[track_of])
        # One cutoff per face (from its fastest coordinate) keeps box and keypoints coherent.
        cutoff = opts.min_cutoff + opts.beta * np.abs(speed).max(axis=1, keepdims=True)
        smoothed = previous + _alpha(cutoff, dt) * (observed - previous) if opts.smooth else observed
        tracks.values[track_of] = smoothed
        tracks.speed[track_of] = speed
        tracks.time_s[track_of] = t
        return smoothed

    def _gap_faces(self, track_of: np.ndarray, observed: np.ndarray, scores: np.ndarray,
                   t: float) -> Detections | None:
        """Interpolated faces for the frames matched tracks were missed in (``fill_gaps``)."""
        tracks = self._tracks
        parts = []
        for j, k in enumerate(track_of.tolist()):
            missed, tracks.missed[k] = tracks.missed[k], []
            if not missed or not self.options.fill_gaps:
                continue
            start, t0 = tracks.values[k], tracks.time_s[k]
            times = np.array([m[1] for m in missed])
            w = ((times - t0) / max(t - t0, 1e-9))[:, None]  # (G, 1)
            values = start + w * (observed[j] - start)
            parts.append(Detections(values[:, :4], values[:, 4:].reshape(-1, 6, 2),
                                    np.full(len(missed), scores[j]),
                                    np.array([m[0] for m in missed]),
                                    np.full(len(missed), tracks.ids[k]), np.ones(len(missed), bool)))
        return Detections.merge(parts) if parts else None

    def _start(self, observed: np.ndarray, t: float) -> np.ndarray:
        tracks = self._tracks
        n = len(observed)
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        tracks.ids = np.concatenate([tracks.ids, ids])
        tracks.values = np.concatenate([tracks.values, observed])
        tracks.speed = np.concatenate([tracks.speed, np.zeros_like(observed)])
        tracks.time_s = np.concatenate([tracks.time_s, np.full(n, t)])
        tracks.missed.extend([] for _ in range(n))
        return ids
