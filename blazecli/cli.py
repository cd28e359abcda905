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
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(
    name="blazecli",
    help="Find faces in video with MediaPipe's BlazeFace, fast and steadily.\n\n"
         "Example: blazecli detect video.mp4 -o faces.parquet",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err = Console(stderr=True, highlight=False)

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EXIT_FAILED_INPUTS = 1


class Model(str, Enum):
    short = "short"
    full = "full"


class Tie(str, Enum):
    blend = "blend"
    nms = "nms"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Resize(str, Enum):
    mediapipe = "mediapipe"


class Format(str, Enum):
    parquet = "parquet"
    csv = "csv"
    jsonl = "jsonl"


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


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """Find faces in video with MediaPipe's BlazeFace, fast and steadily."""
    if version:
        from . import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


def _fail(message: str, code: int) -> None:
    err.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def detect(
    inputs: Annotated[list[str], typer.Argument(
        help="Videos, images or folders (searched recursively, sorted); '-' reads a video from stdin.",
        show_default=False)],
    output: Annotated[str, typer.Option(
        "--output", "-o",
        help="Output file (.parquet, .csv, .jsonl), a folder ending in '/' for one file per "
             "input, or '-' for CSV on stdout.", show_default=False)],
    model: Annotated[Model, typer.Option(help="short: faces within ~2 m (128 px input); "
                                              "full: smaller, farther faces (192 px input).")] = Model.short,
    threshold: Annotated[Optional[float], typer.Option(
        help="Minimum face score [default: 0.5 short, 0.6 full, as MediaPipe].",
        show_default=False)] = None,
    tie: Annotated[Tie, typer.Option(help="How overlapping candidates merge: blend (BlazeFace's "
                                          "weighted average, steadier) or nms (keep the best).")] = Tie.blend,
    resize: Annotated[Resize, typer.Option(help="How frames are sampled down to the model input; "
                                                "mediapipe reproduces MediaPipe exactly.")] = Resize.mediapipe,
    max_faces: Annotated[Optional[int], typer.Option(help="Keep at most this many faces per frame, best first.",
                                                     show_default=False)] = None,
    every: Annotated[int, typer.Option(help="Process every Nth frame.")] = 1,
    start: Annotated[Optional[float], typer.Option(help="Start at this time (seconds).",
                                                   show_default=False)] = None,
    end: Annotated[Optional[float], typer.Option(help="Stop at this time (seconds).",
                                                 show_default=False)] = None,
    stream: Annotated[int, typer.Option(help="Which video stream to read (0 = first).")] = 0,
    track: Annotated[bool, typer.Option(
        help="Follow faces over time in videos: stable track_id per face.")] = True,
    smooth: Annotated[bool, typer.Option(
        help="Steady boxes and keypoints over time (One Euro filter on each track); "
             "--no-smooth keeps the per-frame coordinates as detected.")] = True,
    smooth_cutoff: Annotated[Optional[float], typer.Option(
        help="Smoothing cutoff for still faces, Hz: lower is steadier [default: 1.0].",
        show_default=False)] = None,
    smooth_beta: Annotated[Optional[float], typer.Option(
        help="How quickly smoothing lets go as a face moves: higher follows motion closer "
             "[default: 10.0].", show_default=False)] = None,
    fill_gaps: Annotated[bool, typer.Option(
        help="Add interpolated rows (interpolated=true) for frames where a tracked face was "
             "briefly missed.")] = False,
    batch_size: Annotated[int, typer.Option(help="Frames per inference batch.")] = 8,
    device: Annotated[Device, typer.Option(help="auto uses CUDA when it really runs, else CPU.")] = Device.auto,
    threads: Annotated[Optional[int], typer.Option(help="Inference threads [default: chosen with the decoder's].",
                                                   show_default=False)] = None,
    format: Annotated[Optional[Format], typer.Option(
        "--format", help="Output format when the extension does not say it.", show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
    skip_existing: Annotated[bool, typer.Option(help="Skip inputs whose output already exists (resume a batch).")] = False,
    report: Annotated[Optional[Path], typer.Option(help="Also write the run summary as JSON here.",
                                                   show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")] = False,
) -> None:
    """Detect faces in videos and images; write one row per face per frame.

    Columns: video, frame_index, time_s, track_id, score, box (x_min..y_max) and six
    keypoints in pixels of the displayed frame, frame_width, frame_height (see README).

    Examples:

    * `blazecli detect clip.mp4 -o faces.parquet`
    * `blazecli detect videos/ -o out/ --model full`   (one Parquet file per input)
    * `blazecli detect clip.mp4 -o - | head`   (CSV on stdout)
    """
    from .detector import DetectorOptions
    from .errors import BlazeCliError
    from .pipeline import FrameSelection
    from .runner import DetectRun, DetectSettings, expand_inputs

    signal.signal(signal.SIGTERM, _on_sigterm)
    to_stdout = output == "-"
    try:
        settings = DetectSettings(
            detector=DetectorOptions(model=model.value, threshold=threshold, tie=tie.value,
                                     resize=resize.value, max_faces=max_faces,
                                     device=device.value, threads=threads),
            selection=FrameSelection(every=every, start_s=start, end_s=end),
            batch_size=batch_size, stream=stream, format=format.value if format else None,
            overwrite=overwrite, skip_existing=skip_existing,
            tracking=_tracker_options(smooth, smooth_cutoff, smooth_beta, fill_gaps) if track else None)
        files = len(expand_inputs(inputs))
        with RichProgress(files, quiet) as progress:
            result = DetectRun(settings, progress).run(inputs, output)
    except BlazeCliError as exc:
        _fail(str(exc), exc.exit_code)
    except BrokenPipeError:
        # A closed pipe (`| head`) is a normal way to stop reading: end quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0)
    except KeyboardInterrupt:
        err.print("interrupted: no output file was written", soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED)
    except _Terminated:
        err.print("terminated: no output file was written", soft_wrap=True)
        raise typer.Exit(EXIT_TERMINATED)

    if report is not None:
        report.write_text(json.dumps(result.as_dict(), indent=2))
    if not quiet:
        _print_summary(result, to_stdout)
    for source, message in result.failed:  # errors show even with --quiet
        err.print(f"[bold red]failed:[/] {message}", markup=True, soft_wrap=True)
    if result.failed:
        raise typer.Exit(EXIT_FAILED_INPUTS)


def _tracker_options(smooth: bool, cutoff: float | None, beta: float | None, fill_gaps: bool):
    """TrackerOptions from the CLI; options left unset keep the library's defaults."""
    from .tracking import TrackerOptions

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
    if result.outputs and not to_stdout:
        err.print("wrote " + ", ".join(result.outputs), soft_wrap=True)


def main() -> None:
    app()
