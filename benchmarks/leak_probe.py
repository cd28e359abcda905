"""Why a face was left visible: the best score BlazeFace gives it, however it is framed.

Reads the faces that ``annotate --blur`` (defaults) left, as ``leaks.py`` lists them in
benchmarks/results/leaks.json (clip, original frame, the judge's box), and asks both models
what they make of each face:

- the hiding profile's own view: the full-range model on the whole frame and every tile of
  ``--tiles auto`` at once (a video visits those tiles over a few frames);
- square windows placed by hand around the face, from 1.5 to 6 face sizes wide, at nine
  offsets (centred, and a quarter window off on either axis), black past the frame's edge,
  each through the short- and the full-range model, once as decoded and once with its
  contrast stretched (1st to 99th percentile brought to full scale).

For each it records the best score of a candidate overlapping the judge's box (IoU >= 0.2).
A face whose best score stays under the hiding threshold in every framing is one the detector
does not see, whatever the tiling: only another detector would hide it.

    benchmarks/.venv-peers/bin/python benchmarks/leaks.py --every 2
    PYTHONPATH=. .venv/bin/python benchmarks/leak_probe.py

Prints a table and writes benchmarks/results/leak_probe.json. Skips without leaks.json's
list of faces left or without the clips.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from provenance import commit, machine, versions

HERE = Path(__file__).resolve().parent
VIDEOS = HERE.parent.parent / "shared" / "data" / "videos"
RESULTS = HERE / "results"
DEFAULTS_TOOL = "blazecli --blur"
"""The leaks.py row of ``annotate --blur`` with its defaults."""
WINDOW_FACES = (1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0)
"""Window sides, in face sizes (the judge box's longer side)."""
OFFSETS = (-0.25, 0.0, 0.25)
"""Window placements: shares of the window's side off the face's centre, on each axis."""
OVERLAP_IOU = 0.2
"""A candidate stands for the face when it overlaps the judge's box this much."""
PACKAGES = ("blazecli", "onnxruntime", "onnxruntime-gpu", "av", "numpy")


def stretched(rgb: np.ndarray) -> np.ndarray:
    """Contrast stretched: the 1st to 99th percentile brought to 0-255."""
    values = rgb.astype(np.float32)
    low, high = np.percentile(values, 1), np.percentile(values, 99)
    return np.clip((values - low) * 255 / max(high - low, 1.0), 0, 255).astype(np.uint8)


def as_decoded(rgb: np.ndarray) -> np.ndarray:
    return rgb


def best_overlap(faces, box: np.ndarray, offset: tuple[int, int] = (0, 0)) -> float:  # noqa: ANN001
    """The best score among ``faces`` (placed at ``offset`` in the frame) overlapping ``box``."""
    from blazecli.inference.ties import pairwise_iou

    if len(faces) == 0:
        return 0.0
    boxes = faces.boxes + np.array([*offset, *offset], np.float32)
    iou = pairwise_iou(box[None].astype(np.float32), boxes)[0]
    scores = faces.scores[iou >= OVERLAP_IOU]
    return float(scores.max()) if len(scores) else 0.0


def probe(rgb: np.ndarray, box: np.ndarray, detectors: dict, profile) -> dict:  # noqa: ANN001
    """Best scores of one face: the hiding profile's view, then each model and treatment
    over the hand-placed windows (with the window size, in face sizes, that gave it)."""
    from blazecli.inference.detector import crop_padded

    result: dict = {"profile": round(best_overlap(profile.detect_image(rgb), box), 3)}
    centre = (box[:2] + box[2:]) / 2
    face = float(max(box[2] - box[0], box[3] - box[1]))
    treatments: dict[str, Callable[[np.ndarray], np.ndarray]] = {"decoded": as_decoded, "stretched": stretched}
    for model, detector in detectors.items():
        for name, treat in treatments.items():
            best, best_side = 0.0, None
            for faces_wide in WINDOW_FACES:
                side = max(int(round(face * faces_wide)), 8)
                for dx in OFFSETS:
                    for dy in OFFSETS:
                        x = int(round(centre[0] - side / 2 + dx * side))
                        y = int(round(centre[1] - side / 2 + dy * side))
                        found = detector.detect_image(treat(crop_padded(rgb, x, y, side, side)))
                        score = best_overlap(found, box, (x, y))
                        if score > best:
                            best, best_side = score, faces_wide
            result[f"{model} {name}"] = round(best, 3)
            result[f"{model} {name} window"] = best_side
    return result


def print_table(rows: list[dict], threshold: float) -> None:
    columns = [key for key in rows[0] if key not in ("clip", "frame", "box") and not key.endswith("window")]
    header = f"{'clip':28} {'frame':>5} " + " ".join(f"{c:>15}" for c in columns)
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['clip'][:28]:28} {row['frame']:5d} " + " ".join(f"{row[c]:15.2f}" for c in columns))
    seen = sum(any(row[c] >= threshold for c in columns) for row in rows)
    print(f"\n{seen} of {len(rows)} faces reach the hiding threshold {threshold} in any framing")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leaks", type=Path, default=RESULTS / "leaks.json", help="leaks.py's JSON")
    parser.add_argument("--videos-dir", type=Path, default=VIDEOS, help="where the clips are")
    parser.add_argument("--out", type=Path, default=RESULTS / "leak_probe.json", help="JSON written here")
    args = parser.parse_args(argv)

    if not args.leaks.is_file():
        print(f"skipped: {args.leaks} is absent; run leaks.py first")
        return 0
    rows = [row for row in json.loads(args.leaks.read_text())["results"] if row["tool"] == DEFAULTS_TOOL]
    if any("faces_left" not in row for row in rows):
        print(f"skipped: {args.leaks} predates the list of faces left; run leaks.py again")
        return 0
    faces_left = [(row["clip"], face) for row in rows for face in row["faces_left"]]
    if not faces_left:
        print("nothing to probe: annotate --blur left no face")
        return 0
    if not args.videos_dir.is_dir():
        print(f"skipped: {args.videos_dir} is absent")
        return 0

    from blazecli.choices import HIDING_PROFILE
    from blazecli.inference.detector import DetectorOptions, FaceDetector
    from blazecli.media.reader import VideoReader

    detectors = {model: FaceDetector(DetectorOptions(model=model, threshold=0.01)) for model in ("short", "full")}
    profile = FaceDetector(DetectorOptions(model=HIDING_PROFILE.model, tiles=HIDING_PROFILE.tiles, threshold=0.01))
    out: list[dict] = []
    for clip in dict.fromkeys(clip for clip, _ in faces_left):
        wanted = [face for name, face in faces_left if name == clip]
        frames = {face["frame"] for face in wanted}
        with VideoReader(args.videos_dir / clip) as reader:
            pictures = {frame.index: frame.to_rgb() for frame in reader.frames() if frame.index in frames}
        for face in wanted:
            box = np.array(face["box"], np.float64)
            out.append({"clip": clip, "frame": face["frame"], "box": face["box"],
                        **probe(pictures[face["frame"]], box, detectors, profile)})
            print(f"  {clip} frame {face['frame']}: done", file=sys.stderr)

    assert HIDING_PROFILE.threshold is not None
    print_table(out, HIDING_PROFILE.threshold)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine(),
        "versions": versions(PACKAGES),
        "leaks_from": {"file": str(args.leaks.name), "commit": json.loads(args.leaks.read_text()).get("commit")},
        "hiding_threshold": HIDING_PROFILE.threshold,
        "window_faces": list(WINDOW_FACES),
        "offsets": list(OFFSETS),
        "overlap_iou": OVERLAP_IOU,
        "faces": out,
    }, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
