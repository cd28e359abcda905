"""How steady faces are: the BlazeFace paper's shift-jitter metric and frame-to-frame jitter (pure numpy).

The paper runs the detector on a frame and on a copy shifted by a few pixels, moves the second
prediction back and compares; a perfectly steady detector predicts the same face. Here, for each
sampled frame and each ``--shift`` amount ``s``, four copies are made (content moved by ``+s``
and ``-s`` in x, then in y, whole pixels). The borders a copy uncovers repeat the frame's edge
pixels (no wrap-around as with ``np.roll``, and no black band that the model could take for an
edge). All copies of a frame go through the model in one batch, and the raw candidates of that
one inference are resolved both ways, ``nms`` and ``blend``; ``temporal`` runs the temporal
stage (``blazecli.temporal.tracking``, default options) on the blended faces: one tracker over the
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

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..detections import Detections
from ..errors import InvalidOptionError
from ..inference.ties import greedy_pairs, pairwise_iou

DIRECTIONS = np.array([(1, 0), (-1, 0), (0, 1), (0, -1)], np.int64)
"""The copies made per shift amount: content moved right, left, down, up."""

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
            raise InvalidOptionError(f"`shifts` must look like 2px or 1%, got {text!r}")
        amount, unit = float(match[1]), match[2] or "px"
        if amount <= 0:
            raise InvalidOptionError(f"`shifts` must be positive, got {text!r}")
        if unit == "px" and not amount.is_integer():
            raise InvalidOptionError(
                f"`shifts` in pixels must be whole pixels (copies are moved, never resampled), got {text!r}")
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
                f"`shifts` {self.label} is less than a pixel on a {width}x{height} frame")
        if dx >= width or dy >= height:
            raise InvalidOptionError(f"`shifts` {self.label} moves a copy by {dx}x{dy} px: it must be "
                                     f"smaller than the {width}x{height} frame")
        return dx, dy


def shift_offsets(shifts: Sequence[Shift], width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Offsets ``(K, 2)`` of the images run per frame, and the shift each belongs to ``(K,)``.

    Image 0 is the frame itself (shift -1); then four copies per shift in ``DIRECTIONS`` order.
    """
    amounts = [s.pixels(width, height) for s in shifts]
    for k, amount in enumerate(amounts):  # measured twice, its faces would count twice
        if amount in amounts[:k]:
            raise InvalidOptionError(
                f"`shifts` {shifts[amounts.index(amount)].label} and {shifts[k].label} both move a copy "
                f"of the {width}x{height} frame by {amount[0]}x{amount[1]} px: give one of them")
    offsets = [np.zeros((1, 2), np.int64)]
    offsets += [DIRECTIONS * np.array(amount) for amount in amounts]
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
