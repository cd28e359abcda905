"""``blazecli stability``: the BlazeFace paper's shift-jitter test on the user's video."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import typer

from .app import app, freeze_imports, printable
from .errors import stdout_guard, user_errors
from .options import (
    TILES_HELP,
    Device,
    DeviceOption,
    ModelOption,
    OverwriteOption,
    QuietOption,
    ThresholdOption,
)
from .progress import RichProgress


@app.command()
def stability(
    video: Annotated[str, typer.Argument(help="A video file (an image works too: one frame).",
                                         show_default=False)],
    shift: Annotated[list[str] | None, typer.Option(
        "--shift", metavar="SHIFT", show_default=False,
        help="Shift amount: whole pixels (2px) or % of the frame's width/height (1%); repeat or "
             "separate with commas for several [default: 2px].")] = None,
    every: Annotated[int, typer.Option(help="Measure every Nth frame.")] = 1,
    max_frames: Annotated[int | None, typer.Option(help="Stop after this many measured frames.",
                                                      show_default=False)] = None,
    model: ModelOption = None,
    threshold: ThresholdOption = None,
    tiles: Annotated[str, typer.Option(
        metavar="none|auto|RxC",
        help=TILES_HELP + " Every frame runs all its tiles, and each shifted copy is tiled the "
                          "same way.")] = "none",
    min_iod: Annotated[float, typer.Option(help="Faces whose eyes are closer than this (px) are "
                                                "counted as too small and not compared.")] = 8.0,
    min_iod_ratio: Annotated[float, typer.Option(
        help="Faces whose eye distance is under this fraction of their box width (heads turned "
             "sideways; frontal: ~0.4) are counted as turned and not compared.")] = 0.2,
    device: DeviceOption = Device.auto,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout "
                                                             "instead of the table.")] = False,
    output: Annotated[str | None, typer.Option(
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
    inter-ocular distance (MSE/IOD^2), its root in % of IOD (the paper's jitter), and
    frame-to-frame jitter on the unshifted frames. Faces too small or turned (not compared),
    unmatched or extra, and frames without a face are counted.

    Examples:

    \b
      blazecli stability clip.mp4 --shift 2px --every 10
      blazecli stability clip.mp4 --shift 1px,2px --shift 1% --json
      blazecli stability clip.mp4 -o jitter.parquet   (per-frame values)
    """
    from ..inference.detector import DetectorOptions, FaceDetector
    from ..jobs.stability import (
        Shift,
        StabilityJob,
        StabilitySettings,
        TieResolutions,
        check_values_output,
    )

    freeze_imports()
    with user_errors():
        texts = [t for option in (shift or ["2px"]) for t in option.split(",") if t.strip()]
        settings = StabilitySettings(shifts=tuple(Shift.parse(t) for t in texts), every=every,
                                     max_frames=max_frames, min_iod=min_iod,
                                     min_iod_ratio=min_iod_ratio)
        options = DetectorOptions(model=model.value if model else "auto", threshold=threshold, device=device.value,
                                  tiles=tiles)
        if output is not None:
            check_values_output(output, overwrite, video)
        modes = TieResolutions(FaceDetector(options))
        with RichProgress(1, quiet) as progress:
            job = StabilityJob(video, settings, modes, modes.facts, on_frames=progress.advance)
            progress.start_file(video, job.frames_planned)
            report = job.run()
            progress.end_file()
        if output is not None:
            report.write_parquet(output, overwrite)

    summary = report.as_dict()
    with stdout_guard():
        if json_output:
            typer.echo(json.dumps(summary, indent=2))
            return
        from rich.console import Console

        class ResultConsole(Console):
            def on_broken_pipe(self) -> None:
                """A reader that stops early (`| head`) ends the command quietly (stdout_guard), as
                for detect; Rich's own handling exits 1 without a word."""
                raise BrokenPipeError

        out = ResultConsole(highlight=False)
        if not out.is_terminal:  # a file or a pipe: as wide as the table needs, never cut
            out = ResultConsole(highlight=False, width=200)
        for table in summary_tables(summary):
            out.print(table)
        out.print(closing_note(summary), soft_wrap=True)



PAPER_REDUCTION = "about 40 % (front-camera model) and 30 % (rear)"


def summary_tables(summary: dict[str, Any]) -> list:
    """Rich tables of ``StabilityReport.as_dict()``: the errors, then what was compared.

    One row per mode, or per mode and shift when several shifts were measured.
    """
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    several = len(summary["shifts"]) > 1
    iod = summary["modes"]["blend"].get("iod_px")
    # One space between columns, headers wrapped at their spaces, numbers folded, never cut:
    # two shifts fit 80 columns.
    layout: dict[str, Any] = {"box": box.SIMPLE_HEAD, "padding": (0, 0), "pad_edge": False}
    errors = Table(title=f"{escape(printable(summary['video']))}: {summary['frames']} frames, shift "
                         f"{', '.join(summary['shifts'])} (edge-filled), model {summary.get('model', '?')}",
                   caption="IOD: inter-ocular distance, the eyes' distance in pixels (faces here: "
                           f"{fmt_figure(iod, '.0f')} px on average). Errors are divided by it so that "
                           "faces of any size compare; lower is better. shift: a shifted copy against "
                           "the frame (MSE/IOD^2 of box corners, keypoints, all; RMS in % of IOD and "
                           "in px at that mean IOD); frame: frame-to-frame jitter, the same way.", **layout)
    counts = Table(caption="pairs: (face, shifted copy) compared (faces_matched); lost: a face without "
                           "partner in a copy (faces_unmatched); extra: a copy's face without partner; "
                           "small, turned: faces left out", **layout)
    for table, names in ((errors, ("box MSE/IOD^2", "kp MSE/IOD^2", "all MSE/IOD^2", "shift % IOD",
                                   "shift px", "frame % IOD", "frame px")),
                         (counts, ("frames", "no face", "faces", "small", "turned", "pairs", "lost",
                                   "extra"))):
        table.add_column("mode", no_wrap=True, min_width=8)
        if several:
            table.add_column("shift", no_wrap=True)
        for name in names:
            table.add_column(name, justify="right", overflow="fold")
    for mode, figures in summary["modes"].items():
        for label, f in (figures["shifts"].items() if several else [(None, figures)]):
            first = [mode, label] if several else [mode]
            errors.add_row(*first, *(fmt_figure(f[k], ".2e") for k in (
                "box_mse_iod2", "keypoints_mse_iod2", "mse_iod2")), fmt_figure(f["rms_iod_pct"], ".2f"),
                fmt_figure(f["rms_iod_pct"] / 100 * f["iod_px"] if f["rms_iod_pct"] is not None
                           and f["iod_px"] is not None else None, ".2f"),
                fmt_figure(figures["frame_jitter_rms_iod_pct"], ".2f"),
                fmt_figure(figures["frame_jitter_rms_px"], ".2f"))
            counts.add_row(*first, *(str(f[k]) for k in (
                "frames", "frames_without_face", "faces", "faces_too_small", "faces_turned",
                "faces_matched", "faces_unmatched", "extra_faces")))
    return [errors, counts]


def closing_note(summary: dict[str, Any]) -> str:
    """The reductions in words, next to the paper's figures."""
    if not summary["modes"]["blend"]["faces_matched"]:
        return "no face could be compared (see the counts): no jitter to report."
    blend = summary["reduction_pct"]["blend_vs_nms"]
    temporal = summary["reduction_pct"]["temporal_vs_blend"]

    def change(figures: dict[str, Any], key: str) -> str:
        return "n/a" if figures[key] is None else fmt_figure(figures[key], "+.1f", neg=True) + " %"

    return (f"blend vs nms: shift jitter {change(blend, 'rms_iod_pct')} (RMS, the paper's form; "
            f"MSE {change(blend, 'mse_iod2')}); the paper reports {PAPER_REDUCTION} lower.\n"
            f"temporal vs blend: shift jitter {change(temporal, 'rms_iod_pct')} RMS, "
            f"frame-to-frame jitter {change(temporal, 'frame_jitter_rms_iod_pct')} RMS.")


def fmt_figure(value: float | None, spec: str, neg: bool = False) -> str:
    """``value`` formatted, ``-`` where unknown; ``neg`` shows a reduction as a signed change."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(-value if neg else value, spec)
