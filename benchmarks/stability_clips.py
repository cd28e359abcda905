"""``blazecli stability`` on the project's real clips: is blending steadier than NMS, by how much?

For each video in ``<repo>/../shared/data/videos`` (or the folder given), the shift-jitter test
of the BlazeFace paper (see ``blazecli/stability.py`` for the definitions) runs with the same
detector for every clip, and the reduction of jitter from ``nms`` to ``blend`` is set next to
the paper's (about 40 % for the front-camera model, 30 % for the rear one).

    python benchmarks/stability_clips.py                          # short model, --shift 2px, every frame
    python benchmarks/stability_clips.py --every 5 --model full --shift 1% path/to/videos

Prints a table and writes benchmarks/results/stability.json (one ``--json`` object per clip).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from blazecli.inference.detector import DetectorOptions, FaceDetector
from blazecli.jobs.stability import (
    PAPER_REDUCTION,
    Shift,
    StabilityJob,
    StabilitySettings,
    TieResolutions,
    fmt_figure,
)
from blazecli.media.files import VIDEO_EXTENSIONS

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
VIDEOS = HERE.parents[1] / "shared" / "data" / "videos"


def measure(videos: list[Path], settings: StabilitySettings, model: str) -> list[dict]:
    """One summary per clip; the detector (one ORT session) is shared."""
    modes = TieResolutions(FaceDetector(DetectorOptions(model=model)))
    return [StabilityJob(str(v), settings, modes, modes.facts).run().as_dict() for v in videos]


def table(results: list[dict]) -> Table:
    """One row per clip: jitter as RMS % of IOD, its change from nms to blend, and the rest."""
    out = Table(title="shift jitter (RMS % of IOD): nms vs blend, and the temporal stage")
    for name in ("clip", "frames", "pairs", "left out", "nms", "blend", "Δ RMS", "Δ MSE", "temporal",
                 "frame jitter blend → temporal"):
        out.add_column(name, justify="left" if name == "clip" else "right")
    for r in results:
        nms, blend, temporal = (r["modes"][m] for m in ("nms", "blend", "temporal"))
        cut = r["reduction_pct"]["blend_vs_nms"]
        out.add_row(Path(r["video"]).stem, str(r["frames"]), str(blend["faces_matched"]),
                    str(blend["faces_too_small"] + blend["faces_turned"]),
                    fmt_figure(nms["rms_iod_pct"], ".2f"), fmt_figure(blend["rms_iod_pct"], ".2f"),
                    fmt_figure(cut["rms_iod_pct"], "+.1f", neg=True) + " %",
                    fmt_figure(cut["mse_iod2"], "+.1f", neg=True) + " %",
                    fmt_figure(temporal["rms_iod_pct"], ".2f"),
                    f"{fmt_figure(blend['frame_jitter_rms_iod_pct'], '.1f')} → "
                    f"{fmt_figure(temporal['frame_jitter_rms_iod_pct'], '.1f')}")
    return out


def closing_note(results: list[dict]) -> str:
    parts = []
    for r in results:
        cut = r["reduction_pct"]["blend_vs_nms"]
        parts.append(f"{Path(r['video']).name}: {fmt_figure(cut['rms_iod_pct'], '.1f')} % "
                     f"(MSE {fmt_figure(cut['mse_iod2'], '.1f')} %)")
    return ("Jitter reduction by blending (RMS % of IOD; MSE/IOD² in brackets), next to the paper's "
            f"{PAPER_REDUCTION}:\n  " + "\n  ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", nargs="?", type=Path, default=VIDEOS)
    parser.add_argument("--model", default="short", choices=("short", "full"))
    parser.add_argument("--shift", default="2px")
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--max-frames", type=int, default=None)
    args = parser.parse_args()
    if not args.videos.is_dir():
        sys.exit(f"no videos at {args.videos}")
    videos = sorted(p for p in args.videos.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
    settings = StabilitySettings(shifts=tuple(Shift.parse(t) for t in args.shift.split(",")),
                                 every=args.every, max_frames=args.max_frames)
    results = measure(videos, settings, args.model)
    console = Console(highlight=False, width=max(Console().width, 130))
    console.print(table(results))
    console.print(closing_note(results), soft_wrap=True)
    RESULTS.mkdir(exist_ok=True)
    command = " ".join(["python", "benchmarks/stability_clips.py", *sys.argv[1:]])
    (RESULTS / "stability.json").write_text(json.dumps({"command": command, "clips": results}, indent=2))
    console.print(f"wrote {RESULTS / 'stability.json'}")


if __name__ == "__main__":
    main()
