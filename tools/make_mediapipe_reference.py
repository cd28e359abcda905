"""Record Google's own MediaPipe FaceDetector output as golden data for blazecli's tests.

blazecli reimplements MediaPipe's BlazeFace pipeline (letterbox, model, anchors, weighted NMS).
To prove it matches MediaPipe one to one, this script runs ``mediapipe.tasks.vision.FaceDetector``
on fixed inputs and writes every detection, unrounded, to ``tests/data/mediapipe_reference_*.json``.
The tests then decode the same inputs the same way (PyAV, ``rgb24``), check the pixel hashes
recorded here, and compare.

It is a dev tool that runs in a separate venv with ``mediapipe``, ``tflite-support``, ``av``,
``scikit-image`` and ``numpy`` installed; none of these are blazecli dependencies::

    . /work/mpvenv/bin/activate
    python tools/make_mediapipe_reference.py --models-dir /tmp/mp/package

``--models-dir`` holds the ``.tflite`` files from npm ``@mediapipe/face_detection@0.4.1657300184``.
The real photos and the video come from the project's ``shared/`` folder (beside the checkout):
they may not be copied into the repo, so only their hashes, sizes and detections are written.

Why metadata has to be added: the npm models carry no TFLite metadata, and MediaPipe's
FaceDetector refuses a float-input model without ``NormalizationOptions`` ("Input tensor has type
float32: it requires specifying NormalizationOptions metadata to preprocess input images").
So a copy of each model, in a temporary directory and never in the repo, gets metadata written
with tflite-support's generic ``MetadataWriter``: an RGB image input normalized with mean 127.5 and
std 127.5 (pixels to [-1, 1], what BlazeFace was trained on) and two plain feature outputs. The
task-specific writers (object_detector, image_classifier) do not fit: they insist on the output
tensors of an SSD post-processed model or a classifier, BlazeFace has raw regressors/scores.

Environment note: ``tflite-support`` 0.4.4's native extensions link against ``libusb-1.0.so.0``,
so ``import tflite_support`` fails with "ImportError: libusb-1.0.so.0: cannot open shared object
file" on a machine without it. Install it once with ``apt-get install libusb-1.0-0`` (Debian);
no Python pins are needed, it works with numpy 2.4 and flatbuffers 25.12. (mediapipe's own copy of
the metadata writers, ``mediapipe.tasks.python.metadata``, is unusable in mediapipe 1.2.3: it
imports ``mediapipe.tasks.cc``, which the wheel does not ship.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import av
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision
from skimage import data as skimage_data
from tensorflow_lite_support.metadata.python.metadata_writers import metadata_writer
from tflite_support import metadata_schema_py_generated as metadata_fb
from tflite_support.metadata_writers import metadata_info, writer_utils

REPO = Path(__file__).resolve().parents[1]
GENERATOR = "tools/make_mediapipe_reference.py"
MODELS = {
    "short_range": "face_detection_short_range.tflite",
    "full_range": "face_detection_full_range.tflite",
}
# What BlazeFace expects: RGB, (pixel - 127.5) / 127.5.
NORM_MEAN = 127.5
NORM_STD = 127.5
MIN_DETECTION_CONFIDENCE = 0.5
MIN_SUPPRESSION_THRESHOLD = 0.3
VIDEO = "videos/intel_asl_gestures_again.mkv"
VIDEO_FRAME_LIMIT = 120


def sha256_file(path: Path) -> str:
    """Hash a file, so the JSON says exactly which model produced it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_normalization_metadata(src: Path, dst_dir: Path) -> Path:
    """Write a copy of ``src`` into ``dst_dir`` with the metadata FaceDetector requires.

    Only the input's normalization and colour space matter to MediaPipe; the outputs get bare
    feature metadata because the metadata populator wants one entry per output tensor.
    """
    model = bytearray(src.read_bytes())
    input_type = writer_utils.get_input_tensor_types(model)[0]
    writer = metadata_writer.MetadataWriter.create_from_metadata_info(
        model,
        general_md=metadata_info.GeneralMd(
            name=src.stem, description="BlazeFace face detector (metadata added for testing)"),
        input_md=[metadata_info.InputImageTensorMd(
            name="image", norm_mean=[NORM_MEAN], norm_std=[NORM_STD],
            color_space_type=metadata_fb.ColorSpaceType.RGB, tensor_type=input_type)],
        output_md=[metadata_info.TensorMd(name=name)
                   for name in writer_utils.get_output_tensor_names(model)],
    )
    dst = dst_dir / src.name
    dst.write_bytes(writer.populate())
    return dst


def decode_first_frame(path: Path) -> np.ndarray:
    """Decode an image file with PyAV exactly as the tests do, so the pixels are identical."""
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        return frame.to_ndarray(format="rgb24")


def to_mp_image(rgb: np.ndarray) -> mp.Image:
    """Wrap an HxWx3 uint8 RGB array for MediaPipe."""
    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))


def rgb_sha256(rgb: np.ndarray) -> str:
    """Hash the exact pixels MediaPipe saw; tests check it before comparing detections."""
    return hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest()


def faces_to_json(result: Any, width: int, height: int) -> list[dict[str, Any]]:
    """Convert a FaceDetectorResult to plain JSON, best score first.

    MediaPipe reports the box in integer pixels (origin + size) but the keypoints normalized to
    [0, 1]; keypoints are scaled to pixels here. Floats are kept as MediaPipe returns them
    (float32 widened to float64), with no rounding.
    """
    faces = []
    for det in result.detections:
        bb = det.bounding_box
        faces.append({
            "box": [bb.origin_x, bb.origin_y, bb.origin_x + bb.width, bb.origin_y + bb.height],
            "score": float(det.categories[0].score),
            "keypoints": [[float(kp.x) * width, float(kp.y) * height] for kp in det.keypoints],
        })
    faces.sort(key=lambda f: f["score"], reverse=True)
    return faces


def make_detector(model_path: Path, mode: vision.RunningMode) -> vision.FaceDetector:
    """Create a FaceDetector with every option spelled out, so defaults cannot drift."""
    options = vision.FaceDetectorOptions(
        base_options=BaseOptions(model_asset_path=str(model_path)),
        running_mode=mode,
        min_detection_confidence=MIN_DETECTION_CONFIDENCE,
        min_suppression_threshold=MIN_SUPPRESSION_THRESHOLD,
    )
    return vision.FaceDetector.create_from_options(options)


def image_sources(shared: Path) -> list[tuple[str, np.ndarray]]:
    """All still images: scikit-image's astronaut, then every image in the shared annotations."""
    sources: list[tuple[str, np.ndarray]] = [("skimage:astronaut", skimage_data.astronaut())]
    seen: set[str] = set()
    for name in ("shared_boxes.json", "shared_counts.json"):
        for record in json.loads((shared / "data" / "annotations" / name).read_text()):
            rel = record["image"]
            if rel not in seen:
                seen.add(rel)
                rgb = decode_first_frame(shared / "data" / "images" / rel)
                sources.append((f"shared:{rel}", rgb))
    return sources


def run_images(model_path: Path, sources: list[tuple[str, np.ndarray]]) -> list[dict[str, Any]]:
    """Detect faces in each still image in IMAGE mode."""
    records = []
    with make_detector(model_path, vision.RunningMode.IMAGE) as detector:
        for source, rgb in sources:
            height, width = rgb.shape[:2]
            result = detector.detect(to_mp_image(rgb))
            records.append({
                "source": source, "width": width, "height": height, "rgb_sha256": rgb_sha256(rgb),
                "faces": faces_to_json(result, width, height),
            })
    return records


def run_video(model_path: Path, video: Path, limit: int) -> list[dict[str, Any]]:
    """Detect faces in the first ``limit`` frames in VIDEO mode (timestamps from the stream)."""
    frames: list[dict[str, Any]] = []
    last_ts = -1
    with make_detector(model_path, vision.RunningMode.VIDEO) as detector, av.open(str(video)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(c.decode(stream)):
            if index >= limit:
                break
            timestamp_ms = int(round(frame.time * 1000))
            # MediaPipe rejects non-increasing timestamps; fail loudly rather than skip frames.
            if timestamp_ms <= last_ts:
                raise RuntimeError(f"frame {index}: timestamp {timestamp_ms} ms <= {last_ts} ms")
            last_ts = timestamp_ms
            rgb = frame.to_ndarray(format="rgb24")
            height, width = rgb.shape[:2]
            result = detector.detect_for_video(to_mp_image(rgb), timestamp_ms)
            frames.append({
                "frame_index": index, "timestamp_ms": timestamp_ms, "rgb_sha256": rgb_sha256(rgb),
                "faces": faces_to_json(result, width, height),
            })
    return frames


def build_reference(model_src: Path, model_path: Path, shared: Path,
                    sources: list[tuple[str, np.ndarray]], frame_limit: int) -> dict[str, Any]:
    """Everything one model's reference file holds."""
    return {
        "generator": GENERATOR,
        "mediapipe_version": mp.__version__,
        "pyav_version": av.__version__,
        "model": model_src.name,
        "model_sha256": sha256_file(model_src),
        "options": {
            "min_detection_confidence": MIN_DETECTION_CONFIDENCE,
            "min_suppression_threshold": MIN_SUPPRESSION_THRESHOLD,
            "running_mode": {"images": "IMAGE", "video": "VIDEO"},
            "input_normalization": {"mean": NORM_MEAN, "std": NORM_STD, "color_space": "RGB"},
            "video_frame_limit": frame_limit,
        },
        "images": run_images(model_path, sources),
        "video": {
            "source": f"shared:{VIDEO}",
            "frames": run_video(model_path, shared / "data" / VIDEO, frame_limit),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=Path("/tmp/mp/package"),
                        help="folder with the npm .tflite files")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared",
                        help="the project's shared/ folder (photos, video, annotations)")
    parser.add_argument("--out-dir", type=Path, default=REPO / "tests" / "data")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--video-frames", type=int, default=VIDEO_FRAME_LIMIT)
    parser.add_argument("--models-with-metadata", type=Path, metavar="DIR",
                        help="only write the .tflite files with the metadata MediaPipe needs into "
                             "DIR (for benchmarks/bench_detect.py --mediapipe-model) and stop")
    args = parser.parse_args(argv)
    if args.models_with_metadata:
        args.models_with_metadata.mkdir(parents=True, exist_ok=True)
        for key in args.models:
            written = add_normalization_metadata(args.models_dir / MODELS[key], args.models_with_metadata)
            print(f"wrote {written}", file=sys.stderr)
        return 0

    sources = image_sources(args.shared)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mp_reference_") as tmp:
        for key in args.models:
            model_src = args.models_dir / MODELS[key]
            model_path = add_normalization_metadata(model_src, Path(tmp))
            reference = build_reference(model_src, model_path, args.shared, sources,
                                        args.video_frames)
            out = args.out_dir / f"mediapipe_reference_{key}.json"
            out.write_text(json.dumps(reference, indent=1) + "\n")
            n_faces = sum(len(r["faces"]) for r in reference["images"])
            n_frames = len(reference["video"]["frames"])
            print(f"{out}: {len(reference['images'])} images, {n_faces} faces, "
                  f"{n_frames} video frames", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
