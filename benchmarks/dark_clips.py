"""Dark clips made from the shared clips, for ``leaks.py``: does ``--brighten`` hold off the stage?

``--brighten``'s levels were set on the one dark shared clip (the stage performance). These
clips test it on footage it was not tuned on: shared clips with their exposure cut, as a camera
left at daylight settings would record a dim room, with sensor-like noise added:

- each pixel level scaled to ``LEVEL`` of itself (``colorlevels``: 0.15 is about 5.5 stops
  under, in linear light), then temporal noise of strength ``NOISE`` (``noise``);
- clips: a talking head (``liveportrait_d3.mp4``), a full-body signer
  (``intel_asl_gestures_walk.mkv``), a phone clip shot upright (``phone_again_rot90.mp4``,
  rotated as shown), and the panning crowd of small faces that ``moving_clips.py`` makes
  (where it has run).

Each comes out as H.264 at its source rate in benchmarks/clips/dark/ (not versioned), made with
the ffmpeg command line (``ffmpeg`` on PATH, else the one ``imageio-ffmpeg`` ships in
benchmarks/.venv-peers).

    benchmarks/.venv-peers/bin/python benchmarks/dark_clips.py
    PYTHONPATH=. benchmarks/.venv-peers/bin/python benchmarks/leaks.py --videos-dir benchmarks/clips/dark \\
        --no-deface --blazecli-args=--no-brighten

Skips without ../shared/data.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from moving_clips import NO_FFMPEG, VIDEOS, ffmpeg_exe
from moving_clips import OUT as MOVING

HERE = Path(__file__).resolve().parent
OUT = HERE / "clips" / "dark"
LEVEL = 0.15
"""Each level scaled to this share of itself."""
NOISE = 4
"""ffmpeg ``noise`` strength, temporal and uniform: the grain of a dim room."""
SOURCES = {
    "talking_head": VIDEOS / "liveportrait_d3.mp4",
    "signer": VIDEOS / "intel_asl_gestures_walk.mkv",
    "phone": VIDEOS / "phone_again_rot90.mp4",
    "pan_crowd": MOVING / "pan_crowd.mp4",
}
ENCODE = ["-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder the clips go to")
    parser.add_argument("--level", type=float, default=LEVEL, help="share of each level kept")
    args = parser.parse_args(argv)
    ffmpeg = ffmpeg_exe()
    if not VIDEOS.is_dir() or ffmpeg is None:
        print(f"skipped: {VIDEOS} is absent" if ffmpeg else NO_FFMPEG)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    darken = (f"colorlevels=romax={args.level}:gomax={args.level}:bomax={args.level},"
              f"noise=alls={NOISE}:allf=t+u")
    for name, source in SOURCES.items():
        if not source.is_file():
            print(f"skipped {name}: {source} is absent")
            continue
        target = args.out / f"{name}_dark.mp4"
        subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(source), "-vf", darken, *ENCODE,
                        str(target)], check=True)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
