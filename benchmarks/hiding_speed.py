"""What finding small faces and hiding them costs: whole processes on one clip, interleaved.

Rows (each a whole process, ``--reps`` times, interleaved so that drift hits all alike):

- ``detect`` with its defaults, the MediaPipe-exact baseline;
- ``detect --model full --tiles auto``, the detector of the hiding profile;
- ``annotate --blur`` with its defaults (the hiding profile);
- ``deface`` with its defaults, where it is installed (``bash benchmarks/peers.sh``).

Printed: median wall seconds, frames/s of the source, CPU seconds and peak memory (max RSS of
the process), and each row's frames/s against the first row's and against deface's. JSON goes
to ``benchmarks/results/hiding_speed.json`` with date, commit and machine.

    python benchmarks/hiding_speed.py                      # ../shared/data/videos/liveportrait_s18.mp4
    python benchmarks/hiding_speed.py clip.mp4 --reps 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import commit, machine

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "videos" / "liveportrait_s18.mp4"
PEERS_DEFACE = ROOT / "benchmarks" / ".venv-peers" / "bin" / "deface"


def frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.demux(container.streams.video[0]) if _.size)


def run_once(command: list[str]) -> dict[str, float]:
    """Wall and CPU seconds and peak memory of one whole process (``wait4``: its own usage)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}): {stderr[-500:]!r}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_mb": usage.ru_maxrss / 1024}


def commands(clip: Path, out: Path, deface: str | None) -> dict[str, list[str]]:
    blazecli = [sys.executable, "-m", "blazecli"]
    rows = {
        "detect (defaults)": [*blazecli, "detect", str(clip), "-o", str(out / "a.parquet"), "-q", "--overwrite"],
        "detect --model full --tiles auto": [*blazecli, "detect", str(clip), "-o", str(out / "b.parquet"),
                                             "--model", "full", "--tiles", "auto", "-q", "--overwrite"],
        "annotate --blur (defaults)": [*blazecli, "annotate", str(clip), "-o", str(out / "c.mp4"), "--blur",
                                       "-q", "--overwrite"],
    }
    if deface:
        rows["deface (defaults)"] = [deface, str(clip), "-o", str(out / "d.mp4")]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clip", nargs="?", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--deface", default=str(PEERS_DEFACE) if PEERS_DEFACE.exists() else shutil.which("deface"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "hiding_speed.json")
    args = parser.parse_args(argv)
    if not args.clip.exists():
        print(f"skipped: {args.clip} is not there (../shared/data is absent)")
        return 0
    frames = frame_count(args.clip)
    with tempfile.TemporaryDirectory() as tmp:
        rows = commands(args.clip, Path(tmp), args.deface)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in rows}
        for _ in range(args.reps):
            for name, command in rows.items():
                runs[name].append(run_once(command))
    results = []
    for name, measured in runs.items():
        wall = statistics.median(r["wall_s"] for r in measured)
        results.append({"run": name, "wall_s": wall, "fps": frames / wall,
                        "cpu_s": statistics.median(r["cpu_s"] for r in measured),
                        "max_rss_mb": max(r["max_rss_mb"] for r in measured),
                        "walls": [r["wall_s"] for r in measured]})
    base = results[0]["fps"]
    deface_fps = next((r["fps"] for r in results if r["run"].startswith("deface")), None)
    print(f"{args.clip.name}: {frames} frames; {machine()['cpu']}, {os.cpu_count()} cores; "
          f"median of {args.reps} interleaved whole processes")
    print(f"{'run':36} {'wall s':>7} {'frames/s':>9} {'CPU s':>7} {'peak MB':>8} {'x detect':>9} {'x deface':>9}")
    for r in results:
        r["vs_detect"] = r["fps"] / base
        r["vs_deface"] = r["fps"] / deface_fps if deface_fps else None
        versus = f"{r['vs_deface']:9.2f}" if r["vs_deface"] is not None else f"{'n/a':>9}"
        print(f"{r['run']:36} {r['wall_s']:7.2f} {r['fps']:9.1f} {r['cpu_s']:7.2f} {r['max_rss_mb']:8.0f} "
              f"{r['vs_detect']:9.2f} {versus}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                                    "commit": commit(), "machine": machine(), "clip": str(args.clip),
                                    "frames": frames, "reps": args.reps, "results": results}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
