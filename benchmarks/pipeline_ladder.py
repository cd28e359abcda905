"""How fast each longer prefix of ``detect``'s pipeline runs on one clip, in this process.

Finds the stage that sets the ceiling: each rung adds one stage, so the rung where frames/s
drops is where the time goes. Rungs: PyAV's own decode loop; blazecli's ``VideoReader``; plus
sampling to the model input on the reading thread; plus sampling on N threads; the whole
``VideoJob`` (inference, ties, tracking; no writing) on each device, by sampler threads and
batch size (default: what ``detect`` picks), also with Python's GIL switch interval at 0.5 ms
instead of 5 ms.

    python benchmarks/pipeline_ladder.py CLIP [--samplers 1 2 4] [--job-samplers 4 8]
        [--job-batches 8 64] [--out ladder.json]

Prints a table (frames/s, CPU ms a frame, cores busy) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(name: str, run: Callable[[], int]) -> dict:
    """Frames/s and CPU time of ``run()`` (which returns the frames it handled)."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    frames = run()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    row = {"rung": name, "frames": frames, "fps": frames / wall, "cpu_ms_per_frame": 1000 * cpu / frames,
           "cores_busy": cpu / wall}
    print(f"{name:44} {row['fps']:8.1f} {row['cpu_ms_per_frame']:8.2f} {row['cores_busy']:6.2f}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--samplers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--job-samplers", type=int, nargs="+", help="VideoJob's sampler threads "
                        "(default: what detect picks on this machine)")
    parser.add_argument("--job-batches", type=int, nargs="+", help="VideoJob's batch sizes "
                        "(default: what detect picks for the device)")
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "pipeline_ladder.json")
    args = parser.parse_args()

    import av

    from blazecli.errors import DeviceUnavailableError
    from blazecli.inference.detector import FaceDetector
    from blazecli.jobs import detect as pipeline
    from blazecli.media.reader import VideoReader
    from blazecli.media.sampling import sample_mediapipe_frame, sample_mediapipe_frames
    from blazecli.temporal.tracking import TrackerOptions

    clip = str(args.clip)

    def pyav() -> int:
        with av.open(clip) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            return sum(1 for _ in container.decode(stream))

    def reader(sample: bool) -> Callable[[], int]:
        def run() -> int:
            with VideoReader(clip) as video:
                frames = 0
                for decoded in video.frames():
                    if sample:
                        sample_mediapipe_frame(decoded.frame, decoded.display, 128)
                    frames += 1
                return frames
        return run

    def sampled_on(threads: int) -> Callable[[], int]:
        """Frames handed to the sampler threads as VideoJob does: a few frames per call."""
        def run() -> int:
            backlog = threading.BoundedSemaphore(8 * threads)

            def sample(chunk: list) -> None:
                try:
                    sample_mediapipe_frames([d.frame for d in chunk], chunk[0].display, 128)
                finally:
                    backlog.release(len(chunk))

            with VideoReader(clip) as video, ThreadPoolExecutor(threads) as pool:
                futures, chunk, frames = [], [], 0
                for decoded in video.frames():
                    backlog.acquire()
                    chunk.append(decoded)
                    frames += 1
                    if len(chunk) == pipeline._SAMPLING_CHUNK:
                        futures.append(pool.submit(sample, chunk))
                        chunk = []
                if chunk:
                    futures.append(pool.submit(sample, chunk))
                for future in futures:
                    future.result()
                return frames
        return run

    def job(detector: FaceDetector, samplers: int, batch_size: int | None) -> Callable[[], int]:
        def run() -> int:
            chosen = pipeline.sampler_threads
            pipeline.sampler_threads = lambda: samplers
            try:
                work = pipeline.VideoJob(clip, detector, batch_size=batch_size, tracking=TrackerOptions())
                return sum(len(batch.index) for batch in work.batches())
            finally:
                pipeline.sampler_threads = chosen
        return run

    print(f"{args.clip.name}: {'rung':38} {'frames/s':>8} {'CPU ms/f':>8} {'cores':>6}")
    rows = [measure("PyAV decode loop", pyav), measure("VideoReader", reader(False)),
            measure("VideoReader + sampling (same thread)", reader(True))]
    rows += [measure(f"VideoReader + sampling on {n} thread(s)", sampled_on(n)) for n in args.samplers]
    default_interval = sys.getswitchinterval()
    for device in args.devices:
        try:
            detector = FaceDetector(device=device)
        except DeviceUnavailableError:
            print(f"{device}: does not run here")
            continue
        job(detector, pipeline.sampler_threads(), None)()  # warm-up: allocations, kernel choice
        for samplers in args.job_samplers or [pipeline.sampler_threads()]:
            for batch_size in args.job_batches or [detector.batch_size]:
                name = f"VideoJob on {device}, {samplers} samplers, batch {batch_size}"
                rows.append(measure(name, job(detector, samplers, batch_size)))
        sys.setswitchinterval(0.0005)
        rows.append(measure(f"VideoJob on {device}, detect's settings, GIL switch 0.5 ms",
                            job(detector, pipeline.sampler_threads(), None)))
        sys.setswitchinterval(default_interval)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"clip": clip, "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
