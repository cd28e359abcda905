"""One video cut at keyframes, its segments detected at once: in N processes (``--workers``)
or in threads of this process (``--segment-threads``).

One process cannot use a many-core machine: its Python work (sampling calls, ties, tracking,
the decoding loop) holds one GIL, which kept a 16-core machine with CUDA doing the inference
at a quarter of what FFmpeg decodes there. Worker processes
each run the per-frame pipeline (decode, sample, infer, ties) on one segment at a time with
their own ONNX Runtime session. On a few cores the GIL is not the limit, but one video on
FFmpeg's frame threads leaves the CPU underused: threads that each decode a segment on one
decoder thread, sharing this process's detector, do better there. Either way this process
puts the segments back in order, numbers their frames and runs the temporal stage, so the
rows are those of one pipeline (tested). Videos that cannot be cut (one keyframe, open GOPs,
containers other than MP4/MOV/Matroska, stdin, images) run in one pipeline here.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import (
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from concurrent.futures import TimeoutError as FutureTimeoutError
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from multiprocessing.synchronize import Event as EventType
from typing import Any, Protocol

import numpy as np

from ..detections import Detections
from ..errors import BlazeCliError, WorkerDiedError
from ..inference.detector import DetectorOptions, FaceDetector
from ..media.files import STDIN
from ..media.packets import Segment, plan_segments, scan_packets
from ..media.reader import VideoInfo, VideoReader
from ..temporal.tracking import TrackerOptions
from .detect import (
    FrameBatch,
    FrameSelection,
    TemporalStage,
    VideoJob,
    VideoSummary,
    sampler_threads,
    tile_schedule,
    tracking_across_tiles,
)
from .signals import STOP_SIGNALS, result_of, stop_signals_blocked

# Frames a segment holds at least: a worker opens the video and seeks for each (18-34 ms with its
# first frame, 720p and 1080p), and the parent holds a segment's faces until it is its turn.
# Shorter videos are cut finer, down to MIN_SEGMENT_FRAMES, so that each worker gets two parts.
SEGMENT_FRAMES = 256
MIN_SEGMENT_FRAMES = 64


@dataclass(frozen=True)
class _Task:
    source: str
    segment: Segment
    selection: FrameSelection
    batch_size: int | None
    stream: int
    decoder_threads: int
    samplers: int


@dataclass
class _SegmentResult:
    """A segment's processed frames and faces (not tracked), numbered as the segment predicts."""

    index: np.ndarray
    time_s: np.ndarray
    width: np.ndarray
    height: np.ndarray
    faces: Detections
    frames_decoded: int
    skipped_packets: int
    provider: str
    frames_read: int


def run_segment(task: _Task, detector: FaceDetector, stop: EventType | threading.Event,
                frames_done: FrameCounter) -> _SegmentResult:
    """One segment through the per-frame pipeline (no tracking); dropped when ``stop`` is set.
    Its frames are added to ``frames_done`` as its batches are done, for the progress shown."""
    job = VideoJob(task.source, detector, selection=task.selection, batch_size=task.batch_size,
                   stream=task.stream, decoder_threads=task.decoder_threads, segment=task.segment,
                   samplers=task.samplers)
    batches = []
    counted = 0  # frames of this segment added to frames_done
    try:
        for batch in job.batches():
            if stop.is_set():
                break  # the run stopped: this result is not wanted
            batches.append(batch)
            if len(batch.index):
                counted += _add(frames_done, int(batch.index[-1]) + 1 - task.segment.first - counted)
        _add(frames_done, job.summary.frames_read - counted)
    finally:
        job.close()
    faces = Detections.merge([b.faces for b in batches])
    columns = [np.concatenate([getattr(b, name) for b in batches]) if batches else np.zeros(0)
               for name in ("index", "time_s", "width", "height")]
    index, time_s, width, height = columns
    return _SegmentResult(index, time_s, width, height, faces, job.summary.frames_decoded,
                          job.summary.skipped_packets, detector.provider, job.summary.frames_read)


class FrameCounter(Protocol):
    """A count shared by the segments at work, as ``multiprocessing.Value`` holds one."""

    value: int

    def get_lock(self) -> AbstractContextManager[Any]: ...


class _ThreadCounter:
    """A :class:`FrameCounter` for threads of this process: no shared memory, no semaphore."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def get_lock(self) -> threading.Lock:
        return self._lock


def _add(counter: FrameCounter, frames: int) -> int:
    if frames > 0:
        with counter.get_lock():
            counter.value += frames
    return max(frames, 0)


class SegmentPool:
    """``workers`` at work on segments, shared by every video of a run; started on first use.

    ``frames_done`` counts the frames the segments have been through so far, all videos
    together: read between the segments' ends, it keeps the progress shown going."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.provider = ""  # what the detectors run on, once a segment has said
        self._executor: Executor | None = None
        self._stop: EventType | threading.Event | None = None
        self.frames_done: FrameCounter | None = None

    @property
    def options(self) -> DetectorOptions:
        """What each segment's detector does."""
        raise NotImplementedError

    def _start(self) -> tuple[Executor, EventType | threading.Event, FrameCounter]:
        raise NotImplementedError

    def _call(self, task: _Task) -> tuple[Callable[..., _SegmentResult], tuple]:
        raise NotImplementedError

    def _running(self) -> tuple[Executor, FrameCounter]:
        if self._executor is None or self.frames_done is None:
            self._executor, self._stop, self.frames_done = self._start()
        return self._executor, self.frames_done

    def started(self) -> FrameCounter:
        """Start the pool if it is not yet: its ``frames_done``."""
        return self._running()[1]

    def submit(self, task: _Task) -> Future:
        executor, _ = self._running()
        function, args = self._call(task)
        # Processes are spawned here, and inherit the signals blocked: none arrives while the
        # pool is half started (in the parent, or in a child still starting up).
        with stop_signals_blocked():
            return executor.submit(function, *args)

    def result(self, future: Future, timeout: float | None = None) -> _SegmentResult:
        """The segment's result; ``TimeoutError`` if it is not done within ``timeout`` s."""
        done = result_of(future, timeout)
        self.provider = done.provider
        return done

    def cancel(self, future: Future) -> None:
        """Drop a segment no longer wanted (its video stopped early)."""
        future.cancel()

    def close(self, wait: bool = False) -> None:
        """Stop: busy workers drop their segment within a batch, queued segments are dropped.

        ``wait`` after a run that finished (the workers are idle): joining them then leaves no
        executor thread writing to a pipe that interpreter exit closes (a stray traceback
        ``OSError: Bad file descriptor``, seen once). A stopped run does not wait.
        """
        if self._executor is not None:
            if self._stop is not None:
                self._stop.set()
            self._shutdown(self._executor, wait)
            self._executor = None

    def _shutdown(self, executor: Executor, wait: bool) -> None:
        executor.shutdown(wait=wait, cancel_futures=True)


# Segment threads by default (on up to 4 cores) only for frames this large: on 2 cores two
# threads beat one pipeline at 1080p in every paired run, but not reliably at 720p.
AUTO_SEGMENT_PIXELS = 1_500_000


class SegmentThreads(SegmentPool):
    """Threads in this process sharing its detector (``--segment-threads``).

    On few cores, two segments decoded at once, each on one decoder thread, can use the CPU
    better than one video on FFmpeg's frame threads (see ``AUTO_SEGMENT_PIXELS``), for 55-80 MB
    more memory. ONNX Runtime's ``run`` may be called from several threads at once.
    """

    def __init__(self, detector: FaceDetector, workers: int) -> None:
        super().__init__(workers)
        self.detector = detector

    @property
    def options(self) -> DetectorOptions:
        return self.detector.options

    def _start(self) -> tuple[Executor, threading.Event, FrameCounter]:
        return (ThreadPoolExecutor(self.workers, thread_name_prefix="blazecli-segment"), threading.Event(),
                _ThreadCounter())

    def _call(self, task: _Task) -> tuple[Callable[..., _SegmentResult], tuple]:
        return run_segment, (task, self.detector, self._stop, self.frames_done)


# A worker process's own detector (or why it could not be made), the parent's stop signal, and
# the frames the pool's segments have been through.
_detector: FaceDetector | BlazeCliError | None = None
_stop: EventType | None = None
_frames_done: FrameCounter | None = None


def _start_worker(options: DetectorOptions, stop: EventType, frames_done: FrameCounter) -> None:
    """In each worker process: one detector. Ctrl-C and a closed terminal, which reach the
    whole process group, are the parent's to handle: it sets ``stop``.

    The process was spawned with the stop signals held (:meth:`SegmentPool.submit`): a Ctrl-C
    during its start-up would have ended in a traceback. Ignored now, and SIGTERM let through.
    """
    global _detector, _stop, _frames_done
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    _stop, _frames_done = stop, frames_done
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    try:
        _detector = FaceDetector(options)
    except BlazeCliError as exc:  # told with the first task, as the parent's own error would be
        _detector = exc


def _exit_with_parent(parent: int) -> None:
    """A worker whose parent was killed outright (no chance to stop it) must not live on."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _run_in_worker(task: _Task) -> _SegmentResult:
    if isinstance(_detector, BlazeCliError):
        raise _detector
    assert _detector is not None and _stop is not None and _frames_done is not None
    return run_segment(task, _detector, _stop, _frames_done)


class WorkerPool(SegmentPool):
    """Processes, each with its own detector (``--workers``); one that died is replaced."""

    def __init__(self, options: DetectorOptions, workers: int) -> None:
        super().__init__(workers)
        if options.threads is None and options.device != "cuda":
            options = replace(options, threads=1)  # the cores are shared out by processes instead
        self._options = options
        self._children_before: set[multiprocessing.process.BaseProcess] = set()

    @property
    def options(self) -> DetectorOptions:
        return self._options

    def _start(self) -> tuple[Executor, EventType, FrameCounter]:
        context = multiprocessing.get_context("spawn")  # fork would copy ORT's and FFmpeg's threads
        self._children_before = set(multiprocessing.active_children())
        # The Event starts multiprocessing's resource tracker, which ignores SIGINT and SIGTERM
        # but not SIGHUP: started with the stop signals blocked, it keeps SIGHUP blocked, and a
        # closed terminal, which reaches the whole group, leaves it to clean up.
        with stop_signals_blocked():
            stop, frames_done = context.Event(), context.Value("q", 0)
        executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_start_worker,
                                       initargs=(self._options, stop, frames_done))
        return executor, stop, frames_done

    def _call(self, task: _Task) -> tuple[Callable[..., _SegmentResult], tuple]:
        return _run_in_worker, (task,)

    def cancel(self, future: Future) -> None:
        """Never cancelled, only left unread: Python 3.11's process pool sets an exception on
        every pending future when it breaks (at a stop, below), and a cancelled one makes its
        thread print an InvalidStateError traceback."""

    def _shutdown(self, executor: Executor, wait: bool) -> None:
        """A stopped run ends the worker processes outright: one still starting up (it holds
        SIGTERM then) had kept the exit waiting for it. They are this process's children
        started since the pool was (``multiprocessing.active_children``)."""
        workers = [] if wait else [p for p in multiprocessing.active_children()
                                   if p not in self._children_before]
        executor.shutdown(wait=wait, cancel_futures=not workers)
        for process in workers:
            process.kill()  # SIGKILL: one still starting up holds SIGTERM

    def result(self, future: Future, timeout: float | None = None) -> _SegmentResult:
        try:
            return super().result(future, timeout)
        except BrokenProcessPool:
            self.close()
            raise WorkerDiedError(
                "a worker process died or could not start: out of memory (rerun with fewer "
                "`workers`)? From Python, the run must be under `if __name__ == \"__main__\":`, "
                "as workers are spawned") from None


PROGRESS_EVERY_S = 0.25
"""How often the progress moves while segments run."""


class SegmentedVideoJob:
    """A :class:`~blazecli.pipeline.VideoJob` whose segments run in a :class:`WorkerPool` or
    :class:`SegmentThreads`.

    Same interface: iterate :meth:`batches` (one per segment, in frame order), then read
    ``summary``. Build it with :meth:`plan`, which says None for a video that cannot be cut.
    """

    def __init__(self, source: str, pool: SegmentPool, info: VideoInfo, segments: list[Segment],
                 selection: FrameSelection, batch_size: int | None, stream: int,
                 decoder_threads: int, on_frames: Callable[[int], None] | None,
                 tracking: TrackerOptions | None) -> None:
        self.pool = pool
        self.segments = segments
        self.selection = selection
        self.on_frames = on_frames
        self._unread = 0  # frames of parts skipped before --start, which no segment goes through
        self._shown = 0  # frames given to on_frames
        self._baseline = 0  # the pool's frames_done when this video began
        self.summary = VideoSummary(info, selection=selection)
        _, period = tile_schedule(pool.options, info)
        self.temporal = TemporalStage(tracking_across_tiles(tracking, period))
        cores = os.cpu_count() or 2
        self._task = _Task(source, segments[0], selection, batch_size, stream,
                           decoder_threads or max(1, cores // pool.workers),
                           max(1, sampler_threads() // pool.workers))

    @classmethod
    def plan(cls, source: str, pool: SegmentPool, selection: FrameSelection, batch_size: int | None,
             stream: int, decoder_threads: int, on_frames: Callable[[int], None] | None,
             tracking: TrackerOptions | None, smallest: int = 0) -> SegmentedVideoJob | None:
        """The job, or None when the video should run in one pipeline: it cannot be cut, or its
        frames have fewer than ``smallest`` pixels."""
        if source == STDIN or (os.path.exists(source) and not os.path.isfile(source)):
            return None  # a pipe (`<(cat x)`, a FIFO) can be read once: one pipeline
        if selection.by_content:
            return None  # --fps and --keyframes choose from the whole stream's times and flags
        table = scan_packets(source, stream, smallest)  # cheaper than opening a decoder: first
        share = len(table.pts) // (2 * pool.workers)
        segments = plan_segments(table, min(SEGMENT_FRAMES, max(MIN_SEGMENT_FRAMES, share)))
        if len(segments) < 2:
            return None
        with VideoReader(source, stream=stream, threads=1) as reader:  # its checks and messages
            info = reader.info
        return cls(source, pool, info, segments, selection, batch_size, stream, decoder_threads,
                   on_frames, tracking)

    def _wanted(self) -> Iterator[tuple[Segment, bool]]:
        """Each segment up to the selection's end, and whether any of its frames can be wanted."""
        start, end = self.selection.start_s, self.selection.end_s
        for segment in self.segments:
            if end is not None and segment.start_s >= end:
                return
            yield segment, start is None or segment.end_s > start

    def batches(self) -> Iterator[FrameBatch]:
        """One batch per segment, in frame order; at most two segments a worker ahead."""
        started = time.perf_counter()
        self._baseline = self.pool.started().value
        ahead: deque[tuple[Segment, Future | None]] = deque()
        wanted = self._wanted()
        frames_before = 0  # frames of the segments already passed: the next one's first index
        try:
            while True:
                while len(ahead) < 2 * self.pool.workers:
                    segment, run = next(wanted, (None, False))
                    if segment is None:
                        break
                    task = replace(self._task, segment=segment)
                    ahead.append((segment, self.pool.submit(task) if run else None))
                if not ahead:
                    return
                segment, future = ahead.popleft()
                if future is None:  # before --start: not decoded, its frames only counted
                    self._count_unread(segment.count or 0)
                    frames_before += segment.count or 0
                    continue
                done = self._wait(future)
                shift = frames_before - segment.first
                if shift % self.selection.every:
                    # Damage earlier lost frames, which moved --every's phase in this part: run
                    # it again numbered from where it really starts (a damaged video's cost).
                    task = replace(self._task, segment=replace(segment, first=frames_before))
                    done, shift = self.pool.result(self.pool.submit(task)), 0
                yield self._finish(done, shift)
                frames_before += done.frames_read
        finally:
            for _, future in ahead:
                if future is not None:
                    self.pool.cancel(future)
            self.summary.seconds = time.perf_counter() - started

    def _count_unread(self, frames: int) -> None:
        """A part before --start: its frames count as read, as one pipeline reads them."""
        self.summary.frames_read += frames
        self._unread += frames
        self._show_progress()

    def _wait(self, future: Future) -> _SegmentResult:
        """A segment's result; while it runs, the progress goes on with the frames that all
        segments at work have been through."""
        while True:
            try:
                return self.pool.result(future, PROGRESS_EVERY_S)
            except FutureTimeoutError:
                self._show_progress()

    def _show_progress(self) -> None:
        counter = self.pool.frames_done
        running = self._unread + (counter.value - self._baseline if counter is not None else 0)
        ahead = max(running, self.summary.frames_read) - self._shown  # at least the parts done
        if self.on_frames and ahead > 0:
            self.on_frames(ahead)
            self._shown += ahead

    def _finish(self, done: _SegmentResult, shift: int) -> FrameBatch:
        """Number a segment's frames in the video (``shift``: frames its reader did not
        foresee, lost to damage earlier) and run the temporal stage over them."""
        faces = done.faces.replace(frame_index=done.faces.frame_index + shift)
        batch = self.temporal.finish(done.index.astype(np.int64) + shift, done.time_s,
                                     done.width.astype(np.int32), done.height.astype(np.int32),
                                     faces)
        summary = self.summary
        summary.frames_read += done.frames_read
        summary.frames_decoded += done.frames_decoded
        summary.frames_processed += len(batch.index)
        summary.faces += len(batch.faces)
        summary.skipped_packets += done.skipped_packets
        self._show_progress()
        return batch

    def close(self) -> None:
        """Nothing to close here: the pool outlives the video."""
