"""Speed of ``blazecli detect`` next to the decoder's own ceiling, whole process, same file.

For each clip: PyAV decode-only (thread_type AUTO, every frame, nothing else), ``blazecli detect``
end to end (start-up, inference and Parquet writing included, default settings), and, where a
Python with ``mediapipe`` is given, MediaPipe's FaceDetector in VIDEO mode on the same frames.
Each runs in its own process; frames/s = decoded frames / wall seconds; peak RSS from the OS.

    python benchmarks/bench_detect.py          # 720p and 1080p clips of 60 s: ../shared's real
                                               # talking head looped and scaled, else generated
    python benchmarks/bench_detect.py --seconds 10 clip.mp4 --mediapipe-python /path/to/python

Prints a table and writes benchmarks/results/bench_detect.json (with machine info).
Clips are generated once into benchmarks/clips/ (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

DECODE_ONLY = """
import sys, av
with av.open(sys.argv[1]) as c:
    s = c.streams.video[0]
    s.thread_type = "AUTO"
    n = sum(1 for _ in c.decode(s))
print(n)
"""

MEDIAPIPE = """
import sys, av, numpy as np, mediapipe as mp
from mediapipe.tasks.python import vision, BaseOptions
options = vision.FaceDetectorOptions(base_options=BaseOptions(model_asset_path=sys.argv[2]),
                                     running_mode=vision.RunningMode.VIDEO)
n = 0
with vision.FaceDetector.create_from_options(options) as detector, av.open(sys.argv[1]) as c:
    s = c.streams.video[0]
    s.thread_type = "AUTO"
    for f in c.decode(s):
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=f.to_ndarray(format="rgb24"))
        detector.detect_for_video(image, int(round(f.time * 1000)) + n)
        n += 1
print(n)
"""


def make_clip(path: Path, width: int, height: int, seconds: float, fps: int = 30) -> Path:
    """A moving-faces clip at the given size (astronaut heads on a textured background)."""
    if path.exists():
        return path
    sys.path.insert(0, str(HERE.parent / "tests"))
    import numpy as np
    from clips import Path2D, astronaut_head, compose, write_clip

    head = astronaut_head(height // 3)
    frames = int(seconds * fps)
    paths = [Path2D((width * 0.1, height * 0.2), (width * 0.5 / frames, 0)),
             Path2D((width * 0.7, height * 0.4), (-width * 0.4 / frames, -height * 0.1 / frames))]
    rng = np.random.default_rng(0)
    texture = rng.integers(60, 120, (height // 8, width // 8, 1), np.uint8).repeat(8, 0).repeat(8, 1)

    def frame_at(i: int) -> np.ndarray:
        frame = compose(width, height, [(head, p) for p in paths], i)
        background = (frame == 90).all(axis=2)
        frame[background] = np.roll(texture, i, axis=1)[background]
        return frame

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    write_clip(tmp, frame_at, frames, fps=fps, options={"preset": "veryfast", "crf": "23"})
    tmp.rename(path)
    return path


def real_clip(source: Path, path: Path, height: int, seconds: float) -> Path:
    """A longer clip of real footage: ``source`` scaled to ``height`` and looped to ``seconds``."""
    if path.exists():
        return path
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(source)) as src:
        stream = src.streams.video[0]
        # MP4 rejects odd rates such as 2997/100: use the nearest NTSC-style rate.
        fps = Fraction(round(stream.average_rate * 1001), 1001)
        width = round(stream.width * height / stream.height / 2) * 2
        frames = [f.reformat(width=width, height=height, format="yuv420p").to_ndarray()
                  for f in src.decode(stream)]
    with av.open(str(tmp), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "23"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        for i in range(int(seconds * fps)):
            # Play forwards then backwards so the loop has no cut.
            cycle = i % (2 * len(frames) - 2)
            pixels = frames[cycle if cycle < len(frames) else 2 * len(frames) - 2 - cycle]
            # A fresh frame each time: the encoder still holds earlier ones, and decoded
            # frames carry the source's timing and picture types.
            out.mux(video.encode(av.VideoFrame.from_ndarray(pixels, format="yuv420p")))
        out.mux(video.encode())
    tmp.rename(path)
    return path


_PEAK = ("import resource, subprocess, sys\n"
         "done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)\n"
         "sys.stdout.write(done.stdout.decode())\n"
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
         "sys.exit(done.returncode)")


def timed(command: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (MB) and stdout of one command.

    A small wrapper process reads the command's own peak RSS (measuring from this process
    would count memory a fork inherits from it).
    """
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK, *command], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed: {done.stderr[-2000:]}")
    return seconds, int(done.stderr.strip().splitlines()[-1]) // 1024, done.stdout.strip()


def bench(clip: Path, mediapipe_python: str | None, model: str | None) -> list[dict]:
    rows = []
    seconds, rss, out = timed([sys.executable, "-c", DECODE_ONLY, str(clip)])
    frames = int(out.splitlines()[-1])
    rows.append({"clip": clip.name, "run": "PyAV decode only", "frames": frames,
                 "seconds": seconds, "fps": frames / seconds, "peak_rss_mb": rss})
    with tempfile.TemporaryDirectory() as tmp:
        out_file = Path(tmp) / "faces.parquet"
        seconds, rss, _ = timed([sys.executable, "-m", "blazecli", "detect", str(clip), "-o",
                                 str(out_file), "--quiet"])
        import pyarrow.parquet as pq

        faces = pq.read_metadata(out_file).num_rows
    rows.append({"clip": clip.name, "run": "blazecli detect", "frames": frames, "faces": faces,
                 "seconds": seconds, "fps": frames / seconds, "peak_rss_mb": rss})
    if mediapipe_python and model:
        seconds, rss, out = timed([mediapipe_python, "-c", MEDIAPIPE, str(clip), model])
        rows.append({"clip": clip.name, "run": "MediaPipe FaceDetector (VIDEO)", "frames": int(out),
                     "seconds": seconds, "fps": int(out) / seconds, "peak_rss_mb": rss})
    return rows


def machine() -> dict:
    import onnxruntime

    return {"machine": platform.machine(), "processor": platform.processor(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__, "platform": platform.platform()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", type=Path, help="clips to time (default: generated)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of generated clips")
    parser.add_argument("--mediapipe-python", help="a Python with mediapipe installed")
    parser.add_argument("--mediapipe-model", help="a .tflite with metadata MediaPipe accepts")
    args = parser.parse_args()
    shared = HERE.parent.parent / "shared" / "data" / "videos" / "liveportrait_s18.mp4"
    if args.clips:
        clips = args.clips
    elif shared.exists():  # real footage decodes like real footage: prefer it
        clips = [real_clip(shared, HERE / "clips" / f"liveportrait_{h}p_{args.seconds:g}s.mp4", h, args.seconds)
                 for h in (720, 1080)]
    else:
        clips = [make_clip(HERE / "clips" / f"faces_{h}p_{args.seconds:g}s.mp4", w, h, args.seconds)
                 for w, h in ((1280, 720), (1920, 1080))]
    rows = [row for clip in clips for row in bench(clip, args.mediapipe_python, args.mediapipe_model)]
    by_clip: dict[str, float] = {r["clip"]: r["fps"] for r in rows if r["run"] == "PyAV decode only"}
    print(f"{'clip':28} {'run':32} {'frames':>7} {'fps':>8} {'x decode':>9} {'RSS MB':>7}")
    for r in rows:
        r["ratio_to_decode"] = r["fps"] / by_clip[r["clip"]]
        print(f"{r['clip']:28} {r['run']:32} {r['frames']:7d} {r['fps']:8.1f} "
              f"{r['ratio_to_decode']:9.2f} {r['peak_rss_mb']:7d}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "bench_detect.json"
    out.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
