"""``blazecli detect``: videos and images in, one row per face per frame out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .app import app, err, freeze_imports, styled
from .errors import EXIT_FAILED_INPUTS, exit_code, fail, in_flags, user_errors
from .options import (
    BrightenOption,
    DetectBatchSizeOption,
    DetectThreadsOption,
    Device,
    DeviceOption,
    FillGapsOption,
    Format,
    InputFormatOption,
    LiveDropOption,
    MaxFacesOption,
    ModelOption,
    OverwriteOption,
    QuietOption,
    Resize,
    ResizeOption,
    SmoothBetaOption,
    SmoothCutoffOption,
    SmoothOption,
    StreamOption,
    ThresholdOption,
    Tie,
    TieOption,
    TilesOption,
    TrackOption,
    detector_options,
    tracker_options,
)
from .progress import RichProgress

if TYPE_CHECKING:
    from ..jobs.runner import RunReport
    from ..media.selection import FrameSelection


@app.command()
def detect(
    inputs: Annotated[list[str], typer.Argument(
        help="Videos, images or folders (searched recursively, sorted); '-' reads a video from "
             "stdin; a URL (rtsp://, http://, udp://, srt://...) or a device is read live.",
        metavar="INPUT", show_default=False)],
    output: Annotated[str, typer.Option(
        "--output", "-o",
        help="Output file (.parquet, .csv, .jsonl; .json and .ndjson are JSON Lines too), a "
             "folder ending in '/' for one file per input, or '-' for stdout (CSV unless "
             "--format says otherwise).", show_default=False)],
    model: ModelOption = None,
    threshold: ThresholdOption = None,
    tie: TieOption = Tie.blend,
    resize: ResizeOption = Resize.mediapipe,
    max_faces: MaxFacesOption = None,
    tiles: TilesOption = "none",
    brighten: BrightenOption = False,
    every: Annotated[int, typer.Option(
        help="Process every Nth frame; the others are not decoded where the codec allows.")] = 1,
    fps: Annotated[float | None, typer.Option(
        "--fps", help="Process R frames a second of presentation time: the frame nearest each "
                      "multiple of 1/R s (variable frame rates too).", metavar="R",
        show_default=False)] = None,
    keyframes: Annotated[bool, typer.Option(
        "--keyframes", help="Process keyframes only, decoding no other frame: a quick scan for "
                            "whether a video shows faces.")] = False,
    start: Annotated[float | None, typer.Option(help="Start at this time (seconds); MP4, MOV and "
                                                     "MKV files seek to the keyframe before it.",
                                                   show_default=False)] = None,
    end: Annotated[float | None, typer.Option(
        help="Stop at this time (seconds); on live input, seconds after the first frame: the "
             "length of a recording.", show_default=False)] = None,
    stream: StreamOption = 0,
    track: TrackOption = True,
    smooth: SmoothOption = True,
    smooth_cutoff: SmoothCutoffOption = None,
    smooth_beta: SmoothBetaOption = None,
    fill_gaps: FillGapsOption = False,
    batch_size: DetectBatchSizeOption = None,
    device: DeviceOption = Device.auto,
    threads: DetectThreadsOption = None,
    workers: Annotated[int, typer.Option(
        help="Processes that share each video: it is cut at keyframes (MP4, MOV, MKV) and the "
             "parts are detected at once, then tracked in order as in one process. For machines "
             "with many cores, where one process cannot use them all (see docs/scaling.md).")] = 1,
    segment_threads: Annotated[int | None, typer.Option(
        help="Parts of each video detected at once in this process, each decoded on one thread "
             "[default: 2 for videos of 1.5 megapixels and more on machines with up to 4 cores, "
             "else 1].", show_default=False)] = None,
    format: Annotated[Format | None, typer.Option(
        "--format", help="Output format for stdout, for a file without a known extension, or for "
                         "each file under a folder [default: from the extension; csv on stdout; "
                         "parquet in a folder].", show_default=False)] = None,
    overwrite: OverwriteOption = False,
    skip_existing: Annotated[bool, typer.Option(
        help="Skip inputs whose output already exists (resume a batch); an output a run left "
             "unfinished is made again, someone else's file in its place is kept.")] = False,
    input_format: InputFormatOption = None,
    live_drop: LiveDropOption = None,
    keep_partial: Annotated[bool, typer.Option(
        help="Keep the rows of a truncated video's decodable start (its metadata says "
             "truncated: true, with the frames read and the duration it declares; the summary "
             "warns) instead of failing it. Such a video is read in one pass.")] = False,
    report: Annotated[Path | None, typer.Option(help="Also write the run summary as JSON here.",
                                                   show_default=False)] = None,
    ray: Annotated[bool, typer.Option(
        "--ray", help="Run on a Ray cluster (pip install 'blazecli[ray]'): one task per video, "
                      "one output file per input under -o DIR/. Without --ray-address, starts a "
                      "local Ray runtime.")] = False,
    ray_address: Annotated[str | None, typer.Option(
        help="Ray cluster to join (else RAY_ADDRESS, else a local runtime).", show_default=False)] = None,
    ray_workers: Annotated[int | None, typer.Option(
        help="Ray workers [default: one per GPU, else one per CPU].", show_default=False)] = None,
    quiet: QuietOption = False,
) -> None:
    """Detect faces in videos and images; write one row per face per frame.

    Columns: video, frame_index, time_s, track_id, score, box (x_min..y_max) and six
    keypoints in pixels of the displayed frame, frame_width, frame_height, interpolated
    (see docs/output.md).

    Examples:

    \b
      blazecli detect clip.mp4 -o faces.parquet
      blazecli detect videos/ -o out/ --model full   (one Parquet file per input)
      blazecli detect clip.mp4 -o - | head   (CSV on stdout)
      blazecli detect rtsp://camera/stream -o - --end 60   (live: rows as frames arrive)
      blazecli detect archive/ -o out/ --ray --ray-address auto   (on a Ray cluster)
    """
    from ..errors import InvalidOptionError
    from ..jobs.runner import DetectRun, DetectSettings, expand_inputs
    from ..media.selection import FrameSelection

    freeze_imports()
    to_stdout = output == "-"
    run = None
    with user_errors(lambda: _where(run, ray, output), quiet):
        if not ray and (ray_address is not None or ray_workers is not None):
            raise InvalidOptionError("--ray-address and --ray-workers set up a Ray run: give --ray "
                                     "too, or leave them out")
        settings = DetectSettings(
            detector=detector_options(model, threshold, tie, resize, max_faces, device, threads,
                                      tiles, brighten),
            selection=FrameSelection(every=every, start_s=start, end_s=end, fps=fps,
                                     keyframes=keyframes),
            batch_size=batch_size, stream=stream, format=format.value if format else None,
            overwrite=overwrite, skip_existing=skip_existing,
            tracking=tracker_options(track, smooth, smooth_cutoff, smooth_beta, fill_gaps),
            workers=workers, segment_threads=segment_threads, keep_partial=keep_partial,
            input_format=input_format, live_drop=live_drop)
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
                try:
                    result = run.run(inputs, output)
                except KeyboardInterrupt:
                    if report is not None and run.report.outputs:  # a live recording, kept whole
                        _write_report(report, run.report, overwrite)
                    raise
                except BrokenPipeError:  # `| head`: a normal end, and the report says how far it got
                    if report is not None:
                        run.report.stopped = "the reader closed stdout"
                        _write_report(report, run.report, overwrite)
                    raise

    if not quiet:
        _print_summary(result, to_stdout)
    for _, message in result.failed:  # errors show even with --quiet
        err.print(styled("bold red", "failed:", in_flags(message)), markup=True, soft_wrap=True)
    if report is not None:
        _write_report(report, result, overwrite)
    if result.failed:
        raise typer.Exit(EXIT_FAILED_INPUTS)


def _write_report(report: Path, result: RunReport, overwrite: bool) -> None:
    """The run summary as JSON, failures in flag words (also for a live run stopped by a signal,
    whose recording was kept)."""
    from ..errors import BlazeCliError
    from ..outputs.paths import make_folder
    from ..outputs.sinks import write_atomic

    summary = result.as_dict()
    for failure in summary["failed"]:
        failure["error"] = in_flags(failure["error"])
    try:
        make_folder(report.parent)  # the output folder (_check_report), which a run that wrote nothing removed
        write_atomic(str(report), json.dumps(summary, indent=2).encode(), overwrite=overwrite)
    except BlazeCliError as exc:
        fail(f"--report: {exc}", exit_code(exc))


def _check_report(report: Path, output: str, sources: list[str], overwrite: bool) -> None:
    """Before the run, not after it. The report is JSON named *.json, and not the output, an
    input, a sidecar or a manifest (JSON too), nor an existing file without --overwrite. Its
    folder must exist, or be the output folder the run creates."""
    from ..errors import InvalidOptionError, OutputNotWritableError
    from ..jobs.ray import MANIFEST
    from ..outputs.paths import (
        SIDECAR,
        check_writable,
        file_identity,
        is_directory_output,
    )

    if file_identity(str(report)) in {file_identity(p) for p in [*sources, output]}:
        raise InvalidOptionError(f"--report {report} is the output or an input; give another name")
    if report.suffix.lower() != ".json" or report.name.endswith(SIDECAR) or report.name == MANIFEST:
        raise InvalidOptionError(f"--report {report}: name it like report.json (the report is JSON, "
                                 "and may not replace a video, rows, a sidecar or a manifest)")
    made_by_run = (output != "-" and is_directory_output(output)
                   and report.parent.resolve() == Path(output).resolve())
    try:
        check_writable(report, overwrite, folder_made_later=made_by_run)
    except OutputNotWritableError as exc:
        raise OutputNotWritableError(f"--report {exc}") from None


def _where(run, on_ray: bool, output: str) -> str | None:
    """How far a stopped detect run got, in words."""
    if on_ray:
        from ..jobs.ray import MANIFEST

        if not (Path(output) / MANIFEST).is_file():  # stopped while Ray started, or before an input ended
            return "on Ray: the workers were stopped before any input finished; no output file was written"
        return (f"on Ray: the workers were stopped; finished outputs and the manifest are in "
                f"{output}, rerun with --skip-existing to resume")
    return run and run.where()


def _frames_sought(selection: FrameSelection) -> str:
    """The frames a selection takes, as its flags say: what a span without any of them lacks."""
    if selection.keyframes:
        return "keyframe"
    if selection.every > 1:
        return f"frame chosen by --every {selection.every}"
    if selection.fps is not None:
        return f"frame chosen by --fps {float(selection.fps):g}"
    return "frame"


def _print_summary(result, to_stdout: bool) -> None:
    skipped = f"skipped {len(result.skipped)} existing" if result.skipped else ""
    if not result.done:  # nothing ran: say what happened, not "0 frames/s on no device"
        said = [f"{len(result.failed)} failed" if result.failed else "", skipped]
        err.print("no input was processed (" + ", ".join(s for s in said if s) + ")"
                  if any(said) else "no input was processed", soft_wrap=True)
        return
    fps = result.frames / result.seconds if result.seconds else 0.0
    err.print(f"{len(result.done)} file(s), {result.frames:,} frames, {result.faces:,} faces, "
              f"{fps:,.0f} frames/s on {result.provider}" + (f"; {skipped}" if skipped else ""),
              soft_wrap=True)
    for summary in result.done:
        if summary.skipped_packets:
            err.print(f"warning: {summary.info.source}: {summary.skipped_packets} undecodable "
                      "packet(s) skipped", soft_wrap=True)
        if summary.truncated:
            declared = (f" of the {summary.declared_duration_s:.2f} s it declares"
                        if summary.declared_duration_s else "")
            err.print(f"warning: {summary.info.source}: truncated: kept the {summary.frames_read:,} "
                      f"frame(s) that decode{declared} (--keep-partial)", soft_wrap=True)
        if summary.frames_dropped:
            err.print(f"warning: {summary.info.source}: {summary.frames_dropped:,} frame(s) dropped: "
                      "detection fell behind the stream (--no-live-drop keeps every frame)",
                      soft_wrap=True)
        if summary.stopped:
            err.print(f"warning: {summary.info.source}: the stream ended early: {summary.stopped}",
                      soft_wrap=True)
        if summary.info.display.rounding_note:
            err.print(f"warning: {summary.info.source}: {summary.info.display.rounding_note}", soft_wrap=True)
        chosen = summary.selection
        if (chosen.start_s is not None or chosen.end_s is not None) and not summary.frames_processed:
            err.print(f"warning: {summary.info.source}: no {_frames_sought(chosen)} lies between --start "
                      f"and --end{summary.info.first_frame_note}", soft_wrap=True)
        elif summary.selection.keyframes and summary.frames_read and not summary.frames_processed:
            err.print(f"warning: {summary.info.source}: no keyframe among its {summary.frames_read:,} "
                      "frames shown (the one they decode from lies in a part an edit list hides): "
                      "nothing was processed; scan it with --every or --fps", soft_wrap=True)
    if result.outputs and not to_stdout:
        err.print("wrote " + ", ".join(result.outputs), soft_wrap=True)

