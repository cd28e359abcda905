"""Temporal cover for hiding faces: masks held past a track's last sighting and started before
its first (pure numpy, no I/O).

A detector misses a face now and then, and a tiled run sees a small face only when its tile
runs. The tracker's filled gaps cover misses between two sightings; this stage also covers
the frames just before a face is first seen and just after it was last seen, which needs a
look-ahead of ``frames`` frames. Memory stays bounded: at most ``frames`` frames wait here.

A face that moves walks out from under a mask held where it was: where a track's last two
sightings (or first two) show it moving, the mask also follows that motion on, or back. A fast
face often breaks its track (it moved farther between two sightings than the tracker lets a
track go), so a new track's first sighting is also linked to the track that just went missing
nearest to where that track's motion would have taken it (:data:`LINK_SPEED`): the line between
them gives the new face's motion back over the frames before, where neither track has any. The
links only add masks, so a wrong one costs a blurred patch, not a face; the tracker itself
keeps its stricter gate.

The cover works in the scene's coordinates, not the frame's: with each frame comes the camera's
pose (:mod:`blazecli.temporal.camera`), so a mask held over a face that the camera pans or
zooms past moves with it. Where the camera moved since the sighting, the mask at the pixels
where the face was seen is kept too: the measured motion is a zoom and a pan, and may be misread.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import TypeVar

import numpy as np

from ..detections import Detections
from ..inference.ties import greedy_pairs, pairwise_iou
from .camera import CameraPose, same_pixels

Payload = TypeVar("Payload")

SAME_PLACE_IOU = 0.5
"""A face of the cover is left out of a frame that already has a face in its place (IoU at least
this): that face was found there, under another track or none, and its own mask hides it. A
track broken in pieces would otherwise pile a dozen masks on one face, each blurred anew."""

LINK_SPEED = 1.5
"""A new track continues a missing one when its box's centre moved at most this many face widths
a frame since that track's last sighting (a face swinging across the frame moves about one)..."""
LINK_SIZE_RATIO = 1.5
"""...and the two boxes' widths differ by at most this factor."""


def cover_faces(frames: Iterable[tuple[Payload, int, Detections, CameraPose]], frames_around: int,
                ) -> Iterator[tuple[Payload, Detections]]:
    """``(payload, frame index, faces, camera pose)`` in frame order -> ``(payload, faces with
    cover)``.

    Each face (by ``track_id``; an untracked face counts as its own track) also covers up to
    ``frames_around`` frames before it where its track was not seen, and is held, where its
    track is missing, for up to ``frames_around`` frames after, unless a face of that frame
    already stands in its place (:data:`SAME_PLACE_IOU`). Added faces are marked
    ``interpolated``. With ``frames_around`` 0 frames pass as they are.

    The cover is placed in the scene (:func:`~blazecli.temporal.camera.follow_camera` gives
    the poses), so a mask moves with a camera that pans or zooms past the face. Where the
    camera moved between the sighting and the frame covered, the mask at the pixels where the
    face was seen is kept too: a misread motion (a screen filmed by hand, moving glare) would
    otherwise take the mask off a face that barely moved. A still camera needs neither.

    A Ctrl-C that stops the frames' source (a live recording's end) hands over the frames
    still waiting, with the cover known so far, and is raised after: the recording keeps them.
    """
    pending: deque[tuple[Payload, int, list[Detections], CameraPose, Detections]] = deque()
    held = Detections.empty()  # the last sighting of each recent track, in the scene
    held_at = np.zeros(0, np.int64)  # its frame number
    held_step = np.zeros((0, 16))  # its motion a frame since the sighting before (0: none)
    held_first = np.zeros(0, bool)  # whether that sighting was the track's first
    held_pose = np.zeros((0, 3))  # the camera's pose in its frame (scale, shift x, shift y)
    untracked = -2  # keys for untracked faces: never equal to a track id or to each other
    try:
        for number, (payload, index, faces, pose) in enumerate(frames):
            placed = pose.to_scene_faces(faces)
            keys = faces.track_id.copy()
            loose = keys < 0
            keys[loose] = untracked - np.arange(int(loose.sum()))
            untracked -= int(loose.sum())
            keyed = placed.replace(track_id=keys)
            parts = [placed]
            if frames_around:
                now = pose.as_row()
                row = _rows_of(keys, held.track_id)  # each face's held sighting, -1 if none
                missing = ~np.isin(held.track_id, keys)  # held tracks not seen in this frame
                since = number - held_at  # frames since each held sighting
                seen = row >= 0
                last_seen = np.full(len(keys), -1, np.int64)  # -1: not held (frames count from 0)
                last_seen[seen] = held_at[row[seen]]
                step = np.zeros((len(keys), 16))
                step[seen] = ((placed[seen].coordinates() - held[row[seen]].coordinates())
                              / since[row[seen]][:, None])
                # Where a face was before a sighting that shows its motion, a mask moved back
                # along it covers: a track's second sighting shows how it moved into its first
                # (back before that first), a new track linked to a missing one how it came
                # (back over the gap and before the missing one's sighting).
                back = seen & step.any(axis=1)
                back[seen] &= held_first[row[seen]]
                back_until = np.zeros(len(keys), np.int64)  # frames before this one get the mask...
                back_until[back] = held_at[row[back]]
                back_since = back_until.copy()  # ...as far as `frames_around` before this one
                new, continued = _links(placed, ~seen, _moved(held, held_step, since), missing, since)
                step[new] = ((placed[new].coordinates() - held[continued].coordinates())
                             / since[continued][:, None])
                back[new] = True
                back_until[new], back_since[new] = number, held_at[continued]
                earlier = [(earlier_index, earlier_pose) for _, earlier_index, _, earlier_pose, _ in pending]
                for position, cover in _covers_before(placed, step, last_seen, back, back_until, back_since,
                                                      number, pose, earlier, frames_around):
                    pending[position][2].append(cover)
                absent = missing & (since <= frames_around)
                if absent.any():
                    recent_first = np.flatnonzero(absent)[np.argsort(-held_at[absent], kind="stable")]
                    moving = recent_first[held_step[recent_first].any(axis=1)]
                    camera_moved = recent_first[(held_pose[recent_first] != now).any(axis=1)]
                    as_seen = held[camera_moved]
                    cover = Detections.merge([
                        _moved(held[moving], held_step[moving], since[moving]), held[recent_first],
                        as_seen.with_coordinates(same_pixels(as_seen.coordinates(), held_pose[camera_moved], now))])
                    parts.append(_as_cover(_with_real_ids(cover), index))
                stay = missing & (since < frames_around)
                held = Detections.merge([held[stay], keyed])
                held_at = np.r_[held_at[stay], np.full(len(keyed), number, np.int64)]
                held_step = np.concatenate([held_step[stay], step])
                held_first = np.r_[held_first[stay], ~seen]
                held_pose = np.concatenate([held_pose[stay], np.tile(now, (len(keyed), 1))])
            pending.append((payload, index, parts, pose, faces))
            while len(pending) > frames_around:
                done, _, done_parts, done_pose, done_faces = pending.popleft()
                yield done, _shown(done_parts, done_pose, done_faces)
    except KeyboardInterrupt:
        yield from _merged(pending)
        raise
    yield from _merged(pending)


def _merged(pending: Iterable[tuple[Payload, int, list[Detections], CameraPose, Detections]],
            ) -> Iterator[tuple[Payload, Detections]]:
    for done, _, done_parts, done_pose, done_faces in pending:
        yield done, _shown(done_parts, done_pose, done_faces)


def _shown(parts: list[Detections], pose: CameraPose, own: Detections) -> Detections:
    """A frame's ``own`` faces (the first part, placed in the scene), then the faces of its
    cover, in the order they were added, less each one that a face kept before it already
    stands in for (:data:`SAME_PLACE_IOU`); in the frame's pixels.

    Left out once, when the frame leaves the look-ahead, rather than part by part as they come:
    the same faces, each kept or left in the same order, for one overlap test a frame."""
    if len(parts) == 1:
        return own
    faces = Detections.merge(parts)
    count = len(parts[0])
    same_place = pairwise_iou(faces.boxes.reshape(-1, 4)) >= SAME_PLACE_IOU  # (N, N)
    # A cover face in the place of an own face is left out at once; the rest one by one.
    keep: list[int] = []
    for k in (np.flatnonzero(~same_place[count:, :count].any(axis=1)) + count).tolist():
        if not same_place[k, keep].any():
            keep.append(k)
    return Detections.merge([own, pose.to_frame_faces(faces[np.array(keep, np.int64)])])


def _covers_before(faces: Detections, step: np.ndarray, last_seen: np.ndarray, back: np.ndarray,
                   back_until: np.ndarray, back_since: np.ndarray, number: int, pose: CameraPose,
                   earlier: list[tuple[int, CameraPose]], frames_around: int) -> Iterator[tuple[int, Detections]]:
    """The cover that frame ``number``'s faces (camera ``pose``) give each of the ``len(earlier)``
    frames just before it (``(frame index, camera pose)``), as ``(position, faces)`` where there is one.

    A frame gets each face whose track was not seen since (``last_seen`` before it), and each face
    moving ``back`` along its ``step``, moved there, from ``back_until`` back to ``frames_around``
    before ``back_since``: first the moved faces, then the others, then the others at the pixels
    where they were seen, where the camera moved; each in face order. All the frames' covers are
    made at once, in one selection of faces."""
    if not earlier or not len(faces):
        return
    frame_numbers = number - len(earlier) + np.arange(len(earlier))[:, None]  # (P, 1)
    reach = last_seen < frame_numbers  # (P, K)
    moved_back = back & (frame_numbers < back_until) & (back_since - frame_numbers <= frames_around)
    moved_at, moved_face = np.nonzero(moved_back)
    reach_at, reach_face = np.nonzero(reach)
    if not len(moved_at) and not len(reach_at):
        return
    now = pose.as_row()
    poses = np.array([earlier_pose.as_row() for _, earlier_pose in earlier])  # (P, 3)
    as_seen = (poses[reach_at] != now).any(axis=1)
    seen_at, seen_face = reach_at[as_seen], reach_face[as_seen]
    at, face = np.r_[moved_at, reach_at, seen_at], np.r_[moved_face, reach_face, seen_face]
    kind = np.repeat([0, 1, 2], [len(moved_at), len(reach_at), len(seen_at)])
    order = np.argsort(at, kind="stable")  # by frame; within one, moved faces first
    at, face, kind = at[order], face[order], kind[order]
    coordinates = _moved(faces[face], step[face], np.where(kind == 0, frame_numbers[at, 0] - number, 0)).coordinates()
    pixels = kind == 2
    coordinates[pixels] = same_pixels(coordinates[pixels], now, poses[at[pixels]])
    covers = _as_cover(faces[face].with_coordinates(coordinates),
                       np.array([index for index, _ in earlier], np.int64)[at])
    bounds = np.searchsorted(at, np.arange(len(earlier) + 1))
    for position in np.flatnonzero(np.diff(bounds)).tolist():
        yield position, covers[bounds[position]:bounds[position + 1]]


def _rows_of(keys: np.ndarray, held_keys: np.ndarray) -> np.ndarray:
    """The row of ``held_keys`` holding each key, -1 where none does."""
    if len(held_keys) == 0:
        return np.full(len(keys), -1, np.int64)
    order = np.argsort(held_keys)
    position = np.searchsorted(held_keys[order], keys).clip(0, len(held_keys) - 1)
    return np.where(held_keys[order][position] == keys, order[position], -1)


def _links(faces: Detections, new: np.ndarray, expected: Detections, missing: np.ndarray,
           frames_since: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which ``new`` faces (first sightings) continue which ``missing`` held tracks, seen
    ``frames_since`` frames ago and ``expected`` now where their last motion would take them:
    the pairs within :data:`LINK_SPEED` and :data:`LINK_SIZE_RATIO`, the least unexpected
    first (in a pan, a track seen long ago can lie as near as the right one, but not where its
    motion leads), each face and track in one pair at most. Returns the faces' positions and the
    tracks' rows."""
    candidates, sightings = np.flatnonzero(new), np.flatnonzero(missing)
    if len(candidates) == 0 or len(sightings) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    boxes, earlier = faces.boxes[candidates].reshape(-1, 4), expected.boxes[sightings].reshape(-1, 4)
    # Widths at least a hundredth of a pixel: a box read from a file may be empty or inverted.
    width = np.maximum(np.abs(boxes[:, 2] - boxes[:, 0]), 0.01)  # (N,)
    earlier_width = np.maximum(np.abs(earlier[:, 2] - earlier[:, 0]), 0.01)  # (M,)
    centre, earlier_centre = _centres(boxes), _centres(earlier)
    moved = np.linalg.norm(centre[:, None] - earlier_centre[None], axis=2)  # (N, M) pixels
    size = (width[:, None] + earlier_width[None]) / 2
    speed = moved / size / frames_since[sightings][None]  # face widths a frame off
    ratio = np.maximum(width[:, None], earlier_width[None]) / np.minimum(width[:, None], earlier_width[None])
    faces_taken, sightings_taken = greedy_pairs(-speed, (speed <= LINK_SPEED) & (ratio <= LINK_SIZE_RATIO))
    return candidates[faces_taken], sightings[sightings_taken]


def _centres(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, :2] + boxes[:, 2:]) / 2


def _moved(faces: Detections, step: np.ndarray, frames: np.ndarray | int) -> Detections:
    """``faces`` moved ``frames`` (each, or all) times their ``(N, 16)`` step (negative: back).

    A box grows with its step but never shrinks below its own size: carried on over many
    frames, a step that shrinks it turned it inside out, and it hid nothing."""
    coordinates = faces.coordinates()
    moved = coordinates + step * np.reshape(frames, (-1, 1))
    centre = _centres(moved[:, :4])
    half = np.maximum(moved[:, 2:4] - moved[:, :2], coordinates[:, 2:4] - coordinates[:, :2]) / 2
    moved[:, :4] = np.concatenate([centre - half, centre + half], axis=1)
    return faces.with_coordinates(moved)


def _with_real_ids(faces: Detections) -> Detections:
    """Cover keys of untracked faces back to ``-1``."""
    return faces.replace(track_id=np.where(faces.track_id < 0, -1, faces.track_id))


def _as_cover(faces: Detections, index: int | np.ndarray) -> Detections:
    """``faces`` as cover of frame ``index`` (one, or one a face)."""
    return faces.replace(frame_index=np.zeros(len(faces), np.int64) + index,
                         interpolated=np.ones(len(faces), bool))
