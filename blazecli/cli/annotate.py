"""``blazecli annotate``: the video with its faces drawn on it, or hidden."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import app, err
from .errors import user_errors
from .options import (
    BatchSizeOption,
    Device,
    DeviceOption,
    Encoder,
    FillGapsOption,
    MaskShape,
    MaxFacesOption,
    Model,
    ModelOption,
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
    ThresholdOption,
    Tie,
    TieOption,
    TrackOption,
    detector_options,
    tracker_options,
)
from .progress import RichProgress


@app.command()
def annotate(
    video: Annotated[str, typer.Argument(help="The video to annotate (a file: its audio is copied).",
                                         show_default=False)],
    output: Annotated[str, typer.Option(
        "--output", "-o", help="Output video: .mp4 (H.264), .m4v, .mov or .mkv.", show_default=False)],
    detections: Annotated[str | None, typer.Option(
        help="Draw the faces of this file from `blazecli detect` (.parquet, .csv, .jsonl) instead "
             "of detecting them now (the detector options then do not apply).", show_default=False)] = None,
    blur: Annotated[bool, typer.Option("--blur", help="Hide faces: blur them.")] = False,
    pixelate: Annotated[bool, typer.Option("--pixelate", help="Hide faces: pixelate them.")] = False,
    fill: Annotated[str | None, typer.Option(
        help="Hide faces: fill them with this colour (black, white, gray, #rrggbb or r,g,b).",
        show_default=False)] = None,
    mask_scale: Annotated[float, typer.Option(help="Size of the hidden area, relative to the face box.")] = 1.3,
    mask_shape: Annotated[MaskShape, typer.Option(help="Shape of the hidden area.")] = MaskShape.ellipse,
    boxes: Annotated[bool | None, typer.Option(
        "--boxes/--no-boxes", help="Draw boxes, keypoints, score and track id [default: on; off "
                                   "when hiding faces].", show_default=False)] = None,
    encoder: Annotated[Encoder, typer.Option(
        help="H.264 encoder: libx264 (CPU) or h264_nvenc (NVIDIA GPU).")] = Encoder.libx264,
    crf: Annotated[int, typer.Option(help="Quality from 0 (lossless) to 51: lower is better and bigger.")] = 20,
    preset: Annotated[Preset, typer.Option(
        help="Encoding speed against file size (x264's presets; NVENC gets the nearest of p1..p7).")] = Preset.veryfast,
    model: ModelOption = Model.short,
    threshold: ThresholdOption = None,
    tie: TieOption = Tie.blend,
    resize: ResizeOption = Resize.mediapipe,
    max_faces: MaxFacesOption = None,
    stream: StreamOption = 0,
    track: TrackOption = True,
    smooth: SmoothOption = True,
    smooth_cutoff: SmoothCutoffOption = None,
    smooth_beta: SmoothBetaOption = None,
    fill_gaps: FillGapsOption = False,
    batch_size: BatchSizeOption = 8,
    device: DeviceOption = Device.auto,
    threads: ThreadsOption = None,
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
) -> None:
    """Write the video with its faces drawn on it, or hidden (--blur, --pixelate, --fill).

    Faces come from --detections (a file `detect` wrote for this video) or are detected now,
    with the same options as `detect`. Every frame is kept with its timing, at the displayed
    size; audio is copied as it is; the video is H.264.

    Examples:

    \b
      blazecli annotate clip.mp4 -o annotated.mp4
      blazecli annotate clip.mp4 -o hidden.mp4 --blur   (or --pixelate, --fill black)
      blazecli annotate clip.mp4 -o annotated.mp4 --detections faces.parquet
    """
    from ..errors import InvalidOptionError
    from ..jobs.annotate import AnnotateSettings, annotate_video
    from ..media.writer import EncoderOptions
    from ..outputs.draw import Anonymizer, parse_color

    with user_errors():
        hiding = [name for name, on in (("blur", blur), ("pixelate", pixelate), ("fill", fill is not None)) if on]
        if len(hiding) > 1:
            raise InvalidOptionError(f"choose one way to hide faces, not --{' and --'.join(hiding)}")
        color = {"color": parse_color(fill)} if fill is not None else {}
        anonymizer = Anonymizer(hiding[0], mask_scale, mask_shape.value, **color) if hiding else None
        settings = AnnotateSettings(
            detections=detections,
            detector=detector_options(model, threshold, tie, resize, max_faces, device, threads),
            tracking=tracker_options(smooth, smooth_cutoff, smooth_beta, fill_gaps) if track else None,
            anonymizer=anonymizer, draw=anonymizer is None if boxes is None else boxes,
            encoder=EncoderOptions(encoder.value, crf, preset.value),
            batch_size=batch_size, stream=stream, overwrite=overwrite)
        with RichProgress(1, quiet) as progress:
            summary = annotate_video(video, output, settings, progress)

    if not quiet:
        fps = summary.frames / summary.seconds if summary.seconds else 0.0
        faces_from = f"detected on {summary.provider}" if summary.provider else f"from {detections}"
        err.print(f"wrote {output}: {summary.frames:,} frames, {summary.faces:,} faces ({faces_from}), "
                  f"{fps:,.0f} frames/s", soft_wrap=True)
        if summary.skipped_packets:
            err.print(f"warning: {video}: {summary.skipped_packets} undecodable packet(s) skipped",
                      soft_wrap=True)

