"""Record the original TFLite models' raw outputs as golden data for the ONNX conversion test.

``tests/test_models.py`` checks that the shipped ONNX files reproduce MediaPipe's ``.tflite``
models. The TFLite interpreter is a dev-only dependency, so its outputs are recorded here once,
on real photos that a registry package ships (scikit-image's ``astronaut`` and ``camera``, the
grey one repeated to RGB), sampled exactly as blazecli samples frames
(``sample_mediapipe`` + ``to_model_input``).

Per model, ``tests/data/tflite_reference_{short,full}_range.npz`` holds (compressed):

- ``names``: the image names, in batch order;
- ``samples_sha256``: sha256 of each image's uint8 ``(S, S, 3)`` samples; the float input tensor
  is not stored, the test recomputes it and checks this hash first, so a change in the
  preprocessing is reported as such rather than as a model mismatch;
- ``regressors`` ``(N, A, 16)`` and ``classificators`` ``(N, A, 1)``: the raw TFLite outputs;
- ``tflite_sha256``: the source model's hash (see ``blazecli/models/PROVENANCE.md``).

To rerun (needs ``pip install -e .[convert,test]`` and the ``.tflite`` files of npm
``@mediapipe/face_detection@0.4.1657300184``, fetched as PROVENANCE.md says)::

    python tools/make_tflite_reference.py --models-dir package
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from skimage import data as skimage_data

from blazecli.media.sampling import sample_mediapipe, to_model_input
from blazecli.models import MODELS

REPO = Path(__file__).resolve().parents[1]
TFLITE_NAMES = {
    "short": "face_detection_short_range.tflite",
    "full": "face_detection_full_range.tflite",
}


def reference_images() -> dict[str, np.ndarray]:
    """The photos the reference is recorded on, as ``(H, W, 3)`` uint8 RGB."""
    camera = skimage_data.camera()
    return {
        "astronaut": skimage_data.astronaut(),
        "camera": np.repeat(camera[:, :, None], 3, axis=2),
    }


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run_tflite(model_path: Path, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run the interpreter image by image (the TFLite models have a fixed batch of 1).

    Outputs are told apart by shape (the last axis is 16 for the regressors), since their
    names differ between the two models.
    """
    interpreter = Interpreter(model_path=str(model_path))
    interpreter.allocate_tensors()
    (input_detail,) = interpreter.get_input_details()
    outputs = interpreter.get_output_details()
    regressor_index = next(o["index"] for o in outputs if o["shape"][-1] == 16)
    logit_index = next(o["index"] for o in outputs if o["shape"][-1] == 1)
    regressors, logits = [], []
    for image in inputs:
        interpreter.set_tensor(input_detail["index"], image[None])
        interpreter.invoke()
        regressors.append(interpreter.get_tensor(regressor_index)[0].copy())
        logits.append(interpreter.get_tensor(logit_index)[0].copy())
    return np.stack(regressors).astype(np.float32), np.stack(logits).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=Path("/tmp/mp/package"),
                        help="folder with the npm .tflite files")
    parser.add_argument("--out-dir", type=Path, default=REPO / "tests" / "data")
    args = parser.parse_args(argv)

    images = reference_images()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for key, filename in TFLITE_NAMES.items():
        spec = MODELS[key]
        model_path = args.models_dir / filename
        samples = np.stack([sample_mediapipe(rgb, spec.input_size) for rgb in images.values()])
        regressors, logits = run_tflite(model_path, to_model_input(samples))
        out = args.out_dir / f"tflite_reference_{key}_range.npz"
        np.savez_compressed(
            out,
            names=np.array(list(images)),
            samples_sha256=np.array([sha256_bytes(np.ascontiguousarray(s).tobytes())
                                     for s in samples]),
            regressors=regressors,
            classificators=logits,
            tflite_sha256=np.array(sha256_bytes(model_path.read_bytes())),
        )
        print(f"{out}: {len(samples)} images, {out.stat().st_size} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
