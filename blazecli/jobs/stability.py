"""The ``stability`` job: decode, shift, detect, compare, one frame at a time; and its report.

The metric itself (shifted copies, matching, errors over IOD^2) is
:mod:`blazecli.temporal.jitter`. Each frame's copies go through the model in one batch, and
the raw candidates of that one inference are resolved both ways, ``nms`` and ``blend``;
``temporal`` runs the temporal stage (:mod:`blazecli.temporal.tracking`, default options) on
the blended faces: one tracker over the unshifted frames and one over each sequence of copies
shifted by the same offset, so the smoothing sees the same kind of stream it sees in ``detect``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..choices import TIES
from ..detections import Detections
from ..errors import InvalidOptionError
from ..inference.detector import FaceDetector
from ..media.reader import DecodedFrame, VideoReader
from ..media.selection import FrameSelection
from ..outputs.paths import check_output, check_writable
from ..outputs.sinks import METADATA_KEY, write_atomic
from ..temporal.jitter import (
    DIRECTIONS,
    PairErrors,
    Shift,
    common_scale,
    compare_shifted,
    move,
    second_difference,
    shift_image,
    shift_offsets,
)
from ..temporal.tracking import StreamBreaks, Tracker, TrackerOptions

FILL = "edge"
TIE_MODES = tuple(reversed(TIES))  # reported in this order: plain NMS first, the baseline
TEMPORAL = "temporal"
MODES = (*TIE_MODES, TEMPORAL)

DetectModes = Callable[[Sequence[np.ndarray]], dict[str, Detections]]
"""Images -> faces under each tie mode, in each image's pixels, ``frame_index`` = image position."""


class TieResolutions:
    """Both tie resolutions of a batch of images from one inference: the candidates are shared."""

    def __init__(self, detector: FaceDetector) -> None:
        self.detector = detector

    def __call__(self, images: Sequence[np.ndarray]) -> dict[str, Detections]:
        inputs = self.detector.inputs(images)
        candidates = self.detector.candidates(inputs.samples)
        return {mode: self.detector.resolve_inputs(candidates, inputs, tie=mode) for mode in TIE_MODES}

    @property
    def facts(self) -> dict[str, Any]:
        """What the report should say about the detector."""
        options = self.detector.options
        return {"model": options.model, "threshold": options.min_score, "tiles": options.tiles,
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
        FrameSelection(every=self.every)  # validates every
        if not self.shifts:
            raise InvalidOptionError("give at least one `shifts`")
        repeated = {s.label for s in self.shifts if self.shifts.count(s) > 1}
        if repeated:  # measured twice, its faces would count twice
            raise InvalidOptionError(f"`shifts` {', '.join(sorted(repeated))} is given more than once")
        if self.max_frames is not None and self.max_frames < 1:
            raise InvalidOptionError(f"`max_frames` must be at least 1, got {self.max_frames}")
        if not self.min_iod > 0:  # NaN fails too
            raise InvalidOptionError(f"`min_iod` must be positive, got {self.min_iod}")
        if not 0 <= self.min_iod_ratio < 1:
            raise InvalidOptionError(f"`min_iod_ratio` must be within [0, 1), got {self.min_iod_ratio}")
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
                 "frame_jitter_faces", "frame_jitter_mse_iod2", "iod_px")
"""Per-frame rows, one per frame, mode and shift. ``faces*`` count the faces of the unshifted
frame; ``iod_px`` is the mean inter-ocular distance of those compared;
``faces_matched``/``faces_unmatched``/``extra_faces`` count over the shift's four copies
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
                    "iod_px": _mean(iod[measured]),
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
            figures["rms_px"] = figures["rms_iod_pct"] / 100 * figures["iod_px"]
            figures["frame_jitter_rms_px"] = figures["frame_jitter_rms_iod_pct"] / 100 * figures["iod_px"]
            figures["shifts"] = {label: _figures(rows[rows["shift"] == label])
                                 for label in (s.label for s in self.settings.shifts)}
            modes[mode] = figures
        frames = int(self.frames["frame_index"].nunique())
        tracked = frames > 1  # one frame (a photo): the temporal mode is the blend, not better
        return _jsonable({
            "video": self.source, **self.facts, **self.settings.facts(),
            "frames": frames, "modes": modes,
            "reduction_pct": {"blend_vs_nms": _reduction(modes["blend"], modes["nms"]),
                              "temporal_vs_blend": _reduction(modes[TEMPORAL], modes["blend"])
                              if tracked else dict.fromkeys(_REDUCED, math.nan)},
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
        "iod_px": _pooled(rows["iod_px"], matched),  # the faces' mean IOD, by pairs compared
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


_REDUCED = ("rms_iod_pct", "mse_iod2", "frame_jitter_rms_iod_pct")
"""The figures whose reduction from one mode to the next is reported."""


def _reduction(new: dict[str, Any], old: dict[str, Any]) -> dict[str, float]:
    """How much lower ``new`` is than ``old``, in % of ``old`` (NaN where ``old`` is 0 or unknown)."""
    out = {}
    for key in _REDUCED:
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


def check_values_output(path: str, overwrite: bool, source: str) -> None:
    """Fail before any work if ``-o`` cannot take the per-frame Parquet file of ``source``."""
    if Path(path).suffix.lower() != ".parquet":
        raise InvalidOptionError(f"{path}: per-frame values are written as Parquet: name it *.parquet")
    check_output([source], path)
    check_writable(Path(path), overwrite)
