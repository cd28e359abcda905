"""``detect --ray`` on a local Ray runtime: same outputs as one machine, survives a killed worker."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from clips import moving_face_clip

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

from blazecli.jobs.ray import MANIFEST, RayOptions, run_on_ray  # noqa: E402
from blazecli.jobs.runner import DetectRun, DetectSettings  # noqa: E402


class _Quiet:
    def start_file(self, name: str, frames: int | None) -> None: ...
    def advance(self, frames: int) -> None: ...
    def end_file(self) -> None: ...


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("videos")
    (src / "sub").mkdir()
    moving_face_clip(src / "a.mp4", frames=40)
    moving_face_clip(src / "sub" / "b.mp4", frames=30, velocity=(-2.0, 1.0))
    moving_face_clip(src / "c.mkv", frames=25, velocity=(1.0, -1.0))
    return src


def read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path).sort_values(["frame_index", "x_min"]).reset_index(drop=True)


@pytest.mark.slow
def test_outputs_equal_the_single_machine_run(local_ray, folder: Path, tmp_path: Path) -> None:
    """Through a link to the folder too: Ray's rows named the link's target, so they could not
    be joined with a local run's by path."""
    settings = DetectSettings()
    link = tmp_path / "link"
    link.symlink_to(folder, target_is_directory=True)
    DetectRun(settings).run([str(link)], str(tmp_path / "local") + "/")
    report = run_on_ray([str(link)], str(tmp_path / "ray") + "/", settings, RayOptions(), _Quiet())
    assert not report.failed and len(report.outputs) == 3
    for name in ("a.mp4.parquet", "sub/b.mp4.parquet", "c.mkv.parquet"):
        local, distributed = read(tmp_path / "local" / name), read(tmp_path / "ray" / name)
        assert len(local) > 0
        pd.testing.assert_frame_equal(local, distributed)
    manifest = json.loads((tmp_path / "ray" / MANIFEST).read_text())
    assert sorted(e["status"] for e in manifest["inputs"]) == ["done"] * 3
    assert {e["rows"] for e in manifest["inputs"]} == {40, 30, 25}
    # The folder reads as one dataset.
    assert len(pd.read_parquet(tmp_path / "ray", engine="pyarrow")) == 95


@pytest.mark.slow
def test_bad_input_is_reported_and_the_rest_completes(local_ray, folder: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 20)
    out = tmp_path / "out"
    (out / "keep").mkdir(parents=True)
    (out / "keep" / ".draft.tmp").write_text("the user's")  # not this run's temporary
    report = run_on_ray([str(folder / "a.mp4"), str(bad), str(tmp_path / "missing.mp4")],
                        str(out) + "/", DetectSettings(), RayOptions(), _Quiet())
    assert [Path(o).name for o in report.outputs] == ["a.mp4.parquet"]
    failed = dict(report.failed)
    assert "not a video" in failed[str(bad)] and "no such file" in failed[str(tmp_path / "missing.mp4")]
    assert not (out / "bad.mp4.parquet").exists() and list(out.rglob(".*.tmp")) == [out / "keep" / ".draft.tmp"]
    # A rerun with --skip-existing only retries what is missing.
    again = run_on_ray([str(folder / "a.mp4"), str(bad)], str(out) + "/",
                       DetectSettings(skip_existing=True), RayOptions(), _Quiet())
    assert again.skipped == [str(folder / "a.mp4")] and len(again.failed) == 1


@pytest.mark.slow
def test_a_worker_replaces_an_output_that_appeared_after_the_run_checked(local_ray, tmp_path: Path) -> None:
    """A task retried after its worker died found the output its first attempt had finished
    ("already exists") and failed. The run refuses existing outputs before it starts; workers
    replace what they find. Here the input is a named pipe, so the worker waits on it while
    the output appears, as the killed attempt's would."""
    import subprocess

    clip = moving_face_clip(tmp_path / "clip.mkv", frames=20)
    src = tmp_path / "in"
    src.mkdir()
    pipe = src / "late.mkv"
    os.mkfifo(pipe)
    out = tmp_path / "out"
    out.mkdir()
    (out / "early.mkv.parquet").write_text("the user's")  # there before the run: refused
    (src / "early.mkv").write_bytes(clip.read_bytes())
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(report=run_on_ray(
        [str(src / "early.mkv"), str(pipe)], str(out) + "/", DetectSettings(), RayOptions(), _Quiet())))
    runner.start()
    deadline = time.time() + 60
    while not _worker_pids() and time.time() < deadline:
        time.sleep(0.05)
    (out / "late.mkv.parquet").write_text("a first attempt's")
    feeder = subprocess.Popen(["sh", "-c", f"cat '{clip}' > '{pipe}'"])
    runner.join(timeout=120)
    feeder.wait(timeout=10)
    report = result["report"]
    assert [Path(o).name for o in report.outputs] == ["late.mkv.parquet"], report.failed
    assert "already exists" in dict(report.failed)[str(src / "early.mkv")]
    assert (out / "early.mkv.parquet").read_text() == "the user's"
    assert len(pd.read_parquet(out / "late.mkv.parquet")) == 20


def _worker_pids() -> list[int]:
    """Pids of Ray actor processes that are running a video right now."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if title.startswith(b"ray::_Worker.run"):
                pids.append(int(entry.name))
    return pids


@pytest.mark.slow
def test_killed_worker_still_yields_complete_outputs(local_ray, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(4):
        moving_face_clip(src / f"v{i}.mp4", frames=150)
    out = tmp_path / "out"
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(report=run_on_ray(
        [str(src)], str(out) + "/", DetectSettings(), RayOptions(), _Quiet())))
    runner.start()
    killed = None
    deadline = time.time() + 60
    while killed is None and time.time() < deadline and runner.is_alive():
        pids = _worker_pids()
        if pids:
            time.sleep(0.3)  # let it get into the video
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.05)
    runner.join(timeout=180)
    assert killed is not None, "no worker was seen running"
    report = result["report"]
    assert not report.failed and len(report.outputs) == 4
    assert not list(out.rglob(".*.tmp"))
    DetectRun(DetectSettings()).run([str(src)], str(tmp_path / "local") + "/")
    for i in range(4):
        expected = read(tmp_path / "local" / f"v{i}.mp4.parquet")
        assert len(expected) > 140
        pd.testing.assert_frame_equal(read(out / f"v{i}.mp4.parquet"), expected)


@pytest.mark.slow
@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_stops_the_workers_and_leaves_no_partial_file(tmp_path: Path, stop: signal.Signals,
                                                              code: int) -> None:
    """SIGINT or SIGTERM to ``detect --ray`` (its own local runtime): exit 130 or 143, no
    temporaries left. Ray's own SIGTERM handler had dumped a crash report and exited 1."""
    import subprocess
    import sys

    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        moving_face_clip(src / f"v{i}.mp4", frames=1500, width=160, height=120, head_height=90,
                         velocity=(0.0, 0.0))
    out = tmp_path / "out"
    driver = subprocess.Popen([sys.executable, "-m", "blazecli", "detect", str(src), "-o", f"{out}/",
                               "--ray", "--ray-workers", "1", "-q"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 90
    while not _worker_pids() and time.time() < deadline and driver.poll() is None:
        time.sleep(0.1)
    assert _worker_pids(), "no worker was seen running"
    time.sleep(0.5)
    driver.send_signal(stop)
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == code, stderr
    assert "Traceback" not in stderr and not list(out.rglob(".*.tmp"))
    finished = len(list(out.glob("*.parquet")))
    assert finished < 3  # stopped part-way
    # A run that finished an input says how to resume; one that finished none, that none was written.
    assert ("--skip-existing" if finished else "before any input finished; no output file was written") in stderr


def test_a_cluster_that_cannot_be_joined_is_said_in_one_line(tmp_path: Path) -> None:
    """An address where nothing answers hung for good (Ray retries), and a bad RAY_ADDRESS was
    a traceback; --segment-threads was silently ignored on Ray."""
    import subprocess
    import sys

    clip = moving_face_clip(tmp_path / "a.mp4", frames=4)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for extra, environ, said, code in [
        (["--ray-address", "127.0.0.1:1"], {}, "error: --ray-address 127.0.0.1:1: no Ray cluster answers there", 4),
        ([], {"RAY_ADDRESS": "garbage"}, "error: Ray could not start or join a cluster: ", 4),
        (["--segment-threads", "2"], {}, "error: --segment-threads shares one machine's cores", 2)]:
        done = subprocess.run([sys.executable, "-m", "blazecli", "detect", str(clip), "-o", f"{tmp_path}/out/",
                               "--ray", "-q", *extra], capture_output=True, text=True, timeout=120,
                              env={**env, **environ})
        assert done.returncode == code and said in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize("content", [b"my own notes", b"[1]", b'"text"', b'{"inputs": [1]}'])
def test_someone_elses_file_in_the_manifests_place_is_kept(folder: Path, tmp_path: Path, content: bytes) -> None:
    """The manifest was rewritten over any file of its name, and JSON that was not an object
    ended the run in a traceback. Refused before any work (no Ray started), unless overwrite."""
    from blazecli.errors import OutputExistsError, OutputNotWritableError

    out = tmp_path / "out"
    out.mkdir()
    theirs = out / MANIFEST
    theirs.write_bytes(content)
    with pytest.raises(OutputExistsError, match="not a manifest of a run"):
        run_on_ray([str(folder)], f"{out}/", DetectSettings(), RayOptions(), _Quiet())
    assert theirs.read_bytes() == content and sorted(p.name for p in out.iterdir()) == [MANIFEST]
    theirs.unlink()
    theirs.mkdir()
    with pytest.raises(OutputNotWritableError, match="is a directory"):
        run_on_ray([str(folder)], f"{out}/", DetectSettings(overwrite=True), RayOptions(), _Quiet())


def test_the_manifest_never_replaces_an_input_and_deep_json_is_no_manifest(folder: Path, tmp_path: Path) -> None:
    """--overwrite wrote the manifest over an input of that name; JSON nested past Python's
    depth ended the run in a RecursionError."""
    from blazecli.errors import InvalidOptionError, OutputExistsError

    out = tmp_path / "out"
    out.mkdir()
    video = out / MANIFEST
    video.write_bytes((folder / "a.mp4").read_bytes())
    with pytest.raises(InvalidOptionError, match="which is the input"):
        run_on_ray([str(video)], f"{out}/", DetectSettings(overwrite=True), RayOptions(), _Quiet())
    assert video.read_bytes() == (folder / "a.mp4").read_bytes()
    video.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(OutputExistsError, match="not a manifest of a run"):
        run_on_ray([str(folder)], f"{out}/", DetectSettings(skip_existing=True), RayOptions(), _Quiet())
