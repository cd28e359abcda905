"""The public way to detect faces in a video: frame by frame, the decoder closed however the
loop ends, and the run's summary at the end (``blazecli.open_video``, ``blazecli.detect_video``)."""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from ..checks import switch
from ..detections import Detections
from ..inference.detector import DetectorOptions, FaceDetector
from ..media.reader import VideoInfo
from ..media.selection import FrameSelection
from ..temporal.tracking import TrackerOptions
from .detect import READ_ONCE, VideoJob, VideoSummary


@dataclass(frozen=True)
class FrameFaces:
    """One processed frame of a video and the faces found in it (track ids where tracked).

    ``index``: the frame's 0-based position in display order, counting every frame read;
    ``time_s``: its presentation time; ``width``/``height``: its size as shown; ``faces`` in
    its pixels (empty when it has none).
    """

    index: int
    time_s: float
    width: int
    height: int
    faces: Detections


class VideoFaces:
    """The faces of one video, frame by frame: iterate it, then read :attr:`summary`.

    Made by :func:`open_video`. A context manager: leaving the ``with`` block closes the
    decoder, whether the loop ran to the end or stopped early. It can be iterated once.
    """

    def __init__(self, job: VideoJob) -> None:
        self._job = job
        self._iteration: tuple[Callable[[], Generator[FrameFaces, None, None] | None], int | None] = (
            lambda: None, None)  # the iterator taken, and the thread that took it

    @property
    def info(self) -> VideoInfo:
        """What the video is: size as shown, display, fps, duration, codec."""
        return self._job.reader.info

    @property
    def summary(self) -> VideoSummary:
        """Frames decoded and processed, faces, skipped packets: complete once iterated. After
        a loop that stopped early, it counts what was read and processed ahead of the loop too
        (a batch or two)."""
        return self._job.summary

    def __iter__(self) -> Iterator[FrameFaces]:
        if self._iteration[1] is not None:  # one loop owns the decoder, and close() ends it
            raise RuntimeError(READ_ONCE)
        frames = self._frames()
        # Weakly: the generator refers to this object, and a cycle would keep a loop that was
        # left without close() (its threads and file) until the garbage collector ran.
        self._iteration = weakref.ref(frames), threading.get_ident()
        return frames

    def _frames(self) -> Generator[FrameFaces, None, None]:
        pending: deque[tuple[FrameFaces, list[Detections]]] = deque()
        batches = self._job.batches()
        try:
            for batch in batches:
                for index, time_s, width, height in zip(batch.index.tolist(), batch.time_s.tolist(),
                                                        batch.width.tolist(), batch.height.tolist(), strict=False):
                    pending.append((FrameFaces(index, time_s, width, height, Detections.empty()), []))
                at = {frame.index: parts for frame, parts in pending}
                faces = batch.faces
                for index in np.unique(faces.frame_index).tolist():
                    at[index].append(faces[faces.frame_index == index])
                while len(pending) > self._job.gap_frames and not self._job.closed:
                    yield _with_faces(*pending.popleft())
            if not self._job.closed:  # closed under way: the loop ends where it is
                for frame, parts in pending:
                    yield _with_faces(frame, parts)
        finally:
            batches.close()  # its threads stopped and the file closed now, not when collected

    def close(self) -> None:
        """Stop decoding and close the file. An iterator taken on this thread and not run to
        its end is closed too (its threads stop now); on another thread, a loop under way ends
        at its next frame."""
        self._job.close()
        frames, thread = self._iteration
        running = frames()
        if running is not None and thread == threading.get_ident():
            running.close()

    def __enter__(self) -> VideoFaces:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _with_faces(frame: FrameFaces, parts: list[Detections]) -> FrameFaces:
    return replace(frame, faces=Detections.merge(parts) if parts else frame.faces)


def open_video(path: str | os.PathLike[str], *, detector: FaceDetector | None = None,
               tracking: TrackerOptions | bool = True, every: int = 1, fps: float | None = None,
               keyframes: bool = False, start_s: float | None = None, end_s: float | None = None,
               stream: int = 0, batch_size: int | None = None,
               **detector_options: Any) -> VideoFaces:
    """Open a video (or image) for detection: ``with open_video(path) as video: for frame in
    video: ...``, then ``video.summary``.

    ``detector``: a :class:`FaceDetector` to share between videos; else one is made from
    ``detector_options`` (``model``, ``threshold``, ``tiles``, ``brighten``, ``tie``, ``max_faces``,
    ``device``, ``threads``: see :class:`DetectorOptions`). ``tracking``: True for track ids and
    smoothing with the defaults, a :class:`TrackerOptions`, or False. Which frames to process:
    every ``every``-th, or the nearest to each tick of ``fps`` a second, or ``keyframes`` only;
    from ``start_s`` to ``end_s`` seconds. ``stream``: which video stream, from 0.
    ``batch_size``: frames per inference batch (None: what suits the device). Raises
    :class:`InvalidOptionError` for a value out of range or of the wrong type, and what
    :class:`VideoReader` raises for a file that is missing, not a video or damaged.
    """
    if not isinstance(path, (str, os.PathLike)) or isinstance(os.fspath(path), bytes):
        raise TypeError(f"`path` takes a str or os.PathLike path of text, got {path!r}")
    if detector is not None and detector_options:
        raise TypeError("give either a detector or detector options "
                        f"({', '.join(sorted(detector_options))}), not both")
    unknown = sorted(set(detector_options) - {f.name for f in fields(DetectorOptions)})
    if unknown:
        tracker_fields = {f.name for f in fields(TrackerOptions)}
        hint = ("; tracking options go in `tracking=TrackerOptions(...)`"
                if tracker_fields & set(unknown) else "")
        raise TypeError(f"open_video() got unexpected option(s) {', '.join(unknown)}: it takes "
                        f"those of DetectorOptions and its own{hint}")
    if detector is not None and not isinstance(detector, FaceDetector):
        raise TypeError(f"`detector` takes a FaceDetector, got {detector!r}: for a model by name, "
                        "give `model=` instead")
    options = tracking if isinstance(tracking, TrackerOptions) else (
        TrackerOptions() if switch("tracking", tracking) else None)
    selection = FrameSelection(every=every, start_s=start_s, end_s=end_s, fps=fps,
                               keyframes=keyframes)
    if detector is None:
        detector = FaceDetector(DetectorOptions(**detector_options))
    job = VideoJob(os.fspath(path), detector, selection=selection, batch_size=batch_size, stream=stream,
                   tracking=options)
    return VideoFaces(job)


def detect_video(path: str | os.PathLike[str], **options: Any) -> Generator[FrameFaces, None, VideoSummary]:
    """Faces in every processed frame of a video, in order: a generator of :class:`FrameFaces`.

    Takes the options of :func:`open_video`. The decoder is closed when the loop ends or
    breaks. The generator returns the run's :class:`VideoSummary`
    (``summary = yield from detect_video(path)``); to read it after a plain ``for`` loop, use
    :func:`open_video`.
    """
    with open_video(path, **options) as video:
        yield from video
    return video.summary
