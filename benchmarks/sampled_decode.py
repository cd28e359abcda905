"""Sampled runs next to decoding every frame: whole processes on the same file.

Runs a PyAV loop that decodes every frame (thread_type AUTO, nothing else), then ``blazecli
detect`` with ``--every 1/5/10/30``, ``--fps 1/2`` and ``--keyframes`` (default settings
otherwise, output to Parquet). frames/s counts the source video's frames over wall seconds
(start-up included), so a sampled run that is faster than the decode-only loop decodes less
than every frame; CPU ms per source frame is the process's user + system time (all cores).
``decoded`` is the run's ``frames_decoded`` (what the decoder made). The runs take turns, one
of each per round, so that a machine busy with other work slows them alike; ``--baseline REV``
adds the ``detect`` runs of an earlier commit (its ``blazecli`` from ``git archive``) to each
round. Both trees' bytecode is compiled first, as an installed package's is.

    python benchmarks/sampled_decode.py            # a 60 s 720p 30 fps x264 clip with B-frames,
                                                   # made once from ../shared's liveportrait_s18
    python benchmarks/sampled_decode.py clip.mp4 --repeat 5 --baseline main

Prints a table and writes benchmarks/results/sampled_decode.json (date, commit, machine).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_detect import DECODE_ONLY, machine, real_clip, timed  # noqa: E402 - beside this script

RUNS = [("PyAV decode only", None), ("detect --every 1", ["--every", "1"]),
        ("detect --every 5", ["--every", "5"]), ("detect --every 10", ["--every", "10"]),
        ("detect --every 30", ["--every", "30"]), ("detect --fps 2", ["--fps", "2"]),
        ("detect --fps 1", ["--fps", "1"]), ("detect --keyframes", ["--keyframes"])]


def make_clip(source: Path, path: Path, seconds: float = 60.0, height: int = 720) -> Path:
    """``source`` at ``height``, 30 fps, played forwards then backwards until ``seconds``; x264
    veryfast (3 B-frames, adaptive), a keyframe at least every 2 s."""
    return real_clip(source, path, height, seconds, Fraction(30), {"x264-params": "keyint=60"})


def clip_facts(clip: Path) -> dict:
    import av

    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        keys = sum(p.is_keyframe for p in container.demux(stream) if p.size)
        return {"clip": clip.name, "width": stream.width, "height": stream.height,
                "fps": float(stream.average_rate), "frames": stream.frames, "keyframes": keys,
                "b_frames": stream.codec_context.has_b_frames > 0}


# ``python -m blazecli`` with the package of the tree given first on the command line.
LAUNCH = ("import runpy, sys\n"
          "sys.path.insert(0, sys.argv.pop(1))\n"
          "runpy.run_module('blazecli', run_name='__main__', alter_sys=True)")


def export_tree(rev: str, folder: Path) -> Path:
    """``blazecli`` as of ``rev``, unpacked into ``folder``."""
    archive = subprocess.run(["git", "archive", rev, "blazecli"], cwd=HERE.parent, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def run_once(clip: Path, options: list[str] | None, tree: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and frames decoded of one whole process."""
    if options is None:
        wall, cpu, _, out = timed([sys.executable, "-c", DECODE_ONLY, str(clip)])
        return wall, cpu, int(out.splitlines()[-1])
    from blazecli.outputs.sinks import read_metadata

    with tempfile.TemporaryDirectory() as tmp:
        faces = Path(tmp) / "faces.parquet"
        wall, cpu, _, _ = timed([sys.executable, "-c", LAUNCH, str(tree), "detect", str(clip),
                                 "-o", str(faces), "--quiet", *options])
        return wall, cpu, read_metadata(str(faces))["videos"][0]["frames_decoded"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", nargs="?", type=Path, help="clip to time (default: generated)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, the median is kept")
    parser.add_argument("--baseline", metavar="REV",
                        help="also time the detect runs of this commit, in the same rounds")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "sampled_decode.json")
    args = parser.parse_args()
    source = HERE.parent.parent / "shared" / "data" / "videos" / "liveportrait_s18.mp4"
    clip = args.clip or make_clip(source, HERE / "clips" / "liveportrait_720p30_60s.mp4")
    facts = clip_facts(clip)
    frames = facts["frames"]
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"": HERE.parent}
        if args.baseline:
            trees[f" ({args.baseline})"] = export_tree(args.baseline, Path(tmp))
        for tree in trees.values():
            compileall.compile_dir(tree / "blazecli", quiet=1)
        runs = [(label + suffix, options, tree) for label, options in RUNS
                for suffix, tree in trees.items() if options is not None or not suffix]
        load_before = os.getloadavg()  # the figures hold for a machine this busy
        measured: dict[str, list[tuple[float, float, int]]] = {label: [] for label, _, _ in runs}
        for _ in range(args.repeat):
            for label, options, tree in runs:
                measured[label].append(run_once(clip, options, tree))
    rows = []
    for label, results in measured.items():
        walls = [wall for wall, _, _ in results]
        wall, cpu = statistics.median(walls), statistics.median(cpu for _, cpu, _ in results)
        rows.append({"run": label, "seconds": wall, "seconds_all": walls, "fps": frames / wall,
                     "cpu_ms_per_frame": 1000 * cpu / frames, "frames_decoded": results[-1][2]})
    decode_fps = rows[0]["fps"]
    print(f"{facts['clip']}: {facts['width']}x{facts['height']}, {facts['fps']:g} fps, {frames} frames, "
          f"{facts['keyframes']} keyframes, B-frames: {facts['b_frames']}; median of {args.repeat}")
    width = max(len(r["run"]) for r in rows)
    print(f"{'run':{width}} {'decoded':>7} {'seconds':>7} {'frames/s':>8} {'x decode':>8} {'CPU ms/f':>8}")
    for r in rows:
        r["ratio_to_decode"] = r["fps"] / decode_fps
        print(f"{r['run']:{width}} {r['frames_decoded']:7d} {r['seconds']:7.2f} {r['fps']:8.1f} "
              f"{r['ratio_to_decode']:8.2f} {r['cpu_ms_per_frame']:8.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
        "load_average": {"before": load_before, "after": os.getloadavg()}, "clip": facts,
        "repeat": args.repeat, "baseline": args.baseline, "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
