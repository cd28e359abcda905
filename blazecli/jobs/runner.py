"""The ``detect`` job over many inputs: expand folders, plan outputs, run each video, keep going.

A bad input never stops the batch: its error is recorded with the file name and the others
proceed; the caller decides the exit code from the report. An output that cannot be written
(full disk, read-only folder) stops the run: every later input would fail the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from ..checks import whole_number
from ..detections import Detections
from ..errors import (
    BlazeCliError,
    DeviceUnavailableError,
    InputNotFoundError,
    InvalidOptionError,
    OutputExistsError,
    OutputNotWritableError,
)
from ..inference.detector import DetectorOptions, FaceDetector
from ..media.files import EMPTY_NAME, MEDIA_EXTENSIONS, STDIN, check_input_format, is_live
from ..media.selection import FrameSelection
from ..outputs.paths import (
    STDOUT,
    check_output,
    file_identity,
    is_directory_output,
    make_folder,
    output_targets,
    remove_empty_folders,
)
from ..outputs.sinks import RowSink, finished_output, keeps_sidecar, not_left_by_a_run, open_sink, rows_table
from ..temporal.tracking import TrackerOptions
from .detect import FrameBatch, VideoJob, VideoSummary, check_batch_size
from .progress import Progress, SilentProgress
from .signals import signals_held

if TYPE_CHECKING:
    from .workers import SegmentedVideoJob, SegmentPool


@dataclass(frozen=True)
class DetectSettings:
    """Everything ``detect`` needs besides inputs and output."""

    detector: DetectorOptions = field(default_factory=DetectorOptions)
    selection: FrameSelection = field(default_factory=FrameSelection)
    batch_size: int | None = None  # None: what suits the device (FaceDetector.batch_size)
    stream: int = 0
    decoder_threads: int = 0
    format: str | None = None
    overwrite: bool = False
    skip_existing: bool = False
    tracking: TrackerOptions | None = field(default_factory=TrackerOptions)
    workers: int = 1  # processes per video (blazecli.jobs.workers; spawned: scripts need a main guard)
    segment_threads: int | None = None  # parts of a video at once here; None: by cores and size
    keep_partial: bool = False  # a truncated video's decodable start, recorded as truncated
    input_format: str | None = None  # FFmpeg's input format (-f): devices such as v4l2
    live_drop: bool | None = None  # drop live frames when behind; None: as drops_by_default says

    def __post_init__(self) -> None:  # before any input is opened: a usage error, not a failed input
        check_batch_size(self.batch_size)
        check_input_format(self.input_format)
        for name, value in (("workers", self.workers), ("segment_threads", self.segment_threads)):
            if value is not None:
                whole_number(name, value, 1)
        whole_number("stream", self.stream, 0)
        if self.skip_existing and self.overwrite:
            raise InvalidOptionError("`skip_existing` keeps existing outputs and `overwrite` replaces "
                                     "them: give one")
        if self.workers > 1 and (self.segment_threads or 1) > 1:
            raise InvalidOptionError("`workers` and `segment_threads` both split videos: give one")

    def replaces(self, output: str, fmt: str | None) -> bool:
        """Whether what exists of an output (and its sidecar) may be replaced: anything with
        ``overwrite``; with ``skip_existing`` (which skips a finished output) what a stopped
        run left, and someone's own file of that name is an ``OutputExistsError`` naming it."""
        if self.overwrite or not self.skip_existing:
            return self.overwrite
        theirs = not_left_by_a_run(output, fmt)
        if theirs is not None:
            raise OutputExistsError(f"{theirs}: already exists and is not a blazecli output left "
                                    "unfinished (use `overwrite=True` to replace it)")
        return True

    @property
    def threads_per_video(self) -> int:
        """Segment threads: by default 2 on machines of up to 4 cores. That default applies only
        to videos of ``workers.AUTO_SEGMENT_PIXELS`` and more (:meth:`DetectRun._open_job`)."""
        if self.segment_threads is not None:
            return self.segment_threads
        return 2 if (os.cpu_count() or 2) <= 4 else 1

    def metadata(self) -> dict[str, Any]:
        d = self.detector
        return {
            "blazecli_version": __version__, "model": d.model, "threshold": d.min_score,
            "tie": d.tie, "iou_threshold": d.iou_threshold, "resize": d.resize, "tiles": d.tiles,
            "brighten": d.brighten,
            "max_faces": d.max_faces, "every": self.selection.every,
            "start_s": self.selection.start_s, "end_s": self.selection.end_s,
            "sample_fps": None if self.selection.fps is None else float(self.selection.fps),
            "keyframes": self.selection.keyframes, "input_format": self.input_format,
            "tracking": asdict(self.tracking) if self.tracking else None,
        }


@dataclass
class RunReport:
    """Outcome of a run: one summary per finished input, one message per failed one."""

    provider: str = ""
    done: list[VideoSummary] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the run ended before its inputs did; None: it did not

    @property
    def frames(self) -> int:
        return sum(s.frames_processed for s in self.done)

    @property
    def faces(self) -> int:
        return sum(s.faces for s in self.done)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.done)

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider or None, "outputs": self.outputs, "skipped": self.skipped,
            "failed": [{"input": i, "error": e} for i, e in self.failed],
            "done": [s.facts() for s in self.done], "stopped": self.stopped,
        }


def expand_inputs(paths: list[str]) -> list[str]:
    """Folders become their media files (recursive, sorted); files and ``-`` stay as given.

    Hidden files and folders in a folder are left out (``.cache/``, macOS's ``._clip.mp4``
    copies hold no video). A file met twice (given twice, or also through its folder) is kept
    once, under its first spelling. A missing path, a folder named like a video (``clip.mp4/``),
    a path Python may not look at, and a folder that cannot be searched are kept so that each
    fails with its own message, in order: a batch that hides faces must not pass over a folder
    without a word.
    """
    if "" in paths:  # Path("") is the current folder, which would be searched
        raise InputNotFoundError(EMPTY_NAME)
    if sum(path in (STDIN, "/dev/stdin") for path in paths) > 1:
        raise InvalidOptionError("stdin ('-') is given more than once: it can be read once")
    expanded: list[str] = []
    for raw in paths:
        path = Path(raw)
        try:
            searched = raw != STDIN and path.is_dir() and path.suffix.lower() not in MEDIA_EXTENSIONS
        except PermissionError:  # in a folder that may not be entered
            searched = False
        expanded.extend(_media_files(path) if searched else [raw])
    seen: set[object] = set()
    unique = []
    for source in expanded:
        key = file_identity(source)
        if key not in seen:
            seen.add(key)
            unique.append(source)
    return unique


def _media_files(folder: Path) -> list[str]:
    """The media files in a folder and its subfolders, hidden ones left out, and each subfolder
    that cannot be searched (they fail as inputs), sorted."""
    found: list[str] = []

    def unsearchable(error: OSError) -> None:
        found.append(str(error.filename))

    for root, folders, files in os.walk(folder, onerror=unsearchable):
        folders[:] = [name for name in folders if not name.startswith(".")]
        found.extend(str(path) for path in (Path(root, name) for name in files
                                            if not name.startswith(".")
                                            and Path(name).suffix.lower() in MEDIA_EXTENSIONS)
                     if _a_file_or_unknown(path))
    return sorted(found)


def _a_file_or_unknown(path: Path) -> bool:
    """Whether a name met in a folder is a file, or may be: a link into a folder that may not
    be entered is kept, to fail with its own message."""
    try:
        return path.is_file()
    except PermissionError:
        return True


INTERRUPTED = "interrupted"
"""``stopped`` of a live input ended by Ctrl-C or SIGTERM."""
_FRAMES_PER_TABLE = 128  # an Arrow table costs ~2 ms to build: one per 128 frames, not per batch


def _write(sink: RowSink, source: str, batches: list[FrameBatch]) -> tuple[int, int]:
    """The rows of ``batches`` into ``sink``; the frames and faces written."""
    if not batches:
        return 0, 0
    sink.write(_rows(source, batches))
    return sum(len(b.index) for b in batches), sum(len(b.faces) for b in batches)


def _rows(source: str, batches: list[FrameBatch]):
    """One Arrow table for the faces of several batches."""
    faces = Detections.merge([b.faces for b in batches])
    return rows_table(source, faces, *(np.concatenate([getattr(b, name) for b in batches])
                                       for name in ("face_time_s", "face_width", "face_height")))


# The output or the device failed, not one input: every later input would fail the same way.
_RUN_ERRORS = (OutputNotWritableError, DeviceUnavailableError)


class DetectRun:
    """One ``detect`` invocation; the detector (an ORT session) is shared by every input."""

    def __init__(self, settings: DetectSettings, progress: Progress | None = None,
                 make_detector: Callable[[DetectorOptions], FaceDetector] = FaceDetector) -> None:
        self.settings = settings
        self.progress = progress or SilentProgress()
        self._make_detector = make_detector
        self._detector: FaceDetector | None = None
        self._planned = 0
        self._to_stdout = False
        self._current: VideoJob | SegmentedVideoJob | None = None
        self._pool: SegmentPool | None = None
        self.report = RunReport()

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = self._make_detector(self.settings.detector)
            self.report.provider = self._detector.provider
        return self._detector

    def run(self, inputs: list[str], output: str) -> RunReport:
        sources = expand_inputs(inputs)
        if not sources:
            raise InvalidOptionError("no video or image files found in the given inputs")
        shared = output != STDOUT and not is_directory_output(output)
        check_output(sources, output, sidecar=shared and keeps_sidecar(output, self.settings.format))
        if shared and Path(output).suffix.lower() in MEDIA_EXTENSIONS:
            raise InvalidOptionError(f"`output={output}` is named as a video or a photo: a later run over its "
                                     "folder would read the rows as a broken one (name it .parquet, .csv or .jsonl)")
        self._planned = len(sources)
        self._to_stdout = output == STDOUT
        finished = False
        try:
            if output != STDOUT and is_directory_output(output):
                self._run_per_file(sources, inputs, Path(output))
            else:
                self._run_shared(sources, output)
            finished = True
        finally:
            if self._pool is not None:
                self._pool.close(wait=finished)
        return self.report

    def _open_job(self, source: str) -> VideoJob | SegmentedVideoJob:
        """The job for one input: when the video can be cut, its segments in worker processes
        (``workers`` > 1) or in threads here; else one pipeline here."""
        s = self.settings
        # A run that leaves frames out reads faster in one pipeline that skips decoding them than
        # in parts that decode every frame, unless parts were asked for; a truncated file's index
        # promises frames it lacks: it is read in one pass, not cut.
        chosen = s.workers > 1 or s.segment_threads is not None or s.selection.takes_all
        split = not s.keep_partial and not is_live(source, s.input_format)  # a stream has no index
        if (s.workers > 1 or s.threads_per_video > 1) and chosen and split:
            from .workers import (
                AUTO_SEGMENT_PIXELS,
                SegmentedVideoJob,
                SegmentThreads,
                WorkerPool,
            )

            if self._pool is None:
                self._pool = (WorkerPool(s.detector, s.workers) if s.workers > 1
                              else SegmentThreads(self.detector, s.threads_per_video))
            smallest = AUTO_SEGMENT_PIXELS if s.workers == 1 and s.segment_threads is None else 0
            job = SegmentedVideoJob.plan(source, self._pool, s.selection, s.batch_size, s.stream,
                                         s.decoder_threads, self.progress.advance, s.tracking,
                                         smallest)
            if job is not None:
                return job
        return VideoJob(source, self.detector, selection=s.selection, batch_size=s.batch_size,
                        stream=s.stream, decoder_threads=s.decoder_threads,
                        on_frames=self.progress.advance, tracking=s.tracking,
                        keep_partial=s.keep_partial, input_format=s.input_format,
                        live_drop=s.live_drop)

    def _run_shared(self, sources: list[str], output: str) -> None:
        if output != STDOUT and self.settings.skip_existing and finished_output(output, self.settings.format):
            self.report.skipped.extend(sources)
            return
        replaces = output != STDOUT and self.settings.replaces(output, self.settings.format)
        sink = open_sink(output, self.settings.format, overwrite=replaces)
        try:
            sink.metadata.update(self.settings.metadata())
            for source in sources:
                self._process(source, sink)
            sink.metadata["failed"] = [{"input": i, "error": e} for i, e in self.report.failed]
            if not self.report.done:  # nothing readable: leave no output behind
                sink.abort()
                return
            sink.commit()
        except KeyboardInterrupt:
            self._keep_if_stopped_live(sink, output)
            raise
        except BaseException:
            sink.abort()
            raise
        if output != STDOUT:
            self.report.outputs.append(output)

    def _keep_if_stopped_live(self, sink: RowSink, output: str) -> None:
        """A live input stopped by a signal ends its recording: the output is closed whole,
        its metadata saying ``stopped``; any other interrupted output is dropped."""
        if not (self.report.done and self.report.done[-1].stopped == INTERRUPTED):
            sink.abort()
            return
        sink.metadata["failed"] = [{"input": i, "error": e} for i, e in self.report.failed]
        with signals_held(deliver=False):  # a second Ctrl-C must not leave it half-written
            sink.commit()
        if output != STDOUT:
            self.report.outputs.append(output)

    def _run_per_file(self, sources: list[str], inputs: list[str], out_dir: Path) -> None:
        fmt = self.settings.format or "parquet"
        targets = output_targets(sources, inputs, out_dir, fmt)
        made = make_folder(out_dir)
        try:
            for source, target in zip(sources, targets, strict=False):
                if self.settings.skip_existing and finished_output(str(target), fmt):
                    self.report.skipped.append(source)
                    continue
                made += make_folder(target.parent)
                self._write_one(source, target, fmt)
        finally:
            remove_empty_folders(made)

    def _write_one(self, source: str, target: Path, fmt: str) -> None:
        """One input into its own file: an output in the way or an input that fails is recorded
        and the batch goes on; a stop or an error beyond the input drops the file and ends it."""
        try:
            sink = open_sink(str(target), fmt, overwrite=self.settings.replaces(str(target), fmt))
        except OutputExistsError as exc:
            self.report.failed.append((source, str(exc)))
            return
        try:
            sink.metadata.update(self.settings.metadata())
            if not self._process(source, sink):
                sink.abort()
                return
            sink.commit()
        except KeyboardInterrupt:
            self._keep_if_stopped_live(sink, str(target))
            raise
        except BaseException:
            sink.abort()
            raise
        self.report.outputs.append(str(target))

    def _process(self, source: str, sink: RowSink) -> bool:
        """Run one input into ``sink``; its user-facing error is recorded, an error that no later
        input could escape (the output, the device) is raised."""
        try:
            job = self._open_job(source)
        except _RUN_ERRORS:
            raise
        except BlazeCliError as exc:
            self.report.failed.append((source, str(exc)))
            return False
        self.progress.start_file(source, job.summary.info.frames_estimate)
        self._current = job
        live = isinstance(job, VideoJob) and job.live
        sink.live = live
        # Live rows go out with their batch; a file's are gathered into larger tables.
        per_table = 1 if live else _FRAMES_PER_TABLE
        ended = False  # a signal or a closed pipe leaves the file's progress where it stopped
        stop: KeyboardInterrupt | None = None  # the signal that ended a live input
        pending: list[FrameBatch] = []
        frames_in_file = faces_in_file = 0
        try:
            for batch in job.batches():
                pending.append(batch)
                if sum(len(b.index) for b in pending) >= per_table:
                    # A live run's rows go out whole: a signal waits until they are written.
                    with signals_held() if live else nullcontext():
                        frames, faces = _write(sink, source, pending)
                        pending = []  # written and counted before a held signal lands
                        frames_in_file += frames
                        faces_in_file += faces
            _write(sink, source, pending)
            ended = True
        except KeyboardInterrupt as exc:
            if not live:
                raise
            with signals_held(deliver=False):  # handed over: their rows belong in the file
                frames, faces = _write(sink, source, pending)
            # A recording's end: its rows are kept, and its facts are those of the rows (a batch
            # the stop caught between detection and here is in neither).
            job.summary.stopped = INTERRUPTED
            job.summary.frames_processed, job.summary.faces = frames_in_file + frames, faces_in_file + faces
            ended, stop = True, exc
        except _RUN_ERRORS:
            raise
        except BlazeCliError as exc:
            ended = True
            written = sink.drop_video()
            kept = f" ({written:,} of its rows were already written)" if written else ""
            self.report.failed.append((source, str(exc) + kept))
            self._current = None
            return False
        finally:
            job.close()
            if ended:
                self.progress.end_file()
        sink.add_video(job.summary.facts())
        if self._pool is not None and self._pool.provider:
            self.report.provider = self._pool.provider
        self.report.done.append(job.summary)
        self._current = None
        if stop is not None:
            raise stop
        return True

    def where(self) -> str:
        """How far the run got and what it kept: said when a signal stops it part-way."""
        report = self.report
        finished = len(report.done) + len(report.failed) + len(report.skipped)
        place = f"after {finished} of {self._planned} input(s)"
        last = report.done[-1] if report.done else None
        if last is not None and last.stopped == INTERRUPTED:
            dropped = f", {last.frames_dropped:,} dropped" if last.frames_dropped else ""
            kept = (f"{report.outputs[-1]} kept, its metadata saying stopped: {INTERRUPTED}"
                    if report.outputs else "its rows were written")
            return f"in {last.info.source} after {last.frames_processed:,} frame(s){dropped}; {kept}"
        if self._current is not None:
            summary = self._current.summary
            place = (f"in {summary.info.source} after {summary.frames_processed:,} frame(s) "
                     f"(input {finished + 1} of {self._planned})")
        kept = (f"{len(report.outputs)} finished output(s) kept, rerun with `skip_existing=True` to resume"
                if report.outputs else "the rows of the frames done went to stdout" if self._to_stdout
                else "no output file was written")
        return f"{place}; {kept}"
