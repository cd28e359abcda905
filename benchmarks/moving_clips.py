"""Clips of small faces that move, made from the shared talking heads, for ``leaks.py``.

The shared clips hold few small faces, and none that move across the frame; hiding small
faces relies on tiles, which see each spot once a round, and on the cover between rounds. These
clips put that to the test:

- ``pan_crowd.mp4``: 24 copies of a talking head (faces of 35-45 px) in a 1920x1080 frame, the
  camera panning at 400 px/s;
- ``small_800.mp4``: one face of about 60 px crossing a 1920x1080 frame at 800 px/s;
- ``small_zigzag.mp4``: the same face crossing at 600 px/s while swinging 150 px up and down.

Each is 3 s of H.264 at 30 fps, made with the ffmpeg command line (``ffmpeg`` on PATH, else the
one ``imageio-ffmpeg`` ships in benchmarks/.venv-peers) into benchmarks/clips/ (not versioned).

    benchmarks/.venv-peers/bin/python benchmarks/moving_clips.py
    PYTHONPATH=. benchmarks/.venv-peers/bin/python benchmarks/leaks.py --videos-dir benchmarks/clips/moving --every 1

Skips without ../shared/data.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
VIDEOS = HERE.parent.parent / "shared" / "data" / "videos"
OUT = HERE / "clips" / "moving"
ENCODE = ["-t", "3", "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"]

CROWD = ("[0:v]scale=320:180,split=6[a][b][c][d][e][f];[a][b][c][d][e][f]hstack=6,split=4[r1][r2][r3][r4];"
         "[r1][r2][r3][r4]vstack=4,pad=2880:1080:480:180,crop=1920:1080:'960-t*400':0")
"""A 6x4 grid of the 1280x720 talking head at 320x180, on a wider canvas the crop pans across."""
CROSSING = "[1:v]scale=120:120[f];[0:v][f]overlay=x='{x}':y='{y}':shortest=1"
"""The 480x480 talking head at 120x120 over a plain 1920x1080 background."""
BACKGROUND = ["-f", "lavfi", "-i", "color=c=0x406080:s=1920x1080:r=30:d=3"]

CLIPS = {
    "pan_crowd.mp4": (["-i", "{s18}"], CROWD),
    "small_800.mp4": ([*BACKGROUND, "-i", "{d18}"], CROSSING.format(x="t*800-60", y="450+20*sin(2*PI*t*2)")),
    "small_zigzag.mp4": ([*BACKGROUND, "-i", "{d18}"], CROSSING.format(x="50+t*600", y="450+150*sin(2*PI*t*2)")),
}


NO_FFMPEG = "skipped: no ffmpeg command (install ffmpeg, or run in benchmarks/.venv-peers)"


def ffmpeg_exe() -> str | None:
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except ImportError:
        return None


def write_clips(out: Path, arguments: dict[str, list[str]]) -> int:
    """Run ffmpeg with each clip's ``arguments`` (inputs, filters, encoding) into ``out/<name>``."""
    ffmpeg = ffmpeg_exe()
    if ffmpeg is None:
        print(NO_FFMPEG)
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for name, clip_arguments in arguments.items():
        subprocess.run([ffmpeg, "-v", "error", "-y", *clip_arguments, str(out / name)], check=True)
        print(f"wrote {out / name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder the clips go to")
    args = parser.parse_args(argv)
    sources = {"s18": VIDEOS / "liveportrait_s18.mp4", "d18": VIDEOS / "liveportrait_d18.mp4"}
    if not all(path.is_file() for path in sources.values()):
        print(f"skipped: the talking heads are not in {VIDEOS}")
        return 0
    paths = {key: str(path) for key, path in sources.items()}
    return write_clips(args.out, {name: [*[part.format(**paths) for part in inputs], "-filter_complex", graph, *ENCODE]
                                  for name, (inputs, graph) in CLIPS.items()})


if __name__ == "__main__":
    raise SystemExit(main())
