"""Make ``examples/demo.mp4``, the small demo clip that blazecli's examples and tests run on.

The clip is synthetic so that it can ship with the repository without licence questions: it is
built only from public-domain photographs bundled with scikit-image, namely
``skimage.data.astronaut()`` (NASA portrait of Eileen Collins, a frontal face) and
``skimage.data.camera()`` (the "cameraman", a face in three-quarter profile, also used blurred
as the background). Two oval, soft-edged head cut-outs glide along smooth, known paths (pan
plus a slight zoom) over the blurred background and brush past each other in the middle of the
clip, which gives face detection and tracking something to show.

The clip is 4 s at 25 fps (100 frames), 640x360, H.264 (libx264, yuv420p) in MP4, with no audio
track (none is needed). It is deterministic: no randomness is used, and the encoder runs with a
single thread and fixed settings, so the same environment rebuilds the same file.

    python examples/make_demo_clip.py [OUT]                  # OUT defaults to examples/demo.mp4
    python examples/make_demo_clip.py --check                # also check both faces are found

``--check`` decodes the written clip and runs blazecli's detector on every frame; it exits with
status 1 when fewer than 90 % of the frames show both faces near their true positions. Needs
``av``, ``numpy``, ``scipy`` and ``scikit-image`` (scipy comes with scikit-image).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from scipy import ndimage
from skimage import data
from skimage.filters import gaussian
from skimage.transform import resize

WIDTH, HEIGHT = 640, 360
FPS = 25
SECONDS = 4
N_FRAMES = FPS * SECONDS
CRF = 20
PRESET = "slow"
DEFAULT_OUT = Path(__file__).resolve().parent / "demo.mp4"

# Detection check: score threshold, and the share of frames that must show both faces.
MIN_BOTH_FRACTION = 0.9


@dataclass(frozen=True)
class Sprite:
    """A soft-edged oval cut out of a source image, with the face it contains (source pixels)."""

    name: str
    image: np.ndarray  # float32 (H, W, 3) RGB in [0, 255], already mirrored if wanted
    oval_centre: tuple[float, float]  # (x, y) of the cut-out oval
    oval_radii: tuple[float, float]  # (rx, ry)
    face_centre: tuple[float, float]  # (x, y) of the face, roughly the nose
    face_height: float  # hair top to chin


@dataclass(frozen=True)
class Pose:
    """Where a sprite is drawn: output position of its oval centre and its scale."""

    x: float
    y: float
    scale: float


def _mirror(image: np.ndarray, *points: tuple[float, float]) -> tuple[np.ndarray, ...]:
    """Flip an image left-right and move (x, y) source points with it."""
    w = image.shape[1]
    return (image[:, ::-1].copy(), *[(w - 1 - x, y) for x, y in points])


def make_sprites() -> tuple[Sprite, Sprite]:
    """The astronaut (frontal, colour) and the cameraman (profile, grey, mirrored to face her)."""
    astronaut = data.astronaut().astype(np.float32)
    camera = np.repeat(data.camera()[..., None], 3, axis=2).astype(np.float32)
    camera, cam_oval, cam_face = _mirror(camera, (222.0, 140.0), (222.0, 150.0))
    return (
        Sprite("astronaut", astronaut, (224.0, 118.0), (92.0, 116.0), (222.0, 125.0), 170.0),
        Sprite("cameraman", camera, cam_oval, (74.0, 90.0), cam_face, 135.0),
    )


def make_background() -> np.ndarray:
    """A neutral, heavily blurred and dimmed copy of the cameraman's scene (sky over grass)."""
    camera = data.camera().astype(np.float32) / 255.0
    scene = resize(camera[112:400], (HEIGHT, WIDTH), anti_aliasing=True)
    scene = gaussian(scene, sigma=14, mode="reflect")
    scene = 0.25 + 0.5 * scene  # low contrast so the faces stand out
    tint = np.array([0.93, 0.97, 1.0], np.float32)  # faintly cool grey
    return (scene[..., None] * tint * 255.0).astype(np.float32)


def _ease(u: float) -> float:
    """Smooth 0 -> 1 -> 0 bump over u in [0, 1] (zero velocity at both ends)."""
    return 0.5 - 0.5 * math.cos(2.0 * math.pi * u)


def poses(t: float) -> tuple[Pose, Pose]:
    """The known path of each sprite at time t in [0, 1] (fraction of the clip).

    The two start apart, drift towards each other with a gentle bob and zoom, brush past at
    t = 0.5 (their ovals overlap a little, the faces stay clear) and separate again.
    """
    bump = _ease(t)
    wave = math.sin(2.0 * math.pi * t)
    astronaut = Pose(x=150.0 + 90.0 * bump, y=178.0 - 22.0 * wave, scale=1.02 + 0.12 * bump)
    cameraman = Pose(x=500.0 - 90.0 * bump, y=186.0 + 18.0 * wave, scale=1.55 - 0.08 * bump)
    return astronaut, cameraman


def draw(frame: np.ndarray, sprite: Sprite, pose: Pose, feather: float = 0.12) -> None:
    """Composite the sprite into frame (float32, in place), sampling with bilinear interpolation."""
    (ocx, ocy), (rx, ry) = sprite.oval_centre, sprite.oval_radii
    half_w, half_h = rx * pose.scale, ry * pose.scale
    x0, x1 = max(int(pose.x - half_w) - 1, 0), min(int(pose.x + half_w) + 2, WIDTH)
    y0, y1 = max(int(pose.y - half_h) - 1, 0), min(int(pose.y + half_h) + 2, HEIGHT)
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    src_x = ocx + (xs - pose.x) / pose.scale
    src_y = ocy + (ys - pose.y) / pose.scale
    radius = np.sqrt(((src_x - ocx) / rx) ** 2 + ((src_y - ocy) / ry) ** 2)
    alpha = np.clip((1.0 - radius) / feather, 0.0, 1.0)[..., None]
    coords = np.stack([src_y, src_x])
    patch = np.stack(
        [ndimage.map_coordinates(sprite.image[..., c], coords, order=1, mode="nearest")
         for c in range(3)],
        axis=-1,
    )
    region = frame[y0:y1, x0:x1]
    region += alpha * (patch - region)


def face_boxes(t: float, sprites: tuple[Sprite, ...]) -> list[tuple[float, float, float]]:
    """Ground truth at time t: (x, y, height) of each face in output pixels."""
    boxes = []
    for sprite, pose in zip(sprites, poses(t), strict=False):
        fx, fy = sprite.face_centre
        ox, oy = sprite.oval_centre
        boxes.append((pose.x + (fx - ox) * pose.scale, pose.y + (fy - oy) * pose.scale,
                      sprite.face_height * pose.scale))
    return boxes


def render_frames() -> Iterator[np.ndarray]:
    """Yield the clip's frames as uint8 (HEIGHT, WIDTH, 3) RGB arrays."""
    background = make_background()
    sprites = make_sprites()
    for i in range(N_FRAMES):
        t = i / (N_FRAMES - 1)
        frame = background.copy()
        for sprite, pose in zip(sprites, poses(t), strict=False):  # cameraman drawn last, in front
            draw(frame, sprite, pose)
        yield np.clip(np.rint(frame), 0, 255).astype(np.uint8)


def write_clip(out: Path) -> None:
    """Encode all frames to H.264 (libx264, yuv420p) in an MP4 with no audio."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out), "w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream(
            "libx264", rate=FPS,
            options={"crf": str(CRF), "preset": PRESET, "threads": "1"},
        )
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for image in render_frames():
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))  # flush the encoder's delayed frames


def read_clip(path: Path) -> list[np.ndarray]:
    """Decode every frame of a clip as uint8 RGB arrays."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def check(clip: Path) -> bool:
    """Run blazecli's detector on every frame: both faces must be found near their true centres."""
    from blazecli import FaceDetector

    frames = read_clip(clip)
    sprites = make_sprites()
    found = np.zeros((len(frames), len(sprites)), bool)
    for i, faces in enumerate(FaceDetector(device="cpu").detect(frames)):
        centres = (faces.boxes[:, :2] + faces.boxes[:, 2:]) / 2  # (N, 2)
        for k, (fx, fy, fh) in enumerate(face_boxes(i / max(len(frames) - 1, 1), sprites)):
            found[i, k] = bool((np.linalg.norm(centres - [fx, fy], axis=1) < fh / 2).any())
    for k, sprite in enumerate(sprites):
        print(f"  {sprite.name:10s} found in {found[:, k].sum()}/{len(frames)} frames")
    both = found.all(axis=1)
    print(f"  both faces found in {both.sum()}/{len(frames)} frames ({both.mean():.0%})")
    return both.mean() >= MIN_BOTH_FRACTION


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT,
                        help="output .mp4 (default: examples/demo.mp4 next to this script)")
    parser.add_argument("--check", action="store_true",
                        help="check with blazecli's detector that both faces are found")
    parser.add_argument("--preview", metavar="PNG", type=Path,
                        help="also save the middle frame of the written clip as a PNG")
    args = parser.parse_args(argv)

    write_clip(args.out)
    with av.open(str(args.out)) as container:
        video = container.streams.video[0]
        frames = video.frames
        duration = float(video.duration * video.time_base) if video.duration else float("nan")
    print(f"wrote {args.out}: {args.out.stat().st_size} bytes, {frames} frames, {duration:.2f} s")
    if args.preview:
        from skimage import io

        decoded = read_clip(args.out)
        io.imsave(args.preview, decoded[len(decoded) // 2], check_contrast=False)
        print(f"wrote {args.preview}")
    if args.check and not check(args.out):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
