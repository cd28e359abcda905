"""How steady the detector is: the BlazeFace paper's shift-jitter metric, on the user's video.

The paper runs the detector on a frame and on a copy shifted by a few pixels, moves the second
prediction back and compares; a perfectly steady detector predicts the same face. Here, for each
sampled frame and each ``--shift`` amount ``s``, four copies are made (content moved by ``+s``
and ``-s`` in x, then in y, whole pixels). The borders a copy uncovers repeat the frame's edge
pixels (no wrap-around as with ``np.roll``, and no black band that the model could take for an
edge). All copies of a frame go through the model in one batch, and the raw candidates of that
one inference are resolved both ways, ``nms`` and ``blend``; ``temporal`` runs the temporal
stage (``blazecli.tracking``, default options) on the blended faces: one tracker over the
unshifted frames and one over each sequence of copies shifted by the same offset, so the
smoothing sees the same kind of stream it sees in ``detect``.

Definitions (pixels of the displayed frame; IOD = the eye-to-eye distance of the face in the
unshifted frame as blended, for every mode, so that all modes divide a face by the same IOD and
leave out the same faces):

* a face's points are its two box corners ``(x_min, y_min)``, ``(x_max, y_max)`` and its six
  keypoints;
* each face of the unshifted frame is matched one to one (greedy, best IoU first, IoU >=
  ``match_iou``) to the moved-back faces of each copy. The error of a matched pair is the mean
  over points of the squared Euclidean displacement, divided by IOD^2; ``mse_iod2`` is its mean
  over all pairs (also ``box_mse_iod2`` over the corners only, ``keypoints_mse_iod2`` over the
  keypoints only) and ``rms_iod_pct = 100 * sqrt(mse_iod2)``, the paper's "jitter as % of IOD";
* faces with an IOD under ``min_iod`` px are counted as too small, since a one-pixel error
  there reads as a large fraction; faces whose IOD is under ``min_iod_ratio`` of their box
  width as turned (a head turned sideways brings the eyes together in the image, so the IOD no
  longer measures the face's size and errors divided by it explode; frontal faces have about
  0.4). Neither is compared. Faces without a partner in a copy are counted as unmatched, faces
  of a copy without a partner in the frame as extra;
* frame-to-frame jitter, on the unshifted frames: for three consecutive processed frames
  ``t-2, t-1, t`` in which a face is matched one to one as above, the second difference
  ``p[t] - 2 p[t-1] + p[t-2]`` of each point, squared, averaged over points and divided by the
  IOD^2 at ``t-1`` (attributed to frame ``t``). It is zero for a face at rest or moving at a
  constant speed, so it measures wobble plus real acceleration; independent noise of ``sigma``
  px per coordinate gives ``12 sigma^2 / IOD^2`` (the shift metric gives ``4 sigma^2 / IOD^2``).
  With ``--every N`` the frames are N apart, so real motion weighs more.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..detections import Detections
from ..inference.detector import FaceDetector
from ..errors import InvalidOptionError, OutputExistsError, OutputNotWritableError
from .detect import FrameSelection
from ..media.sampling import Letterbox
from ..outputs.sinks import METADATA_KEY, write_atomic
from ..inference.ties import greedy_pairs, pairwise_iou
from ..temporal.tracking import StreamBreaks, Tracker, TrackerOptions
from ..media.reader import DecodedFrame, VideoReader

FILL = "edge"
TIE_MODES = ("nms", "blend")
TEMPORAL = "temporal"
MODES = (*TIE_MODES, TEMPORAL)
DIRECTIONS = np.array([(1, 0), (-1, 0), (0, 1), (0, -1)], np.int64)
"""The copies made per shift amount: content moved right, left, down, up."""
PAPER_REDUCTION = "about 40 % (front-camera model) and 30 % (rear)"

_SHIFT = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*(px|%)?$")


@dataclass(frozen=True)
class Shift:
    """A shift amount: whole pixels (``2px``) or a percentage of the frame's width/height (``1%``)."""

    amount: float
    unit: str = "px"

    @classmethod
    def parse(cls, text: str) -> Shift:
        match = _SHIFT.match(text.strip().lower())
        if match is None:
            raise InvalidOptionError(f"--shift must look like 2px or 1%, got {text!r}")
        amount, unit = float(match[1]), match[2] or "px"
        if amount <= 0:
            raise InvalidOptionError(f"--shift must be positive, got {text!r}")
        if unit == "px" and not amount.is_integer():
            raise InvalidOptionError(
                f"--shift in pixels must be whole pixels (copies are moved, never resampled), got {text!r}")
        return cls(amount, unit)

    @property
    def label(self) -> str:
        return f"{self.amount:g}{self.unit}"

    def pixels(self, width: int, height: int) -> tuple[int, int]:
        """Whole-pixel ``(x, y)`` magnitude on a frame of this size (a percentage is rounded)."""
        if self.unit == "px":
            dx = dy = int(self.amount)
        else:
            dx, dy = round(self.amount * width / 100), round(self.amount * height / 100)
        if min(dx, dy) < 1:
            raise InvalidOptionError(
                f"--shift {self.label} is less than a pixel on a {width}x{height} frame")
        if dx >= width or dy >= height:
            raise InvalidOptionError(f"--shift {self.label} is larger than the {width}x{height} frame")
        return dx, dy


def shift_offsets(shifts: Sequence[Shift], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Offsets ``(K, 2)`` of the images run per frame, and the shift each belongs to ``(K,)``.

    Image 0 is the frame itself (shift -1); then four copies per shift in ``DIRECTIONS`` order.
    """
    offsets = [np.zeros((1, 2), np.int64)]
    offsets += [DIRECTIONS * np.array(s.pixels(width, height)) for s in shifts]
    which = np.concatenate([[-1], np.repeat(np.arange(len(shifts)), len(DIRECTIONS))])
    return np.concatenate(offsets), which


def shift_image(rgb: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``rgb`` with its content moved by ``(dx, dy)`` px; uncovered borders repeat the edge pixels.

    Equal to padding with edge pixels and cropping back to the frame's size.
    """
    height, width = rgb.shape[:2]
    rows = np.clip(np.arange(height) - dy, 0, height - 1)
    cols = np.clip(np.arange(width) - dx, 0, width - 1)
    return rgb[rows][:, cols]


def move(faces: Detections, offsets: np.ndarray) -> Detections:
    """Translate each face by ``offsets[faces.frame_index]`` pixels."""
    d = offsets[faces.frame_index].astype(np.float32)  # (N, 2)
    return faces.replace(boxes=faces.boxes + np.tile(d, 2), keypoints=faces.keypoints + d[:, None, :])


def face_points(faces: Detections) -> np.ndarray:
    """``(N, 8, 2)`` float64: the two box corners, then the six keypoints."""
    return np.concatenate([faces.boxes.reshape(-1, 2, 2), faces.keypoints], axis=1).astype(np.float64)


def match_faces(boxes: np.ndarray, other: np.ndarray, min_iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching of ``(K, 4)`` to ``(M, 4)`` boxes, best IoU first.

    Returns index arrays ``(i, j)`` of the matched pairs; pairs under ``min_iou`` never match.
    """
    iou = pairwise_iou(boxes, other)
    return greedy_pairs(iou, iou >= min_iou)


@dataclass(frozen=True)
class PairErrors:
    """Squared point displacements over IOD^2, one value per compared face (``(M,)`` each)."""

    box: np.ndarray  # mean over the two box corners
    keypoints: np.ndarray  # mean over the six keypoints

    @classmethod
    def of(cls, displacement: np.ndarray, iod: np.ndarray) -> PairErrors:
        """From ``(M, 8, 2)`` displacements of ``face_points`` and the ``(M,)`` IOD."""
        squared = (displacement ** 2).sum(axis=2) / iod[:, None].astype(np.float64) ** 2  # (M, 8)
        return cls(squared[:, :2].mean(axis=1), squared[:, 2:].mean(axis=1))

    @classmethod
    def concat(cls, parts: list[PairErrors]) -> PairErrors:
        return cls(np.concatenate([p.box for p in parts]), np.concatenate([p.keypoints for p in parts]))

    @property
    def points(self) -> np.ndarray:
        """Mean over all eight points."""
        return (2 * self.box + 6 * self.keypoints) / 8


@dataclass(frozen=True)
class ShiftComparison:
    """The faces of an unshifted frame against those of one shifted copy, moved back."""

    errors: PairErrors
    unmatched: int  # measured faces of the frame without a partner in the copy
    extra: int  # faces of the copy without a partner in the frame


def common_scale(faces: Detections, anchor: Detections, min_iou: float) -> tuple[np.ndarray, np.ndarray]:
    """Each face's IOD and box width, ``(N,)`` each, from its match in ``anchor`` (else its own).

    With the blended faces of the same frame as ``anchor``, every mode divides a face by the
    same IOD and leaves out the same faces, so that modes are compared on equal terms.
    """
    iod = faces.inter_ocular_distance.astype(np.float64)
    width = (faces.boxes[:, 2] - faces.boxes[:, 0]).astype(np.float64)
    fi, ai = match_faces(faces.boxes, anchor.boxes, min_iou)
    iod[fi] = anchor.inter_ocular_distance[ai]
    width[fi] = anchor.boxes[ai, 2] - anchor.boxes[ai, 0]
    return iod, width


def compare_shifted(reference: Detections, moved: Detections, iod: np.ndarray, measured: np.ndarray,
                    min_iou: float) -> ShiftComparison:
    """Match one to one and measure the faces of ``reference`` flagged ``measured``, by their ``iod``."""
    ri, mi = match_faces(reference.boxes, moved.boxes, min_iou)
    keep = measured[ri]
    ri, mi = ri[keep], mi[keep]
    displacement = face_points(moved[mi]) - face_points(reference[ri])
    return ShiftComparison(PairErrors.of(displacement, iod[ri]), int(measured.sum()) - len(ri),
                           len(moved) - len(keep))


def second_difference(first: Detections, middle: Detections, last: Detections, iod: np.ndarray,
                      measured: np.ndarray, min_iou: float) -> PairErrors:
    """Frame-to-frame jitter of the ``measured`` faces of ``middle`` matched in both neighbours."""
    mf, fi = match_faces(middle.boxes, first.boxes, min_iou)
    ml, li = match_faces(middle.boxes, last.boxes, min_iou)
    before = np.full(len(middle), -1)
    before[mf] = fi
    after = np.full(len(middle), -1)
    after[ml] = li
    m = np.flatnonzero((before >= 0) & (after >= 0) & measured)
    displacement = (face_points(last[after[m]]) - 2 * face_points(middle[m])
                    + face_points(first[before[m]]))
    return PairErrors.of(displacement, iod[m])


DetectModes = Callable[[Sequence[np.ndarray]], dict[str, Detections]]
"""Images -> faces under each tie mode, in each image's pixels, ``frame_index`` = image position."""


class TieResolutions:
    """Both tie resolutions of a batch of images from one inference: the candidates are shared."""

    def __init__(self, detector: FaceDetector) -> None:
        self.detector = detector

    def __call__(self, images: Sequence[np.ndarray]) -> dict[str, Detections]:
        candidates = self.detector.candidates(np.stack([self.detector.sample(i) for i in images]))
        boxes = [Letterbox(i.shape[1], i.shape[0]) for i in images]
        return {mode: self.detector.resolve(candidates, boxes, tie=mode) for mode in TIE_MODES}

    @property
    def facts(self) -> dict[str, Any]:
        """What the report should say about the detector."""
        options = self.detector.options
        return {"model": options.model, "threshold": options.min_score,
                "iou_threshold": options.iou_threshold, "provider": self.detector.provider}


@dataclass(frozen=True)
class StabilitySettings:
    """What to measure: shift amounts, which frames, and the comparison's limits."""

    shifts: tuple[Shift, ...] = (Shift(2),)
    every: int = 1
    max_frames: int | None = None
    min_iod: float = 8.0
    min_iod_ratio: float = 0.2
    match_iou: float = 0.5
    tracking: TrackerOptions = field(default_factory=TrackerOptions)

    def __post_init__(self) -> None:
        FrameSelection(every=self.every)  # validates --every
        if not self.shifts:
            raise InvalidOptionError("give at least one --shift")
        repeated = {s.label for s in self.shifts if self.shifts.count(s) > 1}
        if repeated:  # measured twice, its faces would count twice
            raise InvalidOptionError(f"--shift {', '.join(sorted(repeated))} is given more than once")
        if self.max_frames is not None and self.max_frames < 1:
            raise InvalidOptionError(f"--max-frames must be at least 1, got {self.max_frames}")
        if not self.min_iod > 0:  # NaN fails too
            raise InvalidOptionError(f"--min-iod must be positive, got {self.min_iod}")
        if not 0 <= self.min_iod_ratio < 1:
            raise InvalidOptionError(f"--min-iod-ratio must be within [0, 1), got {self.min_iod_ratio}")
        if not 0 < self.match_iou <= 1:
            raise InvalidOptionError(f"the match IoU must be within (0, 1], got {self.match_iou}")

    def facts(self) -> dict[str, Any]:
        return {"shifts": [s.label for s in self.shifts], "fill": FILL, "every": self.every,
                "max_frames": self.max_frames, "min_iod_px": self.min_iod,
                "min_iod_ratio": self.min_iod_ratio, "match_iou": self.match_iou}

    def excluded(self, iod: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Masks of the faces left out: ``(too_small, turned)``, never both."""
        too_small = iod < self.min_iod
        return too_small, ~too_small & (iod < self.min_iod_ratio * width)


FRAME_COLUMNS = ("frame_index", "time_s", "mode", "shift", "shift_x_px", "shift_y_px", "faces",
                 "faces_too_small", "faces_turned", "faces_matched", "faces_unmatched", "extra_faces",
                 "box_mse_iod2", "keypoints_mse_iod2", "mse_iod2", "rms_iod_pct",
                 "frame_jitter_faces", "frame_jitter_mse_iod2")
"""Per-frame rows, one per frame, mode and shift. ``faces*`` count the faces of the unshifted
frame; ``faces_matched``/``faces_unmatched``/``extra_faces`` count over the shift's four copies
(a face is compared with each copy). Means are NaN where nothing was compared. The
``frame_jitter_*`` columns do not depend on the shift: they repeat on each shift's row."""

_NO_ERRORS = PairErrors(np.zeros(0), np.zeros(0))


class StabilityJob:
    """Measure one video: decode, shift, detect, compare; ``run`` returns a ``StabilityReport``.

    ``detect`` is ``TieResolutions(detector)`` in use (tests pass detectors with known errors);
    ``facts`` describe it in the report. ``on_frames`` gets 1 per processed frame (progress).
    """

    def __init__(self, source: str, settings: StabilitySettings, detect: DetectModes,
                 facts: dict[str, Any] | None = None,
                 on_frames: Callable[[int], None] | None = None) -> None:
        self.settings = settings
        self.detect = detect
        self.facts = facts or {}
        self.on_frames = on_frames
        self.reader = VideoReader(source)
        info = self.reader.info
        try:
            shift_offsets(settings.shifts, info.width, info.height)  # a bad --shift fails first
        except InvalidOptionError:
            self.reader.close()
            raise
        planned = None if info.frames_estimate is None else -(-info.frames_estimate // settings.every)
        caps = [n for n in (planned, settings.max_frames) if n is not None]
        self.frames_planned = min(caps) if caps else None
        copies = 1 + len(DIRECTIONS) * len(settings.shifts)
        self._trackers = [Tracker(settings.tracking) for _ in range(copies)]  # one per copy
        self._recent: dict[str, list[tuple[Detections, np.ndarray, np.ndarray]]] = {m: [] for m in MODES}
        self._breaks = StreamBreaks()

    def run(self) -> StabilityReport:
        rows: list[dict[str, Any]] = []
        try:
            for decoded in self._selected_frames():
                rows.extend(self._measure(decoded))
                if self.on_frames:
                    self.on_frames(1)
        finally:
            self.reader.close()
        return StabilityReport(self.reader.info.source, self.settings, self.facts,
                               pd.DataFrame(rows, columns=list(FRAME_COLUMNS)))

    def _selected_frames(self) -> Iterator[DecodedFrame]:
        selection = FrameSelection(every=self.settings.every)
        processed = 0
        for decoded in self.reader.frames():
            if processed == self.settings.max_frames:
                return
            if selection.wants(decoded.index, decoded.time_s):
                processed += 1
                yield decoded

    def _measure(self, decoded: DecodedFrame) -> list[dict[str, Any]]:
        """The rows of one frame: detect on it and its copies, then compare, mode by mode."""
        s = self.settings
        rgb = decoded.to_rgb()
        height, width = rgb.shape[:2]
        offsets, which = shift_offsets(s.shifts, width, height)
        if self._breaks.breaks(decoded.time_s, (width, height)):
            for window in self._recent.values():  # frames on either side do not compare
                window.clear()
        faces = self.detect([shift_image(rgb, dx, dy) for dx, dy in offsets.tolist()])
        faces[TEMPORAL] = _track(self._trackers, faces["blend"], decoded.index, decoded.time_s,
                                 (width, height))
        blended = faces["blend"][faces["blend"].frame_index == 0]
        rows = []
        for mode in MODES:
            moved = move(faces[mode], -offsets)
            per_copy = [moved[moved.frame_index == k] for k in range(len(offsets))]
            reference = per_copy[0]
            iod, box_width = common_scale(reference, blended, s.match_iou)
            too_small, turned = s.excluded(iod, box_width)
            measured = ~(too_small | turned)
            window = self._recent[mode] = [*self._recent[mode][-2:], (reference, iod, measured)]
            jitter = _NO_ERRORS
            if len(window) == 3:
                (first, _, _), (middle, middle_iod, middle_measured), (last, _, _) = window
                jitter = second_difference(first, middle, last, middle_iod, middle_measured, s.match_iou)
            for j, shift in enumerate(s.shifts):
                compared = [compare_shifted(reference, per_copy[k], iod, measured, s.match_iou)
                            for k in np.flatnonzero(which == j)]
                errors = PairErrors.concat([c.errors for c in compared])
                dx, dy = shift.pixels(width, height)
                rows.append({
                    "frame_index": decoded.index, "time_s": decoded.time_s, "mode": mode,
                    "shift": shift.label, "shift_x_px": dx, "shift_y_px": dy, "faces": len(reference),
                    "faces_too_small": int(too_small.sum()), "faces_turned": int(turned.sum()),
                    "faces_matched": len(errors.box),
                    "faces_unmatched": sum(c.unmatched for c in compared),
                    "extra_faces": sum(c.extra for c in compared),
                    "box_mse_iod2": _mean(errors.box), "keypoints_mse_iod2": _mean(errors.keypoints),
                    "mse_iod2": _mean(errors.points),
                    "rms_iod_pct": 100 * math.sqrt(_mean(errors.points)),
                    "frame_jitter_faces": len(jitter.box),
                    "frame_jitter_mse_iod2": _mean(jitter.points),
                })
        return rows


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else math.nan


def _track(trackers: list[Tracker], faces: Detections, frame: int, time_s: float,
           size: tuple[int, int]) -> Detections:
    """Feed copy ``k``'s faces (in that copy's pixels) to tracker ``k`` for one frame."""
    index, times, sizes = np.array([frame], np.int64), np.array([time_s]), np.array([size])
    parts = []
    for k, tracker in enumerate(trackers):
        mine = faces[faces.frame_index == k]
        tracked = tracker.update(mine.replace(frame_index=np.full(len(mine), frame)), index, times, sizes)
        parts.append(tracked.replace(frame_index=np.full(len(tracked), k)))
    return Detections.merge(parts)


@dataclass(frozen=True)
class StabilityReport:
    """Per-frame rows of one video and their summary (``as_dict``: the ``--json`` object)."""

    source: str
    settings: StabilitySettings
    facts: dict[str, Any]
    frames: pd.DataFrame

    def as_dict(self) -> dict[str, Any]:
        modes = {}
        for mode in MODES:
            rows = self.frames[self.frames["mode"] == mode]
            figures = _figures(rows)
            figures.update(_jitter_figures(rows.drop_duplicates("frame_index")))
            figures["shifts"] = {label: _figures(rows[rows["shift"] == label])
                                 for label in (s.label for s in self.settings.shifts)}
            modes[mode] = figures
        return _jsonable({
            "video": self.source, **self.facts, **self.settings.facts(),
            "frames": int(self.frames["frame_index"].nunique()), "modes": modes,
            "reduction_pct": {"blend_vs_nms": _reduction(modes["blend"], modes["nms"]),
                              "temporal_vs_blend": _reduction(modes[TEMPORAL], modes["blend"])},
        })

    def write_parquet(self, path: str, overwrite: bool = False) -> None:
        """The per-frame rows, with ``as_dict()`` in the footer under the key ``blazecli``;
        without ``overwrite`` a file another run wrote meanwhile is kept."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(self.frames, preserve_index=False)
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), METADATA_KEY: json.dumps(self.as_dict())})
        buffer = pa.BufferOutputStream()
        pq.write_table(table, buffer, compression="zstd")
        write_atomic(path, buffer.getvalue().to_pybytes(), overwrite=overwrite)


def _figures(rows: pd.DataFrame) -> dict[str, Any]:
    """Pooled figures of some per-frame rows: counts summed, means weighted by pairs compared."""
    per_frame = rows.drop_duplicates("frame_index")
    matched = rows["faces_matched"]
    mse = _pooled(rows["mse_iod2"], matched)
    return {
        "frames": len(per_frame), "frames_without_face": int((per_frame["faces"] == 0).sum()),
        **{k: int(per_frame[k].sum()) for k in ("faces", "faces_too_small", "faces_turned")},
        **{k: int(rows[k].sum()) for k in ("faces_matched", "faces_unmatched", "extra_faces")},
        "box_mse_iod2": _pooled(rows["box_mse_iod2"], matched),
        "keypoints_mse_iod2": _pooled(rows["keypoints_mse_iod2"], matched), "mse_iod2": mse,
        "rms_iod_pct": 100 * math.sqrt(mse),
    }


def _jitter_figures(per_frame: pd.DataFrame) -> dict[str, Any]:
    counts = per_frame["frame_jitter_faces"]
    mse = _pooled(per_frame["frame_jitter_mse_iod2"], counts)
    return {"frame_jitter_faces": int(counts.sum()), "frame_jitter_mse_iod2": mse,
            "frame_jitter_rms_iod_pct": 100 * math.sqrt(mse)}


def _pooled(means: pd.Series, counts: pd.Series) -> float:
    """The mean over all values of per-frame ``means`` of ``counts`` values each; NaN if none."""
    total = counts.sum()
    return float((means.fillna(0) * counts).sum() / total) if total else math.nan


def _reduction(new: dict[str, Any], old: dict[str, Any]) -> dict[str, float]:
    """How much lower ``new`` is than ``old``, in % of ``old`` (NaN where ``old`` is 0 or unknown)."""
    out = {}
    for key in ("rms_iod_pct", "mse_iod2", "frame_jitter_rms_iod_pct"):
        out[key] = 100 * (1 - new[key] / old[key]) if old[key] > 0 else math.nan
    return out


def _jsonable(value: Any) -> Any:
    """NaN becomes null: JSON has no NaN."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def check_output(path: str, overwrite: bool) -> None:
    """Fail before any work if ``-o`` cannot take the per-frame Parquet file."""
    target = Path(path)
    if target.suffix.lower() != ".parquet":
        raise InvalidOptionError(f"{path}: per-frame values are written as Parquet: name it *.parquet")
    if target.is_dir():
        raise OutputNotWritableError(f"{path}: is a directory")
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{path}: already exists (use --overwrite to replace it)")
    if not target.parent.is_dir():
        raise OutputNotWritableError(f"{path}: folder {target.parent} does not exist")
    if not os.access(target.parent, os.W_OK):  # read-only, say: before measuring, not after
        raise OutputNotWritableError(f"{path}: folder {target.parent} is not writable")


def summary_tables(summary: dict[str, Any]) -> list:
    """Rich tables of ``StabilityReport.as_dict()``: the errors, then what was compared.

    One row per mode, or per mode and shift when several shifts were measured.
    """
    from rich.table import Table

    several = len(summary["shifts"]) > 1
    errors = Table(title=f"{summary['video']}: {summary['frames']} frames, shift "
                         f"{', '.join(summary['shifts'])} (edge-filled), model {summary.get('model', '?')}")
    counts = Table(caption="pairs: (face, shifted copy) compared (faces_matched); lost: a face without "
                           "partner in a copy (faces_unmatched); extra: a copy's face without partner; "
                           "small, turned: faces left out")
    for table, names in ((errors, ("box MSE/IOD²", "kp MSE/IOD²", "MSE/IOD²", "RMS % IOD",
                                   "frame jitter % IOD")),
                         (counts, ("frames", "no face", "faces", "small", "turned", "pairs", "lost",
                                   "extra"))):
        table.add_column("mode", no_wrap=True)
        if several:
            table.add_column("shift", no_wrap=True)
        for name in names:
            table.add_column(name, justify="right")
    for mode, figures in summary["modes"].items():
        for label, f in (figures["shifts"].items() if several else [(None, figures)]):
            first = [mode, label] if several else [mode]
            errors.add_row(*first, *(fmt_figure(f[k], ".2e") for k in (
                "box_mse_iod2", "keypoints_mse_iod2", "mse_iod2")), fmt_figure(f["rms_iod_pct"], ".2f"),
                fmt_figure(figures["frame_jitter_rms_iod_pct"], ".2f"))
            counts.add_row(*first, *(str(f[k]) for k in (
                "frames", "frames_without_face", "faces", "faces_too_small", "faces_turned",
                "faces_matched", "faces_unmatched", "extra_faces")))
    return [errors, counts]


def closing_note(summary: dict[str, Any]) -> str:
    """The reductions in words, next to the paper's figures."""
    if not summary["modes"]["blend"]["faces_matched"]:
        return "no face could be compared (see the counts): no jitter to report."
    blend = summary["reduction_pct"]["blend_vs_nms"]
    temporal = summary["reduction_pct"]["temporal_vs_blend"]

    def change(figures: dict[str, Any], key: str) -> str:
        return "n/a" if figures[key] is None else fmt_figure(figures[key], "+.1f", neg=True) + " %"

    return (f"blend vs nms: shift jitter {change(blend, 'rms_iod_pct')} (RMS, the paper's form; "
            f"MSE {change(blend, 'mse_iod2')}); the paper reports {PAPER_REDUCTION} lower.\n"
            f"temporal vs blend: shift jitter {change(temporal, 'rms_iod_pct')} RMS, "
            f"frame-to-frame jitter {change(temporal, 'frame_jitter_rms_iod_pct')} RMS.")


def fmt_figure(value: float | None, spec: str, neg: bool = False) -> str:
    """``value`` formatted, ``-`` where unknown; ``neg`` shows a reduction as a signed change."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(-value if neg else value, spec)
