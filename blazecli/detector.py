"""Deprecated: moved to :mod:`blazecli.inference.detector` (``FaceDetector`` and
``DetectorOptions`` are also in :mod:`blazecli` itself). Kept for one release."""

import warnings

from .inference.detector import DetectorOptions, FaceDetector, to_frame_pixels

__all__ = ["DetectorOptions", "FaceDetector", "to_frame_pixels"]

warnings.warn("blazecli.detector is deprecated: import FaceDetector and DetectorOptions from "
              "blazecli", DeprecationWarning, stacklevel=2)
