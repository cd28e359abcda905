"""Where ``detect``'s CPU time goes: CPU ms per frame of each thread of the pipeline (Linux).

Runs :class:`blazecli.jobs.detect.VideoJob` (default settings, tracking on) in this process and
reads every thread's CPU time from ``/proc/self/task``: FFmpeg's frame threads (``av:h264:*``),
blazecli's decode, sampling and inference threads, and the main thread (ties, tracking). The
stages overlap on the cores, so the rows add up to the run's CPU time, not its wall time.

    python benchmarks/profile_detect.py benchmarks/clips/hamilton_720p_60s.mp4 [--batch-size N]
        [--device cpu|cuda|auto] [--model short|full] [--tiles none|auto|RxC] [--out results.json]

Prints a table and writes benchmarks/results/profile_detect.json.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def thread_cpu_seconds() -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) and kernel name of every live thread of this process."""
    ticks = os.sysconf("SC_CLK_TCK")
    threads = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        threads[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / ticks)
    return threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--batch-size", type=int, default=None, help="default: detect's, by device")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--model", default="short", choices=["short", "full"])
    parser.add_argument("--tiles", default="none", help="none, auto or RxC, as detect --tiles")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "profile_detect.json")
    args = parser.parse_args()

    from blazecli.inference.detector import FaceDetector
    from blazecli.jobs.detect import VideoJob
    from blazecli.temporal.tracking import TrackerOptions

    detector = FaceDetector(device=args.device, model=args.model, tiles=args.tiles)
    before = thread_cpu_seconds()
    main_thread = threading.get_native_id()
    names: dict[int, str] = {}
    seen: dict[int, tuple[str, float]] = {}
    start, frames = time.perf_counter(), 0
    job = VideoJob(str(args.video), detector, batch_size=args.batch_size, tracking=TrackerOptions())
    for batch in job.batches():
        frames += len(batch.index)
        if frames % 256 < job.batch_size:  # threads end with the job: look while they live
            seen.update(thread_cpu_seconds())
            names.update({t.native_id: t.name for t in threading.enumerate()})
    wall = time.perf_counter() - start
    seen.update(thread_cpu_seconds())
    names[main_thread] = "main (ties, tracking, rows)"

    per_thread: Counter[str] = Counter()
    for tid, (kernel_name, cpu) in seen.items():
        per_thread[names.get(tid, kernel_name)] += cpu - before.get(tid, ("", 0.0))[1]
    total = sum(per_thread.values())
    print(f"{args.video.name} ({detector.provider}): {frames} frames, {frames / wall:.1f} frames/s in this process, "
          f"{total / wall:.2f} cores busy, {1000 * total / frames:.2f} CPU ms/frame")
    print(f"{'thread':34} {'CPU ms/frame':>12} {'share':>6}")
    for name, cpu in per_thread.most_common():
        print(f"{name:34} {1000 * cpu / frames:12.2f} {cpu / total:6.1%}")
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"video": str(args.video), "provider": detector.provider,
                               "frames": frames, "wall_s": wall,
                               "cpu_ms_per_frame": {k: 1000 * v / frames for k, v in per_thread.items()}},
                              indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
