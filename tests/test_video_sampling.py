"""Sampling from the rows of the YUV planes equals MediaPipe sampling of the full RGB frame, bit for bit."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from clips import moving_face_clip

from blazecli import video
from blazecli.preprocess import sample_mediapipe
from blazecli.video import rotate, sample_mediapipe_frame


@pytest.fixture(autouse=True)
def planes_for_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plane path normally serves frames of 720 rows and more; test it on small, fast ones."""
    monkeypatch.setattr(video, "_ROWS_ROUTE_MAX_SHARE", 100.0)


def frames_of(path: Path, count: int = 3) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return [f for _, f in zip(range(count), container.decode(video=0))]


@pytest.mark.parametrize("width, height, pix_fmt", [
    (320, 240, "yuv420p"), (97, 61, "yuv420p"), (61, 97, "yuv420p"), (640, 360, "yuvj420p"),
    (64, 48, "yuv444p"), (2, 2, "yuv420p"), (362, 202, "yuv420p"), (1126, 662, "yuv420p"),
])
@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_plane_sampling_is_bit_exact(tmp_path: Path, width: int, height: int, pix_fmt: str,
                                     rotation: int) -> None:
    codec = "libx264" if width % 2 == 0 and height % 2 == 0 else "ffv1"  # x264 wants even sizes
    clip = moving_face_clip(tmp_path / "c.mkv", frames=3, width=width, height=height,
                            head_height=max(2, height // 2), pix_fmt=pix_fmt, codec=codec)
    for frame in frames_of(clip):
        expected = sample_mediapipe(rotate(frame.to_ndarray(format="rgb24"), rotation), 128)
        np.testing.assert_array_equal(sample_mediapipe_frame(frame, rotation, 128), expected)
        np.testing.assert_array_equal(sample_mediapipe_frame(frame, rotation, 192),
                                      sample_mediapipe(rotate(frame.to_ndarray(format="rgb24"), rotation), 192))


def test_plane_sampling_on_real_videos(shared_data: Path) -> None:
    for name in ("intel_asl_gestures_again.mkv", "phone_again_rot90.mp4", "liveportrait_s18.mp4"):
        for frame in frames_of(shared_data / "videos" / name, 5):
            rotation = int(frame.rotation or 0) % 360
            expected = sample_mediapipe(rotate(frame.to_ndarray(format="rgb24"), rotation), 128)
            np.testing.assert_array_equal(sample_mediapipe_frame(frame, rotation, 128), expected)
