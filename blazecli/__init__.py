"""blazecli: find faces in video with BlazeFace, fast and steadily.

>>> import blazecli
>>> detector = blazecli.FaceDetector(model="short")
>>> faces = detector.detect_image(rgb)                      # Detections of one image
>>> with blazecli.open_video("clip.mp4") as video:
...     for frame in video:                                  # FrameFaces, in frame order
...         print(frame.index, frame.time_s, frame.faces.track_id)
>>> video.summary.frames_processed

Importing blazecli loads neither ONNX Runtime nor PyAV: each name loads its module when
first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .detections import Detections, Face
    from .errors import (
        BlazeCliError,
        CorruptVideoError,
        DetectionsMismatchError,
        DeviceUnavailableError,
        InputNotFoundError,
        InvalidOptionError,
        NotAVideoError,
        NoVideoStreamError,
        OutputExistsError,
        OutputNotWritableError,
        UnreadableInputError,
        WorkerDiedError,
    )
    from .inference.detector import DetectorOptions, FaceDetector
    from .jobs.detect import VideoSummary
    from .jobs.video_faces import FrameFaces, VideoFaces, detect_video, open_video
    from .temporal.tracking import TrackerOptions

_HOMES = {
    "Detections": ".detections", "Face": ".detections",
    "FaceDetector": ".inference.detector", "DetectorOptions": ".inference.detector",
    "TrackerOptions": ".temporal.tracking",
    "detect_video": ".jobs.video_faces", "open_video": ".jobs.video_faces", "FrameFaces": ".jobs.video_faces",
    "VideoFaces": ".jobs.video_faces", "VideoSummary": ".jobs.detect",
    **{name: ".errors" for name in (
        "BlazeCliError", "CorruptVideoError", "DetectionsMismatchError", "DeviceUnavailableError",
        "InputNotFoundError", "InvalidOptionError", "NotAVideoError", "NoVideoStreamError",
        "OutputExistsError", "OutputNotWritableError", "UnreadableInputError", "WorkerDiedError")},
}

__all__ = [
    "BlazeCliError", "CorruptVideoError", "DetectionsMismatchError", "Detections",
    "DetectorOptions", "DeviceUnavailableError", "Face", "FaceDetector", "FrameFaces",
    "InputNotFoundError", "InvalidOptionError", "NoVideoStreamError", "NotAVideoError",
    "OutputExistsError", "OutputNotWritableError", "TrackerOptions", "UnreadableInputError",
    "VideoFaces", "VideoSummary", "WorkerDiedError", "__version__", "detect_video", "open_video",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(import_module(_HOMES[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'blazecli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
