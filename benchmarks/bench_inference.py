"""Inference alone: BlazeFace frames/s by batch size, on the CPU and (where it runs) on CUDA.

Only the model is timed, on real-shaped inputs (random pixels). CPU rows: ``Session.run`` as
``detect`` calls it. CUDA rows, for each graph form and setting:

- ``resident``: the input already on the device, outputs left there (``run_with_iobinding`` on
  buffers bound once): the model alone, as a GPU pipeline that samples on the device would feed it;
- ``pipeline``: what ``detect`` does per batch: uint8 pixels copied in, the bound run, both
  outputs copied back;
- ``plain run``: float32 input through a plain ``session.run``, for comparison.

Forms: the session's own CUDA settings (``blazecli.inference.session.CUDA_OPTIONS``) and variations of
them (TF32, ORT's default NCHW layout, cuDNN's exhaustive algorithm search, a CUDA graph: one
capacity per form, so its one graph is only ever replayed). Each CUDA form is also checked against the CPU's
float32 outputs on real photos: the largest
regressor difference (model-input pixels) over anchors scoring above 0.5, and the largest score
difference anywhere; and timed from session creation to the end of its first run (start-up).

    python benchmarks/bench_inference.py [--model short] [--seconds 2] [--batches 1 8 64 256 1024 4096]
        [--extra-form PATH ...]    # other ONNX forms to time on CUDA (e.g. a --float16 conversion)

Prints a table and writes benchmarks/results/bench_inference.json (``--out`` to write elsewhere).
Without CUDA the CUDA rows are skipped (said so in the output).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def rate(run, batch: int, seconds: float) -> float:
    """Frames/s of ``run()`` (one batch per call) over about ``seconds``, after two warm-ups
    (allocations, cuDNN's algorithm search, CUDA graph capture)."""
    run()
    run()
    frames, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run()
        frames += batch
    return frames / (time.perf_counter() - start)


def photos(size: int) -> np.ndarray:
    """Model inputs of real photos (scikit-image's), plus shifted copies: uint8 (N, S, S, 3)."""
    from skimage import data

    from blazecli.media.sampling import sample_mediapipe

    images = [data.astronaut(), np.repeat(data.camera()[:, :, None], 3, axis=2), data.chelsea()]
    samples = [sample_mediapipe(np.roll(image, shift, axis=1), size)
               for image in images for shift in (0, 7, 19)]
    return np.stack(samples)


def disagreement(reference: tuple[np.ndarray, np.ndarray], other: tuple[np.ndarray, np.ndarray]) -> dict:
    """Largest regressor difference over anchors scoring above 0.5 in either run, and largest
    score difference anywhere."""
    from blazecli.inference.candidates import scores_from_logits

    scores = [scores_from_logits(logits[..., 0]) for _, logits in (reference, other)]
    confident = (scores[0] > 0.5) | (scores[1] > 0.5)
    gap = np.abs(reference[0] - other[0])[confident]
    return {"max_regressor_px": float(gap.max()) if gap.size else 0.0,
            "max_score": float(np.abs(scores[0] - scores[1]).max()),
            "confident_anchors": int(confident.sum())}


def time_form(session, name: str, batch: int, seconds: float, rng: np.random.Generator) -> list[dict]:
    """The resident, pipeline and (for the float32-input form) plain-run rows of one batch size."""
    from blazecli.media.sampling import to_model_input

    samples = rng.integers(0, 256, (batch, session.inference.get_inputs()[0].shape[1],
                                    session.inference.get_inputs()[0].shape[2], 3), np.uint8)
    buffers = session.bind(batch)
    buffers.staging[:] = session.feed(samples)
    buffers.input.update_inplace(buffers.staging)
    resident = rate(lambda: session.inference.run_with_iobinding(buffers.binding), batch, seconds)
    rows = [{"device": "cuda", "form": name, "batch": batch, "mode": "resident", "fps": resident},
            {"device": "cuda", "form": name, "batch": batch, "mode": "pipeline",
             "fps": rate(lambda: session.run(samples), batch, seconds)}]
    if not session.takes_uint8 and batch <= 1024:
        floats = to_model_input(samples)
        rows.append({"device": "cuda", "form": name, "batch": batch, "mode": "plain run",
                     "fps": rate(lambda: session.inference.run(None, {"input": floats}), batch, seconds)})
    return rows


def cuda_rows(forms: dict[str, tuple[Path, dict[str, str]]], batches: list[int], seconds: float,
              photos_in: np.ndarray, reference: tuple[np.ndarray, np.ndarray]) -> tuple[list, dict]:
    """Timing rows and accuracy against the CPU for each CUDA form and setting."""
    from blazecli.inference.session import create_session

    rows, accuracy = [], {}
    rng = np.random.default_rng(0)
    for name, (path, options) in forms.items():
        # A CUDA graph is captured on a session's first runs and replayed after: one batch
        # size per session, so that only the graph captured for it is ever replayed.
        one_size = options.get("enable_cuda_graph") == "1"
        try:
            started = time.perf_counter()
            session = create_session(path, "cuda", cuda_options=options)
            outputs = session.run(photos_in)  # the first run pays for cuDNN's algorithm choice
            accuracy[name] = {**disagreement(reference, outputs), "options": options,
                              "start_s": time.perf_counter() - started}
            print(f"{name}: vs CPU {accuracy[name]}", flush=True)
            for batch in batches:
                if one_size:
                    session = create_session(path, "cuda", cuda_options=options)
                rows += time_form(session, name, batch, seconds, rng)
                print(" ".join(f"{r['mode']} {r['fps']:.0f}" for r in rows if r["form"] == name
                               and r["batch"] == batch), f"({name}, batch {batch})", flush=True)
        except Exception as exc:  # a setting this ORT lacks: say so, time the rest
            accuracy.setdefault(name, {})["error"] = str(exc)[:500]
            print(f"{name}: failed: {exc}", flush=True)
    return rows, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="short", choices=["short", "full"])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64, 256, 1024, 4096])
    parser.add_argument("--extra-form", type=Path, action="append", default=[],
                        help="another ONNX form of the model to time on CUDA")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "bench_inference.json")
    args = parser.parse_args()

    from bench_detect import machine  # the same machine facts as bench_detect's

    from blazecli.errors import DeviceUnavailableError
    from blazecli.inference.session import CUDA_OPTIONS, create_session, open_model
    from blazecli.models import get_model

    spec = get_model(args.model)
    cpu = open_model(spec, "cpu")  # the graph form that suits this CPU
    rng = np.random.default_rng(0)
    rows = []
    for batch in args.batches:
        if batch > 64:
            continue  # larger CPU batches only get slower (measured), and take long
        samples = rng.integers(0, 256, (batch, spec.input_size, spec.input_size, 3), np.uint8)
        rows.append({"device": "cpu", "form": "the form open_model picks", "batch": batch,
                     "mode": "run", "fps": rate(lambda x=samples: cpu.run(x), batch, args.seconds)})
    accuracy = {}
    try:
        create_session(spec.cuda_path, "cuda")
    except DeviceUnavailableError as exc:
        print(f"CUDA rows skipped: {exc}")
    else:
        forms = {"as converted": (spec.path, CUDA_OPTIONS),
                 "cuda form": (spec.cuda_path, CUDA_OPTIONS),
                 "cuda form, TF32": (spec.cuda_path, {**CUDA_OPTIONS, "use_tf32": "1"}),
                 "cuda form, NCHW, TF32": (spec.cuda_path, {}),  # ORT's own defaults
                 "cuda form, exhaustive search": (spec.cuda_path, {**CUDA_OPTIONS,
                                                                   "cudnn_conv_algo_search": "EXHAUSTIVE"}),
                 **{extra.stem: (extra, CUDA_OPTIONS) for extra in args.extra_form},
                 # last: should a capture fail, it cannot spoil the rows above
                 "cuda form, CUDA graph": (spec.cuda_path, {**CUDA_OPTIONS, "enable_cuda_graph": "1"})}
        inputs = photos(spec.input_size)
        reference = create_session(spec.path, "cpu").run(inputs)
        gpu, accuracy = cuda_rows(forms, args.batches, args.seconds, inputs, reference)
        rows += gpu
    print(f"{'device':6} {'form':34} {'mode':9} {'batch':>6} {'frames/s':>10}")
    for r in rows:
        print(f"{r['device']:6} {r['form']:34} {r['mode']:9} {r['batch']:6d} {r['fps']:10.0f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": machine(), "model": args.model, "rows": rows, "cuda_accuracy_vs_cpu": accuracy}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
