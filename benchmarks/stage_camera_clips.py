"""Clips of real footage filmed by a moving camera, made from the shared stage clip, for ``leaks.py``.

The stage clip (640x360: a performer, an audience) is scaled up and a 1280x720 window moves
over it, as a camera that pans, zooms out, shakes or cuts between such shots would:

- ``1_pan_slow.mp4``: a pan at 80 px/s over the wide shot, then the audience;
- ``2_pan_reverse.mp4``: a pan at 320 px/s that turns back half-way;
- ``3_pan_fast.mp4``: a pan at 640 px/s out and back, drifting up and down;
- ``4_zoom_out.mp4``: a zoom out from 2x to 1x;
- ``5_shake.mp4``: a hand-held shake of about 20 px;
- ``6_cuts.mp4``: three such shots, cut together.

Each is about 4 s of H.264 (``ffmpeg`` on PATH, else the one ``imageio-ffmpeg`` ships in
benchmarks/.venv-peers) into benchmarks/clips/stage_camera/ (not versioned). Faces are 50-240 px:
the scaling leaves few small ones.

    benchmarks/.venv-peers/bin/python benchmarks/stage_camera_clips.py
    PYTHONPATH=. benchmarks/.venv-peers/bin/python benchmarks/leaks.py \
        --videos-dir benchmarks/clips/stage_camera --every 1 --no-deface

Skips without ../shared/data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from moving_clips import write_clips

HERE = Path(__file__).resolve().parent
STAGE = HERE.parent.parent / "shared" / "data" / "videos" / "face_recognition_short_hamilton_clip.mp4"
OUT = HERE / "clips" / "stage_camera"
ENCODE = ["-an", "-c:v", "libx264", "-preset", "medium", "-crf", "18", "-pix_fmt", "yuv420p"]

CLIPS: dict[str, tuple[list[str], list[str]]] = {
    "1_pan_slow.mp4": (["-ss", "0.9", "-t", "4", "-i", "{stage}"],
                       ["-vf", "scale=1600:900:flags=lanczos,crop=1280:720:x='80*t':y=90"]),
    "2_pan_reverse.mp4": (["-ss", "5.9", "-t", "4.1", "-i", "{stage}"],
                          ["-vf", "scale=1920:1080:flags=lanczos,crop=1280:720:x='640-320*abs(t-2)':y=180"]),
    "3_pan_fast.mp4": (["-ss", "0.9", "-t", "4", "-i", "{stage}"],
                       ["-vf", "scale=1920:1080:flags=lanczos,crop=1280:720:"
                               "x='if(lt(t,1),640*t,if(lt(t,2),640,if(lt(t,3),640*(3-t),0)))':"
                               "y='180+120*sin(PI*t/2)'"]),
    "4_zoom_out.mp4": (["-ss", "0.9", "-t", "4", "-i", "{stage}"],
                       ["-vf", "scale=2560:1440:flags=lanczos,zoompan=z='2-on/120':x='iw/2-iw/zoom/2':"
                               "y='ih/2-ih/zoom/2':d=1:s=1280x720:fps=30000/1001"]),
    "5_shake.mp4": (["-ss", "5.9", "-t", "4.1", "-i", "{stage}"],
                    ["-vf", "scale=1408:792:flags=lanczos,crop=1280:720:"
                            "x='64+14*sin(2*PI*3*t)+6*sin(2*PI*7.3*t)':"
                            "y='36+12*sin(2*PI*2.3*t+1)+5*sin(2*PI*6.1*t)'"]),
    "6_cuts.mp4": (["-ss", "7.9", "-t", "2", "-i", "{stage}", "-ss", "0.9", "-t", "1.5", "-i", "{stage}",
                    "-ss", "8.1", "-t", "1.5", "-i", "{stage}"],
                   ["-filter_complex",
                    "[0]scale=1920:1080:flags=lanczos,crop=1280:720:x='320*t':y=200,setsar=1[a];"
                    "[1]scale=1600:900:flags=lanczos,crop=1280:720:x='320-200*t':y=90,setsar=1[b];"
                    "[2]scale=1600:900:flags=lanczos,crop=1280:720:x='300-150*t+15*sin(2*PI*3*t)':"
                    "y='90+12*sin(2*PI*2.3*t)',setsar=1[c];[a][b][c]concat=n=3:v=1[v]",
                    "-map", "[v]"]),
}
"""Each clip's inputs (the stage clip from 0.9 s on: its video starts at 0.85 s) and filters."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder the clips go to")
    args = parser.parse_args(argv)
    if not STAGE.is_file():
        print(f"skipped: the stage clip is not at {STAGE}")
        return 0
    return write_clips(args.out, {name: [*[part.format(stage=STAGE) for part in inputs], *filters, *ENCODE]
                                  for name, (inputs, filters) in CLIPS.items()})


if __name__ == "__main__":
    raise SystemExit(main())
