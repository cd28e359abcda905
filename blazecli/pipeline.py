"""Deprecated: moved to :mod:`blazecli.jobs.detect`; for videos use :func:`blazecli.detect_video`.
Kept for one release."""

import warnings

from .jobs.detect import (
              FrameBatch,
              FrameSelection,
              TemporalStage,
              VideoJob,
              VideoSummary,
)

__all__ = ["FrameBatch", "FrameSelection", "TemporalStage", "VideoJob", "VideoSummary"]

warnings.warn("blazecli.pipeline is deprecated: use blazecli.detect_video, or import from "
              "blazecli.jobs.detect", DeprecationWarning, stacklevel=2)
