"""The ``annotate`` job: one video in, the same video with its faces marked or hidden out.

Frames stream one at a time through decode -> faces (from a file ``detect`` wrote, or the
detector on the fly) -> draw -> encode, so memory stays bounded whatever the video's length.
Every frame is written, with the pts it had; the audio is copied as it was; and the output
appears under its name only when complete (a hidden temporary file beside it, then a rename).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import chain
from pathlib import Path

import numpy as np

from ..checks import whole_number
from ..choices import HIDING_SCALE
from ..detections import Detections
from ..errors import (
    BlazeCliError,
    InvalidOptionError,
    OutputNotWritableError,
    permission_denied_as,
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
from ..outputs.paths import STDOUT, file_identity, publish, temporary_beside
from ..temporal.camera import CameraPose, follow_camera
from ..temporal.cover import cover_faces
from ..temporal.tracking import TrackerOptions
from .detect import VideoJob
from .hiding import hiding_weakened
from .progress import Progress, SilentProgress
from .saved_faces import faces_from_file, load_detections, processed_by_detect
from .signals import signals_held

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
    audio: bool = True  # copy the source's audio (a voice can identify as a face does)

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
    photo: bool = False  # a photo in and out: one picture, no frames to count


def container_for(output: str) -> str:
    """The FFmpeg muxer for an output path, from its extension (``image`` for a photo)."""
    if output == STDOUT:
        raise InvalidOptionError("`output=-`: annotate writes a file, not stdout: name one "
                                 "(hidden.mp4, hidden.mkv, or a photo's name)")
    with permission_denied_as(OutputNotWritableError, output):
        into_folder = output.endswith(("/", os.sep)) or Path(output).is_dir()
    if into_folder:
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
    fd, tmp = temporary_beside(Path(output), settings.overwrite, stdout=False)  # annotate writes files only
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
                           live_drop=settings.live_drop, sweep_new_views=True)
            stack.callback(job.close)
            if settings.batch_size is None:
                job.batch_size = annotate_batch_size(job.reader.info)
            reader, summary.provider = job.reader, job.detector.provider
            if cover_frames:  # a face only tiles find is seen once a tile round, or missed once
                cover_frames = min(max(cover_frames, 2 * job.tile_period),
                                   cover_limit(job.reader.info, plane_hider is None))
            # Closed before the job, so that its decoding thread has stopped when the file closes.
            frames = stack.enter_context(closing(
                _faces_on_the_fly(job, job.gap_frames, keep_rgb=plane_hider is None)))
        else:
            reader = stack.enter_context(VideoReader(source, settings.stream, settings.decoder_threads))
            faces, facts = load_detections(settings.detections, source, reader.info,
                                           complete=settings.anonymizer is not None)
            summary.notes.extend([*facts.get("assumed", []), *facts.get("notes", [])])
            processed = processed_by_detect(facts)
            frames = ((decoded, None, rows) for decoded, rows in faces_from_file(
                reader, faces, facts, processed, settings.detections, settings.selection,
                complete=settings.anonymizer is not None))
        info = reader.info
        weakened = hiding_weakened(None if job is None else settings.detector, settings.tracking,
                                   cover_frames, info.is_image) if anonymizer else None
        summary.notes.extend([weakened] if weakened else [])
        if info.display.rounding_note:
            summary.notes.append(f"warning: {source}: {info.display.rounding_note}")
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
            if decoded.sample_bits > 8:
                summary.notes.append(f"note: {name} is written with 8 bits a sample; {Path(source).name} "
                                     f"has {decoded.sample_bits}")
            if alpha is not None and Path(name).suffix.lower() not in ALPHA_FORMATS:
                summary.notes.append(f"note: {name} keeps no transparency: {Path(source).name} is laid "
                                     "over white (write .png, .tif or .webp to keep it)")
            summary.frames, summary.faces, summary.photo = 1, len(faces), True
            summary.frames_with_faces = int(bool(len(faces)))
            summary.frames_without_faces = 1 - summary.frames_with_faces
            progress.advance(1)
            summary.seconds = time.perf_counter() - started
            return summary, None
        span = (info.clock_start_s if start_s is None else start_s, end_s)  # the output's time 0, and its end
        writer = stack.enter_context(VideoWriter(tmp, name, container_format, width, height,
                                                 decoded.frame, _rate(info), settings.encoder,
                                                 audio_from=source if settings.audio and not live else None,
                                                 span=span,
                                                 fragmented=live, chapters=reader.chapters))
        if writer.audio_few_play:
            summary.notes.append(f"note: {name} holds {', '.join(writer.audio_few_play)} audio, which few "
                                 "players play from MP4: write .mkv (or .mov) to keep it playable, or "
                                 "leave the audio out (`audio=False`)")
        if writer.left_out:  # subtitles, a phone's timecode and metadata tracks, fonts, cover art
            kinds = ", ".join(f"{count} {kind} stream(s)" for kind, count in writer.left_out.items())
            summary.notes.append(f"note: {name} is written without {Path(source).name}'s {kinds}: "
                                 "blazecli copies the audio and chapters only")
        pts, shift = None, 0
        framed = chain([first], frames)
        if cover_frames:  # held masks move with the camera
            posed: Iterable[tuple[FacedFrame, CameraPose]] = follow_camera(
                ((d, rgb, faces), d.size, d.small_grey) for d, rgb, faces in framed)
        else:
            posed = ((frame, CameraPose()) for frame in framed)
        shown = cover_faces((((d, rgb), d.index, faces, pose) for (d, rgb, faces), pose in posed), cover_frames)
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
