"""The warnings of a hiding run weaker than its profile, on settings alone."""

from __future__ import annotations

from dataclasses import replace

from blazecli.choices import HIDING_PROFILE
from blazecli.inference.detector import DetectorOptions
from blazecli.jobs.hiding import hiding_weakened, short_of_hiding, weaker_detections_warning
from blazecli.temporal.tracking import TrackerOptions

PROFILE = DetectorOptions(model=HIDING_PROFILE.model, threshold=HIDING_PROFILE.threshold,
                          tiles=HIDING_PROFILE.tiles, brighten=HIDING_PROFILE.brighten)
TRACKING = TrackerOptions(fill_gaps=HIDING_PROFILE.fill_gaps)


def test_the_profile_itself_is_not_weaker() -> None:
    assert hiding_weakened(PROFILE, TRACKING, HIDING_PROFILE.cover_frames, still=False) is None
    assert weaker_detections_warning({"model": "full", "tiles": "auto", "brighten": True,
                                      "threshold": 0.4, "max_faces": None}, "faces.parquet") is None


def test_each_weaker_setting_is_named() -> None:
    assert short_of_hiding({"model": "short", "tiles": "none", "brighten": False, "threshold": 0.5,
                            "max_faces": 2}) == ["the short-range model", "no tiles", "no brightening",
                                                 "threshold 0.5", "at most 2 face(s) a frame"]
    assert short_of_hiding({"model": "full", "tiles": "3x3", "brighten": True, "threshold": 0.3}) == []
    # detect's own metadata (made by default) states no threshold of its own: not the profile's
    assert "threshold None" in short_of_hiding({"model": "full", "tiles": "auto", "brighten": True})


def test_a_video_needs_tracking_and_cover_a_photo_does_not() -> None:
    untracked = hiding_weakened(PROFILE, None, 0, still=False)
    assert untracked is not None and "no tracking" in untracked and "`cover_frames=0`" in untracked
    unfilled = hiding_weakened(PROFILE, replace(TRACKING, fill_gaps=False), 10, still=False)
    assert unfilled is not None and "no filled gaps" in unfilled
    assert hiding_weakened(PROFILE, None, 0, still=True) is None
