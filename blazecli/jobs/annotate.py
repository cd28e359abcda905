"""The ``annotate`` job: one video in, the same video with its faces marked or hidden out.

Frames stream one at a time through decode -> faces (from a file ``detect`` wrote, or the
detector on the fly) -> draw -> encode, so memory stays bounded whatever the video's length.
Every frame is written, with the pts it had; the audio is copied as it was; and the output
appears under its name only when complete (a hidden temporary file beside it, then a rename).
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..checks import whole_number
from ..choices import HIDING_SCALE
from ..detections import Detections
from ..errors import (
    BlazeCliError,
    DetectionsMismatchError,
    InputNotFoundError,
    InvalidOptionError,
    OutputNotWritableError,
)
from ..inference.detector import DetectorOptions, FaceDetector
from ..media.display import UPRIGHT
from ..media.files import STDIN, is_live
from ..media.reader import DecodedFrame, VideoInfo, VideoReader
from ..media.selection import FrameSelection
from ..media.stills import icc_profile
from ..media.writer import (
    ALPHA_FORMATS,
    CONTAINERS,
    IMAGE_ENCODERS,
    EncoderOptions,
    VideoWriter,
    editable_copy,
    write_image,
)
from ..outputs.draw import Anonymizer, Style, annotate_frame
from ..outputs.paths import SIDECAR, STDOUT, file_identity, publish, temporary_beside
from ..temporal.cover import cover_faces
from ..temporal.tracking import TrackerOptions
from .detect import VideoJob
from .progress import Progress, SilentProgress
from .signals import signals_held

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Profile:
    """What ``annotate`` detects with where no option says otherwise."""

    model: str
    threshold: float | None
    tiles: str
    brighten: bool
    fill_gaps: bool
    cover_frames: int
    preset: str  # x264's preset
    crf: int


DRAWING_PROFILE = Profile(model="short", threshold=None, tiles="none", brighten=False,
                          fill_gaps=False, cover_frames=0, preset="veryfast", crf=20)
"""Drawing faces: detect's own defaults, MediaPipe's output."""
HIDING_PROFILE = Profile(model="full", threshold=0.4, tiles="auto", brighten=True,
                         fill_gaps=True, cover_frames=10, preset="superfast", crf=22)
"""Hiding faces, recall first: the full-range model, tiles for small faces, a lower threshold,
a brightened look at dark frames and tiles (audiences, night), gaps filled by the tracker,
and each face's mask held ``cover_frames`` frames before its first and after its last
sighting, or two tile rounds where that is longer (a face only tiles find is seen once a
round, and a round may miss it). A face left visible costs more than a blurred patch of wall.

The detector takes most of the cores, so the encoder is x264's superfast: half veryfast's
CPU time, and at crf 22 about veryfast's quality at crf 20, in files a third to a half larger."""

FacedFrame = tuple[DecodedFrame, np.ndarray | None, Detections]  # the frame, its RGB if made, its faces


@dataclass(frozen=True)
class AnnotateSettings:
    """Everything ``annotate`` needs besides the input and output.

    ``detections``: a file ``detect`` wrote; None runs ``detector`` (with ``tracking``) now.
    ``draw``: mark faces (boxes, keypoints, labels); ``anonymizer``: hide them first.
    """

    detections: str | None = None
    detector: DetectorOptions = field(default_factory=DetectorOptions)
    tracking: TrackerOptions | None = field(default_factory=TrackerOptions)
    anonymizer: Anonymizer | None = None
    draw: bool = True
    encoder: EncoderOptions = field(default_factory=EncoderOptions)
    batch_size: int | None = None  # None: by frame size (annotate_batch_size)
    stream: int = 0
    decoder_threads: int = 0
    overwrite: bool = False
    cover_frames: int = 0  # masks held this many frames around each sighting (temporal.cover),
    # at least two tile rounds where tiles run
    selection: FrameSelection = field(default_factory=FrameSelection)  # start_s/end_s: a preview
    input_format: str | None = None  # FFmpeg's input format (-f): devices such as v4l2
    live_drop: bool | None = None  # drop live frames when behind; None: as drops_by_default says

    def __post_init__(self) -> None:
        whole_number("stream", self.stream, 0)
        whole_number("cover_frames", self.cover_frames, 0)


@dataclass
class AnnotateSummary:
    """What a run did; ``provider`` is the detector's device, empty when faces came from a file."""

    source: str
    output: str
    frames: int = 0
    faces: int = 0  # detected (or read from the file): the masks the cover or filled gaps add are not faces found
    seconds: float = 0.0
    provider: str = ""
    skipped_packets: int = 0
    frames_with_faces: int = 0  # a face detected (or read from the file) in the frame
    frames_covered: int = 0  # only faces the tracker filled in or the cover held
    frames_without_faces: int = 0  # processed, and no face in them
    frames_not_processed: int = 0  # frames `--detections` has no say on (made with --every, --fps...)
    notes: list[str] = field(default_factory=list)  # what was assumed, said on stderr
    frames_dropped: int = 0  # live frames left out because detection fell behind


def container_for(output: str) -> str:
    """The FFmpeg muxer for an output path, from its extension (``image`` for a photo)."""
    if output == STDOUT:
        raise InvalidOptionError("`output=-`: annotate writes a file, not stdout: name one "
                                 "(hidden.mp4, hidden.mkv, or a photo's name)")
    if output.endswith(("/", os.sep)) or Path(output).is_dir():
        raise InvalidOptionError(f"{output}: annotate writes one file, not into a folder: name it "
                                 "(hidden.mp4, or a photo's name)")
    suffix = Path(output).suffix.lower()
    if suffix in IMAGE_ENCODERS:
        return "image"
    if suffix == ".avi":  # copied audio (AAC, Opus...) often cannot go into AVI
        raise InvalidOptionError(f"{output}: AVI is not written: use .mp4, .mov or .mkv")
    if suffix == ".gif":  # a GIF's 256 colours would band a blurred face
        raise InvalidOptionError(f"{output}: GIF is not written: use .mp4, .mov or .mkv for a "
                                 f"video, or a photo's name ({', '.join(IMAGE_ENCODERS)})")
    if suffix not in CONTAINERS:
        raise InvalidOptionError(f"cannot tell the video container of {output!r} from its extension: "
                                 f"use {', '.join(CONTAINERS)} (or a photo's: "
                                 f"{', '.join(IMAGE_ENCODERS)})")
    return CONTAINERS[suffix]


def annotate_video(source: str, output: str, settings: AnnotateSettings,
                   progress: Progress | None = None,
                   make_detector: Callable[[DetectorOptions], FaceDetector] = FaceDetector,
                   ) -> AnnotateSummary:
    """Write ``source`` with its faces drawn (or hidden) to ``output``: all of it, or nothing.

    A live source (a URL, a device, a pipe) is recorded without its audio until it ends, or
    until Ctrl-C or SIGTERM: the recording is then finished and published, and the signal's
    KeyboardInterrupt raised after. Its MP4 is fragmented, so that even a file cut short
    plays.
    """
    container_format = container_for(output)
    live = is_live(source, settings.input_format)
    if live and settings.detections is not None:
        raise InvalidOptionError("a live source is annotated as it is detected: leave out `detections`")
    if source == STDIN and not live:
        raise InvalidOptionError("annotate reads a video file by its path, or a live pipe, not a "
                                 "file redirected to stdin (it reads the file twice: once for the "
                                 "pictures, once for the sound)")
    if file_identity(source) == file_identity(output):
        raise InvalidOptionError(f"`output={output}` is the input: it would be overwritten")
    fd, tmp = temporary_beside(Path(output), settings.overwrite)
    os.close(fd)
    try:
        summary, stop = _annotate(source, tmp, output, container_format, settings,
                                  progress or SilentProgress(), make_detector, live)
        try:
            with signals_held(deliver=stop is None):
                publish(tmp, output, settings.overwrite)
        except BlazeCliError:
            raise
        except OSError as exc:
            raise OutputNotWritableError(f"{output}: cannot write ({exc.strerror})") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if stop is not None:
        raise stop
    return summary


def _annotate(source: str, tmp: str, name: str, container_format: str, settings: AnnotateSettings,
              progress: Progress, make_detector: Callable[[DetectorOptions], FaceDetector],
              live: bool) -> tuple[AnnotateSummary, KeyboardInterrupt | None]:
    """The summary, and the signal that ended a live recording (the file is finished first)."""
    started = time.perf_counter()
    summary = AnnotateSummary(source, name)
    if settings.anonymizer is not None and settings.anonymizer.scale < HIDING_SCALE:
        summary.notes.append(f"warning: `scale={settings.anonymizer.scale:g}` hides less than the face "
                             f"and its surroundings ({HIDING_SCALE:g}): parts of faces may stay showing")
    stop: KeyboardInterrupt | None = None
    job: VideoJob | None = None
    cover_frames = settings.cover_frames
    # Hiding alone hides in the decoded YUV planes and encodes them as they are: no RGB is made
    # (nor held for the look-ahead) and none is converted back.
    anonymizer = settings.anonymizer
    plane_hider = anonymizer if anonymizer and anonymizer.hides_in_planes and not settings.draw else None
    with ExitStack() as stack:
        frames: Iterator[FacedFrame]
        processed: Callable[[int, float], bool] = FrameSelection().wants  # frames faces were looked for in
        if settings.detections is None:
            if settings.selection.every != 1:
                raise InvalidOptionError("annotate writes every frame: `every` must be 1")
            # Inference threads as the detector's own default: half the cores untiled, where
            # the encoder needs the rest; all of them tiled, where inference is most of the work.
            job = VideoJob(source, make_detector(settings.detector), selection=settings.selection,
                           batch_size=1 if settings.batch_size is None else settings.batch_size,
                           stream=settings.stream,
                           decoder_threads=settings.decoder_threads, keep_frames=True,
                           tracking=settings.tracking, input_format=settings.input_format,
                           live_drop=settings.live_drop)
            stack.callback(job.close)
            if settings.batch_size is None:
                job.batch_size = annotate_batch_size(job.reader.info)
            reader, summary.provider = job.reader, job.detector.provider
            if cover_frames:  # a face only tiles find is seen once a tile round, or missed once
                cover_frames = min(max(cover_frames, 2 * job.tile_period),
                                   cover_limit(job.reader.info, plane_hider is None))
            weakened = _hiding_weakened(settings, cover_frames, job.reader.info.is_image) if anonymizer else None
            if weakened is not None:
                summary.notes.append(weakened)
            # Closed before the job, so that its decoding thread has stopped when the file closes.
            frames = stack.enter_context(closing(
                _faces_on_the_fly(job, job.gap_frames, keep_rgb=plane_hider is None)))
        else:
            reader = stack.enter_context(VideoReader(source, settings.stream, settings.decoder_threads))
            faces, facts = load_detections(settings.detections, source, reader.info,
                                           complete=settings.anonymizer is not None)
            summary.notes.extend([*facts.get("assumed", []), *facts.get("notes", [])])
            processed = _processed_by_detect(facts)
            frames = _faces_from_file(reader, faces, facts, processed, settings.detections,
                                      settings.selection, complete=settings.anonymizer is not None)
        info = reader.info
        limit = cover_limit(info, plane_hider is None)
        if settings.cover_frames > limit and not info.is_image:
            raise InvalidOptionError(
                f"`cover_frames={settings.cover_frames}` would hold as many frames of {info.width}x"
                f"{info.height} in memory: at most {limit:,} at this size (about "
                f"{COVER_BYTES // 1_000_000_000} GB)")
        if info.is_image != (container_format == "image"):
            raise InvalidOptionError(
                f"{source} is a photo: name a photo output ({', '.join(IMAGE_ENCODERS)})"
                if info.is_image else f"{source} is a video: name a video output "
                                      f"({', '.join(CONTAINERS)})")
        progress.start_file(source, info.frames_estimate)
        # Ended once written (or a live recording's end); a failed or stopped run leaves its bar
        # where it stopped.
        stack.push(lambda error, *_: None if error else progress.end_file())

        start_s, end_s = settings.selection.start_s, settings.selection.end_s
        first = next(frames, None)
        if first is None:
            where = (f"no frame between `start_s={start_s or 0:g}` s and `end_s={end_s:g}` s"
                     if end_s is not None else f"no frame from `start_s={start_s or 0:g}` s on")
            raise InvalidOptionError(f"{source}: {where}{info.first_frame_note}")
        decoded, rgb, faces = first
        width, height = decoded.size
        time_base = decoded.frame.time_base
        style = Style.for_frame(width, height) if settings.draw else None
        if info.is_image:
            rgb = decoded.to_rgb() if rgb is None else rgb
            annotate_frame(rgb, faces, style, anonymizer)
            profile = icc_profile(source) if os.path.isfile(source) else None
            alpha = decoded.alpha()
            left_out = write_image(tmp, name, rgb, alpha, grey=decoded.grey, colour_profile=profile)
            if left_out:
                summary.notes.append(f"note: {name} is written without {Path(source).name}'s colour "
                                     f"profile ({left_out}): its colours may look off")
            if alpha is not None and Path(name).suffix.lower() not in ALPHA_FORMATS:
                summary.notes.append(f"note: {name} keeps no transparency: {Path(source).name} is laid "
                                     "over white (write .png, .tif or .webp to keep it)")
            summary.frames, summary.faces = 1, len(faces)
            summary.frames_with_faces = int(bool(len(faces)))
            summary.frames_without_faces = 1 - summary.frames_with_faces
            progress.advance(1)
            summary.seconds = time.perf_counter() - started
            return summary, None
        span = (info.clock_start_s if start_s is None else start_s, end_s)  # the output's time 0, and its end
        writer = stack.enter_context(VideoWriter(tmp, name, container_format, width, height,
                                                 decoded.frame, _rate(info), settings.encoder,
                                                 audio_from=None if live else source, span=span,
                                                 fragmented=live))
        if writer.subtitles_left_out:
            summary.notes.append(f"note: {name} is written without {Path(source).name}'s "
                                 f"{writer.subtitles_left_out} subtitle stream(s): blazecli copies the audio only")
        pts, shift = None, 0
        shown = cover_faces((((d, rgb), d.index, faces) for d, rgb, faces in chain([first], frames)),
                            cover_frames)
        try:
            for (decoded, rgb), faces in shown:
                pts, shift = _next_pts(decoded, time_base, pts, shift, info.fps, span[0])
                # The planes are used as stored only where the frame is shown as stored.
                if plane_hider and decoded.display == UPRIGHT and writer.takes(decoded.frame):
                    frame, planes = editable_copy(decoded.frame)
                    plane_hider.apply_planes(planes, faces.boxes)
                    writer.write_frame(frame, pts, decoded.frame.duration)
                else:
                    rgb = decoded.to_rgb() if rgb is None else rgb
                    annotate_frame(rgb, faces, style, anonymizer)
                    writer.write(rgb, pts, decoded.frame.duration)
                summary.frames += 1
                summary.faces += int((~faces.interpolated).sum())
                if (~faces.interpolated).any():
                    summary.frames_with_faces += 1
                elif len(faces):
                    summary.frames_covered += 1
                elif processed(decoded.index, decoded.time_s):
                    summary.frames_without_faces += 1
                else:
                    summary.frames_not_processed += 1
                progress.advance(1)
        except KeyboardInterrupt as exc:
            if not live:
                raise
            stop = exc  # the end of the recording: the writer finishes the file as it closes
            with signals_held(deliver=False):  # a second Ctrl-C must not cut that end short
                stack.close()
    summary.skipped_packets = reader.skipped_packets
    if job is not None:
        summary.frames_dropped = job.summary.frames_dropped
    summary.seconds = time.perf_counter() - started
    return summary, stop


COVER_BYTES = 2_000_000_000
"""The most the frames held back for the hiding cover may take: memory stays bounded on a live
stream however large ``cover_frames`` is asked to be (at 720p about 1,400 blurred frames, 480 drawn)."""


def cover_limit(info: VideoInfo, with_rgb: bool) -> int:
    """Frames of this size that :data:`COVER_BYTES` holds: decoded 4:2:0, plus their RGB where
    the frames are drawn on rather than hidden in their planes."""
    per_frame = info.width * info.height * (9 if with_rgb else 3) // 2
    return max(1, COVER_BYTES // max(1, per_frame))


BATCH_BYTES = 12_000_000
"""About what one batch of decoded frames (4:2:0) may hold in ``annotate``, whose batches carry
the frames themselves: 8 frames at 720p, 3 at 1080p, 1 at 4K. A few batches are in flight at
once; with 8 frames at 1080p they held ~130 MB more than this."""


def annotate_batch_size(info: VideoInfo) -> int:
    """Frames per batch when none is set: 8, fewer for frames larger than 720p."""
    return max(1, min(8, BATCH_BYTES * 2 // (3 * info.width * info.height)))


def _rate(info: VideoInfo) -> Fraction | None:
    """The declared frame rate, only a hint to the encoder's rate control."""
    return Fraction(info.fps).limit_denominator(1001) if info.fps else None


def _next_pts(decoded: DecodedFrame, time_base: Fraction, previous: int | None, shift: int,
              fps: float | None, offset_s: float = 0.0) -> tuple[int, int]:
    """The frame's pts from its time (the pts itself in MP4/MOV and Matroska), plus ``shift``;
    and the shift for the frames after it.

    An encoder needs strictly increasing times. Where they go back (files joined end to end,
    whose times restart), the frame follows the previous one by a frame's duration and the
    shift carries that over, so the rest keeps its own spacing instead of piling up.
    """
    pts = round((decoded.time_s - offset_s) / time_base) + shift
    if previous is not None and pts <= previous:
        step = decoded.frame.duration or (round(1 / (fps * time_base)) if fps else 0) or 1
        shift += previous + step - pts
        pts = previous + step
    return pts, shift


def _faces_on_the_fly(job: VideoJob, hold: int, keep_rgb: bool) -> Generator[FacedFrame, None, None]:
    """Every frame with the faces the detector finds in it, in order, and the RGB that tiles
    needed if ``keep_rgb`` (else None).

    A tracker that fills gaps adds faces to frames up to ``hold`` frames back, possibly frames
    of the previous batch, so the last ``hold`` frames of each batch wait for the next one.
    """
    pending: deque[tuple[DecodedFrame, np.ndarray | None, list[Detections]]] = deque()
    with closing(job.batches()) as batches:  # closing joins the decoding thread
        for batch in batches:
            frames = zip(batch.frames or [], batch.images or [], strict=False)
            pending.extend((decoded, rgb if keep_rgb else None, []) for decoded, rgb in frames)
            # Every frame is processed, but a live feed may drop some: indices may skip.
            position = {decoded.index: i for i, (decoded, _, _) in enumerate(pending)}
            faces = batch.faces
            for index in np.unique(faces.frame_index).tolist():
                pending[position[index]][2].append(faces[faces.frame_index == index])
            while len(pending) > hold:
                decoded, rgb, parts = pending.popleft()
                yield decoded, rgb, Detections.merge(parts)
    for decoded, rgb, parts in pending:
        yield decoded, rgb, Detections.merge(parts)


_ENDED_EARLY = ("{path}: its detections end at `end_s={end:g}` and {source} goes on: hiding "
                "faces needs every frame (annotate up to `end_s={end:g}`, or detect further)")
_STARTED_LATE = ("{path}: its detections start at `start_s={start:g}`, and {source} is annotated "
                 "from before it: hiding faces needs every frame (annotate from `start_s={start:g}`, "
                 "or detect from earlier)")


def _processed_by_detect(facts: dict[str, Any]) -> Callable[[int, float], bool]:
    """Whether ``detect`` processed a frame (index, time), by the facts of its file: a frame it
    left out has no face in the file because nobody looked."""
    chosen = facts.get("processed_frames")  # --fps, --keyframes: listed
    if chosen is not None:
        listed = set(chosen)
        return lambda index, _time: index in listed
    return FrameSelection(every=int(facts.get("every") or 1), start_s=facts.get("start_s"),
                          end_s=facts.get("end_s")).wants


def _faces_from_file(reader: VideoReader, faces: Detections, facts: dict[str, Any],
                     processed: Callable[[int, float], bool], path: str, selection: FrameSelection,
                     complete: bool) -> Iterator[FacedFrame]:
    """Every frame in ``selection`` with its rows of ``faces`` (sorted by frame).

    Read whole, the video must have the frame count ``detect`` saw, or the detections belong
    to another video; one that ``detect --end`` cut short may go on past it, and a frame before
    ``detect --start`` (not ``processed``) be written, unless every frame needs its faces
    (``complete``: hiding).
    """
    index = faces.frame_index
    detected_to = facts.get("end_s")  # `detect --end`: no rows from there on
    detected_from = facts.get("start_s")  # `detect --start`: none before it
    count = 0
    for decoded in reader.frames():
        count += 1
        if selection.past_end(decoded.time_s):
            return
        if selection.wants(decoded.index, decoded.time_s):
            if complete and detected_to is not None and decoded.time_s >= detected_to:
                raise InvalidOptionError(_ENDED_EARLY.format(path=path, end=detected_to,
                                                             source=reader.source))
            if complete and detected_from is not None and not processed(decoded.index, decoded.time_s):
                raise InvalidOptionError(_STARTED_LATE.format(path=path, start=detected_from,
                                                              source=reader.source))
            lo, hi = np.searchsorted(index, [decoded.index, decoded.index + 1]).tolist()
            yield decoded, None, faces[lo:hi]
    if facts.get("assumed"):  # rows without their facts: they must at least lie within the video
        if len(index) and index[-1] >= count:
            raise DetectionsMismatchError(
                f"{path}: has rows for frame {index[-1]}, but {reader.source} has {count} frames "
                f"(0 to {count - 1}): not the same video")
        return
    expected = int(facts.get("frames_read", facts.get("frames_decoded")) or 0)  # older files: the latter
    cut_short = count > expected and facts.get("end_s") is not None
    if count == expected or (cut_short and not complete):
        return
    if cut_short:
        raise InvalidOptionError(_ENDED_EARLY.format(path=path, end=detected_to, source=reader.source))
    raise DetectionsMismatchError(f"{path}: made from a video of {expected} frames, but "
                                  f"{reader.source} has {count}: not the same video")


def load_detections(path: str, source: str, info: VideoInfo,
                    complete: bool = False) -> tuple[Detections, dict[str, Any]]:
    """The faces a ``detect`` output holds for ``source`` (sorted by frame) and its stored facts.

    The file's entry for the video is found by path (as given, or the same file), or is the
    file's only one (a copy of the video, or stdin); its size, orientation, stream and frame
    count must be this video's. With ``complete`` (hiding faces) the detections must cover
    every frame: a frame left out would show its faces.
    """
    import pyarrow as pa  # here, not above: drawing as detecting leaves pyarrow (~40 MB) unloaded

    from ..outputs.sinks import FORMAT_SUFFIXES, format_for, read_metadata

    if Path(path).is_dir():
        raise InvalidOptionError(f"{path}: is a directory: `detections` takes the file detect wrote")
    if not Path(path).is_file():
        raise InputNotFoundError(f"{path}: no such file")
    if path.endswith(SIDECAR):
        raise InvalidOptionError(f"{path} is the metadata beside {path[:-len(SIDECAR)]}: give "
                                 "that file, which holds the detections")
    if Path(path).suffix.lower().lstrip(".") not in FORMAT_SUFFIXES:
        raise InvalidOptionError(f"{path}: detections are read from the .parquet, .csv or .jsonl "
                                 "file blazecli detect wrote")
    if format_for(path) != "parquet" and not Path(path + SIDECAR).is_file():
        return _detections_without_facts(path, source, info, complete)
    try:
        meta = read_metadata(path)
        facts = _facts_for(meta, source, path)
        table = _read_rows(path, facts["video"])
    except BlazeCliError:
        raise
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise InvalidOptionError(f"{path}: cannot read detections from it ({exc})") from exc
    stored = tuple(facts.get(k) for k in ("width", "height", "rotation", "mirrored", "stream_index"))
    actual = (info.width, info.height, info.display.rotation, info.display.mirrored, info.stream_index)
    if stored != actual:
        raise DetectionsMismatchError(
            f"{path}: made from a different video than {source} (width, height, rotation, "
            f"mirrored, stream: "
            f"{', '.join(map(str, stored))} there, {', '.join(map(str, actual))} here)")
    # The length too, before any frame is read: `end_s` stops the reading before the frame
    # count could show that the detections are another video's.
    made_from, here = facts.get("duration_s"), info.duration_s
    if made_from is not None and here is not None and abs(made_from - here) > max(0.1, 0.01 * here):
        raise DetectionsMismatchError(f"{path}: made from a video of {made_from:g} s, but {source} "
                                      f"lasts {here:g} s: not the same video")
    read = facts.get("frames_read", facts.get("frames_decoded"))  # older files: the latter
    detections = _to_detections(table, path)
    if len(detections) and isinstance(read, int) and int(detections.frame_index.max()) >= read:
        raise DetectionsMismatchError(f"{path}: has rows for frame {int(detections.frame_index.max())}, "
                                      f"but its metadata says {read} frames were read: not this run's rows")
    notes = [_weaker_detections_warning(meta, Path(path).name)] if complete else []
    recorded = facts.get("faces")
    if complete and isinstance(recorded, int) and len(detections) < recorded:
        # Removed on purpose (a face to keep showing) or lost: said, not refused.
        notes.append(f"warning: {Path(path).name} holds {len(detections)} rows for this video where "
                     f"its metadata records {recorded}: the faces of the rows not there are not hidden")
    facts = {**facts, "notes": [note for note in notes if note]}
    skipped = (read or 0) - (facts.get("frames_processed") or 0)
    # Frames before `detect --start` alone are checked as the video is read: a preview from
    # there on needs none of them.
    from_start_only = (facts.get("every") == 1 and facts.get("sample_fps") is None
                       and not facts.get("keyframes") and facts.get("start_s") is not None)
    if complete and (facts.get("every") != 1 or skipped) and not from_start_only:
        chosen = {name: facts.get(key) for name, key in (("every", "every"), ("fps", "sample_fps"),
                                                         ("start_s", "start_s"), ("end_s", "end_s"))}
        settings = [f"`{name}={value:g}`" for name, value in chosen.items()
                    if value is not None and (name, value) != ("every", 1)]
        settings += ["`keyframes`"] if facts.get("keyframes") else []
        raise InvalidOptionError(
            f"{path}: its detections skip {skipped:,} frame(s) ({', '.join(settings)}), and hiding "
            "faces needs every frame: run detect on every frame, or leave out `detections` to "
            "detect while annotating")
    return detections, facts


def _detections_without_facts(path: str, source: str, info: VideoInfo,
                              complete: bool) -> tuple[Detections, dict[str, Any]]:
    """Rows written to stdout and saved (``detect -o - > faces.csv``) carry no facts: they are
    taken as made from ``source`` with every frame processed, which the rows themselves must
    not contradict (their frame size here, their last frame once the video is read). Hiding
    goes on with a warning, the rows being the truth, unless they lie only on every Nth frame."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        table = _read_rows(path, None)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise InvalidOptionError(f"{path}: cannot read detections from it ({exc})") from exc
    videos = pc.unique(table["video"]).to_pylist()
    if len(videos) > 1:
        named = [v for v in videos if file_identity(str(v)) == file_identity(source)
                 or Path(str(v)).name == Path(source).name]
        if len(named) != 1:
            raise DetectionsMismatchError(f"{path}: holds rows of {len(videos)} videos and no "
                                          f"sidecar to tell which is {source}")
        table = table.filter(pc.field("video") == named[0])
    sizes = {(w, h) for w, h in zip(table["frame_width"].to_pylist(),
                                   table["frame_height"].to_pylist(), strict=True)}
    if sizes - {(info.width, info.height)}:
        shown = ", ".join(f"{w}x{h}" for w, h in sorted(sizes))
        raise DetectionsMismatchError(f"{path}: its rows are of {shown} frames, {source} shows "
                                      f"{info.width}x{info.height}: not the same video")
    name = Path(path).name
    notes = [f"note: {name} has no sidecar: assuming it was made from {source} with every frame processed"]
    if complete:
        frames = np.unique(table["frame_index"].to_numpy())
        step = int(np.gcd.reduce(frames)) if len(frames) >= 3 else 1
        if step > 1:
            raise InvalidOptionError(
                f"{path}: its rows lie only on every {_ordinal(step)} frame (detect `every={step}`?), "
                "and hiding faces needs every frame: run detect without `every`, or leave out "
                "`detections` to detect while annotating")
        notes.append(f"warning: {name}: it cannot be verified that every frame was processed; "
                     "its rows are taken as the truth, and a frame without rows is left as it is: "
                     "check the output, or run detect to a file (its sidecar records this)")
    return _to_detections(table, path), {"video": videos[0] if videos else source, "assumed": notes}


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _short_of_hiding(detector: dict[str, Any]) -> list[str]:
    """What in detector settings (``model``, ``tiles``, ``brighten``, ``threshold``,
    ``max_faces``, as the metadata states them) finds fewer faces than the hiding profile:
    small, far, dark or extra faces would stay showing."""
    profile = HIDING_PROFILE
    threshold, most = detector.get("threshold"), detector.get("max_faces")
    return [what for what, short in (
        (f"the {detector.get('model')}-range model", detector.get("model") != profile.model),
        ("no tiles", detector.get("tiles") in (None, "none")),
        ("no brightening", profile.brighten and detector.get("brighten") is not True),
        (f"threshold {threshold}",
         not isinstance(threshold, (int, float)) or threshold > (profile.threshold or 0)),
        (f"at most {most} face(s) a frame", most is not None),
    ) if short]


_HIDING_SETTINGS = (f"`model={HIDING_PROFILE.model}`, `tiles={HIDING_PROFILE.tiles}`, "
                   f"`threshold={HIDING_PROFILE.threshold}`, `brighten={HIDING_PROFILE.brighten}`, "
                   "no `max_faces`")
"""The hiding profile's detector settings, as the warnings name them."""


def _weaker_detections_warning(meta: dict[str, Any], name: str) -> str | None:
    """A warning when detections to hide were made with less recall than the hiding profile's
    (``detect``'s defaults: the short-range model, no tiles)."""
    weaker = _short_of_hiding(meta)
    if not weaker:
        return None
    return (f"warning: {name} was detected with {', '.join(weaker)}: faces that hiding's own detection "
            f"finds ({_HIDING_SETTINGS}) may be missing from it and stay showing; detect with those, "
            "or leave out `detections`")


def _hiding_weakened(settings: AnnotateSettings, cover_frames: int, still: bool) -> str | None:
    """A warning when options given to ``annotate`` find or hold fewer faces than its hiding
    profile: said, as a hiding run must not lose faces in silence."""
    options = settings.detector
    weaker = _short_of_hiding({"model": options.model, "tiles": options.tiles, "brighten": options.brighten,
                                 "threshold": options.min_score, "max_faces": options.max_faces})
    if not still:
        tracking = settings.tracking
        weaker += [what for what, short in (
            ("no tracking", tracking is None),
            ("no filled gaps", tracking is not None and not tracking.fill_gaps),
            ("`cover_frames=0`", not cover_frames),
        ) if short]
    if not weaker:
        return None
    return (f"warning: hiding with {', '.join(weaker)}: fewer faces are found or held than with the "
            f"hiding profile ({_HIDING_SETTINGS}, gaps filled, `cover_frames={HIDING_PROFILE.cover_frames}`), "
            "and those missed stay showing")


_FACTS_NEEDED = ("video", "width", "height", "rotation", "mirrored", "stream_index")
"""What a video's entry in the metadata must state to be checked against the video."""

_FACT_KINDS: dict[str, str] = {
    "video": "path", "width": "count", "height": "count", "rotation": "count", "mirrored": "switch",
    "stream_index": "count", "duration_s": "number", "frames_read": "count", "frames_decoded": "count",
    "frames_processed": "count", "faces": "count", "every": "count", "sample_fps": "number",
    "start_s": "number", "end_s": "number", "keyframes": "switch", "processed_frames": "counts",
}
"""What each fact of a video's entry that ``annotate`` reads must be where it is not null: a
hand-edited sidecar is then refused in words, not in a traceback."""

_KIND_WORDS = {"path": "a path", "count": "a whole number", "switch": "true or false",
               "number": "a finite number", "counts": "a list of whole numbers"}


def _is_kind(value: object, kind: str) -> bool:
    if kind == "counts":
        return isinstance(value, list) and all(_is_kind(v, "count") for v in value)
    if kind == "path":
        return isinstance(value, str)
    if kind == "switch":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if kind == "count":
        return isinstance(value, int) and 0 <= value < 2**63
    return math.isfinite(value)


def _facts_for(meta: object, source: str, path: str) -> dict[str, Any]:
    videos = meta.get("videos") if isinstance(meta, dict) else None
    if not (isinstance(videos, list)
            and all(isinstance(f, dict) and all(k in f for k in _FACTS_NEEDED) for f in videos)):
        raise InvalidOptionError(f"{path}: its metadata is not what blazecli detect writes (a "
                                 f"`videos` list, each entry with {', '.join(_FACTS_NEEDED)})")
    for entry in videos:
        for key, kind in _FACT_KINDS.items():
            value = entry.get(key)
            if value is not None and not _is_kind(value, kind):
                raise InvalidOptionError(f"{path}: its metadata's \"{key}\" is {value!r:.40}, where "
                                         f"blazecli detect writes {_KIND_WORDS[kind]}")
    for facts in videos:
        if file_identity(str(facts.get("video"))) == file_identity(source):  # as given, or the same file
            return facts
    named = [f for f in videos if Path(str(f.get("video"))).name == Path(source).name]
    if len(videos) == 1 or len(named) == 1:  # moved, copied, piped, or detected from another folder:
        return (named or videos)[0]  # the checks that follow tell whether it is the same video
    shown = [str(v.get("video")) for v in videos[:3]] + (["..."] if len(videos) > 3 else [])
    held = f"{len(videos)} videos ({', '.join(shown)})" if videos else "no video"
    raise DetectionsMismatchError(f"{path}: holds detections for {held}, not for {source}")


def _read_rows(path: str, video: str | None) -> pa.Table:
    """The rows of one video (None: all) from a Parquet, CSV or JSON Lines file ``detect`` wrote."""
    import pyarrow.compute as pc

    from ..outputs.sinks import SCHEMA, format_for

    fmt = format_for(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        one_video = video is not None and "video" in pq.read_schema(path).names  # read only its rows
        table = pq.read_table(path, filters=pc.field("video") == video if one_video else None)
    elif fmt == "csv":
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=SCHEMA))
    elif Path(path).stat().st_size == 0:  # detect's JSON Lines of a video without faces
        table = SCHEMA.empty_table()
    else:
        import pyarrow.json as pajson

        table = pajson.read_json(path, parse_options=pajson.ParseOptions(explicit_schema=SCHEMA))
    missing = [name for name in SCHEMA.names if name not in table.column_names]
    if missing:
        raise InvalidOptionError(f"{path}: lacks the column(s) {', '.join(missing)} that blazecli "
                                 "detect writes")
    table = table.select(SCHEMA.names).cast(SCHEMA)  # a Parquet file edited elsewhere: its own types
    return table if video is None else table.filter(pc.field("video") == video)


def _to_detections(table: pa.Table, path: str) -> Detections:
    """The rows as faces. A row with an empty or non-finite coordinate, score or frame index (a
    hand edit) is refused, naming its frame: its face could be neither drawn nor hidden."""
    from ..outputs.sinks import KEYPOINT_COLUMNS

    table = table.sort_by("frame_index")
    frame_index = table["frame_index"]
    if frame_index.null_count or (len(table) and frame_index[0].as_py() < 0):  # sorted: nulls last
        raise InvalidOptionError(f"{path}: a row has no frame_index, or a negative one")

    def columns(names: list[str]) -> np.ndarray:
        values = np.stack([table[n].to_numpy() for n in names], axis=1).reshape(len(table), len(names))
        rows, where = np.nonzero(~np.isfinite(values))  # an empty cell reads as NaN
        if len(rows):
            raise InvalidOptionError(f"{path}: a row of frame {frame_index[int(rows[0])]} has no "
                                     f"finite {names[int(where[0])]} ({values[rows[0], where[0]]})")
        return values

    return Detections(columns(["x_min", "y_min", "x_max", "y_max"]),
                      columns(KEYPOINT_COLUMNS).reshape(-1, 6, 2), columns(["score"])[:, 0],
                      frame_index.to_numpy(), table["track_id"].fill_null(-1).to_numpy(),
                      table["interpolated"].fill_null(False).to_numpy())
