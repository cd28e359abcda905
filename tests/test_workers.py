"""``detect --workers``: where videos are cut, that the parts decode to the whole, and that the
rows are those one process writes, damage and signals included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from clips import Path2D, astronaut_head, compose, moving_face_clip, write_clip
from corpus import Track, remux, write_tracks, zeroed_packets

from blazecli.errors import WorkerDiedError
from blazecli.inference.detector import DetectorOptions, FaceDetector
from blazecli.jobs import workers
from blazecli.jobs.detect import FrameSelection
from blazecli.media.packets import (
    PacketTable,
    clean_start_test,
    cut_points,
    plan_segments,
    scan_packets,
)
from blazecli.media.reader import VideoReader
from blazecli.outputs.sinks import read_metadata

KEYINT_10 = {"x264-params": "keyint=10:min-keyint=10:bframes=2"}
HEAD = astronaut_head(120)


def table(pts: list[int], keys: list[int], splittable: bool = True) -> PacketTable:
    n = len(pts)
    return PacketTable(np.array(pts, np.int64), np.arange(n, dtype=np.int64) - 1,
                       np.arange(n, dtype=np.int64) * 100, np.isin(np.arange(n), keys),
                       Fraction(1, 10), splittable)


# --- where a stream can be cut (pure arrays) -------------------------------------------------

def test_cuts_only_at_keyframes_no_frame_displays_across() -> None:
    # Decoding order with B-frames: I0 P3 B1 B2 | I4 P7 B5 B6 | I8 ...: closed GOPs.
    closed = [0, 3, 1, 2, 4, 7, 5, 6, 8, 11, 9, 10]
    assert cut_points(table(closed, [0, 4, 8])).tolist() == [4, 8]
    # Open GOP: the B-frames after I8 show before it (they need the previous GOP): no cut there.
    open_gop = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8]
    assert cut_points(table(open_gop, [0, 4, 7])).tolist() == []
    # A keyframe shown before a frame decoded ahead of it is no cut either.
    assert cut_points(table([0, 5, 1, 2, 3, 4], [0, 2])).tolist() == []
    # Equal timestamps (a broken muxer) cannot be told apart: no cut.
    assert cut_points(table([0, 0, 0, 0], [0, 2])).tolist() == []
    assert cut_points(table(closed, [0, 4, 8], splittable=False)).tolist() == []


def test_segments_cover_the_stream_once_with_their_times() -> None:
    pts = list(range(100))
    segments = plan_segments(table(pts, list(range(0, 100, 10))), 25)
    assert [(s.first, s.count) for s in segments] == [(0, 30), (30, 30), (60, 30), (90, None)]
    assert [s.key_pts for s in segments] == [None, 30, 60, 90]
    assert [s.key_pos for s in segments] == [None, 3000, 6000, 9000]
    assert segments[0].start_s == -np.inf and segments[-1].end_s == np.inf
    assert [s.end_s for s in segments[:-1]] == [3.0, 6.0, 9.0] == [s.start_s for s in segments[1:]]
    assert [(s.first, s.count) for s in plan_segments(table(pts, [0]), 25)] == [(0, None)]


def test_h264_and_hevc_cut_only_at_idr_pictures() -> None:
    avcc = bytes([1, 0x64, 0, 0x1F, 0xFF])  # avcC: 4-byte NAL lengths

    def units(*nals: bytes) -> bytes:
        return b"".join(len(n).to_bytes(4, "big") + n for n in nals)

    h264 = clean_start_test("h264", avcc)
    assert h264(units(b"\x06\x05", b"\x65\x88"))  # SEI, then an IDR slice
    assert not h264(units(b"\x06\x05", b"\x41\x9a"))  # a recovery point: non-IDR slices
    assert not h264(bytes(12))  # a zeroed (damaged) packet
    annex_b = clean_start_test("h264", None)
    assert annex_b(b"\x00\x00\x00\x01\x67\x64\x00\x00\x01\x65\x88")
    assert not annex_b(b"\x00\x00\x00\x01\x41\x9a")
    hevc = clean_start_test("hevc", bytes([1] + [0] * 20 + [0x03, 0]))  # hvcC: 4-byte lengths
    assert hevc(units(bytes([19 << 1, 1])))  # IDR_W_RADL
    assert hevc(units(bytes([21 << 1, 1])))  # CRA (its leading frames are ruled out by time)
    assert not hevc(units(bytes([1 << 1, 1])))  # TRAIL_R
    assert clean_start_test("vp9", None)(b"\x82\x49")  # other codecs: the key flag is enough


# --- the parts decode to the whole, frame for frame -----------------------------------------

@pytest.fixture(scope="module")
def cuttable(tmp_path_factory) -> dict[str, Path]:
    """60 frames, a closed GOP every 10 (B-frames inside), in MP4 and MKV; one stored sideways,
    mirrored, with non-square pixels; one with open GOPs, which must not be cut."""
    folder = tmp_path_factory.mktemp("cuttable")
    mp4 = moving_face_clip(folder / "face.mp4", frames=60, options=KEYINT_10)
    return {
        "mp4": mp4,
        "mkv": moving_face_clip(folder / "face.mkv", frames=60, options=KEYINT_10),
        "rot90": moving_face_clip(folder / "rot.mp4", frames=60, options=KEYINT_10, rotation=90,
                                  hflip=True, sar=Fraction(4, 3)),
        "open": moving_face_clip(folder / "open.mp4", frames=60, options={
            "x264-params": "keyint=10:min-keyint=10:bframes=3:open-gop=1"}),
        "long": remux(mp4, folder / "long.mkv", times=40),  # 2,400 frames, for signals
    }


@pytest.mark.parametrize("name, parts", [("mp4", 6), ("mkv", 6), ("rot90", 6), ("open", 1)])
def test_segments_decode_to_the_whole_video(cuttable: dict[str, Path], name: str, parts: int) -> None:
    assert parts_of_the_whole(str(cuttable[name])) == parts


def parts_of_the_whole(path: str) -> int:
    """How many segments the video is cut into; they decode to its frames, pixels included."""
    segments = plan_segments(scan_packets(path), 5)
    with VideoReader(path) as reader:
        whole = [(f.index, f.time_s, f.frame.pts, f.frame.to_ndarray().tobytes()) for f in reader.frames()]
    pieces = []
    for segment in segments:
        with VideoReader(path, segment=segment) as reader:
            part = [(f.index, f.time_s, f.frame.pts, f.frame.to_ndarray().tobytes()) for f in reader.frames()]
            assert all(segment.start_s <= time_s < segment.end_s for _, time_s, _, _ in part)
            assert reader.skipped_packets == 0
        pieces += part
    assert len(whole) == 60 and pieces == whole
    return len(segments)


@pytest.mark.parametrize("zeroed", [[13, 14], [20], [50]])
def test_damage_in_a_part_loses_no_frame_to_decoder_threads(cuttable: dict[str, Path], tmp_path: Path,
                                                             zeroed: list[int]) -> None:
    """With many decoder threads (a 16-core machine), damage in a part lost the frames queued
    behind it: 1 frame of that part came out instead of 8. Parts decode what one thread does."""
    holed = str(zeroed_packets(cuttable["mp4"], tmp_path / "holed.mp4", zeroed))
    with VideoReader(holed, threads=1) as reader:
        whole = [f.frame.pts for f in reader.frames()]
    pieces = []
    for segment in plan_segments(scan_packets(holed), 5):
        with VideoReader(holed, threads=8, segment=segment) as reader:
            pieces += [f.frame.pts for f in reader.frames()]
    assert 50 <= len(whole) < 60 and pieces == whole


def _codec(name: str) -> bool:
    try:
        av.Codec(name, "w")
    except ValueError:
        return False
    return True


VFR_MS = np.cumsum(np.r_[0, np.random.default_rng(0).integers(20, 80, 59)]).tolist()
GOP_10 = {"g": "10"}
X265 = "keyint=10:min-keyint=10:bframes=2:log-level=error:open-gop="


@pytest.mark.parametrize("name, write, parts, encoder", [
    ("vp9.webm", lambda p, f: write_clip(p, f, 60, codec="libvpx-vp9", options={
        **GOP_10, "deadline": "realtime", "cpu-used": "8"}), 6, "libvpx-vp9"),
    ("av1.mkv", lambda p, f: write_clip(p, f, 60, codec="libsvtav1", options={
        **GOP_10, "preset": "12"}), 6, "libsvtav1"),
    ("hevc.mp4", lambda p, f: write_clip(p, f, 60, codec="libx265", options={
        "x265-params": X265 + "0"}), 6, "libx265"),
    # CRA pictures whose leading frames need the GOP before: no cut there (x265 may still put
    # an IDR picture somewhere, which can be cut at)
    ("hevc_open.mkv", lambda p, f: write_clip(p, f, 60, codec="libx265", options={
        "x265-params": X265 + "1"}), range(1, 4), "libx265"),
    ("vfr.mp4", lambda p, f: write_tracks(p, [Track(f, VFR_MS, options=KEYINT_10)]), 6, "libx264"),
])
def test_other_codecs_and_variable_rate_cut_exactly(tmp_path: Path, name: str, write,
                                                    parts: int | range, encoder: str) -> None:
    if not _codec(encoder):
        pytest.skip(f"this FFmpeg has no {encoder} encoder")
    clip = write(tmp_path / name, lambda i: compose(320, 240, [(HEAD, Path2D((10, 20), (2, 1)))], i))
    assert parts_of_the_whole(str(clip)) in (parts if isinstance(parts, range) else [parts])


# --- segments in worker processes or threads: the rows of one pipeline ------------------------

ONE = ("--segment-threads", "1")  # one pipeline (the default uses two threads on up to 4 cores)
PARALLEL = {"processes": ("--workers", "2"), "threads": ("--segment-threads", "2")}


def rows_and_videos(path: Path) -> tuple[pd.DataFrame, list[dict]]:
    return pd.read_parquet(path), read_metadata(str(path))["videos"]


def decoded_aside(videos: list[dict]) -> list[dict]:
    """The facts but frames_decoded: one pipeline that leaves frames out skips decoding what it
    can (and decodes a damaged video twice), parts decode all of theirs."""
    for video in videos:
        assert video.pop("frames_decoded") <= 2 * video["frames_read"]
    return videos


@pytest.fixture
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "SEGMENT_FRAMES", 10)  # planned here, in the parent


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(PARALLEL))
@pytest.mark.parametrize("options", [
    ["--fill-gaps"],
    ["--every", "3", "--start", "0.9", "--end", "1.7"],  # skips segments on both sides
    ["--no-track", "--batch-size", "3"],
])
def test_parallel_segments_write_the_rows_of_one_pipeline(
        cli, tmp_path: Path, cuttable: dict[str, Path], small_segments: None, options: list[str],
        kind: str) -> None:
    inputs = [str(cuttable["mp4"]), str(cuttable["rot90"]), str(cuttable["open"])]
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    assert cli("detect", *inputs, "-o", str(one), *ONE, *options).exit_code == 0
    result = cli("detect", *inputs, "-o", str(two), *PARALLEL[kind], *options)
    assert result.exit_code == 0, result.output
    (rows1, videos1), (rows2, videos2) = rows_and_videos(one), rows_and_videos(two)
    assert len(rows1) > 0
    pd.testing.assert_frame_equal(rows2, rows1)
    # Frames of parts skipped before --start count as read, as there.
    assert decoded_aside(videos2) == decoded_aside(videos1)


@pytest.mark.parametrize("selection", [FrameSelection(), FrameSelection(every=3, start_s=0.9, end_s=2.1)])
def test_progress_goes_on_while_segments_run(cuttable: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                             selection: FrameSelection) -> None:
    """The progress moved only as each segment ended: a short video showed 0 frames until the
    end, and a long one moved in steps of up to 256 frames."""
    monkeypatch.setattr(workers, "SEGMENT_FRAMES", 20)
    monkeypatch.setattr(workers, "PROGRESS_EVERY_S", 0.005)
    shown: list[int] = []
    pool = workers.SegmentThreads(FaceDetector(), 2)
    try:
        job = workers.SegmentedVideoJob.plan(str(cuttable["mp4"]), pool, selection, None, 0, 0,
                                             shown.append, None)
        assert job is not None and len(job.segments) == 3
        for _ in job.batches():
            pass
    finally:
        pool.close(wait=True)
    assert sum(shown) == job.summary.frames_read  # all of it, once (skipped parts included)
    if selection.start_s is None:  # shown part-way through segments, not only as each ends
        assert any(total % 20 for total in np.cumsum(shown)), shown


@pytest.mark.slow
def test_workers_with_a_folder_of_videos_and_a_photo_one_file_each(
        cli, tmp_path: Path, cuttable: dict[str, Path], small_segments: None, astronaut: np.ndarray) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for stem, name in (("a", "mp4"), ("b", "mkv")):
        (inputs / f"{stem}.{name}").write_bytes(cuttable[name].read_bytes())
    av.VideoFrame.from_ndarray(astronaut, format="rgb24").save(str(inputs / "photo.png"))
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli("detect", str(inputs), "-o", f"{one}/", *ONE).exit_code == 0
    assert cli("detect", str(inputs), "-o", f"{two}/", *PARALLEL["processes"]).exit_code == 0
    names = sorted(p.name for p in one.iterdir())
    assert names == ["a.mp4.parquet", "b.mkv.parquet", "photo.png.parquet"]
    for name in names:
        (rows1, videos1), (rows2, videos2) = rows_and_videos(one / name), rows_and_videos(two / name)
        assert len(rows1) > 0
        pd.testing.assert_frame_equal(rows2, rows1)
        assert videos2 == videos1


@pytest.mark.slow
@pytest.mark.parametrize("parallel", [("--workers", "3"), ("--segment-threads", "3")])
def test_parallel_segments_on_real_footage(cli, tmp_path: Path, shared_data: Path, small_segments: None,
                                           parallel: tuple[str, str]) -> None:
    """The stage clip (camera cuts, B-frames, 5 cut points) and a talking head (one cut)."""
    videos = shared_data / "videos"
    inputs = [str(videos / "face_recognition_short_hamilton_clip.mp4"), str(videos / "liveportrait_d3.mp4")]
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    assert cli("detect", *inputs, "-o", str(one), *ONE).exit_code == 0
    assert cli("detect", *inputs, "-o", str(two), *parallel).exit_code == 0
    (rows1, videos1), (rows2, videos2) = rows_and_videos(one), rows_and_videos(two)
    assert len(rows1) > 500 and rows1.track_id.nunique() > 5
    pd.testing.assert_frame_equal(rows2, rows1)
    assert videos2 == videos1


@pytest.mark.slow
@pytest.mark.parametrize("parallel", [("--workers", "2"), ("--segment-threads", "2")])
def test_tiled_parts_are_tracked_as_one_pipeline_tracks_them(cli, tmp_path: Path, shared_data: Path,
                                                              small_segments: None,
                                                              parallel: tuple[str, str]) -> None:
    """A face only tiles find is seen once a tile round: the parent's tracker of a video cut
    into parts kept the untiled patience, and ended such tracks (12 tracks became 26)."""
    clip = shared_data / "videos" / "face_recognition_short_hamilton_clip.mp4"
    options = ["--model", "full", "--tiles", "auto", "--fill-gaps"]
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    assert cli("detect", str(clip), "-o", str(one), *ONE, *options).exit_code == 0
    assert cli("detect", str(clip), "-o", str(two), *parallel, *options).exit_code == 0
    (rows1, videos1), (rows2, videos2) = rows_and_videos(one), rows_and_videos(two)
    assert rows1.interpolated.sum() > 0
    pd.testing.assert_frame_equal(rows2, rows1)
    assert videos2 == videos1


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(PARALLEL))
@pytest.mark.parametrize(("zeroed", "options"), [
    ([13, 14], []), ([20], []), ([50], []),  # P-frames; a keyframe; in the last part
    ([13, 14], ["--every", "3"]),  # two frames lost: later parts' --every phase moves
])
def test_damage_in_one_segment_numbers_later_frames_as_one_pipeline(
        cli, tmp_path: Path, cuttable: dict[str, Path], small_segments: None, zeroed: list[int],
        options: list[str], kind: str) -> None:
    holed = zeroed_packets(cuttable["mp4"], tmp_path / "holed.mp4", zeroed)
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    assert cli("detect", str(holed), "-o", str(one), *ONE, *options).exit_code == 0
    assert cli("detect", str(holed), "-o", str(two), *PARALLEL[kind], *options).exit_code == 0
    (rows1, videos1), (rows2, videos2) = rows_and_videos(one), rows_and_videos(two)
    assert videos1[0]["skipped_packets"] > 0
    pd.testing.assert_frame_equal(rows2, rows1)
    assert decoded_aside(videos2) == decoded_aside(videos1)


def test_segment_threads_by_default_on_few_cores_for_large_frames(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cuttable: dict[str, Path],
        small_segments: None) -> None:
    from blazecli.jobs.runner import DetectSettings

    for cores, threads in ((2, 2), (4, 2), (16, 1)):
        monkeypatch.setattr("os.cpu_count", lambda cores=cores: cores)
        assert DetectSettings().threads_per_video == threads
    assert DetectSettings(segment_threads=3).threads_per_video == 3
    large = moving_face_clip(tmp_path / "large.mp4", frames=30, width=1600, height=960,
                             options=KEYINT_10)  # 1.54 megapixels
    pool = workers.SegmentThreads(FaceDetector(), 2)  # planning only: the detector does not run
    for clip, cut in ((large, True), (cuttable["mp4"], False)):
        job = workers.SegmentedVideoJob.plan(str(clip), pool, FrameSelection(), None, 0, 0, None,
                                             None, workers.AUTO_SEGMENT_PIXELS)
        assert (job is not None) == cut


@pytest.mark.slow
def test_bad_worker_options_and_a_dead_worker_are_clear_errors(cli, tmp_path: Path,
                                                               cuttable: dict[str, Path]) -> None:
    for option in ("--workers", "--segment-threads"):
        result = cli("detect", str(cuttable["mp4"]), "-o", str(tmp_path / "f.csv"), option, "0")
        assert result.exit_code == 2 and option in result.output
    result = cli("detect", str(cuttable["mp4"]), "-o", str(tmp_path / "f.csv"), *PARALLEL["processes"],
                    *PARALLEL["threads"])
    assert result.exit_code == 2 and "give one" in result.output
    result = cli("detect", str(cuttable["mp4"]), "-o", str(tmp_path / "out/"), "--workers", "2", "--ray")
    assert result.exit_code == 2 and "--ray-workers" in result.output
    died: Future = Future()
    died.set_exception(BrokenProcessPool("a child process terminated abruptly"))
    with pytest.raises(WorkerDiedError, match="worker process died"):
        workers.WorkerPool(DetectorOptions(device="cpu"), 2).result(died)


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_signal_stops_the_workers_too(tmp_path: Path, cuttable: dict[str, Path], signum: int,
                                      code: int) -> None:
    out = tmp_path / "faces.parquet"
    process = subprocess.Popen([sys.executable, "-m", "blazecli", "detect", str(cuttable["long"]),
                                "-o", str(out), "--workers", "2", "--device", "cpu"],
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".*.tmp")):  # the output is opened: the workers are starting
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(2.0)  # the workers started and busy
    children = _children(process.pid)
    assert len(children) >= 2
    if signum == signal.SIGHUP:
        os.killpg(process.pid, signum)  # a closed terminal reaches the whole group
    else:
        process.send_signal(signum)
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == code, stderr
    assert time.monotonic() - sent < 3.0
    assert "Traceback" not in stderr and "no output file was written" in stderr
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))
    time.sleep(1.0)
    assert [pid for pid in children if _running(pid)] == []


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_while_the_workers_start_is_one_line(tmp_path: Path, cuttable: dict[str, Path],
                                                    signum: int, code: int) -> None:
    """Signals that reach the run while its workers are being spawned or still import: once
    tracebacks from half-started children and from the pool's thread, and one hang. Sent at
    several moments of the start."""
    for delay in (0.0, 0.3, 0.6, 0.9):  # 0: while the output is still being opened
        process = subprocess.Popen([sys.executable, "-m", "blazecli", "detect", str(cuttable["long"]),
                                    "-o", str(tmp_path / f"{delay}.parquet"), "--workers", "2",
                                    "--device", "cpu"], stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".*.tmp")):  # the output is opened: workers come next
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(delay)
        if signum == signal.SIGINT:
            os.killpg(process.pid, signum)  # Ctrl-C reaches the whole group
        else:
            process.send_signal(signum)  # as `kill` and `timeout` send it
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == code, (delay, stderr)
        assert "Traceback" not in stderr and "Error" not in stderr, stderr
        assert not list(tmp_path.glob(".*.tmp")), delay  # the half-opened output is gone too


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid``, from /proc (procps may not be installed)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
