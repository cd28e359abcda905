"""blazecli: find faces in video with BlazeFace, fast and steadily.

The library is importable without loading ONNX Runtime or PyAV; they load when first used.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Detections", "DetectorOptions", "FaceDetector", "__version__"]


def __getattr__(name: str):
    if name == "Detections":
        from .detections import Detections
        return Detections
    if name in ("FaceDetector", "DetectorOptions"):
        from . import detector
        return getattr(detector, name)
    raise AttributeError(name)
