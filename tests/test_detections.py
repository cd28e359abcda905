"""``Detections`` behaves like a sequence: length, iteration that ends, masks, equality."""

from __future__ import annotations

import numpy as np
import pytest

from blazecli.detections import Detections, Face


def three_faces() -> Detections:
    boxes = np.array([[0, 0, 10, 10], [5, 5, 20, 20], [30, 30, 60, 60]], np.float32)
    keypoints = np.arange(36, dtype=np.float32).reshape(3, 6, 2)
    return Detections(boxes, keypoints, np.array([0.9, 0.6, 0.75]), track_id=np.array([4, 7, -1]))


def test_iteration_ends_and_yields_face_records() -> None:
    faces = three_faces()
    listed = list(faces)
    assert len(listed) == len(faces) == 3
    assert all(isinstance(face, Face) for face in listed)
    assert [face.score for face in listed] == pytest.approx([0.9, 0.6, 0.75])
    assert [face.track_id for face in listed] == [4, 7, -1]
    np.testing.assert_array_equal(listed[2].box, [30, 30, 60, 60])
    assert listed[1].keypoints.shape == (6, 2)


def test_empty_iterates_to_nothing() -> None:
    empty = Detections.empty()
    assert list(empty) == [] and empty.is_empty() and len(empty) == 0


@pytest.mark.parametrize("index", [0, 2, -1, -3])
def test_int_index_is_one_face(index: int) -> None:
    faces = three_faces()
    one = faces[index]
    assert len(one) == 1
    assert one.scores[0] == faces.scores[index]


@pytest.mark.parametrize("index", [3, -4, 100])
def test_int_index_out_of_range_raises(index: int) -> None:
    with pytest.raises(IndexError):
        three_faces()[index]


def test_mask_and_slice() -> None:
    faces = three_faces()
    assert faces[faces.scores > 0.7].track_id.tolist() == [4, -1]
    assert len(faces[1:]) == 2


def test_equality_compares_arrays() -> None:
    assert three_faces() == three_faces()
    assert three_faces() != three_faces()[:2]
    changed = three_faces().replace(scores=np.array([0.9, 0.6, 0.5]))
    assert three_faces() != changed
    assert three_faces() != "faces"


def test_arrays_of_the_wrong_shape_are_refused_in_the_field_s_name() -> None:
    """(4, N) boxes were silently reshaped into wrong boxes; a wrong-length field said
    "cannot reshape array of size 8 into shape (1,4)" about another field."""
    faces = three_faces()
    with pytest.raises(ValueError, match=r"`boxes` must be \(3, 4\) for 3 score\(s\), got \(4, 3\)"):
        Detections(faces.boxes.T, faces.keypoints, faces.scores)
    with pytest.raises(ValueError, match=r"`boxes` must be \(1, 4\) for 1 score\(s\), got \(3, 4\)"):
        faces.replace(scores=np.array([1.0]))
    flat = Detections(faces.boxes.ravel(), faces.keypoints.ravel(), faces.scores)  # flat values: taken
    assert flat == Detections(faces.boxes, faces.keypoints, faces.scores)


@pytest.mark.parametrize("index", [None, (0,), np.bool_(True), True, 1.0, "boxes", np.zeros((2, 2), int)])
def test_what_cannot_select_faces_says_so(index: object) -> None:
    with pytest.raises(TypeError, match="selected by an int, a slice, a boolean mask or an index array"):
        three_faces()[index]  # type: ignore[index]


def test_merge_takes_a_generator() -> None:
    merged = Detections.merge(three_faces()[i:i + 1] for i in range(3))
    assert merged == three_faces()


def test_reversed_yields_face_records_last_first() -> None:
    """reversed() went through __getitem__ and yielded one-face Detections, not Faces."""
    d = three_faces()
    assert [f.score for f in reversed(d)] == [f.score for f in d][::-1]
    assert all(isinstance(f, Face) for f in reversed(d))


@pytest.mark.parametrize("field", ["boxes", "keypoints", "scores"])
def test_a_required_field_left_none_is_named(field: str) -> None:
    """A bare KeyError: 'boxes' said nothing of what was wrong."""
    values = {"boxes": np.zeros((1, 4)), "keypoints": np.zeros((1, 6, 2)), "scores": np.ones(1)}
    with pytest.raises(TypeError, match=f"`{field}` is required"):
        Detections(**{**values, field: None})


def test_merge_and_masks_say_what_is_wrong() -> None:
    d = three_faces()
    with pytest.raises(TypeError, match="`parts` must all be Detections, got int"):
        Detections.merge([d, 5])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"got one Detections: merge\(\[parts\]\)"):
        Detections.merge(d)  # iterating it would give Faces, one word each in the message
    with pytest.raises(TypeError, match="got one str"):
        Detections.merge("abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got Face, int$"):  # each type once
        Detections.merge([*d, 5, 6])  # type: ignore[list-item]
    with pytest.raises(IndexError, match="a boolean mask of 2 for 3 face"):
        d[np.array([True, False])]


def test_detector_errors_name_the_parameter() -> None:
    from blazecli.inference.detector import FaceDetector

    detector = FaceDetector()
    with pytest.raises(ValueError, match="`image` must be uint8"):
        detector.detect_image(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="`frames` must be uint8"):
        detector.detect([np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(TypeError, match="`frames` must be a sequence of images, got int"):
        detector.detect(5)  # type: ignore[arg-type]


def test_numpy_conversion_says_which_arrays_to_use() -> None:
    """np.asarray(detections) failed on \"an inhomogeneous shape\" after a face-by-face walk."""
    with pytest.raises(TypeError, match=r"coordinates\(\)"):
        np.asarray(three_faces())
