"""Issue #8: broken, odd and interrupted inputs never end in a traceback, a half-written output or
silently skipped work.

The corpus is generated here (``corpus.py``): broken files are mangled bytes, odd-but-valid ones
are PyAV encodes of the astronaut's head at a known place, so every valid case is checked against
real values (frame counts, times, sizes, the face's box), and every broken one for its exit code,
its one-line message and the absence of any output file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from clips import astronaut_head, blank_clip, moving_face_clip, write_clip
from corpus import (
    StillFace,
    Track,
    audio_only,
    header_only,
    packet_spans,
    random_bytes,
    remux,
    song_with_cover,
    truncated,
    unknown_codec,
    write_tracks,
    zeroed_packets,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from blazecli.cli import app
from blazecli.errors import BlazeCliError
from blazecli.inference.ties import pairwise_iou
from blazecli.media.reader import VideoReader
from blazecli.outputs.sinks import read_metadata

BOX = ["x_min", "y_min", "x_max", "y_max"]
FACE = StillFace()  # 320x240, head 150 px tall, centred
BATCH_FILES = 100  # the "folder of 100 files"
BATCH_BROKEN = 5


def detect_process(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``blazecli detect`` in its own process (for signals, dropped privileges, peak memory)."""
    return subprocess.run([*prefix, sys.executable, "-m", "blazecli", "detect", *args],
                          capture_output=True, text=True, timeout=120)


def lines(output: str, prefix: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(prefix)]


def leftovers(folder: Path) -> list[Path]:
    """Temporary files a writer could leave behind."""
    return [p for p in folder.rglob(".*") if p.name.endswith(".tmp")]


def assert_box(rows: pd.DataFrame, box: np.ndarray, min_iou: float = 0.75) -> None:
    """Every row is the expected face (IoU with the box the corpus predicts)."""
    iou = pairwise_iou(rows[BOX].to_numpy(np.float32), np.asarray(box, np.float32)[None])[:, 0]
    assert (iou >= min_iou).all(), (iou.min(), rows[BOX].to_numpy()[iou.argmin()], box)


def without_root_powers() -> tuple[str, ...]:
    """A command prefix under which file permissions bind, even for root (tests often run as root)."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    drop = "-dac_override,-dac_read_search"
    if setpriv is None or subprocess.run([setpriv, f"--bounding-set={drop}", "true"]).returncode:
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE (no working setpriv)")
    return (setpriv, f"--bounding-set={drop}", f"--inh-caps={drop}")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Good clips the broken inputs are cut from (24 frames of a drifting face)."""
    folder = tmp_path_factory.mktemp("good")
    mp4 = moving_face_clip(folder / "face.mp4", frames=24)
    return {
        "mp4": mp4,  # index (moov) at the end, as PyAV and most encoders write it
        "faststart": remux(mp4, folder / "fast.mp4", options={"movflags": "faststart"}),
        "mkv": moving_face_clip(folder / "face.mkv", frames=24),
        "webm": moving_face_clip(folder / "face.webm", frames=24, codec="libvpx-vp9"),
        "gop4": moving_face_clip(folder / "gop4.mp4", frames=24, options={"g": "4"}),
    }


# --- broken input: one line naming the file and the cause, non-zero exit, no output --------

Maker = Callable[[Path, dict[str, Path]], Path]  # (scratch folder, good clips) -> the input
NOT_MEDIA = "not a video or image FFmpeg can read"
CUT_MP4 = "damaged or truncated MP4/MOV file"
TRUNCATED = "truncated or damaged: "


def _cut(clip: str, fraction: float) -> Maker:
    return lambda d, c: truncated(c[clip], d / f"cut{c[clip].suffix}", fraction)


def _zeroed(clip: str, packets: list[int]) -> Maker:
    return lambda d, c: zeroed_packets(c[clip], d / f"holed{c[clip].suffix}", packets)


def _touch(path: Path) -> Path:
    path.touch()
    return path


def _text(path: Path) -> Path:
    path.write_text("Shopping list\n- milk\n- eggs\n" * 40)
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    (path / "inside.mp4").write_bytes(b"")  # a folder named like a video is not searched
    return path


BROKEN: dict[str, tuple[Maker, str]] = {
    "zero_bytes": (lambda d, c: _touch(d / "empty.mp4"), "empty file (0 bytes)"),
    "random_bytes": (lambda d, c: random_bytes(d / "noise.mp4"), NOT_MEDIA),
    "text_named_mov": (lambda d, c: _text(d / "notes.mov"), NOT_MEDIA),
    "mp4_cut_at_10%": (_cut("mp4", 0.1), CUT_MP4),
    "mp4_cut_at_60%": (_cut("mp4", 0.6), CUT_MP4),
    "mp4_cut_at_99%": (_cut("mp4", 0.99), CUT_MP4),
    "faststart_mp4_cut_at_50%": (_cut("faststart", 0.5), TRUNCATED + "none of its 1 video packet(s) decodes"),
    # 0.60 s with a few decoder threads, 0.64 s with 16: frame threads decode the cut packet differently
    "faststart_mp4_cut_at_90%": (_cut("faststart", 0.9), TRUNCATED + "the video stops at 0.6"),
    "mkv_cut_at_30%": (_cut("mkv", 0.3), TRUNCATED + "no frame of the 0.96 s it declares can be read"),
    "mkv_cut_at_80%": (_cut("mkv", 0.8), TRUNCATED + "the video stops at"),
    "mkv_cut_at_98%": (_cut("mkv", 0.98), TRUNCATED + "the video stops at"),
    "webm_cut_at_95%": (_cut("webm", 0.95), TRUNCATED + "the video stops at"),
    "mkv_block_zeroed": (_zeroed("mkv", [12]), TRUNCATED + "the video stops at"),  # the rest is lost
    "first_keyframe_zeroed": (_zeroed("mp4", [0]), TRUNCATED + "none of its 24 video packet(s) decodes"),
    "header_without_frames": (lambda d, c: header_only(d / "aborted.mp4"), "no streams at all"),
    "audio_only": (lambda d, c: audio_only(d / "voice.mp4"), "no video stream (only audio)"),
    # its album art was taken for a one-frame video
    "song_with_cover": (lambda d, c: song_with_cover(d / "song.m4a"),
                        "no video stream (only audio and a cover picture)"),
    "unknown_codec": (lambda d, c: unknown_codec(c["mp4"], d / "odd.mp4"), "no decoder for its video codec"),
    "directory_named_like_video": (lambda d, c: _folder(d / "folder.mp4"), "is a directory, not a video"),
    "missing_file": (lambda d, c: d / "nowhere.mp4", "no such file"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_input_is_one_clear_line_and_no_output(cli, tmp_path: Path, clips: dict[str, Path],
                                                       case: str) -> None:
    make, message = BROKEN[case]
    source = make(tmp_path, clips)
    out = tmp_path / "out" / "faces.parquet"
    out.parent.mkdir()
    result = cli.verbose("detect", str(source), "-o", str(out))
    assert result.exit_code == 1, result.output
    (line,) = lines(result.output, "failed:")
    assert str(source) in line and message in line, line
    assert list(out.parent.iterdir()) == [] and not leftovers(tmp_path)


def test_unreadable_file_is_a_clear_error(tmp_path: Path, clips: dict[str, Path]) -> None:
    source = tmp_path / "locked.mp4"
    shutil.copy(clips["mp4"], source)
    source.chmod(0)
    out = tmp_path / "faces.parquet"
    done = detect_process(str(source), "-o", str(out), "-q", prefix=without_root_powers())
    assert done.returncode == 1, done.stderr
    assert f"failed: {source}: permission denied" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists() and not leftovers(tmp_path)


@pytest.mark.parametrize(("command", "where", "code"), [
    ("detect", "input", 1), ("annotate", "input", 2), ("stability", "input", 2),
    ("annotate", "detections", 2), ("detect", "output", 5), ("annotate", "output", 5),
    ("detect", "report", 5),
])
def test_a_path_in_a_folder_that_cannot_be_entered_is_a_clear_error(
        tmp_path: Path, clips: dict[str, Path], command: str, where: str, code: int) -> None:
    """Python's exists() and is_dir() raise there instead of answering: it was a traceback."""
    locked = tmp_path / "locked"
    locked.mkdir()
    shutil.copy(clips["mp4"], locked / "clip.mp4")
    locked.chmod(0)
    inside = locked / ("clip.mp4" if where == "input" else "faces.parquet" if where == "detections"
                       else "out.mp4" if command == "annotate" else "out.csv" if where == "output"
                       else "report.json")
    source = inside if where == "input" else clips["mp4"]
    args = [command, str(source)]
    if command != "stability":
        out = inside if where == "output" else tmp_path / ("out.mp4" if command == "annotate" else "out.csv")
        args += ["-o", str(out)]
    args += {"detections": ["--detections", str(inside)], "report": ["--report", str(inside)]}.get(where, [])
    done = subprocess.run([*without_root_powers(), sys.executable, "-m", "blazecli", *args, "-q"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == code, done.stderr
    assert f"{inside}: permission denied" in done.stderr and "Traceback" not in done.stderr
    assert not leftovers(tmp_path) and not list(tmp_path.glob("out.*"))


def test_a_folder_that_cannot_be_searched_fails_as_an_input(tmp_path: Path, clips: dict[str, Path]) -> None:
    """It read as an empty folder: a batch that hides faces went on without a word about it."""
    readable, locked = tmp_path / "in" / "a", tmp_path / "in" / "b"
    readable.mkdir(parents=True)
    locked.mkdir()
    shutil.copy(clips["mp4"], readable / "clip.mp4")
    shutil.copy(clips["mp4"], locked / "clip.mp4")
    (tmp_path / "in" / "link.mp4").symlink_to(locked / "clip.mp4")  # a link into it: not followed
    locked.chmod(0)
    out = tmp_path / "out"
    done = detect_process(str(tmp_path / "in"), "-o", f"{out}/", "-q", prefix=without_root_powers())
    assert done.returncode == 1, done.stderr
    assert f"failed: {locked}: permission denied (a folder that cannot be searched)" in done.stderr
    assert f"failed: {tmp_path / 'in' / 'link.mp4'}: permission denied" in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in out.rglob("*.parquet")) == ["clip.mp4.parquet"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mangled_bytes_give_frames_or_a_blazecli_error(tmp_path: Path, clips: dict[str, Path],
                                                      data: st.DataObject) -> None:
    """Spans cut out, bytes overwritten: never any exception but the one the CLI reports."""
    source = clips[data.draw(st.sampled_from(["mp4", "mkv", "webm"]))]
    raw = bytearray(source.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        if data.draw(st.booleans()):
            del raw[at:at + data.draw(st.integers(1, 2000))]
        else:
            raw[at] = data.draw(st.integers(0, 255))
    mangled = tmp_path / f"mangled{source.suffix}"
    mangled.write_bytes(bytes(raw))
    try:
        with VideoReader(mangled) as reader:
            frames = sum(1 for frame in reader.frames() if frame.to_rgb().ndim == 3)
    except BlazeCliError as exc:
        assert str(mangled) in str(exc)
    else:
        assert frames > 0


# --- corrupt in the middle, the rest decodes: processed, and the loss is reported ---------------

@pytest.mark.parametrize("zeroed, lost", [
    ([9, 10], [9, 10]),  # two P-frames: the decoder refuses both, conceals frame 11 and goes on
    ([8], [8, 9, 10]),  # a keyframe: refused, and the two frames that need it dropped without a word
])
def test_corrupt_middle_processes_the_rest_and_reports_what_was_skipped(
        cli, tmp_path: Path, clips: dict[str, Path], zeroed: list[int], lost: list[int]) -> None:
    good = clips["gop4"]  # 24 frames, a keyframe every 4
    holed = zeroed_packets(good, tmp_path / "holed.mp4", zeroed)
    with av.open(str(good)) as container:
        times = [float(f.time) for f in container.decode(video=0)]
    out = tmp_path / "faces.parquet"
    result = cli.verbose("detect", str(holed), "-o", str(out))
    assert result.exit_code == 0, result.output
    (video,) = read_metadata(str(out))["videos"]
    assert video["frames_decoded"] == video["frames_processed"] == 24 - len(lost)
    assert video["skipped_packets"] == len(lost)
    warning = f"warning: {holed}: {len(lost)} undecodable packet(s) skipped"
    assert lines(result.output, "warning:") == [warning]
    rows = pd.read_parquet(out)
    assert rows.groupby("frame_index").size().eq(1).all() and len(rows) == 24 - len(lost)
    np.testing.assert_allclose(rows.time_s, [t for i, t in enumerate(times) if i not in lost])


@pytest.mark.parametrize("zeroed, lost", [([9, 10], [9, 10]), ([8], [8, 9, 10]), ([20], [20, 21, 22])])
@pytest.mark.parametrize("threads", [1, 16])
def test_damage_near_the_end_loses_the_same_frames_with_many_decoder_threads(
        tmp_path: Path, clips: dict[str, Path], zeroed: list[int], lost: list[int], threads: int) -> None:
    """16 frame threads (a 16-core machine) once lost every frame queued behind the damage."""
    holed = zeroed_packets(clips["gop4"], tmp_path / "holed.mp4", zeroed)
    with VideoReader(str(holed), threads=threads) as reader:
        kept = [round(frame.time_s * 25) for frame in reader.frames()]
        assert kept == [i for i in range(24) if i not in lost]
        assert reader.skipped_packets == len(lost)


def test_a_video_failing_part_way_leaves_no_rows_in_a_shared_output(cli, tmp_path: Path,
                                                                   clips: dict[str, Path]) -> None:
    """The truncated MKV decodes 19 frames before its loss shows: none of its rows may remain."""
    cut = truncated(clips["mkv"], tmp_path / "cut.mkv", 0.8)
    good = [str(clips["mp4"]), str(clips["gop4"])]
    out = tmp_path / "faces.csv"
    result = cli.verbose("detect", good[0], str(cut), good[1], "-o", str(out), "-q")
    assert result.exit_code == 1 and str(cut) in lines(result.output, "failed:")[0]
    rows = pd.read_csv(out)
    assert sorted(rows.video.unique()) == sorted(good) and len(rows) == 48
    meta = read_metadata(str(out))
    assert [v["video"] for v in meta["videos"]] == good and [f["input"] for f in meta["failed"]] == [str(cut)]


# --- odd but valid input just works -------------------------------------------------------

@dataclass(frozen=True)
class Odd:
    """An odd-but-valid clip and what reading it must give."""

    make: Callable[[Path], Path]  # scratch folder -> the clip
    frames: int
    size: tuple[int, int] = (FACE.width, FACE.height)  # displayed
    face: StillFace | None = FACE  # where the face is; None: no face in the clip
    times: list[float] | None = None  # None: i / 25
    pix_fmt: str | None = None  # the stored pixel format, checked so that the case is what it says
    codecs: tuple[str, ...] = ()  # an encoder, then the decoders of which one must exist


def _clip(name: str, face: StillFace | Callable[[int], np.ndarray] = FACE, frames: int = 4,
          **kwargs: object) -> Callable[[Path], Path]:
    """A clip of one picture repeated, through clips.write_clip."""
    frame_at = face.frame if isinstance(face, StillFace) else face
    return lambda d: write_clip(d / name, frame_at, frames, **kwargs)


def _tracks(name: str, *tracks: Track) -> Callable[[Path], Path]:
    return lambda d: write_tracks(d / name, tracks)


def _rotated(turns: int) -> Callable[[Path], Path]:
    """Frames stored turned clockwise with a display matrix that turns them back (as phones do)."""
    return _clip(f"rot{90 * turns}.mp4", lambda i: np.ascontiguousarray(np.rot90(FACE.frame(i), -turns)), 6,
                 rotation=90 * turns)


def _alpha(i: int) -> np.ndarray:
    """The face opaque on a fully transparent background."""
    rgb = FACE.frame(i)
    alpha = np.zeros(rgb.shape[:2] + (1,), np.uint8)
    x, y = FACE.at
    alpha[y:y + FACE.head_height, x:x + astronaut_head(FACE.head_height).shape[1]] = 255
    return np.concatenate([rgb, alpha], axis=2)


PER_25 = Fraction(1, 25)
VFR_MS = [0, 40, 80, 160, 180, 280, 320, 353, 386, 419, 619, 659]
ODD_SIZE_420, ODD_SIZE_444 = StillFace(321, 241, 150), StillFace(333, 199, 150)
ODD: dict[str, Odd] = {
    "1x1": Odd(_clip("1x1.mp4", StillFace(1, 1, 1), 3, pix_fmt="yuv444p"), 3, (1, 1), face=None),
    "3x5": Odd(_clip("3x5.mkv", StillFace(3, 5, 5), 3, pix_fmt="yuv444p"), 3, (3, 5), face=None),
    "odd_size_420": Odd(_clip("odd.mkv", ODD_SIZE_420, codec="ffv1"), 4, (321, 241), ODD_SIZE_420,
                        pix_fmt="yuv420p"),
    "odd_size_444": Odd(_clip("odd.mp4", ODD_SIZE_444, pix_fmt="yuv444p"), 4, (333, 199), ODD_SIZE_444,
                        pix_fmt="yuv444p"),
    "10_bit": Odd(_clip("10bit.mp4", pix_fmt="yuv420p10le"), 4, pix_fmt="yuv420p10le"),
    "alpha": Odd(_tracks("alpha.mov", Track(_alpha, range(4), PER_25, "png", "rgba")), 4, pix_fmt="rgba"),
    "variable_frame_rate": Odd(_tracks("vfr.mkv", Track(FACE.frame, VFR_MS)), 12,
                               times=[t / 1000 for t in VFR_MS]),
    "late_start_mp4": Odd(_tracks("late.mp4", Track(FACE.frame, range(50, 56), PER_25)), 6,
                          times=[2 + i / 25 for i in range(6)]),
    "late_start_mkv": Odd(_tracks("late.mkv", Track(FACE.frame, range(50, 56), PER_25)), 6,
                          times=[2 + i / 25 for i in range(6)]),
    "b_frames_negative_dts": Odd(_tracks("bframes.mp4", Track(FACE.frame, range(12), PER_25,
                                                              options={"bf": "3"})), 12),
    # Frames before time 0 are hidden by the MP4 edit list, as players hide them; not "skipped".
    "negative_pts_hidden_by_edit_list": Odd(_tracks("negpts.mp4", Track(FACE.frame, range(-3, 9), PER_25)),
                                            9),
    "rotation_90": Odd(_rotated(1), 6),
    "rotation_180": Odd(_rotated(2), 6),
    "rotation_270": Odd(_rotated(3), 6),
    "hevc": Odd(_clip("hevc.mp4", codec="libx265", options={"x265-params": "log-level=error"}), 4,
                codecs=("libx265", "hevc")),
    "vp9": Odd(_clip("vp9.webm", codec="libvpx-vp9"), 4, codecs=("libvpx-vp9", "vp9", "libvpx-vp9")),
    "av1": Odd(_clip("av1.mkv", codec="libsvtav1"), 4, codecs=("libsvtav1", "libdav1d", "av1")),
    "with_audio": Odd(_clip("talk.mp4", frames=6, audio=True), 6),
}


def _has(codec: str, mode: str) -> bool:
    try:
        av.Codec(codec, mode)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("case", list(ODD))
def test_odd_but_valid_input_just_works(cli, tmp_path: Path, case: str) -> None:
    odd = ODD[case]
    if odd.codecs and not (_has(odd.codecs[0], "w") and any(_has(c, "r") for c in odd.codecs[1:])):
        pytest.skip(f"this FFmpeg lacks the {odd.codecs[0]} encoder or a decoder for it")
    source = odd.make(tmp_path)
    if odd.pix_fmt:
        with av.open(str(source)) as container:
            assert container.streams.video[0].codec_context.pix_fmt == odd.pix_fmt
    out = tmp_path / "faces.parquet"
    result = cli.verbose("detect", str(source), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert not lines(result.output, "warning:"), result.output
    (video,) = read_metadata(str(out))["videos"]
    assert video["frames_decoded"] == video["frames_processed"] == odd.frames
    assert (video["width"], video["height"]) == odd.size and video["skipped_packets"] == 0
    rows = pd.read_parquet(out)
    if odd.face is None:
        assert rows.empty
        return
    assert len(rows) == odd.frames and rows.frame_index.tolist() == list(range(odd.frames))
    assert (rows.frame_width == odd.size[0]).all() and (rows.frame_height == odd.size[1]).all()
    assert_box(rows, odd.face.box)
    times = odd.times or [i / 25 for i in range(odd.frames)]
    np.testing.assert_allclose(rows.time_s, times, atol=1e-6)


def test_b_frame_corpus_really_starts_with_negative_dts(tmp_path: Path) -> None:
    source = ODD["b_frames_negative_dts"].make(tmp_path)
    with av.open(str(source)) as container:
        first = next(container.demux(video=0))
    assert first.dts < 0 <= first.pts


def test_multiple_video_streams_first_by_default_and_stream_option(cli, tmp_path: Path) -> None:
    left, right = StillFace(top_left=(0, 40)), StillFace(top_left=(170, 40))
    views = [Track(face.frame, range(0, 240, 40)) for face in (left, right)]
    source = write_tracks(tmp_path / "two views.mkv", views, audio_first_s=0.3)
    for args, face, index in (((), left, 1), (("--stream", "1"), right, 2)):  # audio is stream 0
        out = tmp_path / f"faces{index}.parquet"
        assert cli.verbose("detect", str(source), "-o", str(out), "-q", *args).exit_code == 0
        assert read_metadata(str(out))["videos"][0]["stream_index"] == index
        rows = pd.read_parquet(out)
        assert len(rows) == 6
        assert_box(rows, face.box)
    result = cli.verbose("detect", str(source), "-o", str(tmp_path / "none.parquet"), "--stream", "2")
    assert result.exit_code == 1 and "--stream 2 does not exist (it has 2 video stream(s))" in result.output
    assert not (tmp_path / "none.parquet").exists()


def test_paths_with_spaces_and_non_ascii(cli, tmp_path: Path) -> None:
    folder = tmp_path / "vidéos d'été"
    folder.mkdir()
    source = _clip("clip 東京 ü #1.mp4", frames=3)(folder)
    out = tmp_path / "sortie ü" / "visages 1.csv"
    out.parent.mkdir()
    assert cli.verbose("detect", str(source), "-o", str(out), "-q").exit_code == 0
    rows = pd.read_csv(out)
    assert (rows.video == str(source)).all() and len(rows) == 3
    assert cli.verbose("detect", str(folder), "-o", f"{tmp_path / 'per file'}/", "-q").exit_code == 0
    assert len(pd.read_parquet(tmp_path / "per file" / "clip 東京 ü #1.mp4.parquet")) == 3


@pytest.mark.parametrize("name", ["cam:1.mp4", "pipe:1.mp4", "file:x.mp4"])
def test_names_that_look_like_protocols_are_files(cli, tmp_path: Path, name: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """FFmpeg read `cam:1.mp4`, given as it stood, as the protocol `cam:` ("damaged or
    truncated"), and `pipe:1.mp4` as its standard output."""
    source = _clip(name, frames=3)(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.verbose("detect", name, "-o", "faces.csv", "-q").exit_code == 0
    assert len(pd.read_csv(tmp_path / "faces.csv")) == 3
    assert cli.verbose("annotate", name, "-o", "out:1.mp4", "-q").exit_code == 0
    assert (tmp_path / "out:1.mp4").stat().st_size > 1000 and source.exists()


def test_very_large_frames_keep_memory_bounded(tmp_path: Path) -> None:
    """4000x3000, 90 frames: the face is found, and peak memory stays below what holding even half
    the frames' RGB would take (the pipeline keeps small model inputs, not frames).

    The decoder's own buffers make the peak vary from run to run (410-960 MiB measured for
    30 frames under different loads), hence a clip long enough for the bound to mean something."""
    big = StillFace(4000, 3000, 1800)
    one = write_tracks(tmp_path / "one.mp4", [Track(big.frame, [0], PER_25)])
    source = remux(one, tmp_path / "big.mkv", times=90)
    out = tmp_path / "faces.parquet"
    measure = ("import resource, runpy, sys\n"
               "try:\n    runpy.run_module('blazecli', run_name='__main__')\n"
               "finally:\n"
               "    print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", measure, "detect", str(source), "-o", str(out), "-q"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    peak_mib = int(done.stderr.split("peak")[-1]) / 1024
    frame_mib = 4000 * 3000 * 3 / 2**20
    assert peak_mib < 400 + 45 * frame_mib, peak_mib
    rows = pd.read_parquet(out)
    assert len(rows) == 90 and (rows.frame_width == 4000).all()
    assert_box(rows, big.box)


# --- interruption ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    """5,000 frames (200 s): far longer than any test waits, made in a fraction of a second."""
    folder = tmp_path_factory.mktemp("long")
    second = write_tracks(folder / "second.mp4", [Track(FACE.frame, range(25), PER_25)])
    return remux(second, folder / "long.mkv", times=200)


def _start(args: list[str], under_way: Callable[[], bool]) -> subprocess.Popen:
    """Start ``blazecli detect`` and return once ``under_way()`` holds and frames are flowing.

    On the CPU: a CUDA session takes seconds to start (2.2-3.9 s on an H200 machine), and on a
    GPU machine the second of waiting below once ended before the first frame.
    """
    process = subprocess.Popen([sys.executable, "-m", "blazecli", "detect", *args, "--device", "cpu"],
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not under_way():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "detect never got going"
        time.sleep(0.02)
    time.sleep(1.0)  # decoding and inference both busy
    return process


def _stop(process: subprocess.Popen, signum: int) -> tuple[float, str]:
    """Send ``signum``; how long the process took to exit, and its stderr."""
    process.send_signal(signum)
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=20)
    return time.monotonic() - sent, stderr


def test_a_stop_while_rows_go_to_stdout_says_so(tmp_path: Path, long_clip: Path) -> None:
    """A run on `-o -` stopped part-way said "no output file was written" after rows had gone
    to stdout."""
    rows = tmp_path / "rows.csv"
    with open(rows, "wb") as stdout:
        process = subprocess.Popen([sys.executable, "-m", "blazecli", "detect", str(long_clip), "-o", "-",
                                    "-q", "--device", "cpu"], stdout=stdout, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while rows.stat().st_size == 0:
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1]
            time.sleep(0.05)
        _, stderr = _stop(process, signal.SIGTERM)
    assert process.returncode == 143 and "Traceback" not in stderr, stderr
    assert "the rows of the frames done went to stdout" in stderr and "no output file" not in stderr


@pytest.mark.slow
@pytest.mark.parametrize("signum, code, word", [(signal.SIGINT, 130, "interrupted"),
                                                (signal.SIGTERM, 143, "terminated"),
                                                (signal.SIGHUP, 129, "hung up")])
def test_signal_stops_promptly_and_leaves_nothing(tmp_path: Path, long_clip: Path, signum: int, code: int,
                                                  word: str) -> None:
    out = tmp_path / "faces.parquet"
    process = _start([str(long_clip), "-o", str(out), "-q"], lambda: bool(leftovers(tmp_path)))
    seconds, stderr = _stop(process, signum)
    assert process.returncode == code, stderr
    assert seconds < 2.0, seconds
    assert "Traceback" not in stderr
    assert f"{word} in {long_clip} after " in stderr
    assert "(input 1 of 1); no output file was written" in stderr
    assert int(stderr.split(" after ")[1].split(" frame")[0].replace(",", "")) > 0
    assert not out.exists() and not leftovers(tmp_path)


@pytest.mark.slow
def test_interrupt_leaves_an_existing_output_untouched(tmp_path: Path, long_clip: Path) -> None:
    out = tmp_path / "faces.csv"
    out.write_text("precious")
    process = _start([str(long_clip), "-o", str(out), "-q", "--overwrite"], lambda: bool(leftovers(tmp_path)))
    _, stderr = _stop(process, signal.SIGINT)
    assert process.returncode == 130, stderr
    assert out.read_text() == "precious" and not leftovers(tmp_path)
    assert not (tmp_path / "faces.csv.meta.json").exists()


@pytest.mark.slow
def test_interrupted_batch_resumes_with_skip_existing(cli, tmp_path: Path, long_clip: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    _clip("a.mp4", frames=6)(src)
    shutil.copy(long_clip, src / "b.mkv")
    process = _start([str(src), "-o", f"{out}/", "-q"],
                     lambda: (out / "a.mp4.parquet").exists() and bool(leftovers(out)))
    _, stderr = _stop(process, signal.SIGINT)
    assert process.returncode == 130, stderr
    assert f"in {src / 'b.mkv'} after " in stderr and "(input 2 of 2)" in stderr
    assert "1 finished output(s) kept, rerun with --skip-existing to resume" in stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4.parquet"]
    finished = (out / "a.mp4.parquet").stat()
    # The rerun must not redo a.mp4; b.mkv is swapped for a short clip only to keep the test fast.
    _clip("b.mkv", frames=5)(src)
    result = cli.verbose(
        "detect", str(src), "-o", f"{out}/", "--skip-existing", "-q", "--report", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["skipped"] == [str(src / "a.mp4")] and report["outputs"] == [str(out / "b.mkv.parquet")]
    assert (out / "a.mp4.parquet").stat().st_mtime_ns == finished.st_mtime_ns
    assert len(pd.read_parquet(out / "b.mkv.parquet")) == 5


# --- output side ----------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path, request: pytest.FixtureRequest):
    """An 8 KiB tmpfs (or the size parametrized indirectly): a full disk for real (skips where
    mounting is not permitted)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    size = getattr(request, "param", "8k")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root and mount permission)")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.parametrize("name", ["faces.jsonl", "faces.parquet", "per-file/"])
def test_full_disk_is_a_clear_error_and_leaves_no_partial_file(cli, small_disk: Path, tmp_path: Path,
                                                               clips: dict[str, Path], name: str) -> None:
    """Each output here (~10 KB) outgrows the disk: the run stops at the first write that fails."""
    sources = [str(shutil.copy(clips["mp4"], tmp_path / f"face{i}.mp4")) for i in range(2)]
    result = cli.verbose("detect", *sources, "-o", f"{small_disk}/{name}", "-q")
    assert result.exit_code == 5, result.output
    (line,) = lines(result.output, "error:")
    assert "No space left on device" in line and str(small_disk) in line
    assert [p for p in small_disk.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("audio", [True, False])
def test_annotate_onto_a_full_disk_says_the_disk_is_full(small_disk: Path, clips: dict[str, Path],
                                                          audio: bool) -> None:
    """No byte free: the container's header fails. It was read as a container that cannot hold
    the audio, with advice to pick another format."""
    with open(small_disk / "fill", "wb") as fill:  # every page of the disk taken
        try:
            fill.write(b"\0" * 16384)
        except OSError:
            pass
    source = clips["mp4"]
    if audio:
        from clips import write_clip

        grey = np.full((120, 160, 3), 90, np.uint8)
        source = write_clip(small_disk.parent / "with_audio.mp4", lambda i: grey, 10, audio=True)
    # In its own process: PyAV keeps a file open whose header failed, and the disk stays busy.
    done = subprocess.run([sys.executable, "-m", "blazecli", "annotate", str(source), "-o",
                           f"{small_disk}/hidden.mp4", "-q"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 5, done.stderr
    (line,) = lines(done.stderr, "error:")
    assert line == f"error: {small_disk}/hidden.mp4: write failed (No space left on device)", line
    assert [p.name for p in small_disk.iterdir()] == ["fill"]


@pytest.mark.parametrize("small_disk", ["4k"], indirect=True)
@pytest.mark.parametrize("output", ["faces.csv", "per-file/"])
def test_rows_without_room_for_their_sidecar_are_not_published(cli, small_disk: Path,
                                                               clips: dict[str, Path], output: str) -> None:
    """One page: the rows fit, their metadata does not. The CSV used to stay without it, and
    --skip-existing then took the input for done."""
    args = [str(clips["mp4"]), "-o", f"{small_disk}/{output}", "-q", "--end", "0.1"]
    if output.endswith("/"):
        args += ["--format", "csv"]
    for _ in range(2):  # the second run, resuming, finds nothing done
        result = cli.verbose("detect", *args, "--skip-existing")
        assert result.exit_code == 5 and "meta.json: write failed (No space left" in result.output
        assert [p for p in small_disk.rglob("*") if p.is_file()] == []


def test_skip_existing_keeps_only_whole_outputs(cli, tmp_path: Path, clips: dict[str, Path]) -> None:
    """An empty or cut Parquet file, or a folder, in an output's place was taken for a finished
    output and its input skipped (exit 0)."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for name in ("empty", "cut", "whole"):
        shutil.copy(clips["mp4"], src / f"{name}.mp4")
    assert cli("detect", str(src / "whole.mp4"), "-o", f"{out}/").exit_code == 0
    whole = (out / "whole.mp4.parquet").read_bytes()
    (out / "empty.mp4.parquet").write_bytes(b"")
    (out / "cut.mp4.parquet").write_bytes(whole[:len(whole) // 2])
    report = tmp_path / "report.json"
    result = cli.verbose("detect", str(src), "-o", f"{out}/", "--skip-existing", "--report", str(report))
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text())["skipped"] == [str(src / "whole.mp4")]
    for name in ("empty", "cut"):  # made again
        assert (out / f"{name}.mp4.parquet").read_bytes()[-4:] == b"PAR1"
    (out / "folder.mp4.parquet").mkdir()
    shutil.copy(clips["mp4"], tmp_path / "folder.mp4")
    result = cli.verbose("detect", str(tmp_path / "folder.mp4"), "-o", f"{out}/", "--skip-existing")
    assert result.exit_code == 5 and "folder.mp4.parquet: is a directory" in result.output


@pytest.mark.parametrize("fmt, content", [
    ("parquet", None),  # a video in the output's place
    ("csv", b"my notes\n"),
    ("jsonl", b'{"note": 1}\n'),
])
def test_skip_existing_never_replaces_someone_elses_file(cli, tmp_path: Path, clips: dict[str, Path],
                                                         fmt: str, content: bytes | None) -> None:
    """Every file in an output's place that was not a finished output was taken for an
    unfinished one and replaced, without --overwrite: notes, a video, someone's JSON."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    shutil.copy(clips["mp4"], src / "a.mp4")
    theirs = out / f"a.mp4.{fmt}"
    kept = content if content is not None else clips["mkv"].read_bytes()
    theirs.write_bytes(kept)
    result = cli.verbose("detect", str(src), "-o", f"{out}/", "--format", fmt, "--skip-existing", "-q")
    assert result.exit_code != 0 and f"{theirs}: already exists" in result.output
    assert theirs.read_bytes() == kept
    if fmt != "parquet":  # nor a sidecar that is not a run's
        theirs.unlink()
        sidecar = out / f"a.mp4.{fmt}.meta.json"
        sidecar.write_text('{"mine": true}')
        result = cli.verbose("detect", str(src), "-o", f"{out}/", "--format", fmt, "--skip-existing", "-q")
        assert result.exit_code != 0 and f"{sidecar}: already exists" in result.output
        assert sidecar.read_text() == '{"mine": true}' and not theirs.exists()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_skip_existing_redoes_rows_cut_short(cli, tmp_path: Path, clips: dict[str, Path], fmt: str) -> None:
    """Rows a run began (a copy cut off, a run stopped before its sidecar) are redone."""
    shutil.copy(clips["mp4"], tmp_path / "a.mp4")
    rows = tmp_path / f"faces.{fmt}"
    assert cli("detect", str(tmp_path / "a.mp4"), "-o", str(rows)).exit_code == 0
    whole = rows.read_bytes()
    rows.write_bytes(whole[:7])
    Path(f"{rows}.meta.json").unlink()
    result = cli.verbose("detect", str(tmp_path / "a.mp4"), "-o", str(rows), "--skip-existing", "-q")
    assert result.exit_code == 0, result.output
    assert rows.read_bytes() == whole and Path(f"{rows}.meta.json").is_file()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("cut", ["mid-row", "at a line"])
def test_skip_existing_redoes_rows_cut_short_beside_their_sidecar(cli, tmp_path: Path, clips: dict[str, Path],
                                                                  fmt: str, cut: str) -> None:
    """A copy cut off kept its sidecar: the output was taken for finished and skipped."""
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(clips["mp4"], src / "new\nline.mp4")  # a line break inside a CSV field too
    out = tmp_path / "out"
    assert cli("detect", str(src), "-o", f"{out}/", "--format", fmt).exit_code == 0
    rows = out / f"new\nline.mp4.{fmt}"
    whole = rows.read_bytes()
    again = cli.verbose("detect", str(src), "-o", f"{out}/", "--format", fmt, "--skip-existing")
    assert again.exit_code == 0 and "skipped 1 existing" in again.output  # whole: kept
    end = len(whole) // 2
    rows.write_bytes(whole[:whole.rindex(b"\n", 0, end) + 1] if cut == "at a line" else whole[:end])
    result = cli.verbose("detect", str(src), "-o", f"{out}/", "--format", fmt, "--skip-existing")
    assert result.exit_code == 0 and "1 file(s)" in result.output, result.output
    assert rows.read_bytes() == whole


@pytest.mark.parametrize("sidecar, redone", [
    (b"", True),  # empty
    (None, True),  # cut short, as a copy cut off leaves it (its first 600 bytes)
    (b'{\n  "blazecli_version": "0.1.0", "videos": [{"faces": 1e400}]}', True),  # says no count
    (b"[" * 200_000 + b"]" * 200_000, False),  # nested past Python's depth: someone's own
])
def test_skip_existing_reads_any_sidecar_without_a_traceback(cli, tmp_path: Path, clips: dict[str, Path],
                                                             sidecar: bytes | None, redone: bool) -> None:
    """A sidecar saying 1e400 faces, or nested past Python's depth, ended --skip-existing in
    a traceback; one cut short was taken for someone else's, in the rows file's name."""
    shutil.copy(clips["mp4"], tmp_path / "a.mp4")
    rows = tmp_path / "faces.csv"
    meta = Path(f"{rows}.meta.json")
    assert cli("detect", str(tmp_path / "a.mp4"), "-o", str(rows)).exit_code == 0
    whole = rows.read_bytes()
    meta.write_bytes(meta.read_bytes()[:600] if sidecar is None else sidecar)
    result = cli.verbose("detect", str(tmp_path / "a.mp4"), "-o", str(rows), "--skip-existing", "-q")
    assert "Traceback" not in result.output
    if redone:
        assert result.exit_code == 0, result.output
        assert rows.read_bytes() == whole and json.loads(meta.read_text())["videos"][0]["faces"] > 0
    else:
        assert result.exit_code == 5 and f"{meta}: already exists and is not a blazecli output" in result.output


def test_skip_existing_parses_csv_rows_whose_names_hold_line_breaks(cli, tmp_path: Path,
                                                                   clips: dict[str, Path]) -> None:
    """Lines were counted: rows cut at a line inside a name's line break passed for whole."""
    src = tmp_path / "nm"
    src.mkdir()
    shutil.copy(clips["mp4"], src / "x\ny.mp4")
    rows = tmp_path / "faces.csv"
    assert cli("detect", str(src), "-o", str(rows)).exit_code == 0
    whole = rows.read_bytes()
    faces = json.loads(Path(f"{rows}.meta.json").read_text())["videos"][0]["faces"]
    rows.write_bytes(b"".join(whole.splitlines(keepends=True)[:faces + 1]))  # as many lines as rows + header
    result = cli.verbose("detect", str(src), "-o", str(rows), "--skip-existing", "-q")
    assert result.exit_code == 0 and rows.read_bytes() == whole


def test_skip_existing_keeps_a_whole_csv_whose_name_is_not_utf8(cli, tmp_path: Path, clips: dict[str, Path]) -> None:
    """pyarrow was handed the CSV by name, which it takes as UTF-8: a Latin-1 name could not
    be read, and its whole output was made again on every rerun."""
    shutil.copy(clips["mp4"], tmp_path / "a.mp4")
    rows = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.csv"))
    assert cli("detect", str(tmp_path / "a.mp4"), "-o", str(rows)).exit_code == 0
    result = cli.verbose("detect", str(tmp_path / "a.mp4"), "-o", str(rows), "--skip-existing")
    assert result.exit_code == 0 and "skipped 1 existing" in result.output, result.output


def test_no_output_replaces_an_input(cli, tmp_path: Path, clips: dict[str, Path]) -> None:
    """Only `-o` itself was checked against the inputs: one input's output in a folder, or the
    sidecar beside a CSV, could be another input, and was written over it."""
    folder = tmp_path / "v"
    folder.mkdir()
    shutil.copy(clips["mp4"], folder / "y.mp4")
    shutil.copy(clips["mkv"], folder / "y.mp4.parquet")  # a video, named as y.mp4's output
    result = cli.verbose("detect", str(folder / "y.mp4"), str(folder / "y.mp4.parquet"), "-o", f"{folder}/",
                         "--overwrite", "-q")
    assert result.exit_code == 2, result.output
    assert f"which is the input {folder / 'y.mp4.parquet'}" in result.output
    assert (folder / "y.mp4.parquet").read_bytes() == clips["mkv"].read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == ["y.mp4", "y.mp4.parquet"]
    shutil.copy(clips["mkv"], tmp_path / "b.csv.meta.json")  # the sidecar of b.csv
    result = cli.verbose("detect", str(folder / "y.mp4"), str(tmp_path / "b.csv.meta.json"),
                         "-o", str(tmp_path / "b.csv"), "--overwrite", "-q")
    assert result.exit_code == 2 and "b.csv.meta.json, which is the input" in result.output
    assert (tmp_path / "b.csv.meta.json").read_bytes() == clips["mkv"].read_bytes()
    assert not (tmp_path / "b.csv").exists()


def test_control_characters_in_names_stay_on_one_line(cli, tmp_path: Path) -> None:
    """A newline in a file name broke its `failed:` line in two, and an escape sequence in one
    cleared or recoloured the terminal: the progress bar escaped them, the messages did not."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "bad\nfile.mp4").write_bytes(b"x")
    (folder / "red\x1b[31mX.mp4").write_bytes(b"x")
    result = cli.verbose("detect", str(folder), "-o", str(tmp_path / "f.csv"))
    assert result.exit_code == 1
    assert "bad\\nfile.mp4: not a video" in result.output and "red\\x1b[31mX.mp4: not a video" in result.output
    assert "\x1b" not in result.output and "bad\nfile" not in result.output


def test_a_run_that_writes_nothing_leaves_no_folder(cli, tmp_path: Path) -> None:
    """An output folder was made before the inputs were read, and stayed empty when they all
    failed; a report asked for in it is still written."""
    out = tmp_path / "out" / "sub"
    result = cli.verbose("detect", str(tmp_path / "missing.mp4"), "-o", f"{out}/")
    assert result.exit_code == 1 and not (tmp_path / "out").exists()
    result = cli.verbose("detect", str(tmp_path / "missing.mp4"), "-o", f"{out}/", "--report", str(out / "r.json"))
    assert result.exit_code == 1 and [p.name for p in out.iterdir()] == ["r.json"]


def test_unwritable_folder_is_a_clear_error(cli, tmp_path: Path, clips: dict[str, Path]) -> None:
    in_the_way = tmp_path / "report.txt"
    in_the_way.write_text("a file, not a folder")
    result = cli.verbose("detect", str(clips["mp4"]), "-o", str(in_the_way / "faces.parquet"), "-q")
    assert result.exit_code == 5 and f"{in_the_way} is a file, not a folder" in result.output
    result = cli.verbose("detect", str(clips["mp4"]), "-o", f"{in_the_way}/sub/", "-q")
    assert result.exit_code == 5
    assert f"{in_the_way}/sub: cannot create folder (Not a directory)" in result.output
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    out = locked / "faces.parquet"
    done = detect_process(str(clips["mp4"]), "-o", str(out), "-q", prefix=without_root_powers())
    assert done.returncode == 5 and f"error: {out}: folder {locked} is not writable (Permission denied)" in done.stderr
    assert list(locked.iterdir()) == [] and "Traceback" not in done.stderr


def test_read_only_file_system(cli, tmp_path: Path, clips: dict[str, Path]) -> None:
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=16k", "tmpfs", str(mount)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a read-only tmpfs here")
    try:
        for target in (f"{mount}/faces.parquet", f"{mount}/per-file/"):
            result = cli.verbose("detect", str(clips["mp4"]), "-o", target, "-q")
            assert result.exit_code == 5 and "Read-only file system" in result.output, result.output
        # The report and stability's per-frame file are checked before the work, too.
        result = cli.verbose(
            "detect", str(clips["mp4"]), "-o", str(tmp_path / "f.csv"), "-q", "--report", f"{mount}/r.json")
        assert result.exit_code == 5 and "not writable" in result.output and not (tmp_path / "f.csv").exists()
        result = CliRunner().invoke(app, ["stability", str(clips["mp4"]), "-q", "-o", f"{mount}/j.parquet"])
        assert result.exit_code == 5 and "not writable" in result.output
        assert list(mount.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_existing_outputs_are_never_clobbered_without_overwrite(cli, tmp_path: Path,
                                                                clips: dict[str, Path]) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    for name in ("a", "b"):
        shutil.copy(clips["mp4"], src / f"{name}.mp4")
    (out / "a.mp4.parquet").write_text("precious")
    result = cli.verbose("detect", str(src), "-o", f"{out}/", "-q")
    assert result.exit_code == 1
    exists = f"failed: {out / 'a.mp4.parquet'}: already exists (use --overwrite to replace it)"
    assert lines(result.output, "failed:") == [exists]
    assert (out / "a.mp4.parquet").read_text() == "precious" and len(pd.read_parquet(out / "b.mp4.parquet")) == 24


def test_a_file_in_the_sidecars_place_is_kept_without_overwrite(cli, tmp_path: Path,
                                                               clips: dict[str, Path]) -> None:
    """faces.csv.meta.json of the user's own was replaced without a word."""
    out = tmp_path / "faces.csv"
    sidecar = tmp_path / "faces.csv.meta.json"
    sidecar.write_text('{"mine": 1}')
    result = cli.verbose("detect", str(clips["mp4"]), "-o", str(out), "-q")
    assert result.exit_code == 5 and f"{sidecar}: already exists (use --overwrite" in result.output
    assert sidecar.read_text() == '{"mine": 1}' and not out.exists() and not leftovers(tmp_path)
    assert cli.verbose("detect", str(clips["mp4"]), "-o", str(out), "-q", "--overwrite").exit_code == 0
    assert json.loads(sidecar.read_text())["videos"][0]["frames_processed"] == 24


def test_report_is_checked_before_the_run(cli, tmp_path: Path, clips: dict[str, Path]) -> None:
    out = tmp_path / "f.parquet"
    result = cli.verbose(
        "detect", str(clips["mp4"]), "-o", str(out), "-q", "--report", str(tmp_path / "missing" / "r.json"))
    assert result.exit_code == 5 and "folder" in result.output and "does not exist" in result.output
    video = tmp_path / "v.mp4"
    shutil.copy(clips["mp4"], video)
    for report in (out, video, tmp_path / "f.csv.meta.json"):  # neither the output, an input nor JSON of ours
        result = cli.verbose("detect", str(video), "-o", str(out), "-q", "--overwrite", "--report", str(report))
        assert result.exit_code == 2 and "--report" in result.output
    rows_json = tmp_path / "rows.json"  # JSON Lines rows named .json: the output, all the same
    result = cli.verbose(
        "detect", str(video), "-o", str(rows_json), "--format", "jsonl", "-q", "--report", str(rows_json))
    assert result.exit_code == 2 and "is the output or an input" in result.output
    assert video.read_bytes() == clips["mp4"].read_bytes()
    (tmp_path / "notes.json").write_text("precious")
    result = cli.verbose("detect", str(clips["mp4"]), "-o", str(out), "-q", "--report", str(tmp_path / "notes.json"))
    assert result.exit_code == 5 and (tmp_path / "notes.json").read_text() == "precious"
    assert not out.exists()  # nothing ran
    # Into the output folder the run creates.
    result = cli.verbose(
        "detect", str(clips["mp4"]), "-o", f"{tmp_path / 'out'}/", "-q", "--report", str(tmp_path / "out" / "r.json"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / "r.json").read_text())["done"][0]["frames_processed"] == 24


# --- outputs and options a user gets wrong --------------------------------------------------

def test_inputs_differing_by_extension_keep_it_in_a_folder_output(cli, tmp_path: Path,
                                                                  clips: dict[str, Path]) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(clips["mp4"], src / "clip.mp4")
    shutil.copy(clips["mkv"], src / "clip.mkv")
    shutil.copy(clips["mp4"], src / "sub" / "other.mp4")
    os.link(src / "sub" / "other.mp4", src / "sub" / "same.mp4")  # one file under two names: read once
    shutil.copy(clips["mp4"], src / "._clip.mp4")  # a macOS resource copy, hidden: left out
    (src / ".cache").mkdir()
    shutil.copy(clips["mp4"], src / ".cache" / "x.mp4")
    out = tmp_path / "out"
    assert cli.verbose("detect", str(src), "-o", f"{out}/", "-q").exit_code == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet"))
    assert written == ["clip.mkv.parquet", "clip.mp4.parquet", "sub/other.mp4.parquet"]
    assert all(len(pd.read_parquet(out / name)) == 24 for name in written)
    # The same name from two folders cannot be told apart: refused before any work.
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(clips["mp4"], other / "clip.mp4")
    result = cli.verbose("detect", str(src / "clip.mp4"), str(other / "clip.mp4"), "-o", f"{tmp_path / 'two'}/", "-q")
    assert result.exit_code == 2 and "would both be written to" in result.output
    assert not (tmp_path / "two").exists()
    # `sub/../clip.mp4` is not below sub/: its output stays in the output folder.
    result = cli.verbose(
        "detect", str(src / "sub"), str(src / "sub" / ".." / "clip.mp4"), "-o", f"{tmp_path / 'up'}/", "-q")
    assert result.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "up").iterdir()) == ["clip.mp4.parquet", "other.mp4.parquet"]
    # One file met twice (given twice, and through its folder) is read once.
    shared = tmp_path / "shared.csv"
    spellings = (str(src / "clip.mp4"), str(src / "sub" / ".." / "clip.mp4"), str(src))
    assert cli.verbose("detect", *spellings, "-o", str(shared), "-q").exit_code == 0
    rows = pd.read_csv(shared)
    assert rows.groupby("video").size().to_dict() == {
        str(src / "clip.mkv"): 24, str(src / "clip.mp4"): 24, str(src / "sub" / "other.mp4"): 24}


def test_output_mistakes_are_usage_errors(cli, tmp_path: Path, clips: dict[str, Path]) -> None:
    video = tmp_path / "v.mkv"
    shutil.copy(clips["mkv"], video)
    result = cli.verbose("detect", str(video), "-o", str(video), "--format", "csv", "--overwrite", "-q")
    assert result.exit_code == 2 and "is the input" in result.output
    assert video.read_bytes() == clips["mkv"].read_bytes()
    assert cli.verbose("detect", str(video), "-o", "", "-q").exit_code == 2
    # Rows named as a video: a later run over the folder read them as a broken video.
    result = cli.verbose("detect", str(video), "-o", str(tmp_path / "rows.mp4"), "--format", "parquet", "-q")
    assert result.exit_code == 2 and "named as a video or a photo" in result.output
    assert not (tmp_path / "rows.mp4").exists()
    result = cli.verbose("detect", "-", "-", "-o", str(tmp_path / "f.csv"), "-q")
    assert result.exit_code == 2 and "more than once" in result.output
    long_name = tmp_path / ("n" * 250 + ".mkv")
    shutil.copy(clips["mkv"], long_name)
    result = cli.verbose("detect", str(long_name), "-o", f"{tmp_path / 'per'}/", "-q")
    assert result.exit_code == 2 and "longer than 255 bytes" in result.output


@pytest.mark.parametrize("command", ["detect", "annotate"])
def test_memory_running_out_on_the_decoding_thread_ends_the_run(tmp_path: Path, clips: dict[str, Path],
                                                               command: str) -> None:
    """A batch too large to allocate failed on the decoding thread, whose error never reached
    the consumer: a traceback, then a process waiting for ever."""
    out = tmp_path / ("out.mp4" if command == "annotate" else "out.csv")
    script = ("import sys, numpy as np\n"
              "import blazecli.jobs.detect as job\n"
              "def refuse(*args, **kwargs): raise np.core._exceptions._ArrayMemoryError((10**12,), np.dtype('u1'))\n"
              "job._Batch = refuse\n"
              "from blazecli.cli import main\n"
              f"sys.argv = ['blazecli', '{command}', sys.argv[1], '-o', sys.argv[2], '-q']\n"
              "main()\n")
    done = subprocess.run([sys.executable, "-c", script, str(clips["mkv"]), str(out)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "not enough memory" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists() and not leftovers(tmp_path)


@pytest.mark.parametrize("value", ["nan", "inf"])
@pytest.mark.parametrize("option", ["--smooth-cutoff", "--smooth-beta", "--start", "--end"])
def test_not_a_number_is_refused(cli, tmp_path: Path, clips: dict[str, Path], option: str,
                                 value: str) -> None:
    """inf was taken as a time, and written to the metadata as `Infinity`, which is not JSON."""
    out = tmp_path / "f.csv"
    result = cli.verbose("detect", str(clips["mkv"]), "-o", str(out), "-q", option, value)
    assert result.exit_code == 2 and option in result.output and not out.exists()


@pytest.mark.parametrize("option", ["--every", "--threads", "--batch-size"])
def test_integers_too_large_are_refused(cli, tmp_path: Path, clips: dict[str, Path], option: str) -> None:
    """--every and --threads of 10**20 overflowed a C long in NumPy and ONNX Runtime: tracebacks."""
    out = tmp_path / "f.csv"
    result = cli.verbose("detect", str(clips["mkv"]), "-o", str(out), "-q", option, str(10**20))
    assert result.exit_code == 2 and f"{option} must be within 1 to" in result.output and not out.exists()


def test_output_appearing_meanwhile_is_kept(tmp_path: Path) -> None:
    from blazecli.errors import OutputExistsError
    from blazecli.outputs.sinks import open_sink

    for name in ("f.parquet", "f.csv"):
        out = tmp_path / name
        sink = open_sink(str(out))
        out.write_text("another run's result")  # written while this run worked, with its facts
        Path(f"{out}.meta.json").write_text("its facts")
        with pytest.raises(OutputExistsError):
            sink.commit()
        assert out.read_text() == "another run's result" and not leftovers(tmp_path)
    assert (tmp_path / "f.csv.meta.json").read_text() == "its facts"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_stdout_that_cannot_be_written_is_an_output_error(clips: dict[str, Path]) -> None:
    for command in (["detect", str(clips["mkv"]), "-o", "-", "-q"], ["stability", str(clips["mkv"]), "-q"]):
        with open("/dev/full", "w") as full:
            done = subprocess.run([sys.executable, "-m", "blazecli", *command], stdout=full,
                                  stderr=subprocess.PIPE, text=True, timeout=120)
        assert done.returncode == 5 and "Traceback" not in done.stderr
        assert "stdout: write failed (No space left on device)" in done.stderr


def test_closed_pipe_is_told_apart_from_a_failed_write(tmp_path: Path) -> None:
    from blazecli.errors import OutputNotWritableError
    from blazecli.outputs.sinks import open_sink

    sink = open_sink(str(tmp_path / "f.parquet"))
    try:  # pyarrow reports a closed pipe as a plain OSError, without errno
        assert isinstance(sink._write_failed(OSError("IOError: Broken pipe")), BrokenPipeError)
        assert isinstance(sink._write_failed(OSError(28, "No space left on device")), OutputNotWritableError)
    finally:
        sink.abort()


def test_file_names_that_are_not_utf8(cli, tmp_path: Path, clips: dict[str, Path]) -> None:
    folder = tmp_path / "latin1"
    folder.mkdir()
    shutil.copy(clips["mkv"], os.fsdecode(bytes(folder) + b"/caf\xe9.mkv"))
    out = tmp_path / "f.parquet"
    assert cli.verbose("detect", str(folder), "-o", str(out), "-q").exit_code == 0
    rows = pd.read_parquet(out)
    expected = str(folder) + "/caf\\xe9.mkv"
    assert len(rows) == 24 and (rows.video == expected).all()
    assert read_metadata(str(out))["videos"][0]["video"] == expected


def test_a_pipe_is_read_like_stdin(cli, tmp_path: Path, clips: dict[str, Path]) -> None:
    fifo = tmp_path / "pipe.mkv"
    os.mkfifo(fifo)
    feeder = subprocess.Popen(["sh", "-c", f"cat '{clips['mkv']}' > '{fifo}'"])
    out = tmp_path / "f.csv"
    try:
        assert cli.verbose("detect", str(fifo), "-o", str(out), "-q").exit_code == 0
    finally:
        feeder.wait(timeout=30)
    assert len(pd.read_csv(out)) == 24


def _run(*args: str, stdin=None) -> subprocess.CompletedProcess:  # noqa: ANN001
    return subprocess.run([sys.executable, "-m", "blazecli", *args, "-q"], stdin=stdin,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("sampling", [["--every", "3"], ["--start", "0.3"], ["--keyframes"]])
def test_a_pipe_or_a_file_on_stdin_is_sampled_like_the_file(tmp_path: Path, clips: dict[str, Path],
                                                            sampling: list[str]) -> None:
    """A named pipe hung for good with a sampling option (a second reader opened it to list its
    packets); `<(...)` said 'not a video', and `- < file` 'no such file'."""
    want = _run("detect", str(clips["mkv"]), "-o", str(tmp_path / "file.csv"), *sampling)
    assert want.returncode == 0, want.stderr
    frames = pd.read_csv(tmp_path / "file.csv").frame_index.tolist()
    fifo = tmp_path / "pipe.mkv"
    os.mkfifo(fifo)
    feeder = subprocess.Popen(["sh", "-c", f"cat '{clips['mkv']}' > '{fifo}'"])
    try:
        done = _run("detect", str(fifo), "-o", str(tmp_path / "pipe.csv"), *sampling)
    finally:
        feeder.kill()
        feeder.wait(timeout=30)
    assert done.returncode == 0, done.stderr
    assert pd.read_csv(tmp_path / "pipe.csv").frame_index.tolist() == frames
    with open(clips["mkv"], "rb") as redirected:
        done = _run("detect", "-", "-o", str(tmp_path / "stdin.csv"), *sampling, stdin=redirected)
    assert done.returncode == 0, done.stderr
    assert pd.read_csv(tmp_path / "stdin.csv").frame_index.tolist() == frames


def test_annotate_records_a_named_pipe_as_it_does_stdin(tmp_path: Path, clips: dict[str, Path]) -> None:
    """annotate hung on a named pipe: it opened it a second time for the audio."""
    fifo = tmp_path / "pipe.mkv"
    os.mkfifo(fifo)
    feeder = subprocess.Popen(["sh", "-c", f"cat '{clips['mkv']}' > '{fifo}'"])
    try:
        done = _run("annotate", str(fifo), "-o", str(tmp_path / "out.mkv"))
    finally:
        feeder.kill()
        feeder.wait(timeout=30)
    assert done.returncode == 0, done.stderr
    import av

    with av.open(str(tmp_path / "out.mkv")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 24


# --- batch ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def batch(tmp_path_factory, clips: dict[str, Path]) -> tuple[Path, dict[str, str]]:
    """BATCH_FILES inputs in one folder, tiny 2-frame clips, BATCH_BROKEN of them broken:
    the folder and, per broken file name, words its failure message must hold."""
    folder = tmp_path_factory.mktemp("batch")
    broken: dict[str, tuple[Callable[[Path], Path], str]] = {
        "clip007.mp4": (random_bytes, "not a video"),
        "clip023.mov": (_text, "not a video"),
        "clip042.mp4": (_touch, "empty file"),
        "clip061.mkv": (lambda p: truncated(clips["mkv"], p, 0.8), "truncated"),
        "clip088.mp4": (audio_only, "no video stream"),
    }
    assert len(broken) == BATCH_BROKEN
    template = blank_clip(tmp_path_factory.mktemp("template") / "tiny.mp4", frames=2, width=32, height=32)
    numbers = {name[:7] for name in broken}
    for i in range(BATCH_FILES):
        if f"clip{i:03d}" not in numbers:
            shutil.copy(template, folder / f"clip{i:03d}.mp4")
    for name, (make, _) in broken.items():
        make(folder / name)
    return folder, {name: words for name, (_, words) in broken.items()}


@pytest.mark.parametrize("per_file", [True, False], ids=["per-file", "shared"])
def test_batch_processes_every_good_file_and_lists_each_failure(cli, tmp_path: Path, batch,
                                                                per_file: bool) -> None:
    folder, broken = batch
    good = BATCH_FILES - BATCH_BROKEN
    out = f"{tmp_path}/out/" if per_file else f"{tmp_path}/faces.parquet"
    report = tmp_path / "report.json"
    result = cli.verbose("detect", str(folder), "-o", out, "--report", str(report))
    assert result.exit_code == 1
    failed = lines(result.output, "failed:")
    assert len(failed) == BATCH_BROKEN
    for line, (name, words) in zip(failed, sorted(broken.items()), strict=False):
        assert str(folder / name) in line and words in line, line
    assert f"{good} file(s), {2 * good} frames" in result.output
    summary = json.loads(report.read_text())
    assert [f["input"] for f in summary["failed"]] == [str(folder / name) for name in sorted(broken)]
    assert len(summary["done"]) == good and all(v["frames_processed"] == 2 for v in summary["done"])
    if per_file:
        written = sorted(Path(out).iterdir())
        expected = sorted(f"{p.name}.parquet" for p in folder.iterdir() if p.name not in broken)
        assert [p.name for p in written] == expected
        assert all(read_metadata(str(p))["videos"][0]["frames_processed"] == 2 for p in written)
    else:
        meta = read_metadata(out)
        assert len(meta["videos"]) == good and len(meta["failed"]) == BATCH_BROKEN
    assert not leftovers(tmp_path)


def test_packet_spans_cover_the_clip(clips: dict[str, Path]) -> None:
    """The corpus's byte surgery relies on PyAV's packet offsets; check them once."""
    spans = packet_spans(clips["mp4"])
    data = clips["mp4"].read_bytes()
    assert len(spans) == 24 and all(0 < pos and pos + size <= len(data) for pos, size in spans)


@pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize(("command", "signum", "code", "word"), [("detect", signal.SIGTERM, 143, "terminated"),
                                                                 ("annotate", signal.SIGINT, 130, "interrupted")])
def test_a_signal_stops_a_wait_on_a_named_pipe_without_a_writer(tmp_path: Path, command: str, signum: int,
                                                                code: int, word: str) -> None:
    """SIGTERM was lost while FFmpeg waited for the pipe's writer: the run went on waiting,
    and a writer that came later got "not a video (Interrupted system call)"."""
    pipe = tmp_path / "camera.mkv"
    os.mkfifo(pipe)
    out = tmp_path / ("faces.csv" if command == "detect" else "hidden.mkv")
    process = subprocess.Popen([sys.executable, "-m", "blazecli", command, str(pipe), "-o", str(out)],
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while Path(f"/proc/{process.pid}/wchan").read_text() != "wait_for_partner":  # opening the pipe
            assert process.poll() is None and time.monotonic() < deadline, "never waited on the pipe"
            time.sleep(0.05)
        seconds, stderr = _stop(process, signum)
    finally:
        if process.poll() is None:  # let it go: a writer opens the pipe and leaves
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
            process.wait(timeout=20)
    assert process.returncode == code and seconds < 2.0, stderr
    assert f"{word}" in stderr and "Traceback" not in stderr and not out.exists()


@pytest.mark.parametrize("command", ["detect", "stability"])
def test_a_closed_stderr_does_not_change_the_result(tmp_path: Path, command: str) -> None:
    """With nobody reading stderr (`2>&1 | head`), Rich's console exited 1 when the progress
    stopped: `stability --json` printed nothing and `detect --report` wrote no report."""
    demo = Path(__file__).resolve().parents[1] / "examples" / "demo.mp4"
    args = ([str(demo), "-o", str(tmp_path / "faces.csv"), "--report", str(tmp_path / "report.json")]
            if command == "detect" else [str(demo), "--max-frames", "3", "--json"])
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first message
    try:
        done = subprocess.run([sys.executable, "-m", "blazecli", command, *args], stderr=write_end,
                              stdout=subprocess.PIPE, timeout=120)
    finally:
        os.close(write_end)
    assert done.returncode == 0
    if command == "detect":
        assert json.loads((tmp_path / "report.json").read_text())["done"][0]["faces"] == 200
        assert len((tmp_path / "faces.csv").read_text().splitlines()) == 201
    else:
        assert json.loads(done.stdout)["frames"] == 3


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["annotate", "--help"]])
def test_help_on_a_stdout_that_cannot_take_it_is_an_output_error(args: list[str]) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "blazecli", *args], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    assert done.returncode == 5 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip() == "error: stdout: write failed (No space left on device)"
