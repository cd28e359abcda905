"""Live inputs: URLs, devices and pipes read as frames arrive, rows out as soon as they are found.

Streams are served on the loopback by the ``ffmpeg`` command (skipped where it is absent), from
the repository's demo clip played in real time (``-re``). Every CLI case runs in its own
process and checks the exit code (a process killed by a signal fails).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from blazecli.media.files import drops_by_default, is_live
from blazecli.media.live import LiveFeed

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "demo.mp4"  # 640x360, 25 fps, 100 frames, two faces throughout
FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="the ffmpeg command is not installed")
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


class FakeReader:
    """Stands in for a VideoReader: ``count`` frames (their numbers), one every ``every_s``."""

    def __init__(self, count: int, every_s: float = 0.0) -> None:
        self.count, self.every_s = count, every_s

    def frames(self) -> Iterator[int]:
        for i in range(self.count):
            time.sleep(self.every_s)
            yield i


def _drain(feed: LiveFeed, pause_s: float) -> list[int]:
    """The frames a slow consumer of ``feed`` gets (pausing at every None)."""
    got = []
    for item in feed.frames():
        if item is None:
            time.sleep(pause_s)
        else:
            got.append(item)
    return got


def test_live_feed_drops_the_oldest_frames_when_behind() -> None:
    feed = LiveFeed(FakeReader(200, 0.001), capacity=5, drop=True)
    got = _drain(feed, 0.05)
    assert feed.dropped > 0 and len(got) + feed.dropped == 200
    assert got == sorted(got) and got[-1] == 199  # in order, and the newest frames kept


def test_live_feed_without_drop_waits_and_keeps_every_frame() -> None:
    feed = LiveFeed(FakeReader(60), capacity=5, drop=False)
    assert _drain(feed, 0.01) == list(range(60)) and feed.dropped == 0


def test_live_feed_hands_over_what_has_arrived() -> None:
    """A consumer gets each frame on its own, never waiting to fill a batch."""
    feed = LiveFeed(FakeReader(5, 0.05), capacity=8, drop=True)
    items = list(feed.frames())
    frames = [i for i in items if i is not None]
    assert frames == list(range(5))
    # A None (the batch goes) between every two frames: each came alone.
    assert all(items[items.index(i) + 1] is None for i in frames[:-1])


def test_which_inputs_are_live(tmp_path: Path) -> None:
    assert is_live("rtsp://127.0.0.1/cam") and is_live("udp://127.0.0.1:1234")
    assert is_live("/dev/video0", input_format="v4l2")
    assert not is_live(str(DEMO)) and not is_live("clip:with:colons.mp4")


def test_which_live_inputs_drop_frames_by_default() -> None:
    """Streams that play at their own pace and devices drop; what waits for its reader (an http
    file, a pipe, a file given an input format) keeps every frame."""
    assert drops_by_default("rtsp://127.0.0.1/cam") and drops_by_default("UDP://127.0.0.1:1234")
    assert drops_by_default("testsrc2=size=320x240", "lavfi") and drops_by_default("/dev/null", "rawvideo")
    assert not drops_by_default("http://127.0.0.1:8000/clip.mp4")
    assert not drops_by_default("https://example.invalid/live.m3u8")
    assert not drops_by_default(str(DEMO), "mov") and not drops_by_default("-", "matroska")


def _run(*args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "blazecli", "detect", *args, "--device", "cpu"],
                            capture_output=True, timeout=timeout, env=ENV, **kwargs)
    assert result.returncode >= 0, f"killed by signal {-result.returncode}"
    return result


def test_unknown_input_format_is_a_usage_error(tmp_path: Path) -> None:
    result = _run("/dev/video0", "--input-format", "no-such-format", "-o", str(tmp_path / "f.csv"))
    assert result.returncode == 2, result.stderr
    assert b"--input-format no-such-format" in result.stderr


def test_a_device_is_read_live_and_bounded_by_end(tmp_path: Path) -> None:
    """FFmpeg's lavfi test source, paced by its realtime filter, stands in for a camera."""
    out = tmp_path / "f.parquet"
    result = _run("testsrc2=size=320x240:rate=25,realtime", "--input-format", "lavfi", "--end", "1",
                  "-o", str(out))
    assert result.returncode == 0, result.stderr
    facts = json.loads(pq.read_metadata(out).metadata[b"blazecli"])["videos"][0]
    assert facts["live"] and facts["stopped"] is None and facts["frames_dropped"] == 0
    assert 24 <= facts["frames_processed"] <= 26


@pytest.mark.slow
def test_frames_are_dropped_not_queued_when_detection_falls_behind(tmp_path: Path) -> None:
    """200 frames a second of 720p with tiles and the full model: more than 2 cores detect."""
    out = tmp_path / "f.parquet"
    result = _run("testsrc2=size=1280x720:rate=200,realtime", "--input-format", "lavfi", "--end", "1.5",
                  "--tiles", "auto", "--model", "full", "-o", str(out))  # a device: drops by default
    assert result.returncode == 0, result.stderr
    facts = json.loads(pq.read_metadata(out).metadata[b"blazecli"])["videos"][0]
    assert facts["frames_dropped"] > 0 and b"frame(s) dropped" in result.stderr
    assert facts["frames_processed"] + facts["frames_dropped"] == facts["frames_read"] == 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(*output: str, loops: int = 1, encode: tuple[str, ...] = ("-c", "copy")) -> subprocess.Popen:
    """ffmpeg playing the demo clip in real time to ``output``."""
    assert FFMPEG is not None
    return subprocess.Popen([FFMPEG, "-v", "error", "-re", "-stream_loop", str(loops - 1), "-i", str(DEMO),
                             "-an", *encode, *output], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)


def _csv(data: bytes):
    return pacsv.read_csv(io.BytesIO(data)).drop_columns(["video"])


@pytest.fixture(scope="module")
def file_rows() -> bytes:
    result = _run(str(DEMO), "-o", "-", "--quiet")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
@needs_ffmpeg
def test_http_stream_rows_equal_a_file_run(file_rows: bytes) -> None:
    url = f"http://127.0.0.1:{_free_port()}/x.mkv"
    server = _serve("-f", "matroska", "-listen", "1", url)
    try:
        time.sleep(0.5)  # listening
        result = _run(url, "-o", "-", "--format", "csv")
    finally:
        server.kill()
        server.wait()
    assert result.returncode == 0, result.stderr
    assert b"dropped" not in result.stderr
    assert _csv(result.stdout).equals(_csv(file_rows))


@pytest.mark.slow
@needs_ffmpeg
def test_udp_stream_joined_part_way_is_read_to_end(tmp_path: Path) -> None:
    """MPEG-TS over UDP, re-encoded with a keyframe a second so that a late reader can start."""
    port = _free_port()
    server = _serve("-f", "mpegts", f"udp://127.0.0.1:{port}", loops=3,
                    encode=("-c:v", "libx264", "-preset", "ultrafast", "-g", "25"))
    out = tmp_path / "f.jsonl"
    try:
        result = _run(f"udp://127.0.0.1:{port}", "--end", "2", "-o", str(out))
    finally:
        server.kill()
        server.wait()
    assert result.returncode == 0, result.stderr
    facts = json.loads((tmp_path / "f.jsonl.meta.json").read_text())["videos"][0]
    assert facts["live"] and 40 <= facts["frames_processed"] + facts["frames_dropped"] <= 51
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and max(r["time_s"] for r in rows) <= 2.0  # times from the first frame received


@pytest.mark.slow
@needs_ffmpeg
def test_real_time_pipe_rows_arrive_before_the_stream_ends() -> None:
    sender = _serve("-flush_packets", "1", "-f", "matroska", "-cluster_time_limit", "40", "-", loops=2)
    detect = subprocess.Popen([sys.executable, "-m", "blazecli", "detect", "-", "-o", "-", "--quiet",
                               "--device", "cpu"], stdin=sender.stdout, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=ENV)
    assert sender.stdout is not None and detect.stdout is not None
    sender.stdout.close()
    detect.stdout.readline()  # the header
    row = detect.stdout.readline()
    seen_at = time.monotonic()
    assert sender.poll() is None, "the stream ended before the first row"
    rest = detect.stdout.read()  # what readline buffered too, which communicate() would lose
    ended_at = time.monotonic()
    stderr = detect.stderr.read() if detect.stderr else b""
    detect.wait(timeout=10)
    assert detect.returncode == 0, stderr
    assert row.startswith(b'"-",0,') and ended_at - seen_at > 4  # the first of 8 s, not the last
    assert len(rest.splitlines()) == 399  # 200 frames, two faces each


def _wait_for_rows(folder: Path, process: subprocess.Popen) -> None:
    """Until the hidden temporary output holds more than a header (Parquet: its first row
    group, written after a second of rows; a video: its first frames), however busy the
    machine is."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"ended before it was stopped: {process.communicate()}")
        if any(p.stat().st_size > 2000 for p in folder.glob(".*")):
            return
        time.sleep(0.05)
    raise AssertionError("no rows were written within 60 s")


def _stop_mid_stream(tmp_path: Path, output: str, signum: int = signal.SIGINT, *options: str,
                     again: tuple[int, float] | None = None) -> tuple[subprocess.CompletedProcess, Path]:
    """Stop a live run with ``signum`` once its rows are being written (and ``again``: that
    signal that many seconds later, as Ctrl-C pressed twice)."""
    url = f"http://127.0.0.1:{_free_port()}/x.mkv"
    server = _serve("-f", "matroska", "-listen", "1", url, loops=4)
    out = tmp_path / output
    try:
        time.sleep(0.5)
        detect = subprocess.Popen([sys.executable, "-m", "blazecli", "detect", url, "-o", str(out),
                                   "--format", out.suffix[1:], "--device", "cpu", *options],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
        _wait_for_rows(tmp_path, detect)
        detect.send_signal(signum)
        if again is not None:
            time.sleep(again[1])
            detect.send_signal(again[0])
        stdout, stderr = detect.communicate(timeout=30)
    finally:
        server.kill()
        server.wait()
    assert detect.returncode >= 0, f"killed by signal {-detect.returncode}"
    return subprocess.CompletedProcess(detect.args, detect.returncode, stdout, stderr), out


@pytest.mark.slow
@needs_ffmpeg
def test_sigint_mid_stream_leaves_valid_parquet(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result, out = _stop_mid_stream(tmp_path, "faces.parquet", signal.SIGINT, "--report", str(report))
    assert result.returncode == 130, result.stderr
    assert b"faces.parquet kept" in result.stderr
    table = pq.read_table(out)  # the footer was written
    facts = json.loads(pq.read_metadata(out).metadata[b"blazecli"])["videos"][0]
    assert facts["stopped"] == "interrupted" and 0 < facts["frames_processed"] < 400
    assert table.num_rows == 2 * facts["frames_processed"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    summary = json.loads(report.read_text())  # the run's report is written too
    assert summary["outputs"] == [str(out)] and summary["done"][0]["stopped"] == "interrupted"


@pytest.mark.slow
@needs_ffmpeg
@pytest.mark.parametrize("signum, code, word", [(signal.SIGINT, 130, b"interrupted"),
                                                (signal.SIGTERM, 143, b"terminated"),
                                                (signal.SIGHUP, 129, b"hung up")])
def test_a_signal_mid_stream_leaves_valid_csv(tmp_path: Path, signum: int, code: int, word: bytes) -> None:
    result, out = _stop_mid_stream(tmp_path, "faces.csv", signum)
    assert result.returncode == code, result.stderr
    assert word + b" in http" in result.stderr
    facts = json.loads((tmp_path / "faces.csv.meta.json").read_text())["videos"][0]
    assert facts["stopped"] == "interrupted"
    assert pacsv.read_csv(out).num_rows == 2 * facts["frames_processed"]


@pytest.mark.slow
@needs_ffmpeg
def test_parquet_on_stdout_sends_row_groups_while_the_stream_plays() -> None:
    sender = _serve("-flush_packets", "1", "-f", "matroska", "-cluster_time_limit", "40", "-", loops=2)
    detect = subprocess.Popen([sys.executable, "-m", "blazecli", "detect", "-", "-o", "-", "--format",
                               "parquet", "--quiet", "--device", "cpu"], stdin=sender.stdout,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    assert sender.stdout is not None and detect.stdout is not None
    sender.stdout.close()
    received: list[tuple[float, int]] = []

    def read() -> None:
        assert detect.stdout is not None
        while chunk := os.read(detect.stdout.fileno(), 65536):
            received.append((time.monotonic(), len(chunk)))

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(timeout=60)
    detect.wait(timeout=10)
    assert detect.returncode == 0
    span = received[-1][0] - received[0][0]
    assert len(received) >= 4 and span > 4  # row groups through the 8 s, not all at the end


@pytest.mark.slow
@needs_ffmpeg
@pytest.mark.skipif(shutil.which("rtsp-server-perl") is None, reason="no RTSP server (rtsp-server-perl)")
def test_rtsp_stream_is_read(tmp_path: Path) -> None:
    """ffmpeg publishes to a local RTSP server (Debian's rtsp-server-perl), detect reads from it."""
    client, source = _free_port(), _free_port()
    server = subprocess.Popen(["rtsp-server-perl", "-c", str(client), "-s", str(source), "-l", "1",
                               "--client_listen_address", "127.0.0.1",
                               "--source_listen_address", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    publisher = None
    out = tmp_path / "f.csv"
    try:
        time.sleep(1.0)  # listening
        publisher = _serve("-f", "rtsp", f"rtsp://127.0.0.1:{source}/x", loops=3,
                           encode=("-c:v", "libx264", "-preset", "ultrafast", "-g", "25"))
        deadline = time.monotonic() + 30
        while subprocess.run(["ffprobe", "-v", "quiet", f"rtsp://127.0.0.1:{client}/x"],
                             timeout=30).returncode:  # not announced yet
            assert time.monotonic() < deadline, "the stream was never published"
            time.sleep(0.2)
        result = _run(f"rtsp://127.0.0.1:{client}/x", "--end", "2", "-o", str(out))
    finally:
        for process in (publisher, server):
            if process is not None:
                process.kill()
                process.wait()
    assert result.returncode == 0, result.stderr
    facts = json.loads((tmp_path / "f.csv.meta.json").read_text())["videos"][0]
    assert facts["live"] and facts["frames_processed"] >= 40
    assert pacsv.read_csv(out).num_rows >= 80  # two faces a frame


def test_annotate_refuses_detections_for_a_live_source(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "blazecli", "annotate", "udp://127.0.0.1:9",
                             "--detections", str(tmp_path / "f.parquet"), "-o", str(tmp_path / "a.mkv")],
                            capture_output=True, timeout=60, env=ENV)
    assert result.returncode == 2, result.stderr
    assert b"leave out --detections" in result.stderr


@pytest.mark.slow
@needs_ffmpeg
@pytest.mark.parametrize("presses", [1, 2])
def test_annotate_live_stopped_by_sigint_leaves_a_playable_mp4(tmp_path: Path, presses: int) -> None:
    """Ctrl-C pressed twice keeps the recording too (the second press once threw it away)."""
    import av

    url = f"http://127.0.0.1:{_free_port()}/x.mkv"
    server = _serve("-f", "matroska", "-listen", "1", url, loops=4)
    out = tmp_path / "hidden.mp4"
    try:
        time.sleep(0.5)
        annotate = subprocess.Popen([sys.executable, "-m", "blazecli", "annotate", url, "-o", str(out),
                                     "--blur", "--device", "cpu"], stderr=subprocess.PIPE, env=ENV)
        _wait_for_rows(tmp_path, annotate)
        for _ in range(presses):
            annotate.send_signal(signal.SIGINT)
            time.sleep(0.1)
        _, stderr = annotate.communicate(timeout=30)
    finally:
        server.kill()
        server.wait()
    assert annotate.returncode == 130, stderr
    assert b"hidden.mp4 kept" in stderr
    with av.open(str(out)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames > 10
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("url, name", [
    ("http://127.0.0.1:8000/demo.mp4?token=a/b&x=1", "demo.mp4"),
    ("rtsp://cam.local/ch1/", "ch1"),
    ("udp://127.0.0.1:1234", "127.0.0.1_1234"),
    ("http://host/a%2Fb%20c.mkv", "a_b c.mkv"),
    ("http://host/..", "host"),
])
def test_a_url_is_named_by_its_path_not_its_query(url: str, name: str) -> None:
    from blazecli.outputs.paths import output_targets

    assert output_targets([url], [url], Path("out"), "csv") == [Path("out") / f"{name}.csv"]


@needs_ffmpeg
def test_a_pipe_in_a_format_named_by_input_format_is_read(file_rows: bytes) -> None:
    """Raw H.264 carries no container for FFmpeg to recognise: --input-format names it."""
    annexb = subprocess.run([FFMPEG, "-v", "error", "-i", str(DEMO), "-c:v", "copy", "-bsf:v",
                             "h264_mp4toannexb", "-f", "h264", "-"], capture_output=True, check=True).stdout
    result = _run("-", "--input-format", "h264", "-o", "-", "--quiet", input=annexb)
    assert result.returncode == 0, result.stderr
    rows = _csv(result.stdout)
    assert rows.num_rows == _csv(file_rows).num_rows == 200


def test_a_stream_that_sends_nothing_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from blazecli.errors import NotAVideoError
    from blazecli.media import files

    monkeypatch.setattr(files, "LIVE_READ_TIMEOUT_S", 0.5)
    with pytest.raises(NotAVideoError, match="nothing arrived within 0.5 s"):
        files.open_live(f"udp://127.0.0.1:{_free_port()}", None)


def test_a_second_ctrl_c_while_closing_is_raised_once_the_decoder_is_closed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A real SIGINT while the job joins a decoding thread still busy (a read that has not
    returned yet): the join is not cut short (an interrupted join marks a running thread as
    ended), the reader is closed after the thread ended, and the Ctrl-C is raised after. With
    a loop under way, the loop's end closes the reader, once its sampling threads are done."""
    from blazecli.inference.detector import FaceDetector
    from blazecli.jobs.detect import VideoJob

    job = VideoJob(str(DEMO), FaceDetector())
    batches = job.batches()
    next(batches)
    busy = threading.Thread(target=time.sleep, args=(0.5,), name="busy-read")
    busy.start()
    monkeypatch.setattr(job, "_worker", busy)
    closed: list[bool] = []
    # Whether the thread had really ended (after an interrupted join, is_alive() says so wrongly).
    monkeypatch.setattr(job.reader, "close", lambda: closed.append(busy not in threading.enumerate()))
    threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        job.close()
    assert closed == []  # the loop under way closes it
    batches.close()
    assert closed == [True]  # closed once, after its thread ended


@pytest.mark.slow
@needs_ffmpeg
@pytest.mark.parametrize("first, second", [(signal.SIGINT, signal.SIGINT), (signal.SIGINT, signal.SIGINT),
                                           (signal.SIGTERM, signal.SIGINT), (signal.SIGINT, signal.SIGTERM)])
def test_a_second_signal_mid_stream_exits_as_it_says_with_valid_parquet(
        tmp_path: Path, first: int, second: int) -> None:
    """The second signal lands while the run stops its threads or exits. It once crashed the
    process (exit 139) in about one run of four, and once ended it by the signal itself."""
    result, out = _stop_mid_stream(tmp_path, "faces.parquet", first, again=(second, 0.1))
    said = b"terminated in http" if b"terminated" in result.stderr else b"interrupted in http"
    assert said in result.stderr
    assert result.returncode == (143 if said.startswith(b"terminated") else 130), result.stderr
    facts = json.loads(pq.read_metadata(out).metadata[b"blazecli"])["videos"][0]
    assert facts["stopped"] == "interrupted"
    assert pq.read_table(out).num_rows == 2 * facts["frames_processed"]


@pytest.mark.parametrize("signum, code, word", [(signal.SIGINT, 130, b"interrupted"),
                                                (signal.SIGTERM, 143, b"terminated")])
def test_a_signal_while_a_silent_pipe_is_opened_stops_the_run(signum: int, code: int, word: bytes) -> None:
    """Opening a pipe reads until the stream is known; PyAV ignored a signal raised in that
    read, so a run fed by a command still connecting (a camera) could only be killed."""
    detect = subprocess.Popen([sys.executable, "-m", "blazecli", "detect", "-", "-o", "-", "--device", "cpu"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    try:
        _wait_reading_a_pipe(detect.pid)
        detect.send_signal(signum)
        _, stderr = detect.communicate(timeout=15)
    finally:
        detect.kill()
    assert detect.returncode == code, stderr
    assert word in stderr and b"Traceback" not in stderr and b"Exception ignored" not in stderr


def _wait_reading_a_pipe(pid: int) -> None:
    """Until the process's main thread waits in a pipe read (Linux's wchan), at most 30 s."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/wchan").read_text().endswith("pipe_read"):
                return
        except OSError:
            pass
        time.sleep(0.05)


def test_piped_frames_are_timed_exactly_from_the_first(tmp_path: Path) -> None:
    """A pipe's times count from its first frame. Subtracted in seconds, a Matroska stream from
    0.023 s gave the frame at 1.023 s the time 0.9999999999999999: `--end 1` processed it and
    `--start 1` left it out."""
    from clips import moving_face_clip, shifted_copy

    clip = shifted_copy(moving_face_clip(tmp_path / "face.mkv", frames=30), tmp_path / "late.mkv", 0.023)
    piped = clip.read_bytes()
    for span, first, last in ((["--end", "1"], 0, 24), (["--start", "1", "--end", "1.1"], 25, 27)):
        done = subprocess.run([sys.executable, "-m", "blazecli", "detect", "-", "-o", "-", "-q", *span],
                              input=piped, capture_output=True, env=ENV, timeout=120)
        assert done.returncode == 0, done.stderr
        rows = pacsv.read_csv(io.BytesIO(done.stdout))
        assert rows["frame_index"].to_pylist() == list(range(first, last + 1))
        assert rows["time_s"].to_pylist() == [float(Fraction(i, 25)) for i in range(first, last + 1)]
