"""``blazecli annotate``: the video with its faces drawn on it, or hidden."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from ..choices import DRAWING_PROFILE, HIDING_PROFILE, HIDING_SCALE
from .app import app, err, freeze_imports
from .errors import in_flags, user_errors
from .options import (
    Device,
    DeviceOption,
    Encoder,
    InputFormatOption,
    LiveDropOption,
    MaskShape,
    MaxFacesOption,
    Model,
    OverwriteOption,
    Preset,
    QuietOption,
    Resize,
    ResizeOption,
    SmoothBetaOption,
    SmoothCutoffOption,
    SmoothOption,
    StreamOption,
    ThreadsOption,
    Tie,
    TieOption,
    TrackOption,
    detector_options,
    tracker_options,
)
from .progress import RichProgress

_DETECTOR_OPTIONS = ("model", "threshold", "tie", "resize", "max_faces", "tiles", "brighten", "device",
                     "threads", "batch_size", "track", "smooth", "smooth_cutoff", "smooth_beta",
                     "fill_gaps")
"""Options of the detection made now: with --detections there is none, so they are refused."""


def _kept(output: str, since: float) -> str | None:
    """What a stopped run left: a live recording's finished file (a file's run leaves none)."""
    try:
        written = Path(output).stat().st_mtime >= since
    except OSError:
        return None
    return f"the recording: {output} kept, up to the stop" if written else None


def _given(ctx: typer.Context, names: tuple[str, ...]) -> list[str]:
    """The options among ``names`` that the command line set (not their defaults), as flags."""
    flags = {p.name: (p.secondary_opts[0] if getattr(p, "secondary_opts", None)
                      and ctx.params.get(p.name) is False else max(p.opts, key=len))
             for p in ctx.command.params}
    sources = {name: getattr(ctx.get_parameter_source(name), "name", "DEFAULT") for name in names}
    return [flags[name] for name in names if sources[name] not in ("DEFAULT", "DEFAULT_MAP")]


def _return_frames_when_freed() -> None:
    """Hold glibc's mmap threshold at 1 MB. glibc raises it after the first large free (up to
    32 MB), after which full-size frames come from per-thread heaps that keep what is freed:
    at 1080p that kept ~40 MB. Linux (glibc) only; elsewhere nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc (musl)
        pass


HIDING_FLAGS = " ".join([f"--model {HIDING_PROFILE.model}", f"--tiles {HIDING_PROFILE.tiles}",
                         f"--threshold {HIDING_PROFILE.threshold}",
                         "--brighten" if HIDING_PROFILE.brighten else "--no-brighten",
                         "--fill-gaps" if HIDING_PROFILE.fill_gaps else "--no-fill-gaps",
                         f"--cover {HIDING_PROFILE.cover_frames}"])
"""The hiding profile's detection, as options."""

ANNOTATE_HELP = f"""Write the video with its faces drawn on it, or hidden (--blur, --pixelate, --fill).

    Faces come from --detections (a file `detect` wrote for this video) or are detected now,
    with the same options as `detect`. Every frame is kept with its timing, at the displayed
    size; audio is copied as it is; the video is H.264. A photo comes out as a photo.

    Hiding uses a recall-first profile unless an option says otherwise: {HIDING_FLAGS},
    and a faster encoder (--preset {HIDING_PROFILE.preset} --crf {HIDING_PROFILE.crf}: about the
    quality of the defaults, in larger files). Hiding is only as good as the detector: check the
    output before you publish it.

    Examples:

    \b
      blazecli annotate clip.mp4 -o annotated.mp4
      blazecli annotate clip.mp4 -o hidden.mp4 --blur   (or --pixelate, --fill black)
      blazecli annotate clip.mp4 -o annotated.mp4 --detections faces.parquet
      blazecli annotate rtsp://camera/stream -o hidden.mkv --blur   (until Ctrl-C)
    """


@app.command(help=ANNOTATE_HELP)
def annotate(
    ctx: typer.Context,
    video: Annotated[str, typer.Argument(
        help="The video to annotate (a file: its audio is copied), or a live source (a URL, a "
             "device, a pipe on '-': recorded without audio until it ends or Ctrl-C).",
        show_default=False)],
    output: Annotated[str, typer.Option(
        "--output", "-o", help="Output video: .mp4 (H.264), .m4v, .mov or .mkv; for a photo, a "
                               "photo: .jpg, .png, .webp, .tif, .bmp, .ppm or .pgm.", show_default=False)],
    detections: Annotated[str | None, typer.Option(
        help="Draw the faces of this file from `blazecli detect` (.parquet, .csv, .jsonl) instead "
             "of detecting them now (the detector and tracking options are then refused).",
        show_default=False)] = None,
    blur: Annotated[bool, typer.Option("--blur", help="Hide faces: blur them.")] = False,
    pixelate: Annotated[bool, typer.Option("--pixelate", help="Hide faces: pixelate them.")] = False,
    fill: Annotated[str | None, typer.Option(
        help="Hide faces: fill them with this colour (black, white, gray, red, green, blue, yellow, "
             "cyan, magenta, #rrggbb or r,g,b).",
        show_default=False)] = None,
    mask_scale: Annotated[float, typer.Option(
        help="Size of the hidden area, relative to the face box; below the default, faces may "
             "show around it.")] = HIDING_SCALE,
    mask_shape: Annotated[MaskShape, typer.Option(help="Shape of the hidden area.")] = MaskShape.ellipse,
    boxes: Annotated[bool | None, typer.Option(
        "--boxes/--no-boxes", help="Draw boxes, keypoints, score and track id [default: on; off "
                                   "when hiding faces].", show_default=False)] = None,
    encoder: Annotated[Encoder, typer.Option(
        help="H.264 encoder: libx264 (CPU) or h264_nvenc (NVIDIA GPU).")] = Encoder.libx264,
    crf: Annotated[int | None, typer.Option(
        help="Quality from 0 (lossless) to 51: lower is better and bigger [default: "
             f"{DRAWING_PROFILE.crf}; {HIDING_PROFILE.crf} when hiding].", show_default=False)] = None,
    preset: Annotated[Preset | None, typer.Option(
        help="Encoding speed against file size (x264's presets; NVENC gets the nearest of "
             f"p1..p7) [default: {DRAWING_PROFILE.preset}; {HIDING_PROFILE.preset} when hiding].",
        show_default=False)] = None,
    model: Annotated[Model | None, typer.Option(
        help="short: faces within ~2 m (128 px input); full: smaller, farther faces (192 px "
             f"input) [default: {DRAWING_PROFILE.model}; {HIDING_PROFILE.model} when hiding or with "
             "--tiles].", show_default=False)] = None,
    threshold: Annotated[float | None, typer.Option(
        help="Minimum face score [default: 0.5 short, 0.6 full, as MediaPipe; "
             f"{HIDING_PROFILE.threshold} when hiding].", show_default=False)] = None,
    tie: TieOption = Tie.blend,
    resize: ResizeOption = Resize.mediapipe,
    max_faces: MaxFacesOption = None,
    tiles: Annotated[str | None, typer.Option(
        metavar="none|auto|RxC", help="Also detect in overlapping tiles, for small faces (see "
        f"detect --help) [default: {DRAWING_PROFILE.tiles}; {HIDING_PROFILE.tiles} when hiding].",
        show_default=False)] = None,
    brighten: Annotated[bool | None, typer.Option(
        "--brighten/--no-brighten", help="Also look at a brightened copy of each dark frame or "
        "tile, for faces in low light [default: off; on when hiding].", show_default=False)] = None,
    cover: Annotated[int | None, typer.Option(
        help="Hide each face this many frames before it is first seen and after it is last "
             "seen, over brief misses; with tiles, at least the frames two tile rounds take; "
             f"0 turns it off [default: {DRAWING_PROFILE.cover_frames}; "
             f"{HIDING_PROFILE.cover_frames} when hiding].", show_default=False)] = None,
    start: Annotated[float | None, typer.Option(
        help="Start the output at this time (seconds): a quick preview.", show_default=False)] = None,
    end: Annotated[float | None, typer.Option(
        help="End the output before this time (seconds).", show_default=False)] = None,
    stream: StreamOption = 0,
    track: TrackOption = True,
    smooth: SmoothOption = True,
    smooth_cutoff: SmoothCutoffOption = None,
    smooth_beta: SmoothBetaOption = None,
    fill_gaps: Annotated[bool | None, typer.Option(
        "--fill-gaps/--no-fill-gaps",
        help="Mark faces in frames where a tracked face was briefly missed [default: off; on "
             "when hiding].", show_default=False)] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Frames per inference batch [default: 8, fewer for frames over 720p, whose batches "
             "hold full frames].", show_default=False)] = None,
    device: DeviceOption = Device.auto,
    threads: ThreadsOption = None,
    input_format: InputFormatOption = None,
    live_drop: LiveDropOption = None,
    audio: Annotated[bool, typer.Option(
        "--audio/--no-audio", help="Copy the audio as it is; --no-audio leaves it out (a voice "
        "identifies too, and some audio no output container holds).")] = True,
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
) -> None:
    """The ``annotate`` command; its help is :data:`ANNOTATE_HELP`."""
    from ..errors import InvalidOptionError
    from ..jobs.annotate import AnnotateSettings, annotate_video, container_for
    from ..media.selection import FrameSelection
    from ..media.writer import EncoderOptions
    from ..outputs.draw import Anonymizer, parse_color

    freeze_imports()
    _return_frames_when_freed()
    called = time.time()
    with user_errors(lambda: _kept(output, called), quiet):
        clashing = _given(ctx, _DETECTOR_OPTIONS) if detections is not None else []
        if clashing:
            raise InvalidOptionError(f"{', '.join(clashing)}: not used with `detections` (the faces "
                                     "come from the file): leave them out, or leave out `detections`")
        hiding = [name for name, on in (("blur", blur), ("pixelate", pixelate), ("fill", fill is not None)) if on]
        if len(hiding) > 1:
            raise InvalidOptionError(f"choose one way to hide faces, not --{' and --'.join(hiding)}")
        shaping = _given(ctx, ("mask_scale", "mask_shape")) if not hiding else []
        if shaping:
            raise InvalidOptionError(f"{' and '.join(shaping)} {'shape' if len(shaping) > 1 else 'shapes'} "
                                     "the hidden area: give --blur, --pixelate or --fill with it")
        color = {"color": parse_color(fill)} if fill is not None else {}
        anonymizer = Anonymizer(hiding[0], mask_scale, mask_shape.value, **color) if hiding else None
        hide = anonymizer is not None
        profile = HIDING_PROFILE if hide else DRAWING_PROFILE
        settings = AnnotateSettings(
            detections=detections,
            detector=detector_options(
                profile.model if model is None and tiles is None else model,
                profile.threshold if threshold is None else threshold,
                tie, resize, max_faces, device, threads, profile.tiles if tiles is None else tiles,
                profile.brighten if brighten is None else brighten),
            tracking=tracker_options(track, smooth, smooth_cutoff, smooth_beta, fill_gaps,
                                     profile.fill_gaps),
            cover_frames=profile.cover_frames if cover is None else cover,
            selection=FrameSelection(start_s=start, end_s=end),
            anonymizer=anonymizer, draw=anonymizer is None if boxes is None else boxes,
            encoder=EncoderOptions(encoder.value, profile.crf if crf is None else crf,
                                   profile.preset if preset is None else preset.value),
            batch_size=batch_size, stream=stream, overwrite=overwrite, input_format=input_format,
            live_drop=live_drop, audio=audio)
        with RichProgress(1, quiet) as progress:
            summary = annotate_video(video, output, settings, progress)
        unused = (_given(ctx, ("encoder", "crf", "preset", "cover", "audio"))
                  if container_for(output) == "image" else [])
        if unused:
            summary.notes.append(f"note: {', '.join(unused)} not used: {output} is a photo, and "
                                 f"{'they apply' if len(unused) > 1 else 'it applies'} to videos")

    for note in summary.notes:  # what was assumed: said even with --quiet
        err.print(in_flags(note), soft_wrap=True)
    faces_from = f"detected on {summary.provider}" if summary.provider else f"from {detections}"
    if not quiet and summary.photo:
        done = "hidden" if settings.anonymizer else "marked" if settings.draw else "found (none drawn: --no-boxes)"
        err.print(f"wrote {output}: {summary.faces:,} face(s) {done} ({faces_from})", soft_wrap=True)
    elif not quiet:
        fps = summary.frames / summary.seconds if summary.seconds else 0.0
        err.print(f"wrote {output}: {summary.frames:,} frames, {summary.faces:,} faces ({faces_from}), "
                  f"{fps:,.0f} frames/s", soft_wrap=True)
        what = ("with faces hidden" if settings.anonymizer else "with faces marked" if settings.draw
                else "with faces (none drawn: --no-boxes)")
        err.print(f"frames {what}: {summary.frames_with_faces:,} found, "
                  f"{summary.frames_covered:,} covered only by a held or filled-in mask; "
                  f"{summary.frames_without_faces:,} frames with no face found"
                  + (f"; {summary.frames_not_processed:,} frames not processed by detect (as "
                     f"{detections} was made)" if summary.frames_not_processed else ""),
                  soft_wrap=True)
        if summary.skipped_packets:
            err.print(f"warning: {video}: {summary.skipped_packets} undecodable packet(s) skipped",
                      soft_wrap=True)
        if summary.frames_dropped:
            err.print(f"warning: {video}: {summary.frames_dropped:,} frame(s) dropped: processing "
                      "fell behind the stream (--no-live-drop keeps every frame)", soft_wrap=True)

