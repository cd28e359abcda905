"""The reader shows frames as a player does: display matrices (turns and mirrors) and
non-square pixels, read from clips written with them."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from clips import stored_for, write_clip

from blazecli.preprocess import Display
from blazecli.video import VideoReader


def quadrants(width: int = 64, height: int = 48) -> np.ndarray:
    """Four flat blocks of different colours: any turn or mirror moves one of them."""
    shown = np.zeros((height, width, 3), np.uint8)
    shown[:height // 2, :width // 2] = (220, 40, 40)
    shown[:height // 2, width // 2:] = (40, 220, 40)
    shown[height // 2:, :width // 2] = (40, 40, 220)
    shown[height // 2:, width // 2:] = (220, 220, 40)
    return shown


def assert_shows(rgb: np.ndarray, shown: np.ndarray) -> None:
    """Equal to ``shown`` up to coding noise, away from the blocks' edges (blurred by 4:2:0
    chroma and by stretching)."""
    assert rgb.shape == shown.shape
    inside = np.ones(shown.shape[:2], bool)
    inside[:, 30:34] = inside[22:26] = False
    assert np.abs(rgb.astype(int) - shown)[inside].max() <= 12


@pytest.mark.parametrize("squeeze", [1, 2])
@pytest.mark.parametrize("hflip", [False, True])
@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_frames_are_shown_turned_mirrored_and_stretched(tmp_path: Path, rotation: int, hflip: bool,
                                                        squeeze: int) -> None:
    shown = quadrants()
    clip = write_clip(tmp_path / "c.mp4", lambda i: stored_for(shown, rotation, hflip, squeeze), 2,
                      rotation=rotation, hflip=hflip, sar=Fraction(squeeze),
                      options={"qp": "0"})
    with VideoReader(clip) as reader:
        info = reader.info
        first = next(reader.frames())
        rgb = first.to_rgb()
    assert (info.width, info.height) == first.size == (64, 48)
    # PyAV writes the mirror after the turn; shown the other way round, the turn reverses.
    assert info.display == Display(-rotation % 360 if hflip else rotation, hflip, Fraction(squeeze))
    assert_shows(rgb, shown)


def test_a_vertical_flip_is_a_mirror_and_half_a_turn(tmp_path: Path) -> None:
    shown = quadrants()
    clip = tmp_path / "v.mkv"
    with av.open(str(clip), "w") as container:  # stored upside down, with a vflip matrix
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"qp": "0"}
        stream.set_display_rotation(0, vflip=True)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(shown[::-1]), format="rgb24")
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with VideoReader(clip) as reader:
        assert reader.info.display == Display(180, True)
        rgb = next(reader.frames()).to_rgb()
    assert_shows(rgb, shown)
