"""``detect --ray``: the same per-video job on a Ray cluster (optional extra ``blazecli[ray]``).

Ray is the scheduler: each worker is a Ray actor that holds one ONNX Runtime session and runs
whole videos through the same ``DetectRun`` as the single-machine path, so outputs are the
same files with the same schema and metadata. Actors that die are restarted and their video
retried (bounded); an input that keeps failing is reported and the rest completes. A run
manifest in the output folder records every input's status, so ``--skip-existing`` resumes.

Inputs must be paths every worker can read (a shared filesystem); the output folder too.
Long videos are not split: one video is one task (the temporal stage stays exact).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import DeviceUnavailableError, InvalidOptionError, OutputExistsError, OutputNotWritableError
from ..media.files import STDIN
from ..outputs.paths import (
    SIDECAR,
    check_output,
    check_writable,
    make_folder,
    output_targets,
    refuse_replacing_inputs,
    remove_empty_folders,
)
from ..outputs.sinks import finished_output, keeps_sidecar, read_json_file, temporary_pattern, write_atomic
from .runner import DetectRun, DetectSettings, Progress, RunReport, expand_inputs

MANIFEST = "_blazecli_manifest.json"  # leading "_": dataset readers skip it
RAY_CONNECT_TIMEOUT_S = 5.0  # a cluster address that does not answer within this is refused
MAX_RESTARTS = 2  # a worker that dies is restarted this often, and its video retried


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run: ``address`` None starts a local runtime (or uses RAY_ADDRESS)."""

    address: str | None = None
    workers: int | None = None  # None: one per GPU, else one per CPU of the cluster

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise InvalidOptionError(f"`RayOptions.workers` must be at least 1, got {self.workers}")


def _import_ray():
    try:
        import ray
    except ImportError:
        raise InvalidOptionError(
            "Ray needs the optional extra: pip install 'blazecli[ray]'") from None
    return ray


class _Worker:
    """One Ray actor: one detector (ORT session), whole videos one after the other."""

    def __init__(self, settings: DetectSettings) -> None:
        from ..inference.detector import FaceDetector

        self.settings = settings
        self.detector = FaceDetector(settings.detector)

    def run(self, source: str, target: str) -> dict[str, Any]:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        report = DetectRun(self.settings, make_detector=lambda _: self.detector).run([source], target)
        entry: dict[str, Any] = {"input": source, "output": target, "provider": self.detector.provider}
        if report.failed:
            entry.update(status="failed", error=report.failed[0][1])
        else:
            (summary,) = report.done
            entry.update(status="done", rows=summary.faces, frames=summary.frames_processed,
                         seconds=summary.seconds, facts=summary.facts())
        return entry


def run_on_ray(inputs: list[str], output: str, settings: DetectSettings, options: RayOptions,
               progress: Progress) -> RunReport:
    """Detect faces in every input on Ray, one output file per input under ``output``."""
    if STDIN in inputs:
        raise InvalidOptionError("Ray cannot read stdin: give files every worker can read")
    for name, value in (("workers", settings.workers), ("segment_threads", settings.segment_threads)):
        if (value or 1) > 1:
            raise InvalidOptionError(f"`{name}` shares one machine's cores; on Ray, use `RayOptions.workers`")
    out_dir = Path(output)
    check_output([], output)
    if not (output.endswith(("/", "\\")) or out_dir.is_dir()):
        example = "out/" if output == "-" else f"{output}/"
        raise InvalidOptionError(f"Ray writes one file per input: give a folder, e.g. `output={example}`")
    fmt = settings.format or "parquet"
    sources = expand_inputs(inputs)
    if not sources:
        raise InvalidOptionError("no video or image files found in the given inputs")
    targets = output_targets(sources, inputs, out_dir, fmt)
    refuse_replacing_inputs(sources, output, [out_dir / MANIFEST])
    made = make_folder(out_dir)
    try:  # a run stopped before it wrote anything leaves no folder
        report = RunReport()
        manifest = _Manifest(out_dir / MANIFEST, settings)
        work = []
        for source, target in zip(sources, targets, strict=False):
            if settings.skip_existing and finished_output(str(target), fmt):
                report.skipped.append(source)
                manifest.record({"input": source, "output": str(target), "status": "skipped"})
                continue
            # Refused here, before any worker writes, so that workers replace what is there: a task
            # retried after its worker died may find the output its first attempt finished.
            try:
                replaces = settings.replaces(str(target), fmt)
                sidecar = [Path(f"{target}{SIDECAR}")] if keeps_sidecar(str(target), fmt) else []
                for written in [target, *sidecar]:
                    check_writable(written, replaces, folder_made_later=True)
            except (OutputExistsError, OutputNotWritableError) as exc:
                report.failed.append((source, str(exc)))
                manifest.record({"input": source, "output": str(target), "status": "failed", "error": str(exc)})
                continue
            work.append((os.path.abspath(source), source, str(target.resolve())))  # the path as named

        ray = _import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            _start_ray(ray, options.address)
        actors: list[Any] = []
        try:
            actors = _start_workers(ray, settings, options, len(work))
            _dispatch(ray, actors, work, report, manifest, progress)
        finally:
            for actor in actors:
                ray.kill(actor)
            if started_here:
                ray.shutdown()
            _remove_temporaries([Path(target) for _, _, target in work])
        return report
    finally:
        remove_empty_folders(made)


def _start_ray(ray, address: str | None) -> None:  # noqa: ANN001
    """Join the cluster at ``address``, or start one here. A cluster that does not answer is
    said at once (Ray itself retries for minutes), and whatever Ray raises (no cluster for
    ``auto``, a bad ``RAY_ADDRESS``, a folder it cannot write) is said in one line."""
    where = (address or "").removeprefix("ray://")
    if ":" in where:
        host, _, port = where.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=RAY_CONNECT_TIMEOUT_S).close()
        except (OSError, ValueError) as exc:
            raise DeviceUnavailableError(f"`RayOptions.address={address}`: no Ray cluster answers there "
                                         f"({getattr(exc, 'strerror', None) or exc})") from None
    # Ray's core installs its own SIGTERM handler, which dumps a crash report and exits 1: the
    # process keeps the handlers it had (the CLI's stop the run and clean up, as for Ctrl-C).
    handlers = ({number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
                if threading.current_thread() is threading.main_thread() else {})
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError, PermissionError: Ray's own
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeviceUnavailableError(f"Ray could not start or join a cluster"
                                     f"{f' at `RayOptions.address={address}`' if address else ''}: {first}") from exc
    finally:
        for number, handler in handlers.items():
            if handler is not None:
                signal.signal(number, handler)


def _start_workers(ray, settings: DetectSettings, options: RayOptions, videos: int) -> list[Any]:
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0)) if settings.detector.device != "cpu" else 0
    cpus = max(1, int(resources.get("CPU", 1)))
    count = options.workers or (gpus or cpus)
    count = max(1, min(count, max(videos, 1)))
    # One video at a time in one pipeline per worker (one CPU each): Ray shares out the cores.
    if gpus:
        detector = replace(settings.detector, device="cuda")
    else:
        detector = replace(settings.detector, threads=1, device="cpu")
    worker_settings = replace(settings, detector=detector, segment_threads=1, overwrite=True,
                              skip_existing=False)  # the driver chose what to write
    remote = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0, max_restarts=MAX_RESTARTS,
                        max_task_retries=MAX_RESTARTS)(_Worker)
    return [remote.remote(worker_settings) for _ in range(count)]


def _dispatch(ray, actors: list[Any], work: list[tuple[str, str, str]], report: RunReport,
              manifest: _Manifest, progress: Progress) -> None:
    """Keep every actor busy with one video at a time until all are done."""
    pending: dict[Any, tuple[Any, str, str]] = {}
    queue = list(reversed(work))
    idle = list(actors)

    def submit() -> None:
        while idle and queue:
            actor = idle.pop()
            resolved, source, target = queue.pop()
            pending[actor.run.remote(resolved, target)] = (actor, source, target)

    submit()
    while pending:
        (ready,), _ = ray.wait(list(pending), num_returns=1)
        actor, source, target = pending.pop(ready)
        progress.start_file(source, None)
        try:
            entry = ray.get(ready)
        except ray.exceptions.RayActorError:  # retries exhausted: the worker kept dying
            entry = {"input": source, "output": target, "status": "failed",
                     "error": f"{source}: its worker died {MAX_RESTARTS + 1} times"}
        except ray.exceptions.RayTaskError as exc:  # a bug, not bad input: say what it was
            entry = {"input": source, "output": target, "status": "failed",
                     "error": f"{source}: worker error: {exc.cause!r}"}
        entry["input"] = source
        manifest.record(entry)
        if entry["status"] == "done":
            report.outputs.append(target)
            report.provider = entry["provider"]
            report.done.append(_summary(entry))
            progress.advance(entry["frames"])
        else:
            report.failed.append((source, entry["error"]))
        progress.end_file()
        idle.append(actor)
        submit()


def _summary(entry: dict[str, Any]):
    """A VideoSummary rebuilt from a worker's JSON-ready facts (for the report and summary)."""
    from ..media.display import Display
    from ..media.reader import VideoInfo
    from .detect import VideoSummary

    facts = entry["facts"]
    display = Display(facts["rotation"], facts["mirrored"], Fraction(facts["sample_aspect_ratio"]))
    info = VideoInfo(source=entry["input"], width=facts["width"], height=facts["height"],
                     display=display, fps=facts["fps"], duration_s=facts["duration_s"],
                     frames_estimate=facts["frames_read"], codec=facts["codec"],
                     stream_index=facts["stream_index"], is_image=False,
                     size_bytes=facts.get("size_bytes"))
    return VideoSummary(info, frames_decoded=facts["frames_decoded"], frames_read=facts["frames_read"],
                        frames_processed=facts["frames_processed"], faces=facts["faces"],
                        skipped_packets=facts["skipped_packets"], seconds=entry["seconds"])


class _Manifest:
    """The run's record in the output folder, rewritten atomically as results arrive."""

    def __init__(self, path: Path, settings: DetectSettings) -> None:
        """Continues the manifest an earlier run left there; refuses, before any work, a folder
        or someone else's file in its place (one that is not a run's manifest), unless
        ``overwrite``: the run rewrites that name as results arrive."""
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        check_writable(path, True)  # a folder, a device: refused even with overwrite
        if path.exists():
            entries = _entries_of(path)
            if entries is None and not settings.overwrite:
                raise OutputExistsError(f"{path}: already exists and is not a manifest of a run "
                                        "(use `overwrite=True` to replace it)")
            self.entries = entries or {}
        self.settings = settings.metadata()

    def record(self, entry: dict[str, Any]) -> None:
        entry = {k: v for k, v in entry.items() if k != "facts"}
        if entry["status"] == "skipped" and entry["input"] in self.entries:
            return  # keep what the earlier run said about it
        self.entries[entry["input"]] = entry
        body = {"settings": self.settings, "inputs": list(self.entries.values())}
        write_atomic(str(self.path), json.dumps(body, indent=2).encode(), overwrite=True)


MANIFEST_MOST_BYTES = 1 << 30
"""Larger than the manifest of a million inputs: a file this large in its place is someone's own."""


def _entries_of(path: Path) -> dict[str, dict[str, Any]] | None:
    """The inputs an earlier run's manifest records, by input; None if ``path`` holds none."""
    previous = read_json_file(path, MANIFEST_MOST_BYTES)
    inputs = previous.get("inputs") if isinstance(previous, dict) else None
    if not isinstance(inputs, list) or not all(isinstance(e, dict) and isinstance(e.get("input"), str)
                                               for e in inputs):
        return None
    return {e["input"]: e for e in inputs}


def _remove_temporaries(targets: list[Path]) -> None:
    """Temporary files of workers killed mid-write (completed files were published already):
    only those beside this run's own outputs, named after them; other files stay."""
    for target in targets:
        for leftover in target.parent.glob(temporary_pattern(target)):
            try:
                os.unlink(leftover)
            except OSError:
                pass
