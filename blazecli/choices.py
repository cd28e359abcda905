"""Every choice the library accepts, defined once: the CLI shows them and the library checks them.

Pure Python (no numpy, av or onnxruntime), so that ``blazecli --help`` stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass

MODELS = ("short", "full")
"""``short``: the front-camera model (128 px input); ``full``: the full-range model (192 px)."""
TIES = ("blend", "nms")
"""How overlapping candidates merge: BlazeFace's weighted blending, or plain NMS."""
RESIZE_MODES = ("mediapipe",)
"""How frames are sampled to the model input; only MediaPipe's exact sampling is left."""
DEVICES = ("auto", "cpu", "cuda")
FORMATS = ("parquet", "csv", "jsonl")
"""Row file formats."""
ENCODERS = ("libx264", "h264_nvenc")
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
           "veryslow")
"""x264's presets, fastest first; NVENC gets the nearest of its p1..p7."""
ANONYMIZE_METHODS = ("blur", "pixelate", "fill")
MASK_SHAPES = ("ellipse", "box")
HIDING_SCALE = 1.6
"""The mask's default size, relative to the face box: below it, a detector may still find the
face around the hidden area (``blazecli.outputs.draw.Anonymizer``)."""


@dataclass(frozen=True)
class Profile:
    """What ``annotate`` detects with where no option says otherwise."""

    model: str
    threshold: float | None
    tiles: str
    brighten: bool
    fill_gaps: bool
    cover_frames: int
    preset: str  # x264's preset
    crf: int


DRAWING_PROFILE = Profile(model="short", threshold=None, tiles="none", brighten=False,
                          fill_gaps=False, cover_frames=0, preset="veryfast", crf=20)
"""Drawing faces: detect's own defaults, MediaPipe's output."""
HIDING_PROFILE = Profile(model="full", threshold=0.4, tiles="auto", brighten=True,
                         fill_gaps=True, cover_frames=10, preset="superfast", crf=22)
"""Hiding faces, recall first: the full-range model, tiles for small faces, a lower threshold,
a brightened look at dark frames and tiles (audiences, night), gaps filled by the tracker,
and each face's mask held ``cover_frames`` frames before its first and after its last
sighting, or two tile rounds where that is longer (a face only tiles find is seen once a
round, and a round may miss it). A face left visible costs more than a blurred patch of wall.

The detector takes most of the cores, so the encoder is x264's superfast: half veryfast's
CPU time, and at crf 22 about veryfast's quality at crf 20, in files a third to a half larger."""
