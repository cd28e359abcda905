"""Options the commands share, and the choices they offer (from :mod:`blazecli.choices`, so
that ``--help`` needs neither numpy, av nor onnxruntime)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer

from .. import choices


def _choices(name: str, values: tuple[str, ...]) -> Any:
    """A str Enum, which Typer shows and checks as a choice; the library checks again."""
    return Enum(name, {value: value for value in values}, type=str)


Model = _choices("Model", choices.MODELS)
Tie = _choices("Tie", choices.TIES)
Device = _choices("Device", choices.DEVICES)
Resize = _choices("Resize", choices.RESIZE_MODES)
Format = _choices("Format", choices.FORMATS)
MaskShape = _choices("MaskShape", choices.MASK_SHAPES)
Encoder = _choices("Encoder", choices.ENCODERS)
Preset = _choices("Preset", choices.PRESETS)


# Options that detect and annotate share (same detector, same tracker, same output rules).
ModelOption = Annotated[Model | None, typer.Option(
    help="short: faces within ~2 m (128 px input); full: smaller, farther faces (192 px input) "
         "[default: short; full with --tiles].", show_default=False)]
ThresholdOption = Annotated[float | None, typer.Option(
    help="Minimum face score [default: 0.5 short, 0.6 full, as MediaPipe].", show_default=False)]
TieOption = Annotated[Tie, typer.Option(help="How overlapping candidates merge: blend (BlazeFace's "
                                             "weighted average, steadier) or nms (keep the best).")]
ResizeOption = Annotated[Resize, typer.Option(
    hidden=True, help="How frames are sampled down to the model input; mediapipe (the only "
                      "choice left) reproduces MediaPipe exactly.")]
TILES_HELP = ("Also detect in overlapping tiles of each frame, for small faces: auto picks the grid "
              "from the frame size and model so that faces down to about 20 px wide (1/64 of the "
              "long side in large frames) are found; RxC sets rows x columns, e.g. 2x3. none "
              "reproduces MediaPipe exactly.")
TilesOption = Annotated[str, typer.Option(
    metavar="none|auto|RxC",
    help=TILES_HELP + " A video frame runs 2 tiles beside the whole frame and the next frames the "
                      "others (tracking carries faces between); a photo runs all, on a finer grid.")]
BrightenOption = Annotated[bool, typer.Option(
    help="Also look at a brightened copy of each dark frame or tile, for faces in low light "
         "(stages, night): dark inputs cost twice, lit ones nothing more.")]
MaxFacesOption = Annotated[int | None, typer.Option(
    help="Keep at most this many detected faces per frame, best first (--fill-gaps may add "
         "interpolated rows beside them).", show_default=False)]
StreamOption = Annotated[int, typer.Option(help="Which video stream to read (0 = first).")]
TrackOption = Annotated[bool, typer.Option(help="Follow faces over time in videos: stable track_id per face.")]
SmoothOption = Annotated[bool, typer.Option(
    help="Steady boxes and keypoints over time (One Euro filter on each track); "
         "--no-smooth keeps the per-frame coordinates as detected.")]
SmoothCutoffOption = Annotated[float | None, typer.Option(
    help="Smoothing cutoff for still faces, Hz: lower is steadier [default: 1.0].", show_default=False)]
SmoothBetaOption = Annotated[float | None, typer.Option(
    help="How quickly smoothing lets go as a face moves: higher follows motion closer "
         "[default: 10.0].", show_default=False)]
FillGapsOption = Annotated[bool, typer.Option(
    help="Add interpolated rows (interpolated=true) for frames where a tracked face was "
         "briefly missed. They are known only once the face is seen again: on live input they "
         "come out up to 2 processed frames late (with --tiles, one period of tiles).")]
LiveDropOption = Annotated[bool | None, typer.Option(
    "--live-drop/--no-live-drop",
    help="On live input, drop frames when processing falls behind, so that the output keeps up "
         "with the stream and memory stays bounded; dropped frames are counted [default: on for "
         "rtsp, rtmp, udp, srt, rtp and tcp streams and devices; off for http(s), pipes and "
         "files, which wait for their reader].", show_default=False)]
InputFormatOption = Annotated[str | None, typer.Option(
    "--input-format", metavar="FMT",
    help="FFmpeg's input format (ffmpeg's -f) for the inputs: a device, as in "
         "'--input-format v4l2 /dev/video0', or a stream FFmpeg cannot tell by its content. "
         "Such inputs are read live.", show_default=False)]
BatchSizeOption = Annotated[int, typer.Option(help="Frames per inference batch.")]
DetectBatchSizeOption = Annotated[int | None, typer.Option(
    "--batch-size", help="Frames per inference batch [default: 8 on CPU, 64 on CUDA].",
    show_default=False)]
DeviceOption = Annotated[Device, typer.Option(help="auto uses CUDA when it really runs, else CPU.")]
ThreadsOption = Annotated[int | None, typer.Option(
    help="Inference threads [default: half the cores, the decoder gets the rest; all of them "
         "with tiles].",
    show_default=False)]
DetectThreadsOption = Annotated[int | None, typer.Option(
    help="Inference threads [default: half the cores, the decoder gets the rest; all of them "
         "with tiles; 1 in each process of --workers].",
    show_default=False)]
OverwriteOption = Annotated[bool, typer.Option(help="Replace existing output files.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")]


def detector_options(model: Model | str | None, threshold: float | None, tie: Tie, resize: Resize,
                     max_faces: int | None, device: Device, threads: int | None, tiles: str,
                     brighten: bool = False):
    """DetectorOptions from the CLI's detector options (detect and annotate share them); no
    model: the library's choice for the tiles (full where tiles run, short elsewhere)."""
    from ..inference.detector import DetectorOptions

    name = "auto" if model is None else Model(model).value
    return DetectorOptions(model=name, threshold=threshold, tie=tie.value, resize=resize.value,
                           max_faces=max_faces, device=device.value, threads=threads, tiles=tiles,
                           brighten=brighten)


def tracker_options(track: bool, smooth: bool, cutoff: float | None, beta: float | None,
                    fill_gaps: bool | None, fill_gaps_default: bool = False):
    """TrackerOptions from the CLI (None with --no-track); options left unset keep the
    library's defaults. --fill-gaps given with --no-track is refused: it fills tracks."""
    from ..errors import InvalidOptionError
    from ..temporal.tracking import TrackerOptions

    if not track:
        if fill_gaps:
            raise InvalidOptionError("--fill-gaps fills the frames a track missed: it needs "
                                     "tracking (leave out --no-track)")
        return None
    fill_gaps = fill_gaps_default if fill_gaps is None else fill_gaps

    tuned: dict[str, Any] = {k: v for k, v in {"min_cutoff": cutoff, "beta": beta}.items() if v is not None}
    return TrackerOptions(smooth=smooth, fill_gaps=fill_gaps, **tuned)

