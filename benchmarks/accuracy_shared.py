"""Recall and false positives on the annotated photos in ../shared/data (skips without them).

A detection matches an annotated face when their boxes overlap with IoU >= 0.3 (box styles
differ by source: hand-drawn squares vs landmark extents) or when both detected eyes lie
within a quarter of the face width of the annotated eyes. Faces marked ``ignore`` are neither
counted nor held against the detector; unmatched detections count as false positives only on
images marked ``complete``. Also checks the face counts of ``shared_counts.json``.

    python benchmarks/accuracy_shared.py

Prints a table and writes benchmarks/results/accuracy_shared.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"


def load_rgb(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def evaluate(detector, records: list[dict]) -> dict:
    from blazecli.inference.ties import pairwise_iou

    found = annotated = false_positives = 0
    for record in records:
        faces = detector.detect_image(load_rgb(SHARED / "images" / record["image"]))
        truth = [f for f in record["faces"] if not f.get("ignore", False)]
        boxes = np.array([f["box"] for f in record["faces"]], np.float64).reshape(-1, 4)
        iou = pairwise_iou(boxes, faces.boxes.astype(np.float64)) if len(faces) else np.zeros((len(boxes), 0))
        used = np.zeros(len(faces), bool)
        for i, face in enumerate(record["faces"]):
            width = face["box"][2] - face["box"][0]
            eyes = np.array([face["right_eye"], face["left_eye"]])
            eye_error = np.linalg.norm(faces.keypoints[:, :2] - eyes[None], axis=2).max(axis=1)
            ok = ((iou[i] >= 0.3) | (eye_error < width / 4)) & ~used
            if ok.any():
                used[np.flatnonzero(ok)[np.argmax(iou[i][ok])]] = True
                found += not face.get("ignore", False)
        annotated += len(truth)
        if record["complete"]:
            false_positives += int((~used).sum())
    return {"faces": annotated, "found": found, "recall": found / annotated,
            "false_positives_on_complete_images": false_positives}


def main() -> None:
    if not SHARED.is_dir():
        print(f"skipped: {SHARED} not found")
        return
    from blazecli.inference.detector import FaceDetector

    boxes = json.loads((SHARED / "annotations" / "shared_boxes.json").read_text())
    counts = json.loads((SHARED / "annotations" / "shared_counts.json").read_text())
    rows = []
    for model in ("short", "full"):
        for tie in ("blend", "nms"):
            detector = FaceDetector(model=model, tie=tie, device="cpu")
            row = {"model": model, "tie": tie, **evaluate(detector, boxes)}
            row["counts_right"] = sum(len(detector.detect_image(load_rgb(SHARED / "images" / c["image"])))
                                      == c["face_count"] for c in counts)
            row["count_images"] = len(counts)
            rows.append(row)
    print(f"{'model':6} {'tie':6} {'faces':>5} {'found':>5} {'recall':>7} {'FP':>4} {'counts right':>13}")
    for r in rows:
        print(f"{r['model']:6} {r['tie']:6} {r['faces']:5d} {r['found']:5d} {r['recall']:7.3f} "
              f"{r['false_positives_on_complete_images']:4d} {r['counts_right']:>6d}/{r['count_images']}")
    (HERE / "results").mkdir(exist_ok=True)
    out = HERE / "results" / "accuracy_shared.json"
    out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
