"""Scaling of ``detect --ray``: a folder of clips with 1 and 2 workers on a local Ray runtime.

Throughput is frames/s over the whole run (Ray start-up excluded: the runtime is started once,
before the timed runs); scaling efficiency = throughput(n) / (n * throughput(1)).

    python benchmarks/bench_ray.py [--clips 8] [--seconds 10] [--workers 1 2]

Prints a table and writes benchmarks/results/bench_ray.json. Needs ``pip install -e .[ray]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


class _Quiet:
    def start_file(self, name: str, frames: int | None) -> None: ...
    def advance(self, frames: int) -> None: ...
    def end_file(self) -> None: ...


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    import ray
    from clips import moving_face_clip

    from blazecli.jobs.ray import RayOptions, run_on_ray
    from blazecli.jobs.runner import DetectSettings

    folder = HERE / "clips" / f"ray_{args.clips}x{args.seconds:g}s"
    if not folder.exists():
        tmp = folder.with_suffix(".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        for i in range(args.clips):
            moving_face_clip(tmp / f"clip{i:02d}.mp4", frames=int(25 * args.seconds), width=640,
                             height=360, head_height=200, velocity=(0.5 * (-1) ** i, 0.2))
        tmp.rename(folder)
    frames = args.clips * int(25 * args.seconds)

    ray.init(num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    rows = []
    try:
        for workers in args.workers:
            out = Path(tempfile.mkdtemp())
            start = time.perf_counter()
            report = run_on_ray([str(folder)], str(out) + "/", DetectSettings(),
                                RayOptions(workers=workers), _Quiet())
            seconds = time.perf_counter() - start
            shutil.rmtree(out)
            if report.failed:
                raise RuntimeError(report.failed)
            rows.append({"workers": workers, "frames": frames, "seconds": seconds, "fps": frames / seconds})
    finally:
        ray.shutdown()
    base = rows[0]["fps"] / rows[0]["workers"]
    print(f"{'workers':>7} {'frames':>7} {'seconds':>8} {'fps':>8} {'efficiency':>10}")
    for r in rows:
        r["efficiency"] = r["fps"] / (r["workers"] * base)
        print(f"{r['workers']:7d} {r['frames']:7d} {r['seconds']:8.2f} {r['fps']:8.1f} {r['efficiency']:10.2f}")
    (HERE / "results").mkdir(exist_ok=True)
    out = HERE / "results" / "bench_ray.json"
    out.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                               "clips": args.clips, "seconds_per_clip": args.seconds, "rows": rows},
                              indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
