"""How long a live frame waits for its row: ``detect - -o -`` fed a real-time stream.

    python benchmarks/live_latency.py [--clip VIDEO ...] [--loops N] [--model short|full] [--live-drop]

The clips are ``../shared/data/videos/face_recognition_short_hamilton_clip.mp4`` (640x360,
29.97 fps) and ``liveportrait_s18.mp4`` (1280x720, 30 fps) where present, else
``examples/demo.mp4`` (640x360, 25 fps).

An ``ffmpeg -re`` process plays the clip in real time (looped ``--loops`` times) as Matroska
written a packet at a time (``-flush_packets 1 -cluster_time_limit 40``: Matroska's default
clusters of a second would hold the frames back before blazecli sees them). This script relays
its bytes to ``blazecli detect - -o -`` (``--live-drop``: dropping frames when behind, as for a
URL; a pipe does not by default) (started first, so that its start-up is measured on
its own) and reads the CSV rows as they come.

A frame is taken to arrive at the time its stream time says after the stream's first byte
(``-re`` sends frames at their pace from there); a row's delay is the time it was read minus
its frame's arrival. Reported: the delay's median, p95 and maximum over all rows; the first
row's delay after the first byte; and how long blazecli took from launch to being ready to
read (its start-up, the first byte being held until then). Prints a table and writes
``benchmarks/results/live_latency.json``. Not a test: nothing passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from provenance import commit, machine

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "videos"
SHARED_CLIPS = [SHARED / "face_recognition_short_hamilton_clip.mp4", SHARED / "liveportrait_s18.mp4"]
RESULTS = REPO / "benchmarks" / "results" / "live_latency.json"


def default_clips() -> list[Path]:
    return [c for c in SHARED_CLIPS if c.is_file()] or [REPO / "examples" / "demo.mp4"]


def measure(clip: Path, loops: int, model: str, drop: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    launched = time.monotonic()
    detect = subprocess.Popen([sys.executable, "-m", "blazecli", "detect", "-", "-o", "-", "--quiet",
                               "--model", model, *(["--live-drop"] if drop else [])],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    # blazecli is ready once it has loaded its libraries and waits on stdin: wait for that (its
    # start-up), so that the stream's clock starts when someone reads it.
    ready = _wait_until_reading(detect.pid, timeout=30.0)
    startup = time.monotonic() - launched
    sender = subprocess.Popen(["ffmpeg", "-v", "error", "-re", "-stream_loop", str(loops - 1),
                               "-i", str(clip), "-an", "-c:v", "copy", "-flush_packets", "1",
                               "-f", "matroska", "-cluster_time_limit", "40", "-"],
                              stdout=subprocess.PIPE)
    first_byte: list[float] = []

    def relay() -> None:
        assert sender.stdout is not None and detect.stdin is not None
        while chunk := os.read(sender.stdout.fileno(), 65536):
            if not first_byte:
                first_byte.append(time.monotonic())
            detect.stdin.write(chunk)
            detect.stdin.flush()
        detect.stdin.close()

    thread = threading.Thread(target=relay, daemon=True)
    thread.start()
    rows: list[tuple[float, float]] = []  # (read at, frame time)
    assert detect.stdout is not None
    header = True
    for line in detect.stdout:
        now = time.monotonic()
        if header:
            header = False
            continue
        fields = line.decode().split(",")
        rows.append((now, float(fields[2])))
    sender.wait()
    thread.join()
    assert detect.stderr is not None
    stderr = detect.stderr.read().decode()
    detect.wait()
    if detect.returncode != 0 or not rows or not first_byte:
        raise SystemExit(f"detect failed ({detect.returncode}): {stderr}")
    read_at = np.array([r[0] for r in rows])
    frame_time = np.array([r[1] for r in rows])
    delay = read_at - (first_byte[0] + frame_time)
    return {"clip": clip.name, "loops": loops, "model": model, "live_drop": drop, "rows": len(rows),
            "frames_with_rows": int(len(np.unique(frame_time))),
            "stream_s": float(frame_time.max()),
            "startup_s": startup if ready else None,
            "first_row_s": float(read_at[0] - first_byte[0]),
            "delay_median_s": float(np.median(delay)), "delay_p95_s": float(np.percentile(delay, 95)),
            "delay_max_s": float(delay.max())}


def _wait_until_reading(pid: int, timeout: float) -> bool:
    """Whether the process came to block on reading stdin within ``timeout`` (Linux: its main
    thread's wait channel reads as a pipe wait once the libraries are loaded and it reads)."""
    deadline = time.monotonic() + timeout
    wchan = Path(f"/proc/{pid}/wchan")
    while time.monotonic() < deadline:
        try:
            if "pipe" in wchan.read_text():
                return True
        except OSError:
            return False
        time.sleep(0.02)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clip", type=Path, nargs="+", default=default_clips())
    parser.add_argument("--loops", type=int, default=3, help="times the clip is played")
    parser.add_argument("--model", default="short")
    parser.add_argument("--live-drop", action="store_true", help="drop frames when behind")
    args = parser.parse_args()
    results = [measure(clip, args.loops, args.model, args.live_drop) for clip in args.clip]
    print("| clip | stream s | rows | frames with rows | start-up s | first row s | median s | "
          "p95 s | max s |\n|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['clip']} | {r['stream_s']:.1f} | {r['rows']} | {r['frames_with_rows']} | "
              f"{r['startup_s'] or float('nan'):.2f} | {r['first_row_s']:.2f} | "
              f"{r['delay_median_s']:.3f} | {r['delay_p95_s']:.3f} | {r['delay_max_s']:.3f} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine(), "commit": commit(),
                                   "date": time.strftime("%Y-%m-%d"), "results": results},
                                  indent=2) + "\n")


if __name__ == "__main__":
    main()
