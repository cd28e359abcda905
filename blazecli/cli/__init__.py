"""The ``blazecli`` command line: a thin layer over the library.

Options become frozen settings, Rich draws progress on stderr, and every user-facing failure
(``BlazeCliError``) is caught here once and turned into a one-line message and an exit code.
Heavy modules (numpy, av, onnxruntime) load only inside commands, so ``--help`` stays instant.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
from rich.console import Console

app = typer.Typer(
    name="blazecli",
    help="Find faces in video with MediaPipe's BlazeFace, fast and steadily.\n\n"
         "Example: blazecli detect video.mp4 -o faces.parquet",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # plain Click help: it wraps readably in 80 columns, rich panels did not
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err = Console(stderr=True, highlight=False)

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EXIT_FAILED_INPUTS = 1


def _choices(name: str, *values: str) -> type[Enum]:
    """A str Enum, which Typer shows and checks as a choice. The values repeat the library's
    (which checks them again) so that ``--help`` need not import numpy, av or onnxruntime."""
    return Enum(name, {value: value for value in values}, type=str)


Model = _choices("Model", "short", "full")
Tie = _choices("Tie", "blend", "nms")
Device = _choices("Device", "auto", "cpu", "cuda")
Resize = _choices("Resize", "mediapipe")


Format = _choices("Format", "parquet", "csv", "jsonl")


class _Terminated(Exception):
    """SIGTERM, turned into an exception so that cleanup runs like for Ctrl-C."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated()


class RichProgress:
    """Per-file and overall progress on stderr: frames, fps, ETA."""

    def __init__(self, files: int, quiet: bool) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeRemainingColumn)

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[fps]}"), TimeRemainingColumn(),
            console=err, disable=quiet, transient=False)
        self._overall = self._progress.add_task("all files", total=files, fps="")
        self._file: int | None = None

    def __enter__(self) -> RichProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def start_file(self, name: str, frames: int | None) -> None:
        label = name if len(name) <= 40 else "..." + name[-37:]
        self._file = self._progress.add_task(label, total=frames, fps="")

    def advance(self, frames: int) -> None:
        if self._file is not None:
            self._progress.advance(self._file, frames)
            task = self._progress.tasks[self._file]
            if task.speed:
                self._progress.update(self._file, fps=f"{task.speed:,.0f} fps")

    def end_file(self) -> None:
        if self._file is not None:
            task = self._progress.tasks[self._file]
            self._progress.update(self._file, total=task.completed)
            self._file = None
        self._progress.advance(self._overall, 1)


def _print_version(value: bool) -> None:
    """Eager, so that ``blazecli --version`` works without a command."""
    if value:
        from .. import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.",
                                          callback=_print_version, is_eager=True)] = False,
) -> None:
    """Find faces in video with MediaPipe's BlazeFace, fast and steadily."""


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def _user_errors(where: Callable[[], str | None] = lambda: None) -> Iterator[None]:
    """Where a command's failures become a one-line message and an exit code, once: its
    BlazeCliError, a reader that closed the pipe (quietly), and Ctrl-C or SIGTERM (saying how
    far it got: ``where``)."""
    from ..errors import BlazeCliError

    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    except BlazeCliError as exc:
        _fail(str(exc), exc.exit_code)
    except BrokenPipeError:
        _end_quietly()
    except KeyboardInterrupt:
        _stopped("interrupted", where(), EXIT_INTERRUPTED)
    except _Terminated:
        _stopped("terminated", where(), EXIT_TERMINATED)


def _end_quietly() -> NoReturn:
    """A closed pipe (`| head`) is a normal way to stop reading: end without a word."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    raise typer.Exit(0)


def _stopped(what: str, where: str | None, code: int) -> NoReturn:
    """Say how far a run stopped by a signal got (its temporary files are already gone)."""
    err.print(f"{what} {where}" if where else f"{what}: no output file was written", soft_wrap=True)
    raise typer.Exit(code)


# Options that detect and annotate share (same detector, same tracker, same output rules).
ModelOption = Annotated[Model, typer.Option(help="short: faces within ~2 m (128 px input); "
                                                 "full: smaller, farther faces (192 px input).")]
ThresholdOption = Annotated[Optional[float], typer.Option(
    help="Minimum face score [default: 0.5 short, 0.6 full, as MediaPipe].", show_default=False)]
TieOption = Annotated[Tie, typer.Option(help="How overlapping candidates merge: blend (BlazeFace's "
                                             "weighted average, steadier) or nms (keep the best).")]
ResizeOption = Annotated[Resize, typer.Option(help="How frames are sampled down to the model input; "
                                                   "mediapipe reproduces MediaPipe exactly.")]
TilesOption = Annotated[str, typer.Option(
    metavar="none|auto|RxC",
    help="Also detect in overlapping tiles of each frame, for small faces: auto picks the grid "
         "from the frame size and model so that faces down to about 20 px wide (1/64 of the "
         "long side in large frames) are found; RxC sets rows x columns, e.g. 2x3. A video "
         "frame runs 3 tiles beside the whole frame and the next frames the others (tracking "
         "carries faces between); a photo runs all. none reproduces MediaPipe exactly.")]
MaxFacesOption = Annotated[Optional[int], typer.Option(
    help="Keep at most this many detected faces per frame, best first (--fill-gaps may add "
         "interpolated rows beside them).", show_default=False)]
StreamOption = Annotated[int, typer.Option(help="Which video stream to read (0 = first).")]
TrackOption = Annotated[bool, typer.Option(help="Follow faces over time in videos: stable track_id per face.")]
SmoothOption = Annotated[bool, typer.Option(
    help="Steady boxes and keypoints over time (One Euro filter on each track); "
         "--no-smooth keeps the per-frame coordinates as detected.")]
SmoothCutoffOption = Annotated[Optional[float], typer.Option(
    help="Smoothing cutoff for still faces, Hz: lower is steadier [default: 1.0].", show_default=False)]
SmoothBetaOption = Annotated[Optional[float], typer.Option(
    help="How quickly smoothing lets go as a face moves: higher follows motion closer "
         "[default: 10.0].", show_default=False)]
FillGapsOption = Annotated[bool, typer.Option(
    help="Add interpolated rows (interpolated=true) for frames where a tracked face was "
         "briefly missed.")]
BatchSizeOption = Annotated[int, typer.Option(help="Frames per inference batch.")]
DetectBatchSizeOption = Annotated[Optional[int], typer.Option(
    "--batch-size", help="Frames per inference batch [default: 8 on CPU, 64 on CUDA].",
    show_default=False)]
DeviceOption = Annotated[Device, typer.Option(help="auto uses CUDA when it really runs, else CPU.")]
ThreadsOption = Annotated[Optional[int], typer.Option(
    help="Inference threads [default: half the cores, the decoder gets the rest; 1 in each "
         "process of detect --workers].",
    show_default=False)]
OverwriteOption = Annotated[bool, typer.Option(help="Replace existing output files.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")]


@app.command()
def detect(
    inputs: Annotated[list[str], typer.Argument(
        help="Videos, images or folders (searched recursively, sorted); '-' reads a video from stdin.",
        metavar="INPUT", show_default=False)],
    output: Annotated[str, typer.Option(
        "--output", "-o",
        help="Output file (.parquet, .csv, .jsonl), a folder ending in '/' for one file per "
             "input, or '-' for stdout (CSV unless --format says otherwise).", show_default=False)],
    model: ModelOption = Model.short,
    threshold: ThresholdOption = None,
    tie: TieOption = Tie.blend,
    resize: ResizeOption = Resize.mediapipe,
    max_faces: MaxFacesOption = None,
    tiles: TilesOption = "none",
    every: Annotated[int, typer.Option(help="Process every Nth frame.")] = 1,
    start: Annotated[Optional[float], typer.Option(help="Start at this time (seconds).",
                                                   show_default=False)] = None,
    end: Annotated[Optional[float], typer.Option(help="Stop at this time (seconds).",
                                                 show_default=False)] = None,
    stream: StreamOption = 0,
    track: TrackOption = True,
    smooth: SmoothOption = True,
    smooth_cutoff: SmoothCutoffOption = None,
    smooth_beta: SmoothBetaOption = None,
    fill_gaps: FillGapsOption = False,
    batch_size: DetectBatchSizeOption = None,
    device: DeviceOption = Device.auto,
    threads: ThreadsOption = None,
    workers: Annotated[int, typer.Option(
        help="Processes that share each video: it is cut at keyframes (MP4, MOV, MKV) and the "
             "parts are detected at once, then tracked in order as in one process. For machines "
             "with many cores: one process ran at about 1,000 frames/s on 16.")] = 1,
    segment_threads: Annotated[Optional[int], typer.Option(
        help="Parts of each video detected at once in this process, each decoded on one thread "
             "[default: 2 for videos of 1.5 megapixels and more on machines with up to 4 cores, "
             "else 1].", show_default=False)] = None,
    format: Annotated[Optional[Format], typer.Option(
        "--format", help="Output format for stdout, for a file without a known extension, or for "
                         "each file under a folder [default: from the extension; csv on stdout; "
                         "parquet in a folder].", show_default=False)] = None,
    overwrite: OverwriteOption = False,
    skip_existing: Annotated[bool, typer.Option(help="Skip inputs whose output already exists (resume a batch).")] = False,
    report: Annotated[Optional[Path], typer.Option(help="Also write the run summary as JSON here.",
                                                   show_default=False)] = None,
    ray: Annotated[bool, typer.Option(
        "--ray", help="Run on a Ray cluster (pip install 'blazecli[ray]'): one task per video, "
                      "one output file per input under -o DIR/. Without --ray-address, starts a "
                      "local Ray runtime.")] = False,
    ray_address: Annotated[Optional[str], typer.Option(
        help="Ray cluster to join (else RAY_ADDRESS, else a local runtime).", show_default=False)] = None,
    ray_workers: Annotated[Optional[int], typer.Option(
        help="Ray workers [default: one per GPU, else one per CPU].", show_default=False)] = None,
    quiet: QuietOption = False,
) -> None:
    """Detect faces in videos and images; write one row per face per frame.

    Columns: video, frame_index, time_s, track_id, score, box (x_min..y_max) and six
    keypoints in pixels of the displayed frame, frame_width, frame_height, interpolated
    (see README).

    Examples:

    \b
      blazecli detect clip.mp4 -o faces.parquet
      blazecli detect videos/ -o out/ --model full   (one Parquet file per input)
      blazecli detect clip.mp4 -o - | head   (CSV on stdout)
      blazecli detect archive/ -o out/ --ray --ray-address auto   (on a Ray cluster)
    """
    from ..errors import BlazeCliError
    from ..jobs.detect import FrameSelection
    from ..jobs.runner import DetectRun, DetectSettings, expand_inputs

    to_stdout = output == "-"
    run = None
    with _user_errors(lambda: _where(run, ray, output)):
        settings = DetectSettings(
            detector=_detector_options(model, threshold, tie, resize, max_faces, device, threads, tiles),
            selection=FrameSelection(every=every, start_s=start, end_s=end),
            batch_size=batch_size, stream=stream, format=format.value if format else None,
            overwrite=overwrite, skip_existing=skip_existing,
            tracking=_tracker_options(smooth, smooth_cutoff, smooth_beta, fill_gaps) if track else None,
            workers=workers, segment_threads=segment_threads)
        sources = expand_inputs(inputs)
        if report is not None:
            _check_report(report, output, sources, overwrite)
        files = len(sources)
        with RichProgress(files, quiet) as progress:
            if ray:
                from ..jobs.ray import RayOptions, run_on_ray

                result = run_on_ray(inputs, output, settings,
                                    RayOptions(address=ray_address, workers=ray_workers), progress)
            else:
                run = DetectRun(settings, progress)
                result = run.run(inputs, output)

    if not quiet:
        _print_summary(result, to_stdout)
    for source, message in result.failed:  # errors show even with --quiet
        err.print(f"[bold red]failed:[/] {message}", markup=True, soft_wrap=True)
    if report is not None:
        from ..outputs.sinks import write_atomic

        try:
            write_atomic(str(report), json.dumps(result.as_dict(), indent=2).encode(), overwrite=overwrite)
        except BlazeCliError as exc:
            _fail(f"--report: {exc}", exc.exit_code)
    if result.failed:
        raise typer.Exit(EXIT_FAILED_INPUTS)


def _check_report(report: Path, output: str, sources: list[str], overwrite: bool) -> None:
    """Before the run, not after it. The report is JSON named *.json, and not the output, an
    input, a sidecar or a manifest (JSON too), nor an existing file without --overwrite. Its
    folder must exist, or be the output folder the run creates."""
    from ..jobs.ray import MANIFEST
    from ..errors import InvalidOptionError, OutputExistsError, OutputNotWritableError
    from ..jobs.runner import file_identity, is_directory_output
    from ..outputs.sinks import SIDECAR

    if file_identity(str(report)) in {file_identity(p) for p in [*sources, output]}:
        raise InvalidOptionError(f"--report {report} is the output or an input; give another name")
    if report.suffix.lower() != ".json" or report.name.endswith(SIDECAR) or report.name == MANIFEST:
        raise InvalidOptionError(f"--report {report}: name it like report.json (the report is JSON, "
                                 "and may not replace a video, rows, a sidecar or a manifest)")
    if report.is_dir():
        raise OutputNotWritableError(f"--report {report}: is a directory")
    if report.exists() and not overwrite:
        raise OutputExistsError(f"{report}: already exists (use --overwrite to replace it)")
    made_by_run = output != "-" and is_directory_output(output) and report.parent.resolve() == Path(output).resolve()
    if not (report.parent.is_dir() or made_by_run):
        raise OutputNotWritableError(f"--report {report}: folder {report.parent} does not exist")
    if report.parent.is_dir() and not os.access(report.parent, os.W_OK):  # read-only, say
        raise OutputNotWritableError(f"--report {report}: folder {report.parent} is not writable")


def _where(run, on_ray: bool, output: str) -> str | None:
    """How far a stopped detect run got, in words."""
    if on_ray:
        return (f"on Ray: the workers were stopped; finished outputs and the manifest are in "
                f"{output}, rerun with --skip-existing to resume")
    return run and run.where()


def _detector_options(model: Model, threshold: float | None, tie: Tie, resize: Resize,
                      max_faces: int | None, device: Device, threads: int | None, tiles: str):
    """DetectorOptions from the CLI's detector options (detect and annotate share them)."""
    from ..inference.detector import DetectorOptions

    return DetectorOptions(model=model.value, threshold=threshold, tie=tie.value, resize=resize.value,
                           max_faces=max_faces, device=device.value, threads=threads, tiles=tiles)


def _tracker_options(smooth: bool, cutoff: float | None, beta: float | None, fill_gaps: bool):
    """TrackerOptions from the CLI; options left unset keep the library's defaults."""
    from ..temporal.tracking import TrackerOptions

    tuned = {k: v for k, v in {"min_cutoff": cutoff, "beta": beta}.items() if v is not None}
    return TrackerOptions(smooth=smooth, fill_gaps=fill_gaps, **tuned)


def _print_summary(result, to_stdout: bool) -> None:
    fps = result.frames / result.seconds if result.seconds else 0.0
    err.print(f"{len(result.done)} file(s), {result.frames:,} frames, {result.faces:,} faces, "
              f"{fps:,.0f} frames/s on {result.provider or 'no device'}"
              + (f"; skipped {len(result.skipped)} existing" if result.skipped else ""),
              soft_wrap=True)
    for summary in result.done:
        if summary.skipped_packets:
            err.print(f"warning: {summary.info.source}: {summary.skipped_packets} undecodable "
                      "packet(s) skipped", soft_wrap=True)
        span = summary.selection.start_s is not None or summary.selection.end_s is not None
        if span and not summary.frames_processed:
            err.print(f"warning: {summary.info.source}: no frame lies between --start and --end",
                      soft_wrap=True)
    if result.outputs and not to_stdout:
        err.print("wrote " + ", ".join(result.outputs), soft_wrap=True)


@app.command()
def stability(
    video: Annotated[str, typer.Argument(help="A video file (an image works too: one frame).",
                                         show_default=False)],
    shift: Annotated[Optional[list[str]], typer.Option(
        help="Shift amount: whole pixels (2px) or % of the frame's width/height (1%); repeat or "
             "separate with commas for several [default: 2px].", show_default=False)] = None,
    every: Annotated[int, typer.Option(help="Measure every Nth frame.")] = 1,
    max_frames: Annotated[Optional[int], typer.Option(help="Stop after this many measured frames.",
                                                      show_default=False)] = None,
    model: ModelOption = Model.short,
    threshold: ThresholdOption = None,
    min_iod: Annotated[float, typer.Option(help="Faces whose eyes are closer than this (px) are "
                                                "counted as too small and not compared.")] = 8.0,
    min_iod_ratio: Annotated[float, typer.Option(
        help="Faces whose eye distance is under this fraction of their box width (heads turned "
             "sideways; frontal: ~0.4) are counted as turned and not compared.")] = 0.2,
    device: DeviceOption = Device.auto,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout "
                                                             "instead of the table.")] = False,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", help="Also write the per-frame values to this .parquet file.",
        show_default=False)] = None,
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
) -> None:
    """Measure how steady detection is: BlazeFace's shift-jitter test, on your video.

    Each measured frame is also run shifted by +-shift in x and in y (whole pixels; the
    uncovered border repeats the edge pixels); the shifted predictions are moved back and
    matched one to one (IoU >= 0.5) to the frame's faces. Reported per mode (nms, blend,
    blend + temporal stage): the squared error of box corners and keypoints over the squared
    inter-ocular distance (MSE/IOD²), its root in % of IOD (the paper's jitter), and
    frame-to-frame jitter on the unshifted frames. Faces too small or turned (not compared),
    unmatched or extra, and frames without a face are counted.

    Examples:

    \b
      blazecli stability clip.mp4 --shift 2px --every 10
      blazecli stability clip.mp4 --shift 1px,2px --shift 1% --json
      blazecli stability clip.mp4 -o jitter.parquet   (per-frame values)
    """
    from ..inference.detector import DetectorOptions, FaceDetector
    from ..jobs.stability import (Shift, StabilityJob, StabilitySettings, TieResolutions, check_output,
                            closing_note, summary_tables)

    with _user_errors():
        texts = [t for option in (shift or ["2px"]) for t in option.split(",") if t.strip()]
        settings = StabilitySettings(shifts=tuple(Shift.parse(t) for t in texts), every=every,
                                     max_frames=max_frames, min_iod=min_iod,
                                     min_iod_ratio=min_iod_ratio)
        options = DetectorOptions(model=model.value, threshold=threshold, device=device.value)
        if output is not None:
            check_output(output, overwrite)
        modes = TieResolutions(FaceDetector(options))
        with RichProgress(1, quiet) as progress:
            job = StabilityJob(video, settings, modes, modes.facts, on_frames=progress.advance)
            progress.start_file(video, job.frames_planned)
            report = job.run()
            progress.end_file()
        if output is not None:
            report.write_parquet(output, overwrite)

    summary = report.as_dict()
    with _stdout_guard():
        if json_output:
            typer.echo(json.dumps(summary, indent=2))
            return
        out = Console(highlight=False)
        for table in summary_tables(summary):
            out.print(table)
        out.print(closing_note(summary), soft_wrap=True)


@contextmanager
def _stdout_guard() -> Iterator[None]:
    """Results printed on stdout: a reader that stops early (`| head`) ends the command quietly;
    a stdout that cannot be written (closed, full disk) is an output error, not a traceback."""
    from ..errors import OutputNotWritableError

    try:
        if sys.stdout is None:
            raise OSError("closed")
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        _end_quietly()
    except OSError as exc:
        _fail(f"stdout: write failed ({exc.strerror or exc})", OutputNotWritableError.exit_code)


MaskShape = _choices("MaskShape", "ellipse", "box")
Encoder = _choices("Encoder", "libx264", "h264_nvenc")
Preset = _choices("Preset", "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                  "slower", "veryslow")


@app.command()
def annotate(
    video: Annotated[str, typer.Argument(help="The video to annotate (a file: its audio is copied).",
                                         show_default=False)],
    output: Annotated[str, typer.Option(
        "--output", "-o", help="Output video: .mp4 (H.264), .m4v, .mov or .mkv.", show_default=False)],
    detections: Annotated[Optional[str], typer.Option(
        help="Draw the faces of this file from `blazecli detect` (.parquet, .csv, .jsonl) instead "
             "of detecting them now (the detector options then do not apply).", show_default=False)] = None,
    blur: Annotated[bool, typer.Option("--blur", help="Hide faces: blur them.")] = False,
    pixelate: Annotated[bool, typer.Option("--pixelate", help="Hide faces: pixelate them.")] = False,
    fill: Annotated[Optional[str], typer.Option(
        help="Hide faces: fill them with this colour (black, white, gray, #rrggbb or r,g,b).",
        show_default=False)] = None,
    mask_scale: Annotated[float, typer.Option(help="Size of the hidden area, relative to the face box.")] = 1.3,
    mask_shape: Annotated[MaskShape, typer.Option(help="Shape of the hidden area.")] = MaskShape.ellipse,
    boxes: Annotated[Optional[bool], typer.Option(
        "--boxes/--no-boxes", help="Draw boxes, keypoints, score and track id [default: on; off "
                                   "when hiding faces].", show_default=False)] = None,
    encoder: Annotated[Encoder, typer.Option(
        help="H.264 encoder: libx264 (CPU) or h264_nvenc (NVIDIA GPU).")] = Encoder.libx264,
    crf: Annotated[int, typer.Option(help="Quality from 0 (lossless) to 51: lower is better and bigger.")] = 20,
    preset: Annotated[Preset, typer.Option(
        help="Encoding speed against file size (x264's presets; NVENC gets the nearest of p1..p7).")] = Preset.veryfast,
    model: Annotated[Optional[Model], typer.Option(
        help="short: faces within ~2 m (128 px input); full: smaller, farther faces (192 px "
             "input) [default: short; full when hiding].", show_default=False)] = None,
    threshold: Annotated[Optional[float], typer.Option(
        help="Minimum face score [default: 0.5 short, 0.6 full, as MediaPipe; 0.4 when "
             "hiding].", show_default=False)] = None,
    tie: TieOption = Tie.blend,
    resize: ResizeOption = Resize.mediapipe,
    max_faces: MaxFacesOption = None,
    tiles: Annotated[Optional[str], typer.Option(
        metavar="none|auto|RxC", help="Also detect in overlapping tiles, for small faces (see "
        "detect --help) [default: none; auto when hiding].", show_default=False)] = None,
    cover: Annotated[Optional[int], typer.Option(
        help="Hide each face this many frames before it is first seen and after it is last "
             "seen, over brief misses [default: 0; 10 when hiding].", show_default=False)] = None,
    start: Annotated[Optional[float], typer.Option(
        help="Start the output at this time (seconds): a quick preview.", show_default=False)] = None,
    end: Annotated[Optional[float], typer.Option(
        help="End the output before this time (seconds).", show_default=False)] = None,
    stream: StreamOption = 0,
    track: TrackOption = True,
    smooth: SmoothOption = True,
    smooth_cutoff: SmoothCutoffOption = None,
    smooth_beta: SmoothBetaOption = None,
    fill_gaps: Annotated[Optional[bool], typer.Option(
        "--fill-gaps/--no-fill-gaps",
        help="Mark faces in frames where a tracked face was briefly missed [default: off; on "
             "when hiding].", show_default=False)] = None,
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

    Hiding uses a recall-first profile unless an option says otherwise: --model full
    --tiles auto --threshold 0.4 --fill-gaps --cover 10. Hiding is only as good as the
    detector: check the output before you publish it.

    Examples:

    \b
      blazecli annotate clip.mp4 -o annotated.mp4
      blazecli annotate clip.mp4 -o hidden.mp4 --blur   (or --pixelate, --fill black)
      blazecli annotate clip.mp4 -o annotated.mp4 --detections faces.parquet
    """
    from ..jobs.annotate import (HIDING_COVER_FRAMES, HIDING_MODEL, HIDING_THRESHOLD, HIDING_TILES,
                                 AnnotateSettings, annotate_video)
    from ..jobs.detect import FrameSelection
    from ..outputs.draw import Anonymizer, parse_color
    from ..errors import InvalidOptionError
    from ..media.reader import EncoderOptions

    with _user_errors():
        hiding = [name for name, on in (("blur", blur), ("pixelate", pixelate), ("fill", fill is not None)) if on]
        if len(hiding) > 1:
            raise InvalidOptionError(f"choose one way to hide faces, not --{' and --'.join(hiding)}")
        color = {"color": parse_color(fill)} if fill is not None else {}
        anonymizer = Anonymizer(hiding[0], mask_scale, mask_shape.value, **color) if hiding else None
        hide = anonymizer is not None
        settings = AnnotateSettings(
            detections=detections,
            detector=_detector_options(
                model or (Model(HIDING_MODEL) if hide else Model.short),
                threshold if threshold is not None or not hide else HIDING_THRESHOLD,
                tie, resize, max_faces, device, threads,
                tiles if tiles is not None else HIDING_TILES if hide else "none"),
            tracking=_tracker_options(smooth, smooth_cutoff, smooth_beta,
                                      hide if fill_gaps is None else fill_gaps) if track else None,
            cover_frames=cover if cover is not None else HIDING_COVER_FRAMES if hide else 0,
            selection=FrameSelection(start_s=start, end_s=end),
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
        verb = "hidden" if settings.anonymizer else "marked"
        err.print(f"frames with faces {verb}: {summary.frames_with_faces:,} found, "
                  f"{summary.frames_covered:,} covered only by a held or filled-in mask; "
                  f"{summary.frames_without_faces:,} frames with no face found", soft_wrap=True)
        if summary.skipped_packets:
            err.print(f"warning: {video}: {summary.skipped_packets} undecodable packet(s) skipped",
                      soft_wrap=True)


def main() -> None:
    """The entry point; Ctrl-C while a command still imports its libraries ends quietly too."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
