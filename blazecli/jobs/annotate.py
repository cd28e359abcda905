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
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..detections import Detections
from ..errors import (
    BlazeCliError,
    DetectionsMismatchError,
    InputNotFoundError,
    InvalidOptionError,
    OutputNotWritableError,
)
from ..inference.detector import DetectorOptions, FaceDetector
from ..media.files import STDIN
from ..media.reader import DecodedFrame, VideoInfo, VideoReader
from ..media.writer import EncoderOptions, VideoWriter
from ..outputs.draw import Anonymizer, Style, annotate_frame
from ..outputs.paths import file_identity
from ..outputs.sinks import (
    FORMATS,
    KEYPOINT_COLUMNS,
    SCHEMA,
    format_for,
    publish,
    read_metadata,
    temporary_beside,
)
from ..temporal.tracking import TrackerOptions
from .detect import VideoJob
from .runner import Progress, SilentProgress

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
"""Output extensions and the FFmpeg muxer each one gets."""

FacedFrame = tuple[DecodedFrame, np.ndarray, Detections]  # the frame, its RGB, its faces


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
    batch_size: int = 8
    stream: int = 0
    decoder_threads: int = 0
    overwrite: bool = False


@dataclass
class AnnotateSummary:
    """What a run did; ``provider`` is the detector's device, empty when faces came from a file."""

    source: str
    output: str
    frames: int = 0
    faces: int = 0
    seconds: float = 0.0
    provider: str = ""
    skipped_packets: int = 0


def container_for(output: str) -> str:
    """The FFmpeg muxer for an output path, from its extension."""
    suffix = Path(output).suffix.lower()
    if suffix not in CONTAINERS:
        raise InvalidOptionError(f"cannot tell the video container of {output!r} from its extension: "
                                 f"use {', '.join(CONTAINERS)}")
    return CONTAINERS[suffix]


def annotate_video(source: str, output: str, settings: AnnotateSettings,
                   progress: Progress | None = None,
                   make_detector: Callable[[DetectorOptions], FaceDetector] = FaceDetector,
                   ) -> AnnotateSummary:
    """Write ``source`` with its faces drawn (or hidden) to ``output``: all of it, or nothing."""
    container_format = container_for(output)
    if source == STDIN:
        raise InvalidOptionError("annotate reads a video file, not stdin (it reads the file twice: "
                                 "once for the pictures, once for the sound)")
    if file_identity(source) == file_identity(output):
        raise InvalidOptionError(f"`output={output}` is the input video: it would be overwritten")
    fd, tmp = temporary_beside(Path(output), settings.overwrite)
    os.close(fd)
    try:
        summary = _annotate(source, tmp, output, container_format, settings, progress or SilentProgress(),
                            make_detector)
        try:
            publish(tmp, output, settings.overwrite)
        except BlazeCliError:
            raise
        except OSError as exc:
            raise OutputNotWritableError(f"{output}: cannot write ({exc.strerror})") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return summary


def _annotate(source: str, tmp: str, name: str, container_format: str, settings: AnnotateSettings,
              progress: Progress, make_detector: Callable[[DetectorOptions], FaceDetector],
              ) -> AnnotateSummary:
    started = time.perf_counter()
    summary = AnnotateSummary(source, name)
    with ExitStack() as stack:
        frames: Iterator[FacedFrame]
        if settings.detections is None:
            job = VideoJob(source, make_detector(settings.detector), batch_size=settings.batch_size,
                           stream=settings.stream, decoder_threads=settings.decoder_threads,
                           keep_frames=True, tracking=settings.tracking)
            stack.callback(job.close)
            reader, summary.provider = job.reader, job.detector.provider
            # Closed before the job, so that its decoding thread has stopped when the file closes.
            frames = stack.enter_context(closing(
                _faces_on_the_fly(job, _gap_frames(settings.tracking))))
        else:
            reader = stack.enter_context(VideoReader(source, settings.stream, settings.decoder_threads))
            faces, facts = load_detections(settings.detections, source, reader.info,
                                           complete=settings.anonymizer is not None)
            frames = _faces_from_file(reader, faces, facts, settings.detections)
        info = reader.info
        if info.is_image:
            raise InvalidOptionError(f"{source}: a still image; annotate writes videos")
        progress.start_file(source, info.frames_estimate)
        stack.callback(progress.end_file)

        first = next(frames)  # every reader has decoded a first frame
        decoded, rgb, _ = first
        height, width = rgb.shape[:2]
        time_base = decoded.frame.time_base
        style = Style.for_frame(width, height) if settings.draw else None
        writer = stack.enter_context(VideoWriter(tmp, name, container_format, width, height,
                                                 decoded.frame, _rate(info), settings.encoder,
                                                 audio_from=source))
        pts, shift = None, 0
        for decoded, rgb, faces in chain([first], frames):
            annotate_frame(rgb, faces, style, settings.anonymizer)
            pts, shift = _next_pts(decoded, time_base, pts, shift, info.fps)
            writer.write(rgb, pts, decoded.frame.duration)
            summary.frames += 1
            summary.faces += len(faces)
            progress.advance(1)
    summary.skipped_packets = reader.skipped_packets
    summary.seconds = time.perf_counter() - started
    return summary


def _rate(info: VideoInfo) -> Fraction | None:
    """The declared frame rate, only a hint to the encoder's rate control."""
    return Fraction(info.fps).limit_denominator(1001) if info.fps else None


def _next_pts(decoded: DecodedFrame, time_base: Fraction, previous: int | None, shift: int,
              fps: float | None) -> tuple[int, int]:
    """The frame's pts from its time (the pts itself in MP4/MOV and Matroska), plus ``shift``;
    and the shift for the frames after it.

    An encoder needs strictly increasing times. Where they go back (files joined end to end,
    whose times restart), the frame follows the previous one by a frame's duration and the
    shift carries that over, so the rest keeps its own spacing instead of piling up.
    """
    pts = round(decoded.time_s / time_base) + shift
    if previous is not None and pts <= previous:
        step = decoded.frame.duration or (round(1 / (fps * time_base)) if fps else 0) or 1
        shift += previous + step - pts
        pts = previous + step
    return pts, shift


def _gap_frames(tracking: TrackerOptions | None) -> int:
    """How far back a tracker may add faces: ``max_missed`` frames, with ``fill_gaps`` only."""
    return tracking.max_missed if tracking is not None and tracking.fill_gaps else 0


def _faces_on_the_fly(job: VideoJob, hold: int) -> Generator[FacedFrame, None, None]:
    """Every frame with the faces the detector finds in it, in order.

    A tracker that fills gaps adds faces to frames up to ``hold`` frames back, possibly frames
    of the previous batch, so the last ``hold`` frames of each batch wait for the next one.
    """
    pending: deque[tuple[DecodedFrame, np.ndarray, list[Detections]]] = deque()
    with closing(job.batches()) as batches:  # closing joins the decoding thread
        for batch in batches:
            frames = zip(batch.frames or [], batch.images or [], strict=False)
            pending.extend((decoded, rgb, []) for decoded, rgb in frames)
            first = pending[0][0].index  # every frame is processed: indices run without gaps
            faces = batch.faces
            for index in np.unique(faces.frame_index).tolist():
                pending[index - first][2].append(faces[faces.frame_index == index])
            while len(pending) > hold:
                decoded, rgb, parts = pending.popleft()
                yield decoded, rgb, Detections.merge(parts)
    for decoded, rgb, parts in pending:
        yield decoded, rgb, Detections.merge(parts)


def _faces_from_file(reader: VideoReader, faces: Detections, facts: dict[str, Any],
                     path: str) -> Iterator[FacedFrame]:
    """Every frame with its rows of ``faces`` (sorted by frame); at the end, the frame count
    must be the one ``detect`` saw, or the detections belong to another video."""
    index = faces.frame_index
    count = 0
    for decoded in reader.frames():
        lo, hi = np.searchsorted(index, [decoded.index, decoded.index + 1]).tolist()
        yield decoded, decoded.to_rgb(), faces[lo:hi]
        count += 1
    expected = facts.get("frames_decoded")
    if facts.get("end_s") is None and count != expected:
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
    if not Path(path).is_file():
        raise InputNotFoundError(f"{path}: no such file")
    if Path(path).suffix.lower().lstrip(".") not in FORMATS:
        raise InvalidOptionError(f"{path}: detections are read from the .parquet, .csv or .jsonl "
                                 "file blazecli detect wrote")
    try:
        facts = _facts_for(read_metadata(path), source, path)
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
    sampling = {k: facts.get(k) for k in ("every", "start_s", "end_s")}
    if complete and sampling != {"every": 1, "start_s": None, "end_s": None}:
        raise InvalidOptionError(
            f"{path}: its detections skip frames ({', '.join(f'{k}={v}' for k, v in sampling.items())}), "
            "and hiding faces needs every frame: run detect without `every`/`start_s`/`end_s`, or "
            "leave out `detections` to detect while annotating")
    return _to_detections(table), facts


def _facts_for(meta: dict[str, Any], source: str, path: str) -> dict[str, Any]:
    videos = meta.get("videos", [])
    for facts in videos:
        if file_identity(str(facts.get("video"))) == file_identity(source):  # as given, or the same file
            return facts
    named = [f for f in videos if Path(str(f.get("video"))).name == Path(source).name]
    if len(videos) == 1 or len(named) == 1:  # moved, copied, piped, or detected from another folder:
        return (named or videos)[0]  # the checks that follow tell whether it is the same video
    shown = [str(v.get("video")) for v in videos[:3]] + (["..."] if len(videos) > 3 else [])
    held = f"{len(videos)} videos ({', '.join(shown)})" if videos else "no video"
    raise DetectionsMismatchError(f"{path}: holds detections for {held}, not for {source}")


def _read_rows(path: str, video: str) -> pa.Table:
    """The rows of one video from a Parquet, CSV or JSON Lines file ``detect`` wrote."""
    fmt = format_for(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path, filters=pc.field("video") == video)
    if fmt == "csv":
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=SCHEMA))
    else:
        import pyarrow.json as pajson

        table = pajson.read_json(path, parse_options=pajson.ParseOptions(explicit_schema=SCHEMA))
    return table.filter(pc.field("video") == video)


def _to_detections(table: pa.Table) -> Detections:
    table = table.sort_by("frame_index")

    def columns(names: list[str]) -> np.ndarray:
        return np.stack([table[n].to_numpy() for n in names], axis=1).reshape(len(table), len(names))

    return Detections(columns(["x_min", "y_min", "x_max", "y_max"]),
                      columns(KEYPOINT_COLUMNS).reshape(-1, 6, 2), table["score"].to_numpy(),
                      table["frame_index"].to_numpy(), table["track_id"].fill_null(-1).to_numpy(),
                      table["interpolated"].to_numpy())
