"""Sampled runs (``--every``, ``--fps``, ``--keyframes``, ``--start``) decode only what they need,
and their rows are the rows of a full run at the same frames, whatever the codec and GOP."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from clips import astronaut_head, moving_face_clip, shifted_copy
from typer.testing import CliRunner

from blazecli.cli import app
from blazecli.errors import InvalidOptionError
from blazecli.media.reader import VideoReader
from blazecli.media.selection import FrameSelection, RatePicker
from blazecli.outputs.sinks import read_metadata

GOP = 30
# name: (encoder, options); B-frames, B-pyramids, open and closed GOPs.
CODECS = {
    "h264.mp4": ("libx264", {"preset": "medium", "x264-params":
                             f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=3:b-pyramid=normal"}),
    "h264_open.mkv": ("libx264", {"preset": "medium", "x264-params":
                                  f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=3:open-gop=1"}),
    "hevc.mp4": ("libx265", {"x265-params": f"keyint={GOP}:min-keyint={GOP}:bframes=4:b-pyramid=1:"
                                            "open-gop=0:log-level=error"}),
    "hevc_open.mkv": ("libx265", {"x265-params": f"keyint={GOP}:min-keyint={GOP}:bframes=4:"
                                                 "open-gop=1:log-level=error"}),
    "vp9.webm": ("libvpx-vp9", {"g": str(GOP), "lag-in-frames": "16", "auto-alt-ref": "1",
                                "deadline": "realtime", "cpu-used": "8"}),
    "av1.mkv": ("libsvtav1", {"g": str(GOP), "preset": "12", "svtav1-params": "scd=0"}),
}
FRAMES = 90  # 3.6 s at 25 fps


def has_codec(name: str, mode: str) -> bool:
    try:
        av.codec.Codec(name, mode)
    except (av.FFmpegError, ValueError):
        return False
    return True


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sampled")
    made = {}
    for name, (encoder, options) in CODECS.items():
        if has_codec(encoder, "w"):
            made[name] = moving_face_clip(folder / name, frames=FRAMES, velocity=(1.5, 0.5),
                                          codec=encoder, options=options)
    return made


def detect(*args: str) -> None:
    result = CliRunner().invoke(app, ["detect", *args, "--quiet", "--no-smooth",
                                      "--segment-threads", "1"])
    assert result.exit_code == 0, result.output


def rows_and_facts(path: Path) -> tuple[pd.DataFrame, dict]:
    return pd.read_parquet(path), read_metadata(str(path))["videos"][0]


def keyframe_indices(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        packets = [(p.pts, p.is_keyframe) for p in container.demux(video=0) if p.size]
    order = sorted(pts for pts, _ in packets)
    return sorted(order.index(pts) for pts, key in packets if key)


@pytest.mark.parametrize("name", list(CODECS))
def test_sampled_rows_are_the_full_rows_at_those_frames(tmp_path: Path, clips: dict[str, Path],
                                                         name: str) -> None:
    if name not in clips:
        pytest.skip(f"no {CODECS[name][0]} encoder here")
    clip = clips[name]
    full = tmp_path / "full.parquet"
    detect(str(clip), "-o", str(full))
    rows, facts = rows_and_facts(full)
    assert facts["frames_read"] == facts["frames_decoded"] == facts["frames_processed"] == FRAMES
    assert sorted(rows.frame_index.unique()) == list(range(FRAMES))  # one face in every frame
    keys = keyframe_indices(clip)
    assert keys == list(range(0, FRAMES, GOP))
    runs = {("--every", "3"): list(range(0, FRAMES, 3)),
            ("--every", "10", "--start", "2.0"): list(range(50, FRAMES, 10)),
            ("--start", "2.5", "--end", "3.0"): list(range(63, 75)),
            ("--fps", "7"): None,  # checked against the picker below
            ("--keyframes",): keys}
    for options, expected in runs.items():
        out = tmp_path / "sampled.parquet"
        detect(str(clip), "-o", str(out), "--overwrite", *options)
        sampled, sampled_facts = rows_and_facts(out)
        processed = sorted(sampled.frame_index.unique())
        if expected is not None:
            assert processed == expected, options
        assert sampled_facts["frames_processed"] == len(processed)
        assert sampled_facts["frames_decoded"] <= FRAMES
        assert sampled_facts["skipped_packets"] == 0
        same = rows[rows.frame_index.isin(processed)].reset_index(drop=True)
        pd.testing.assert_frame_equal(sampled, same, obj=f"{name} {options}")
        if options == ("--keyframes",):  # one frame decoded per GOP, nothing else
            assert sampled_facts["frames_decoded"] == len(keys)
            assert sampled_facts["processed_frames"] == keys
        if options[0] == "--every" and name.startswith(("h264", "hevc")):
            # Non-reference B-frames not sampled were never decoded.
            assert sampled_facts["frames_decoded"] < FRAMES - 10


def test_fps_picks_the_frame_nearest_each_tick_of_a_variable_frame_rate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames 40 ms apart, then 100 ms, then 10 ms: at 4 frames a second the ticks every 250 ms
    pick the frames nearest them, by time, not by count."""
    times_ms = [*range(0, 1000, 40), *range(1000, 3000, 100), *range(3000, 3500, 10)]
    clip = tmp_path / "vfr.mkv"
    head = astronaut_head(100)
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)  # exact VFR
        stream.options = {"preset": "medium", "x264-params": "bframes=3:keyint=50"}
        for i, t in enumerate(times_ms):
            image = np.full((120, 160, 3), 90, np.uint8)
            image[10:110, 40 + i % 7:40 + i % 7 + head.shape[1]][:, :80] = head[:, :80]
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    times = [Fraction(t, 1000) for t in times_ms]
    ticks = [Fraction(n, 4) for n in range(15)]  # 0 .. 3.5 s: the last frame is at 3.49 s
    nearest = sorted({min(range(len(times)), key=lambda i: (abs(times[i] - tick), i))
                      for tick in ticks})  # a tie goes to the earlier frame
    assert nearest[:6] == [0, 6, 12, 19, 25, 27]  # 0, 240, 480 (not 520), 760 ms; 1.0, 1.2 s
    with VideoReader(clip, selection=FrameSelection(fps=4)) as reader:
        picked = [f.index for f in reader.frames()]
        assert reader._plan is not None
        assert reader.frames_decoded < len(times_ms)
    assert picked == nearest
    # A read that cannot plan (a pipe, AVI...) picks the same frames as they come.
    with monkeypatch.context() as patched:
        patched.setattr(VideoReader, "_plan_for", lambda self, selection: None)
        with VideoReader(clip, selection=FrameSelection(fps=4)) as reader:
            assert [f.index for f in reader.frames()] == nearest
            assert reader.frames_decoded == len(times_ms)
    out = tmp_path / "vfr.parquet"
    detect(str(clip), "-o", str(out), "--fps", "4")
    facts = read_metadata(str(out))["videos"][0]
    assert facts["processed_frames"] == nearest and facts["sample_fps"] == 4.0
    assert read_metadata(str(out))["sample_fps"] == 4.0


def test_rate_picker_ticks_ties_and_edges() -> None:
    def picks(times: list[str], rate: int) -> list[int]:
        picker: RatePicker[int] = RatePicker(Fraction(rate))
        chosen = [i for k, t in enumerate(times) for i in picker.push(k, Fraction(t))]
        return chosen + picker.finish()

    assert picks(["0", "1/3", "2/3", "1", "4/3"], 1) == [0, 3]  # 30 fps-like thirds at 1 a second
    assert picks(["0", "1/2", "1"], 1) == [0, 2]  # 0.5 s lies between two ticks: nearest 0 and 1
    assert picks(["1/4", "3/4"], 2) == [0, 1]  # the tick at 0.5 s is a tie: the earlier frame
    assert picks(["3/5", "9/10"], 1) == [1]  # no tick at 0 s: the first tick is at 1 s
    assert picks(["0", "5"], 1) == [0, 1]  # a long frame is picked once
    assert picks(["0"], 1) == [0]

    def spanned(start: float | None, end: float | None) -> list[int]:
        picker: RatePicker[int] = FrameSelection(fps=1, start_s=start, end_s=end).rate_picker()
        times = [Fraction(k, 30) for k in range(300, 600)]  # 10 .. 19.97 s, the span's frames
        return [i for k, t in enumerate(times) for i in picker.push(300 + k, t)] + picker.finish()

    assert spanned(10.0, 20.0) == list(range(300, 600, 30))  # no tick at --end: it is left out
    assert spanned(None, None) == [*range(300, 600, 30), 599]  # 20 s is the last frame's tick


def test_keyframes_with_a_fixed_gop_and_frames_counted_past_them(tmp_path: Path) -> None:
    clip = moving_face_clip(tmp_path / "gop.mp4", frames=100, options={
        "preset": "medium", "x264-params": "keyint=12:min-keyint=12:scenecut=0:bframes=2"})
    with VideoReader(clip, selection=FrameSelection(keyframes=True, end_s=3.0)) as reader:
        shown = [(f.index, f.frame.key_frame) for f in reader.frames()]
        assert reader.frames_decoded == len(shown) and reader.frames_read == 75
    assert shown == [(i, True) for i in range(0, 75, 12)]


def test_no_frame_after_the_last_wanted_frame_of_a_gop_is_decoded(tmp_path: Path) -> None:
    """A keyframe every 30 frames and no B-frames: every frame is a reference, so only the frames
    after a GOP's last wanted frame (and GOPs with none) can be left out."""
    clip = moving_face_clip(tmp_path / "p.mp4", frames=90, options={
        "preset": "medium", "x264-params": "keyint=30:min-keyint=30:scenecut=0:bframes=0"})
    with VideoReader(clip) as reader:
        whole = {f.index: f.frame.to_ndarray().tobytes() for f in reader.frames()}
    # every 10: frames 0 to 20 of each GOP; every 65: frame 0, no frame of the second GOP, 60 to 65.
    for every, decoded in ((10, 3 * 21), (65, 1 + 6)):
        with VideoReader(clip, selection=FrameSelection(every=every)) as reader:
            sampled = {f.index: f.frame.to_ndarray().tobytes() for f in reader.frames()}
            assert reader.frames_decoded == decoded, every
        assert sampled == {i: image for i, image in whole.items() if i % every == 0}


def test_start_past_the_middle_decodes_a_few_frames_before_it(tmp_path: Path) -> None:
    """600 frames (24 s), a keyframe every 25: --start 20 seeks to the last keyframe before it."""
    clip = moving_face_clip(tmp_path / "long.mp4", frames=600, width=160, height=120,
                            head_height=80, velocity=(0.1, 0.05), options={
                                "preset": "veryfast", "x264-params": "keyint=25:min-keyint=25:scenecut=0"})
    with VideoReader(clip, selection=FrameSelection(start_s=20.0, every=2)) as reader:
        frames = [(f.index, f.time_s) for f in reader.frames()]
        decoded, read = reader.frames_decoded, reader.frames_read
    assert frames[0] == (500, 20.0) and frames[-1] == (598, 23.92)
    assert read == 600 and decoded - len(frames) <= 25 + 50  # before the start; refs between
    with VideoReader(clip) as reader:
        whole = {f.index: f.frame.to_ndarray().tobytes() for f in reader.frames() if f.index >= 500}
    with VideoReader(clip, selection=FrameSelection(start_s=20.0)) as reader:
        part = [(f.index, f.frame.to_ndarray().tobytes()) for f in reader.frames()]
        assert reader.frames_decoded < 130  # not 600
    assert part == list(whole.items())


def test_damage_in_a_sampled_read_falls_back_to_counting_every_frame(tmp_path: Path) -> None:
    from corpus import zeroed_packets

    clip = moving_face_clip(tmp_path / "c.mp4", frames=60, options={
        "preset": "medium", "x264-params": "keyint=20:min-keyint=20:scenecut=0:bframes=2"})
    holed = zeroed_packets(clip, tmp_path / "holed.mp4", [25, 26])
    with VideoReader(holed, threads=1) as reader:
        full = [(f.index, f.time_s) for f in reader.frames()]
    with VideoReader(holed, threads=1, selection=FrameSelection(every=3)) as reader:
        sampled = [(f.index, f.time_s) for f in reader.frames()]
        assert reader.skipped_packets > 0
    assert sampled == [(i, t) for i, t in full if i % 3 == 0]


def test_selections_that_contradict_each_other_are_refused() -> None:
    for options in ({"every": 2, "fps": 1}, {"keyframes": True, "fps": 2}, {"every": 3, "keyframes": True}):
        with pytest.raises(InvalidOptionError, match="give one"):
            FrameSelection(**options)
    for fps in (0, -1, float("nan"), float("inf")):
        with pytest.raises(InvalidOptionError, match="`fps`"):
            FrameSelection(fps=fps)
    assert FrameSelection(fps=29.97).fps == Fraction(2997, 100)
    assert FrameSelection().takes_all and not FrameSelection(start_s=1).takes_all


def test_keyframes_hidden_by_an_edit_list_are_said(tmp_path: Path) -> None:
    """A video trimmed without re-encoding (`ffmpeg -ss 2 -c copy`) starts with an edit list
    that hides its keyframe: `--keyframes` processed nothing and said nothing, 153/153."""
    whole, trimmed = tmp_path / "whole.mp4", tmp_path / "trimmed.mp4"
    with av.open(str(whole), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        stream.options = {"g": "1000", "sc_threshold": "0", "bf": "0"}  # one keyframe
        for i in range(50):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 4, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    shifted_copy(whole, trimmed, -10 / 25)  # 10 frames before time 0
    result = CliRunner().invoke(app, ["detect", str(trimmed), "-o", str(tmp_path / "k.csv"), "--keyframes"])
    assert result.exit_code == 0, result.output
    assert "no keyframe among its 40 frames shown" in result.output and "--every or --fps" in result.output
