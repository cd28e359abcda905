"""Sampling from the tapped pixels of the YUV planes equals MediaPipe sampling of the full RGB frame, bit for bit."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from clips import moving_face_clip

from blazecli.media import sampling
from blazecli.media.display import Display, orient, rotate
from blazecli.media.sampling import sample_mediapipe, sample_mediapipe_frame


@pytest.fixture(autouse=True)
def planes_for_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plane path normally serves frames whose tapped blocks are under 15 % of the pixels
    (720p and up); test it on small, fast ones too."""
    monkeypatch.setattr(sampling, "PAIRS_ROUTE_MAX_SHARE", 100.0)


def frames_of(path: Path, count: int = 3) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return [f for _, f in zip(range(count), container.decode(video=0), strict=False)]


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
        np.testing.assert_array_equal(sample_mediapipe_frame(frame, Display(rotation), 128), expected)
        np.testing.assert_array_equal(sample_mediapipe_frame(frame, Display(rotation), 192),
                                      sample_mediapipe(rotate(frame.to_ndarray(format="rgb24"), rotation), 192))


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_frames_sampled_together_equal_frames_sampled_alone(tmp_path: Path, rotation: int) -> None:
    frames = frames_of(moving_face_clip(tmp_path / "c.mp4", frames=5, width=320, height=240), 5)
    for count in (5, 2, 5):  # the reused small frame changes height with the count
        together = sampling.sample_mediapipe_frames(frames[:count], Display(rotation), 128)
        assert together.shape == (count, 128, 128, 3)
        for frame, sampled in zip(frames, together, strict=False):
            expected = sample_mediapipe(rotate(frame.to_ndarray(format="rgb24"), rotation), 128)
            np.testing.assert_array_equal(sampled, expected)


def test_frames_of_other_sizes_and_formats_sampled_together(tmp_path: Path) -> None:
    even = frames_of(moving_face_clip(tmp_path / "a.mp4", frames=2, width=320, height=240), 2)
    odd = frames_of(moving_face_clip(tmp_path / "b.mkv", frames=2, width=97, height=61, codec="ffv1"), 2)
    full = frames_of(moving_face_clip(tmp_path / "c.mkv", frames=1, width=64, height=48,
                                      pix_fmt="yuv444p"), 1)
    for mixed in ([even[0], odd[0], even[1], full[0]], [odd[0], even[0], even[1]]):
        together = sampling.sample_mediapipe_frames(mixed, Display(90), 128)
        for frame, sampled in zip(mixed, together, strict=True):
            expected = sample_mediapipe(rotate(frame.to_ndarray(format="rgb24"), 90), 128)
            np.testing.assert_array_equal(sampled, expected)


@pytest.mark.slow
def test_plane_sampling_on_real_videos(shared_data: Path) -> None:
    for name in ("intel_asl_gestures_again.mkv", "phone_again_rot90.mp4", "liveportrait_s18.mp4"):
        for frame in frames_of(shared_data / "videos" / name, 5):
            rotation = int(frame.rotation or 0) % 360
            expected = sample_mediapipe(rotate(frame.to_ndarray(format="rgb24"), rotation), 128)
            np.testing.assert_array_equal(sample_mediapipe_frame(frame, Display(rotation), 128), expected)


@pytest.mark.parametrize("width, height, rotation", [
    (1920, 1080, 0), (1920, 1080, 90), (1280, 720, 0), (1280, 720, 270), (720, 1280, 0),
    (720, 1280, 90), (1366, 768, 180), (3840, 2160, 0),
])
def test_hd_sampling_of_noise_is_bit_exact(width: int, height: int, rotation: int) -> None:
    """Noise gives every luma pixel of a 2x2 block its own value and every block its own chroma:
    a tap read from the wrong block, or paired with the wrong chroma, shows."""
    rng = np.random.default_rng(width + rotation)
    frames = []
    for _ in range(4):
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane in frame.planes:
            np.frombuffer(plane, np.uint8)[:] = rng.integers(0, 256, plane.buffer_size, np.uint8)
        frames.append(frame)
    together = sampling.sample_mediapipe_frames(frames, Display(rotation), 128)
    for frame, sampled in zip(frames, together, strict=True):
        expected = sample_mediapipe(rotate(frame.to_ndarray(format="rgb24"), rotation), 128)
        np.testing.assert_array_equal(sampled, expected)


@pytest.mark.parametrize("width, height, codec", [(320, 240, "libx264"), (97, 61, "ffv1")])
@pytest.mark.parametrize("display", [Display(0, True), Display(90, True), Display(270, True),
                                     Display(0, False, Fraction(64, 45)),
                                     Display(90, True, Fraction(1, 2))])
def test_mirrored_and_stretched_plane_sampling_is_bit_exact(tmp_path: Path, width: int, height: int,
                                                            codec: str, display: Display) -> None:
    """From the planes as from the whole RGB frame; a mirror as sampling the mirrored frame."""
    clip = moving_face_clip(tmp_path / "c.mkv", frames=2, width=width, height=height,
                            head_height=height // 2, codec=codec)
    frames = frames_of(clip, 2)
    together = sampling.sample_mediapipe_frames(frames, display, 128)
    for frame, sampled in zip(frames, together, strict=True):
        rgb = frame.to_ndarray(format="rgb24")
        np.testing.assert_array_equal(sampled, sample_mediapipe(rgb, 128, display))
        if display.sar == 1:
            np.testing.assert_array_equal(sampled, sample_mediapipe(orient(rgb, display), 128))


def _noise_frame(width: int, height: int, seed: int, pix_fmt: str = "yuv420p") -> av.VideoFrame:
    rng = np.random.default_rng(seed)
    frame = av.VideoFrame(width, height, pix_fmt)
    for plane in frame.planes:
        np.frombuffer(plane, np.uint8)[:] = rng.integers(0, 256, plane.buffer_size, np.uint8)
    return frame


REGIONS = np.array([[0, 0, 250, 250], [131, 57, 250, 250], [-65, -58, 250, 250], [1, 1, 3, 5],
                    [7, 150, 101, 33], [10, 10, 1, 1]])


@pytest.mark.parametrize("width, height", [(1280, 720), (640, 480), (362, 202)])
@pytest.mark.parametrize("display", [Display(rotation, mirrored) for rotation in (0, 90, 180, 270)
                                     for mirrored in (False, True)])
def test_regions_from_the_planes_are_those_of_the_whole_frame(width: int, height: int,
                                                              display: Display) -> None:
    """Tiles converted from the 2x2 blocks under them equal crops of the frame converted whole
    (black past its edges), wherever they lie on the blocks, as shown."""
    from blazecli.inference.detector import crop_padded

    frame = _noise_frame(width, height, width + display.rotation + display.mirrored)
    shown = orient(frame.to_ndarray(format="rgb24"), display)
    corner = [[shown.shape[1] - 150, shown.shape[0] - 101, 250, 250]]  # past the far edges
    regions = np.concatenate([REGIONS, corner])
    crops = sampling.regions_rgb(frame, display, regions)
    assert crops is not None
    for region, crop in zip(regions.tolist(), crops, strict=True):
        np.testing.assert_array_equal(crop, crop_padded(shown, *region), err_msg=str(region))


def test_regions_need_even_4_2_0_frames_of_square_pixels() -> None:
    regions = REGIONS[:1]
    assert sampling.regions_rgb(_noise_frame(320, 240, 0), Display(), regions) is not None
    assert sampling.regions_rgb(_noise_frame(321, 240, 0), Display(), regions) is None
    assert sampling.regions_rgb(_noise_frame(320, 240, 0, "yuv444p"), Display(), regions) is None
    assert sampling.regions_rgb(_noise_frame(320, 240, 0), Display(0, False, Fraction(4, 3)),
                                regions) is None
