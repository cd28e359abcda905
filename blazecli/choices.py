"""Every choice the library accepts, defined once: the CLI shows them and the library checks them.

Pure Python (no numpy, av or onnxruntime), so that ``blazecli --help`` stays instant.
"""

from __future__ import annotations

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
