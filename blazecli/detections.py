"""The ``Detections`` type: faces as a struct of numpy arrays, never a list of small objects."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_center",
                  "right_ear_tragion", "left_ear_tragion")
"""BlazeFace's six keypoints in model order; "right" is the subject's right."""


class Face(NamedTuple):
    """One face, as iterating over ``Detections`` yields it."""

    box: np.ndarray  # (4,) x_min, y_min, x_max, y_max
    keypoints: np.ndarray  # (6, 2) in KEYPOINT_NAMES order
    score: float
    frame_index: int
    track_id: int  # -1 where no tracker has assigned one
    interpolated: bool


_FIELDS = (("boxes", np.float32, (4,)), ("keypoints", np.float32, (6, 2)), ("scores", np.float32, ()),
           ("frame_index", np.int64, ()), ("track_id", np.int64, ()), ("interpolated", np.bool_, ()))
"""Each field's dtype and the shape of one face's entry; a flat array of the same values is
taken too, a transposed one (``(4, N)`` boxes) is refused."""
_DEFAULTS = {"frame_index": 0, "track_id": -1, "interpolated": False}
"""The value of every face where a field is not given."""
_NAMES = tuple(name for name, _, _ in _FIELDS)
"""The fields in order (``dataclasses.fields`` costs more than most selections of a few faces)."""


@dataclass(frozen=True, eq=False)
class Detections:
    """Faces found in one or more frames.

    boxes: ``(N, 4)`` float32 ``x_min, y_min, x_max, y_max``.
    keypoints: ``(N, 6, 2)`` float32 ``(x, y)`` in ``KEYPOINT_NAMES`` order.
    scores: ``(N,)`` float32 in [0, 1].
    frame_index: ``(N,)`` int64, the frame each face belongs to.
    track_id: ``(N,)`` int64, -1 where no tracker has assigned one.
    interpolated: ``(N,)`` bool, True for faces a tracker filled into a gap.

    Coordinates are pixels of the displayed frame once a detector returns them
    (normalized model-input coordinates inside the post-processing stages).
    """

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    frame_index: np.ndarray = field(default=None)  # type: ignore[arg-type]  # None: filled in by __post_init__
    track_id: np.ndarray = field(default=None)  # type: ignore[arg-type]  # None: filled in by __post_init__
    interpolated: np.ndarray = field(default=None)  # type: ignore[arg-type]  # None: filled in by __post_init__

    def __post_init__(self) -> None:
        if self.scores is None:  # before the others' shapes are checked against its length
            raise TypeError("Detections: `scores` is required, got None")
        n = np.size(self.scores)
        for name, dtype, row in _FIELDS:
            value = getattr(self, name)
            shape = (n, *row)
            if type(value) is np.ndarray and value.dtype == dtype and value.shape == shape:
                continue  # the common case, from another Detections: taken as it is
            if value is None and name not in _DEFAULTS:
                raise TypeError(f"Detections: `{name}` is required, got None")
            array = np.full(n, _DEFAULTS[name], dtype) if value is None else np.asarray(value, dtype)
            if array.shape != shape:
                if array.size != n * math.prod(row) or (array.ndim > 1 and n):  # flat values: taken
                    raise ValueError(f"Detections: `{name}` must be {shape} for {n} score(s), "
                                     f"got {array.shape}")
                array = array.reshape(shape)
            object.__setattr__(self, name, array)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros((0, 6, 2)), np.zeros(0))

    @classmethod
    def merge(cls, parts: Iterable[Detections]) -> Detections:
        """Concatenate, keeping the order of ``parts`` (any iterable, a generator too)."""
        if isinstance(parts, (Detections, str, bytes)):  # iterable, but not a sequence of parts
            raise TypeError(f"Detections.merge: `parts` must be an iterable of Detections, got one "
                            f"{type(parts).__name__}: merge([parts])")
        parts = list(parts)
        if not parts:
            return cls.empty()
        strangers = sorted({type(p).__name__ for p in parts if not isinstance(p, Detections)})
        if strangers:  # each type once: a message as long as the input says no more
            raise TypeError(f"Detections.merge: `parts` must all be Detections, got {', '.join(strangers)}")
        return cls(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in _NAMES})

    def __len__(self) -> int:
        return len(self.scores)

    def is_empty(self) -> bool:
        return len(self) == 0

    def __iter__(self) -> Iterator[Face]:
        """One ``Face`` record per face, in order (as supervision's ``Detections`` yields tuples)."""
        return map(self._face, range(len(self)))

    def __reversed__(self) -> Iterator[Face]:
        """The ``Face`` records last first, as iteration yields them (``d[i]`` selects a
        ``Detections``, which ``reversed`` would otherwise yield)."""
        return map(self._face, range(len(self) - 1, -1, -1))

    def _face(self, i: int) -> Face:
        return Face(self.boxes[i], self.keypoints[i], float(self.scores[i]),
                    int(self.frame_index[i]), int(self.track_id[i]), bool(self.interpolated[i]))

    def __getitem__(self, index: np.ndarray | slice | int) -> Detections:
        """Select faces with a boolean mask, an index array, a slice or an int (always a
        ``Detections``; an int out of range raises ``IndexError``)."""
        if isinstance(index, np.ndarray) and index.ndim == 1 or isinstance(index, slice):
            if isinstance(index, np.ndarray) and index.dtype == np.bool_ and len(index) != len(self):
                raise IndexError(f"a boolean mask of {len(index)} for {len(self)} face(s)")
        elif (isinstance(index, (bool, np.bool_)) or np.ndim(index) > 1
              or not isinstance(index, (int, np.integer, list, range))):
            raise TypeError("Detections are selected by an int, a slice, a boolean mask or an "
                            f"index array, got {type(index).__name__} {index!r}")
        if isinstance(index, (int, np.integer)):
            if not -len(self) <= index < len(self):
                raise IndexError(f"face index {index} out of range for {len(self)} face(s)")
            index = np.array([int(index)])
        return Detections(**{name: getattr(self, name)[index] for name in _NAMES})

    def __eq__(self, other: object) -> bool:
        """Equal when every array is equal (NaN keypoints included)."""
        if not isinstance(other, Detections):
            return NotImplemented
        return all(np.array_equal(getattr(self, name), getattr(other, name), equal_nan=True)
                   for name in _NAMES)

    __hash__ = None  # type: ignore[assignment]

    def __array__(self, *args: object, **kwargs: object) -> np.ndarray:
        """Refused in words: NumPy would build an array of faces element by element and fail
        on their shapes."""
        raise TypeError("Detections hold one array per field: use .boxes, .keypoints, .scores "
                        "(and the others), or .coordinates() for one (N, 16) array")

    def replace(self, **changes: np.ndarray) -> Detections:
        values = {name: getattr(self, name) for name in _NAMES}
        values.update(changes)
        return Detections(**values)

    def coordinates(self) -> np.ndarray:
        """``(N, 16)`` float64: the box's corners, then the keypoints' x and y. The temporal
        stages filter and move a face as one such vector, keeping box and keypoints together."""
        return np.concatenate([self.boxes, self.keypoints.reshape(-1, 12)], axis=1).astype(np.float64)

    def with_coordinates(self, values: np.ndarray, **changes: np.ndarray) -> Detections:
        """These faces at ``(N, 16)`` ``values`` laid out as :meth:`coordinates` gives them."""
        return self.replace(boxes=values[:, :4], keypoints=values[:, 4:].reshape(-1, 6, 2), **changes)

    @property
    def inter_ocular_distance(self) -> np.ndarray:
        """Distance between the eye keypoints, ``(N,)``: the scale the paper normalizes jitter by."""
        return np.linalg.norm(self.keypoints[:, 0] - self.keypoints[:, 1], axis=1)
