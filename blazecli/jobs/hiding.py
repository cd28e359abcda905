"""Warnings for a hiding run weaker than the hiding profile: a face it misses stays showing,
so each option or detections file that finds or holds fewer faces is named, never silent."""

from __future__ import annotations

from typing import Any

from ..choices import HIDING_PROFILE
from ..inference.detector import DetectorOptions
from ..temporal.tracking import TrackerOptions


def short_of_hiding(detector: dict[str, Any]) -> list[str]:
    """What in detector settings (``model``, ``tiles``, ``brighten``, ``threshold``,
    ``max_faces``, as the metadata states them) finds fewer faces than the hiding profile:
    small, far, dark or extra faces would stay showing."""
    profile = HIDING_PROFILE
    threshold, most = detector.get("threshold"), detector.get("max_faces")
    return [what for what, short in (
        (f"the {detector.get('model')}-range model", detector.get("model") != profile.model),
        ("no tiles", detector.get("tiles") in (None, "none")),
        ("no brightening", profile.brighten and detector.get("brighten") is not True),
        (f"threshold {threshold}",
         not isinstance(threshold, (int, float)) or threshold > (profile.threshold or 0)),
        (f"at most {most} face(s) a frame", most is not None),
    ) if short]


HIDING_SETTINGS = (f"`model={HIDING_PROFILE.model}`, `tiles={HIDING_PROFILE.tiles}`, "
                   f"`threshold={HIDING_PROFILE.threshold}`, `brighten={HIDING_PROFILE.brighten}`, "
                   "no `max_faces`")
"""The hiding profile's detector settings, as the warnings name them."""


def held_less(tracking: TrackerOptions | None) -> list[str]:
    """What in tracking settings holds faces over fewer missed frames than the hiding profile."""
    return [what for what, short in (
        ("no tracking", tracking is None),
        ("no filled gaps", HIDING_PROFILE.fill_gaps and tracking is not None and not tracking.fill_gaps),
    ) if short]


def weaker_detections_warning(meta: dict[str, Any], name: str) -> str | None:
    """A warning when detections to hide were made with less recall than the hiding profile's
    (``detect``'s defaults: the short-range model, no tiles, no filled gaps)."""
    weaker = short_of_hiding(meta)
    if "tracking" in meta:  # as the metadata states it: null without tracking
        stated = meta["tracking"]
        weaker += held_less(TrackerOptions(fill_gaps=stated.get("fill_gaps") is True)
                            if isinstance(stated, dict) else None)
    if not weaker:
        return None
    return (f"warning: {name} was detected with {', '.join(weaker)}: faces that hiding's own detection "
            f"finds ({HIDING_SETTINGS}, `fill_gaps=True`) may be missing from it and stay showing; "
            "detect with those, or leave out `detections`")


def hiding_weakened(options: DetectorOptions | None, tracking: TrackerOptions | None,
                    cover_frames: int, still: bool) -> str | None:
    """A warning when options given to ``annotate`` find or hold fewer faces than its hiding
    profile (a photo has nothing to track or hold). ``options`` None: the faces come from a
    file, whose detection and tracking :func:`weaker_detections_warning` judges."""
    weaker = [] if options is None else short_of_hiding(
        {"model": options.model, "tiles": options.tiles, "brighten": options.brighten,
         "threshold": options.min_score, "max_faces": options.max_faces})
    if not still:
        weaker += [] if options is None else held_less(tracking)
        weaker += ["`cover_frames=0`"] if not cover_frames else []
    if not weaker:
        return None
    return (f"warning: hiding with {', '.join(weaker)}: fewer faces are found or held than with the "
            f"hiding profile ({HIDING_SETTINGS}, gaps filled, `cover_frames={HIDING_PROFILE.cover_frames}`), "
            "and those missed stay showing")
