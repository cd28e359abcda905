"""Read a ``blazecli detect`` Parquet file with pandas: faces per frame, the largest face, normalized boxes.

    blazecli detect examples/demo.mp4 -o faces.parquet
    python examples/read_faces.py faces.parquet
"""

from __future__ import annotations

import json
import sys

import pandas as pd
import pyarrow.parquet as pq


def main(path: str) -> None:
    faces = pd.read_parquet(path)
    facts = json.loads(pq.read_metadata(path).metadata[b"blazecli"])
    for video in facts["videos"]:
        rows = faces[faces.video == video["video"]]
        found = rows.frame_index.nunique()
        print(f"{video['video']}: {video['frames_processed']} frames processed, "
              f"{found} with a face, {len(rows)} faces (model {facts['model']}, tie {facts['tie']})")

    # Normalized coordinates: divide by the displayed frame size.
    faces["cx"] = (faces.x_min + faces.x_max) / 2 / faces.frame_width
    faces["cy"] = (faces.y_min + faces.y_max) / 2 / faces.frame_height
    faces["area"] = (faces.x_max - faces.x_min) * (faces.y_max - faces.y_min)

    largest = faces.loc[faces.groupby(["video", "frame_index"]).area.idxmax()]
    print(largest[["frame_index", "time_s", "score", "cx", "cy"]].head().to_string(index=False))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "faces.parquet")
