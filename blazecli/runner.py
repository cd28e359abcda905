"""Deprecated: moved to :mod:`blazecli.jobs.runner`. Kept for one release."""

import warnings

from .jobs.runner import DetectRun, DetectSettings, RunReport, SilentProgress

__all__ = ["DetectRun", "DetectSettings", "RunReport", "SilentProgress"]

warnings.warn("blazecli.runner is deprecated: import from blazecli.jobs.runner",
              DeprecationWarning, stacklevel=2)
