"""How many faces stay visible after anonymizing: blazecli annotate --blur vs deface.

Each video of ../shared/data/videos (and any path given) is anonymized by

- ``blazecli annotate IN -o OUT --blur`` with its defaults, and once more per
  ``--blazecli-args`` flag set (repeatable), so new settings are measured the same way;
- ``deface IN -o OUT`` with deface's defaults (its CLI from benchmarks/.venv-peers).

The judge is deface's own CenterFace detector at score >= 0.5, run at each video's full
size on the original and on every anonymized output. A *leak* is a face the judge finds
in an output frame that matches (IoU >= 0.3, one to one) a face it found in the same
frame of the original: still recognisable enough for a detector. The judge is deface's
detector, so it favours deface (deface hides what this same detector finds at 0.2); the
figures are a floor on what a person would still see, not a neutral score.

Frame alignment: an output frame is compared with the original frame it shows. Rules
tried: same index (equal frame counts only), nearest absolute time, nearest time counted
from each first frame, each shifted by up to 2 frames; the one whose pairs have the most
alike 32x24 grey thumbnails wins, and the JSON names it. blazecli keeps every frame and
its time (index); deface reads through imageio/ffmpeg at a constant rate, which repeats
the first frame over a late start (the hamilton clip starts at 0.85 s: 300 frames out of
275). Outputs of another size (imageio pads to multiples of 16: 640x360 becomes 640x368)
have their judge boxes scaled back to the original's size.

``--every N`` runs the judge on every Nth original frame only (CenterFace at full size
costs ~0.1-1 s a frame on 2 shared cores, and runs on the original and every output);
the anonymizers always process whole clips, timed as whole processes (start-up and
model load included).

    benchmarks/.venv-peers/bin/python benchmarks/leaks.py --every 5
    benchmarks/.venv-peers/bin/python benchmarks/leaks.py --blazecli-args "--model full"

Prints a table and writes benchmarks/results/leaks.json, which lists each face left (the
original frame and the judge's box there; ``leak_probe.py`` asks the detector about them).
Skips without videos.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from provenance import commit, machine, versions

PACKAGES = ("blazecli", "deface", "onnxruntime", "onnxruntime-gpu", "onnx", "opencv-python", "imageio",
            "imageio-ffmpeg", "av", "numpy")
"""What the figures depend on, recorded with them."""

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VIDEOS = ROOT.parent / "shared" / "data" / "videos"
RESULTS = HERE / "results"
PEERS_DEFACE = HERE / ".venv-peers" / "bin" / "deface"
VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".m4v", ".avi", ".webm"}

JUDGE_SCORE = 0.5
LEAK_IOU = 0.3
JUDGE_NOTE = (
    "the judge is deface's own CenterFace detector (score >= 0.5): it favours deface, "
    "which hides what the same detector finds at 0.2"
)


@dataclass
class Tool:
    """An anonymizer: its name and how to call it on one input and output."""

    name: str
    command: Callable[[Path, Path], list[str]]


@dataclass
class Scan:
    """One pass over a video: its size as shown, each frame's time, a grey thumbnail."""

    size: tuple[int, int]
    times: np.ndarray  # (F,) seconds, as the decoder reports them
    thumbs: np.ndarray  # (F, 24, 32) float32: which frames show the same picture


@dataclass
class JudgedFrames:
    """The judge's faces per frame index of one video, in the original's pixels."""

    scan: Scan
    faces: dict[int, np.ndarray] = field(default_factory=dict)  # index -> (N, 4)


# --- frames and the judge -------------------------------------------------------------


def _reader(path: Path):  # noqa: ANN202 - imported late: this venv may lack blazecli's deps
    from blazecli.media.reader import VideoReader

    return VideoReader(path)


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """A 32x24 grey sample of the picture, whatever its size."""
    h, w = rgb.shape[:2]
    ys = np.linspace(0, h - 1, 24).astype(int)
    xs = np.linspace(0, w - 1, 32).astype(int)
    return rgb[ys][:, xs].astype(np.float32).mean(axis=2)


def scan(path: Path) -> Scan:
    """Size, times and thumbnails of every frame."""
    with _reader(path) as reader:
        times, thumbs = [], []
        for frame in reader.frames():
            times.append(frame.time_s)
            thumbs.append(thumbnail(frame.to_rgb()))
        size = (reader.info.width, reader.info.height)
    return Scan(size, np.array(times), np.array(thumbs).reshape(-1, 24, 32))


def frames_rgb(
    path: Path, wanted: Callable[[int, float], bool]
) -> Iterator[tuple[int, np.ndarray]]:
    """(index, RGB as shown) of the frames ``wanted(index, time)`` accepts (PyAV)."""
    with _reader(path) as reader:
        for frame in reader.frames():
            if wanted(frame.index, frame.time_s):
                yield frame.index, frame.to_rgb()


def load_judge() -> Callable[[np.ndarray], np.ndarray]:
    """deface's CenterFace as deface calls it (full frame size, RGB) -> (N, 4) boxes."""
    from deface.centerface import CenterFace

    try:
        net = CenterFace(
            in_shape=None,
            backend="auto",
            override_execution_provider="CPUExecutionProvider",
        )
    except ValueError:  # the OpenCV backend, or no CPU provider listed
        net = CenterFace(in_shape=None, backend="auto")

    def judge(rgb: np.ndarray) -> np.ndarray:
        dets, _ = net(np.ascontiguousarray(rgb), threshold=JUDGE_SCORE)
        return np.asarray(dets[:, :4], np.float64).reshape(-1, 4)

    return judge


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xyxy box of ``a`` (K, 4) with every box of ``b`` (M, 4)."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def leaked(original: np.ndarray, output: np.ndarray) -> list[int]:
    """Which faces of the original frame the judge still finds in the output frame
    (their rows): pairs with IoU >= 0.3, one to one, the best overlaps first."""
    if len(original) == 0 or len(output) == 0:
        return []
    iou = iou_matrix(original, output)
    rows, cols = np.nonzero(iou >= LEAK_IOU)
    used_rows: list[int] = []
    used_cols: set[int] = set()
    for k in np.argsort(-iou[rows, cols], kind="stable"):
        if rows[k] not in used_rows and cols[k] not in used_cols:
            used_rows.append(int(rows[k]))
            used_cols.add(int(cols[k]))
    return sorted(used_rows)


def judge_original(
    path: Path, judge: Callable[[np.ndarray], np.ndarray], every: int
) -> JudgedFrames:
    """The judge on every ``every``-th frame of the original."""
    judged = JudgedFrames(scan(path))
    for index, rgb in frames_rgb(path, lambda i, _t: i % every == 0):
        judged.faces[index] = judge(rgb)
    return judged


def align(original: Scan, output: Scan) -> tuple[str, np.ndarray, float]:
    """Which original frame each output frame shows: (rule, indices, mean thumbnail
    difference). Base rules: same index (equal counts only), nearest absolute time,
    nearest time counted from each first frame; each also shifted by up to 2 frames.
    The rule whose pairs look most alike wins: ffmpeg's constant-rate reading repeats
    the first frame over a late start and may round to the neighbouring frame."""
    t_in, t_out = original.times, output.times
    bases: dict[str, np.ndarray] = {}
    if len(t_in) == len(t_out):
        bases["index"] = np.arange(len(t_out))
    if len(t_in) and len(t_out):
        shifts = {"absolute time": 0.0, "time from first frame": t_in[0] - t_out[0]}
        for rule, shift in shifts.items():
            gaps = np.abs(t_in[None, :] - (t_out[:, None] + shift))
            bases[rule] = gaps.argmin(axis=1)
    best = ("none", np.zeros(0, int), float("inf"))
    for offset in (0, 1, -1, 2, -2):  # the plain rules first: a tie keeps them
        for rule, base in bases.items():
            pairs = np.clip(base + offset, 0, len(t_in) - 1)
            diff = float(np.abs(output.thumbs - original.thumbs[pairs]).mean())
            if diff < best[2] - 1e-3:
                best = (f"{rule} {offset:+d} frame" if offset else rule, pairs, diff)
    return best


def judge_output(
    path: Path, original: JudgedFrames, judge: Callable[[np.ndarray], np.ndarray]
) -> dict:
    """Leaks of one anonymized output against the judged original."""
    out = scan(path)
    rule, pairs, diff = align(original.scan, out)
    pairing: dict[int, int] = {}  # output index -> original index, first one wins
    paired: set[int] = set()
    for k, j in enumerate(pairs.tolist()):
        if j in original.faces and j not in paired:
            pairing[k] = j
            paired.add(j)
    size = out.size
    scale = np.array(
        [original.scan.size[0] / size[0], original.scan.size[1] / size[1]] * 2
    )
    faces = frames_with_leak = 0
    left: list[dict] = []  # each face left: the original frame and the judge's box there
    for k, rgb in frames_rgb(path, lambda i, _t: i in pairing):
        reference = original.faces[pairing[k]]
        rows = leaked(reference, judge(rgb) * scale)
        faces += len(reference)
        frames_with_leak += bool(rows)
        left += [{"frame": pairing[k], "box": reference[r].round(1).tolist()} for r in rows]
    leaks = len(left)
    return {
        "output_size": list(size),
        "output_frames": len(out.times),
        "frames_judged": len(pairing),
        "alignment": rule,
        "alignment_thumb_diff": round(diff, 2),
        "original_faces": faces,
        "leaked_faces": leaks,
        "leak_rate": leaks / faces if faces else None,
        "frames_with_leak": frames_with_leak,
        "faces_left": left,
    }


# --- anonymizers ----------------------------------------------------------------------


def tools(blazecli_args: list[str], deface: str | None) -> list[Tool]:
    """blazecli --blur with defaults, one per extra flag set, then deface if there."""
    found = []
    for extra in ["", *blazecli_args]:
        flags = shlex.split(extra)
        name = " ".join(["blazecli --blur", *flags])
        found.append(
            Tool(
                name,
                lambda i, o, flags=flags: [
                    sys.executable,
                    "-m",
                    "blazecli",
                    "annotate",
                    str(i),
                    "-o",
                    str(o),
                    "--blur",
                    *flags,
                ],
            )
        )
    if deface:
        found.append(Tool("deface", lambda i, o: [deface, str(i), "-o", str(o)]))
    return found


def run_tool(tool: Tool, video: Path, out: Path) -> dict:
    """Anonymize one video: whole-process wall time; the output's end on failure."""
    start = time.perf_counter()
    done = subprocess.run(tool.command(video, out), capture_output=True, text=True)
    wall = time.perf_counter() - start
    result: dict = {"wall_s": round(wall, 3), "returncode": done.returncode}
    if done.returncode != 0 or not out.is_file():
        result["error"] = (done.stderr or done.stdout)[-2000:]
    return result


# --- report ---------------------------------------------------------------------------


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'clip':42} {'tool':28} {'faces':>6} {'leaked':>6} {'rate':>6} "
        f"{'leak frames':>11} {'wall s':>7} {'fps':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        if "error" in r:
            print(
                f"{r['clip'][:42]:42} {r['tool'][:28]:28} "
                f"failed: {r['error'].strip()[-60:]}"
            )
            continue
        rate = "n/a" if r["leak_rate"] is None else f"{r['leak_rate']:.3f}"
        print(
            f"{r['clip'][:42]:42} {r['tool'][:28]:28} {r['original_faces']:6d} "
            f"{r['leaked_faces']:6d} {rate:>6} "
            f"{r['frames_with_leak']:5d}/{r['frames_judged']:<5d} "
            f"{r['wall_s']:7.1f} {r['fps']:6.1f}"
        )


def totals(rows: list[dict]) -> list[dict]:
    """Over all clips, per tool."""
    out = []
    for name in dict.fromkeys(r["tool"] for r in rows):
        mine = [r for r in rows if r["tool"] == name and "error" not in r]
        if not mine:
            continue
        faces = sum(r["original_faces"] for r in mine)
        leaks = sum(r["leaked_faces"] for r in mine)
        wall = sum(r["wall_s"] for r in mine)
        frames = sum(r["source_frames"] for r in mine)
        out.append(
            {
                "clip": "ALL",
                "tool": name,
                "original_faces": faces,
                "leaked_faces": leaks,
                "leak_rate": leaks / faces if faces else None,
                "frames_with_leak": sum(r["frames_with_leak"] for r in mine),
                "frames_judged": sum(r["frames_judged"] for r in mine),
                "wall_s": wall,
                "fps": frames / wall if wall else 0.0,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("videos", nargs="*", type=Path, help="extra videos to measure")
    parser.add_argument(
        "--videos-dir",
        type=Path,
        default=VIDEOS,
        help="folder of clips (default: ../shared/data/videos; skipped if absent)",
    )
    parser.add_argument(
        "--every",
        type=int,
        default=1,
        help="judge every Nth original frame (the anonymizers still do all)",
    )
    parser.add_argument(
        "--blazecli-args",
        action="append",
        default=[],
        metavar="FLAGS",
        help='extra flags for one more blazecli run, e.g. "--model full" (repeatable)',
    )
    parser.add_argument(
        "--deface",
        default=None,
        help="deface executable (default: benchmarks/.venv-peers/bin/deface, "
        "else deface on PATH)",
    )
    parser.add_argument(
        "--no-deface",
        action="store_true",
        help="run blazecli alone (deface's figures do not change with blazecli's code)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the anonymized videos in this folder",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "leaks.json", help="JSON written here"
    )
    args = parser.parse_args(argv)
    if args.every < 1:
        parser.error("--every must be at least 1")

    videos = (
        sorted(
            p for p in args.videos_dir.glob("*") if p.suffix.lower() in VIDEO_SUFFIXES
        )
        if args.videos_dir.is_dir()
        else []
    )
    videos += [p for p in args.videos if p not in videos]
    if not videos:
        print(f"skipped: no videos ({args.videos_dir} is absent and none was given)")
        return 0
    try:
        judge = load_judge()
    except ImportError:
        print(
            "skipped: the judge is deface's CenterFace, and deface does not import "
            "here; "
            "run bash benchmarks/peers.sh, then benchmarks/.venv-peers/bin/python "
            "benchmarks/leaks.py"
        )
        return 0
    deface = None if args.no_deface else args.deface or (
        str(PEERS_DEFACE) if PEERS_DEFACE.is_file() else shutil.which("deface")
    )
    anonymizers = tools(args.blazecli_args, deface)
    checkout = commit()  # before the long run, which files may change under

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="leaks-") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        for video in videos:
            print(
                f"{video.name}: judging the original ...", file=sys.stderr, flush=True
            )
            original = judge_original(video, judge, args.every)
            for n, tool in enumerate(anonymizers):
                out = work / f"{video.stem}.{n}.{tool.name.split()[0]}.mp4"
                out.unlink(missing_ok=True)
                print(f"{video.name}: {tool.name} ...", file=sys.stderr, flush=True)
                row = {
                    "clip": video.name,
                    "tool": tool.name,
                    "source_size": list(original.scan.size),
                    "source_frames": len(original.scan.times),
                    **run_tool(tool, video, out),
                }
                row["fps"] = (
                    len(original.scan.times) / row["wall_s"] if row["wall_s"] else 0.0
                )
                if "error" not in row:
                    row.update(judge_output(out, original, judge))
                rows.append(row)

    report = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": checkout,
        "machine": machine(),
        "versions": versions(PACKAGES),
        "judge": {
            "detector": "deface.centerface.CenterFace, full frame size",
            "score": JUDGE_SCORE,
            "leak_iou": LEAK_IOU,
            "every": args.every,
            "note": JUDGE_NOTE,
        },
        "deface": deface,
        "results": rows,
        "totals": totals(rows),
    }
    print(
        f"\n{report['machine']['cpu']}, {report['machine']['cores']} cores "
        f"(shared: timings are noisy), commit {report['commit']}, "
        f"judge every {args.every} frame(s)"
    )
    print(f"Note: {JUDGE_NOTE}.")
    print("fps: source frames / whole-process wall time of the anonymizer.")
    print_table(rows + report["totals"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
