"""Speed of ``blazecli detect`` next to the decoder's own ceiling, whole process, same file.

For each clip: PyAV decode-only (thread_type AUTO, every frame, nothing else), ``blazecli detect``
end to end (start-up, inference and Parquet writing included, default settings), the same with
``--device cuda`` where CUDA really runs, each also with the options of every ``--variants``
entry, and, where a Python with ``mediapipe`` is given,
MediaPipe's FaceDetector in VIDEO mode on the same frames. Each runs in its own process;
frames/s = decoded frames / wall seconds; CPU ms/frame = the process's user + system time per
frame (what the run costs the machine, over all cores, worker processes included); peak RSS
from the OS (of the largest process: with --workers, each worker's own).

    python benchmarks/bench_detect.py          # 60 s clips at 720p and 1080p of ../shared's real
                                               # footage (the stage clip with cuts, and a talking
                                               # head), scaled and looped; else generated faces
    python benchmarks/bench_detect.py --seconds 10 clip.mp4 --mediapipe-python /path/to/python \
        --mediapipe-model DIR/face_detection_short_range.tflite

MediaPipe's FaceDetector wants the model with input metadata, which the npm file lacks: in a
Python with mediapipe and tflite-support, ``tools/make_mediapipe_reference.py
--models-with-metadata DIR`` writes it.

Prints a table and writes benchmarks/results/bench_detect.json (with machine info; ``--out``
to write elsewhere). Clips are generated once into benchmarks/clips/ (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
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

# NVDEC through PyAV's hardware acceleration: frames copied back to the host (what a CPU
# sampler would read), or left on the GPU (the decoder's own ceiling).
DECODE_NVDEC = """
import sys, av
from av.codec.hwaccel import HWAccel
accel = HWAccel("cuda", allow_software_fallback=False, is_hw_owned=sys.argv[2] == "gpu")
with av.open(sys.argv[1], hwaccel=accel) as c:
    n = sum(1 for _ in c.decode(c.streams.video[0]))
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


def real_clip(source: Path, path: Path, height: int, seconds: float,
              fps: Fraction | None = None, options: dict[str, str] | None = None) -> Path:
    """A longer clip of real footage: ``source`` scaled to ``height`` and looped to ``seconds``,
    at its own rate unless ``fps`` is given; ``options`` add to x264's veryfast, crf 23."""
    if path.exists():
        return path
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(source)) as src:
        stream = src.streams.video[0]
        # MP4 rejects odd rates such as 2997/100: use the nearest NTSC-style rate.
        fps = fps or Fraction(round(stream.average_rate * 1001), 1001)
        width = round(stream.width * height / stream.height / 2) * 2
        frames = [f.reformat(width=width, height=height, format="yuv420p").to_ndarray()
                  for f in src.decode(stream)]
    with av.open(str(tmp), "w") as out:
        video = out.add_stream("libx264", rate=fps,
                               options={"preset": "veryfast", "crf": "23", **(options or {})})
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


_USAGE = ("import resource, subprocess, sys, time\n"
          "start = time.perf_counter()\n"
          "done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE)\n"
          "wall = time.perf_counter() - start\n"
          "sys.stdout.write(done.stdout.decode())\n"
          "use = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
          "print(wall, use.ru_utime + use.ru_stime, use.ru_maxrss, file=sys.stderr)\n"
          "sys.exit(done.returncode)")


def timed(command: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds, peak RSS (MB) and stdout of one command.

    A small wrapper process measures the command alone (measuring from this process would
    count memory a fork inherits from it, and this process's own start-up).
    """
    done = subprocess.run([sys.executable, "-c", _USAGE, *command], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed: {done.stderr[-2000:]}")
    wall, cpu, rss = done.stderr.strip().splitlines()[-1].split()
    return float(wall), float(cpu), int(rss) // 1024, done.stdout.strip()


def cuda_runs() -> bool:
    """Whether ONNX Runtime really runs the model on CUDA here (never just listed)."""
    from blazecli.errors import DeviceUnavailableError
    from blazecli.inference.session import open_model
    from blazecli.models import get_model

    try:
        open_model(get_model("short"), "cuda")
    except DeviceUnavailableError:
        return False
    return True


def row(clip: Path, run: str, frames: int, wall: float, cpu: float, rss: int, **extra: object) -> dict:
    return {"clip": clip.name, "run": run, "frames": frames, "seconds": wall, "fps": frames / wall,
            "cpu_ms_per_frame": 1000 * cpu / frames, "peak_rss_mb": rss, **extra}


def bench(clip: Path, mediapipe_python: str | None, model: str | None, cuda: bool,
          variants: list[str]) -> list[dict]:
    import pyarrow.parquet as pq

    wall, cpu, rss, out = timed([sys.executable, "-c", DECODE_ONLY, str(clip)])
    frames = int(out.splitlines()[-1])
    rows = [row(clip, "PyAV decode only", frames, wall, cpu, rss)]
    if cuda:
        for where in ("host", "gpu"):
            try:
                wall, cpu, rss, out = timed([sys.executable, "-c", DECODE_NVDEC, str(clip), where])
            except RuntimeError as exc:  # no NVDEC for this codec or this FFmpeg build
                print(f"{clip.name}: NVDEC decode ({where}) failed: {str(exc)[-300:]}")
                continue
            rows.append(row(clip, f"PyAV decode only (NVDEC, on {where})", int(out.splitlines()[-1]),
                            wall, cpu, rss))
    runs = [("cpu", [])] + ([("cuda", [])] if cuda else [])
    runs += [(device, variant.split()) for device, _ in list(runs) for variant in variants]
    for device, extra in runs:
        with tempfile.TemporaryDirectory() as tmp:
            out_file = Path(tmp) / "faces.parquet"
            wall, cpu, rss, _ = timed([sys.executable, "-m", "blazecli", "detect", str(clip), "-o",
                                       str(out_file), "--quiet", "--device", device, *extra])
            faces = pq.read_metadata(out_file).num_rows
        label = f"blazecli detect ({device}{', ' + ' '.join(extra) if extra else ''})"
        rows.append(row(clip, label, frames, wall, cpu, rss, faces=faces))
    if mediapipe_python and model:
        wall, cpu, rss, out = timed([mediapipe_python, "-c", MEDIAPIPE, str(clip), model])
        rows.append(row(clip, "MediaPipe FaceDetector (VIDEO)", int(out), wall, cpu, rss))
    return rows


def machine() -> dict:
    """What the figures depend on: CPU model and vector extensions, cores, library versions."""
    import av
    import onnxruntime

    cpu, flags = platform.processor(), []
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        fields = dict(line.split(":", 1) for line in cpuinfo.read_text().splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        cpu = fields.get("model name", cpu)
        flags = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni") if f in fields.get("flags", "").split()]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                            text=True).stdout.strip()
    gpu = None
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        pass
    return {"machine": platform.machine(), "processor": cpu, "cpu_flags": flags, "gpu": gpu,
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__, "av": av.__version__,
            "ffmpeg": ".".join(map(str, av.library_versions["libavcodec"])) + " (libavcodec)",
            "platform": platform.platform(), "blazecli_commit": commit or None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", type=Path, help="clips to time (default: generated)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of generated clips")
    parser.add_argument("--mediapipe-python", help="a Python with mediapipe installed")
    parser.add_argument("--mediapipe-model", help="a .tflite with metadata MediaPipe accepts")
    parser.add_argument("--variants", nargs="+", default=[], metavar="ARGS",
                        help='also time detect with these options, on each device: '
                             '--variants "--workers 2" "--segment-threads 1"')
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_detect.json")
    args = parser.parse_args()
    videos = HERE.parent.parent / "shared" / "data" / "videos"
    if args.clips:
        clips = args.clips
    elif videos.is_dir():  # real footage decodes like real footage: prefer it
        sources = {"hamilton": videos / "face_recognition_short_hamilton_clip.mp4",
                   "liveportrait": videos / "liveportrait_s18.mp4"}
        clips = [real_clip(source, HERE / "clips" / f"{name}_{h}p_{args.seconds:g}s.mp4", h, args.seconds)
                 for name, source in sources.items() for h in (720, 1080)]
    else:
        clips = [make_clip(HERE / "clips" / f"faces_{h}p_{args.seconds:g}s.mp4", w, h, args.seconds)
                 for w, h in ((1280, 720), (1920, 1080))]
    cuda = cuda_runs()
    if not cuda:
        print("CUDA does not run here: the --device cuda rows are skipped")
    rows = [r for clip in clips
            for r in bench(clip, args.mediapipe_python, args.mediapipe_model, cuda, args.variants)]
    decode = {r["clip"]: r for r in rows if r["run"] == "PyAV decode only"}
    mediapipe = {r["clip"]: r for r in rows if r["run"].startswith("MediaPipe")}
    print(f"{'clip':28} {'run':38} {'frames':>6} {'fps':>7} {'x decode':>8} {'x MP':>5} "
          f"{'CPU ms/f':>8} {'RSS MB':>6}")
    for r in rows:
        r["ratio_to_decode"] = r["fps"] / decode[r["clip"]]["fps"]
        r["ratio_to_mediapipe"] = r["fps"] / mediapipe[r["clip"]]["fps"] if r["clip"] in mediapipe else None
        versus_mp = f"{r['ratio_to_mediapipe']:5.2f}" if r["ratio_to_mediapipe"] else f"{'-':>5}"
        print(f"{r['clip']:28} {r['run']:38} {r['frames']:6d} {r['fps']:7.1f} "
              f"{r['ratio_to_decode']:8.2f} {versus_mp} {r['cpu_ms_per_frame']:8.2f} {r['peak_rss_mb']:6d}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
