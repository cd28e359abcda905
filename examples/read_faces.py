"""Read a ``blazecli detect`` output with pandas: frames with faces, faces per frame, the largest
face of each frame with its normalized box.

    blazecli detect examples/demo.mp4 -o faces.parquet
    python examples/read_faces.py faces.parquet      # or faces.csv / faces.jsonl (.json, .ndjson)
    python examples/read_faces.py faces.parquet --clip   # boxes clipped to the frame

The run's facts (frames processed, model...) are in the Parquet footer under ``blazecli``, and
beside a CSV or JSON Lines file in ``<output>.meta.json``.

Boxes (and keypoints) may reach past the frame's edges, as MediaPipe's do for a face the edge
cuts: the box is where the whole face would be. ``--clip`` clips them to the frame, for a crop.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq


def read(path: str) -> tuple[pd.DataFrame, dict]:
    """The rows and the run's facts, whichever format ``detect`` wrote."""
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path), json.loads(pq.read_metadata(path).metadata[b"blazecli"])
    if suffix not in (".csv", ".jsonl", ".json", ".ndjson"):
        sys.exit(f"{path}: expected a .parquet, .csv or JSON Lines file written by blazecli detect")
    # precise_float: pandas' fast parser is 1 ulp off on most times, and joins on time_s fail
    rows = pd.read_csv(path) if suffix == ".csv" else pd.read_json(path, lines=True, precise_float=True)
    return rows, json.loads(Path(path + ".meta.json").read_text())


def clip_to_frame(faces: pd.DataFrame) -> pd.DataFrame:
    """Boxes clipped to the frame, e.g. for cropping (keypoints may stay outside)."""
    faces = faces.copy()
    for side, size in (("x", "frame_width"), ("y", "frame_height")):
        for end in ("min", "max"):
            faces[f"{side}_{end}"] = faces[f"{side}_{end}"].clip(lower=0, upper=faces[size])
    return faces


def main(path: str, clip: bool = False) -> None:
    faces, facts = read(path)
    if faces.empty:  # JSON Lines without rows names no columns either
        faces = pd.DataFrame(columns=["video", "frame_index"])
    for video in facts["videos"]:
        rows = faces[faces.video == video["video"]]
        per_frame = rows.groupby("frame_index").size().value_counts().sort_index()
        print(f"{video['video']}: {video['frames_processed']} frames processed, "
              f"{rows.frame_index.nunique()} with a face, {len(rows)} faces "
              f"(model {facts['model']}, tie {facts['tie']})")
        print("  faces per frame: " + ", ".join(f"{n} in {count} frames" for n, count in per_frame.items()))
    if faces.empty:
        return
    if clip:
        past = ((faces.x_min < 0) | (faces.y_min < 0) | (faces.x_max > faces.frame_width)
                | (faces.y_max > faces.frame_height))
        print(f"{past.sum()} of {len(faces)} boxes reach past the frame: clipped to it")
        faces = clip_to_frame(faces)

    # Normalized coordinates: divide by the displayed frame size.
    for side, size in (("x", "frame_width"), ("y", "frame_height")):
        for end in ("min", "max"):
            faces[f"{side}_{end}_norm"] = faces[f"{side}_{end}"] / faces[size]
    faces["area"] = (faces.x_max - faces.x_min) * (faces.y_max - faces.y_min)

    largest = faces.loc[faces.groupby(["video", "frame_index"]).area.idxmax()]
    columns = ["frame_index", "time_s", "score", "x_min_norm", "y_min_norm", "x_max_norm", "y_max_norm"]
    print(largest[columns].head().to_string(index=False, float_format="%.3f"))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--clip"]
    main(args[0] if args else "faces.parquet", clip="--clip" in sys.argv[1:])
