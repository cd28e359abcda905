"""Inference alone: BlazeFace frames/s by batch size, on the CPU and (where it runs) on CUDA.

The model input is random data of the real shape; only ``session.run`` is timed. On CUDA the
batch is also run with I/O binding and the input already on the device (``OrtValue`` on
``cuda:0``), which is how a GPU pipeline would feed it, so host-to-device copies drop out.

    python benchmarks/bench_inference.py [--model short] [--seconds 3] [--batches 1 8 64 256 1024]

Prints a table and writes benchmarks/results/bench_inference.json. Without CUDA the CUDA rows
are skipped (said so in the output).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def rate(run, batch: int, seconds: float) -> float:
    """Frames/s of ``run()`` (one batch per call) over about ``seconds``."""
    run()  # warm-up: allocations, CUDA kernels, cuDNN algorithm search
    frames, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        frames += batch
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="short", choices=["short", "full"])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64, 256, 1024])
    args = parser.parse_args()

    import onnxruntime as ort

    from blazecli.errors import DeviceUnavailableError
    from blazecli.models import get_model
    from blazecli.session import open_model

    spec = get_model(args.model)
    rows = []
    sessions = {"cpu": open_model(spec, "cpu")}  # each device gets the graph form that suits it
    try:
        sessions["cuda"] = open_model(spec, "cuda")
    except DeviceUnavailableError as exc:
        print(f"CUDA rows skipped: {exc}")
    rng = np.random.default_rng(0)
    for device, session in sessions.items():
        for batch in args.batches:
            if device == "cpu" and batch > 64:
                continue  # larger CPU batches only get slower (measured), and take long
            x = rng.uniform(-1, 1, (batch, spec.input_size, spec.input_size, 3)).astype(np.float32)
            rows.append({"device": device, "batch": batch, "io_binding": False,
                         "fps": rate(lambda: session.run(x), batch, args.seconds)})
            if device == "cuda":
                inference = session.inference
                binding = inference.io_binding()
                binding.bind_ortvalue_input("input", ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0))
                for name in ("regressors", "classificators"):
                    binding.bind_output(name, "cuda", 0)
                rows.append({"device": device, "batch": batch, "io_binding": True,
                             "fps": rate(lambda: inference.run_with_iobinding(binding), batch,
                                         args.seconds)})
    print(f"{'device':6} {'batch':>6} {'io binding':>10} {'frames/s':>10}")
    for r in rows:
        print(f"{r['device']:6} {r['batch']:6d} {str(r['io_binding']):>10} {r['fps']:10.0f}")
    (HERE / "results").mkdir(exist_ok=True)
    out = HERE / "results" / "bench_inference.json"
    out.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                           "onnxruntime": ort.__version__}, "model": args.model,
                               "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
