"""Real-world inputs and workflows: pipes, sidecar-less rows, truncated files, option clashes,
messages a user reads. Commands that could crash run in their own process, exit code checked."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clips import moving_face_clip
from corpus import still_image

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def blazecli(*args: str, stdin: bytes | None = None, stdout=subprocess.PIPE,
             columns: int | None = None) -> subprocess.CompletedProcess:
    env = {**ENV, **({"COLUMNS": str(columns)} if columns else {})}
    return subprocess.run([sys.executable, "-m", "blazecli", *args], input=stdin, stdout=stdout,
                          stderr=subprocess.PIPE, env=env, timeout=300)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("inputs")


@pytest.fixture(scope="module")
def clip(work: Path) -> Path:
    return moving_face_clip(work / "clip.mp4", frames=20)


@pytest.fixture(scope="module")
def piped_csv(work: Path, clip: Path) -> Path:
    """``detect clip.mp4 -o - > faces.csv``: rows without a sidecar."""
    faces = work / "faces.csv"
    with open(faces, "wb") as handle:
        done = blazecli("detect", str(clip), "-o", "-", "-q", stdout=handle)
    assert done.returncode == 0, done.stderr
    assert not Path(str(faces) + ".meta.json").exists()
    return faces


# 1. The pipe workflow round-trips.

def test_rows_piped_to_a_file_annotate_their_video(work: Path, clip: Path, piped_csv: Path) -> None:
    out = work / "drawn.mp4"
    done = blazecli("annotate", str(clip), "--detections", str(piped_csv), "-o", str(out))
    assert done.returncode == 0, done.stderr
    said = done.stderr.decode()
    assert "faces.csv has no metadata" in said and "assuming it was made from" in said and "every frame" in said
    assert out.exists()


def test_rows_without_sidecar_hide_faces_with_a_warning(work: Path, clip: Path, piped_csv: Path) -> None:
    out = work / "hidden.mp4"
    done = blazecli("annotate", str(clip), "--detections", str(piped_csv), "-o", str(out), "--blur")
    assert done.returncode == 0, done.stderr
    assert "cannot be verified that every frame was processed" in done.stderr.decode()


def test_rows_without_sidecar_that_skip_frames_cannot_hide(work: Path, clip: Path) -> None:
    faces = work / "every2.csv"
    with open(faces, "wb") as handle:
        assert blazecli("detect", str(clip), "-o", "-", "-q", "--every", "2",
                        stdout=handle).returncode == 0
    done = blazecli("annotate", str(clip), "--detections", str(faces), "-o", str(work / "h2.mp4"),
                    "--blur", "-q")
    assert done.returncode == 2 and "every 2nd frame" in done.stderr.decode(), done.stderr


def test_rows_without_sidecar_of_another_video_are_refused(work: Path, piped_csv: Path) -> None:
    bigger = moving_face_clip(work / "bigger.mp4", frames=20, width=400, height=300)
    done = blazecli("annotate", str(bigger), "--detections", str(piped_csv), "-o", str(work / "x.mp4"), "-q")
    assert done.returncode == 2 and "400x300" in done.stderr.decode() and "320x240" in done.stderr.decode()
    (work / "shorter").mkdir()
    shorter = moving_face_clip(work / "shorter" / "clip.mp4", frames=8)  # named as the rows' video
    done = blazecli("annotate", str(shorter), "--detections", str(piped_csv), "-o", str(work / "y.mp4"), "-q")
    assert done.returncode == 2 and "frame 19" in done.stderr.decode(), done.stderr
    assert not (work / "x.mp4").exists() and not (work / "y.mp4").exists()


# 2. Detector options with --detections.

def test_detector_options_with_detections_are_refused(cli, work: Path, clip: Path, piped_csv: Path) -> None:
    result = cli("annotate", str(clip), "--detections", str(piped_csv), "-o", str(work / "z.mp4"),
                 "--model", "full", "--threshold", "0.3", "--tiles", "auto")
    assert result.exit_code == 2, result.output
    assert "--model, --threshold, --tiles" in result.output and "--detections" in result.output


# 3. An MP4 on stdin.

def test_mp4_on_stdin_says_why_and_what_to_do(work: Path) -> None:
    big = moving_face_clip(work / "big.mp4", frames=60, width=640, height=480, options={"crf": "10"})
    done = blazecli("detect", "-", "-o", "-", "-q", stdin=big.read_bytes())
    said = done.stderr.decode()
    assert done.returncode == 1, said
    assert "index at the end" in said and "-f matroska" in said and "pass the path" in said


def test_a_fragmented_mp4_on_stdin_states_no_duration(work: Path) -> None:
    """Its duration was its first fragment's (2 s of a 9 s clip); unknown up front is null."""
    import av
    import pyarrow.parquet as pq

    plain = moving_face_clip(work / "long.mp4", frames=100, options={"g": "25"})
    fragmented = work / "fragmented.mp4"
    with av.open(str(plain)) as source, av.open(str(fragmented), "w", options={
            "movflags": "frag_keyframe+empty_moov"}) as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(video=0):
            if packet.dts is not None:
                packet.stream = stream
                target.mux(packet)
    done = blazecli("detect", "-", "-o", str(work / "fragmented.parquet"), "-q", stdin=fragmented.read_bytes())
    assert done.returncode == 0, done.stderr
    metadata = json.loads(pq.read_metadata(work / "fragmented.parquet").metadata[b"blazecli"])
    video = metadata["videos"][0]
    assert video["duration_s"] is None and video["frames_read"] == 100


def test_a_picture_that_does_not_decode_says_so_in_words(work: Path, astronaut: np.ndarray) -> None:
    """A flipped byte in a PNG's pixel data said only 'cannot decode (Generic error in an
    external library)'."""
    from PIL import Image

    png = io.BytesIO()
    Image.fromarray(astronaut).save(png, format="PNG")
    data = bytearray(png.getvalue())
    data[data.index(b"IDAT") + 40] ^= 0xFF
    (work / "flipped.png").write_bytes(bytes(data))
    done = blazecli("detect", str(work / "flipped.png"), "-o", "-", "-q")
    said = done.stderr.decode()
    assert done.returncode == 1 and "does not decode: damaged, or a kind FFmpeg does not read" in said, said


def test_tiff_on_stdin_says_why_and_what_to_do(work: Path, astronaut: np.ndarray) -> None:
    from PIL import Image

    tiff = io.BytesIO()
    Image.fromarray(astronaut).save(tiff, format="TIFF", compression="tiff_lzw")
    done = blazecli("detect", "-", "-o", "-", "-q", stdin=tiff.getvalue())
    said = done.stderr.decode()
    assert done.returncode == 1 and "a TIFF cannot be read from a pipe" in said and "pass the path" in said


# 4. --keep-partial.

def truncated_mkv(work: Path) -> Path:
    whole = moving_face_clip(work / "whole.mkv", frames=40)
    cut = work / "cut.mkv"
    data = whole.read_bytes()
    cut.write_bytes(data[:int(len(data) * 0.6)])
    return cut


def test_truncated_file_fails_by_default_and_keep_partial_keeps_its_start(work: Path) -> None:
    cut = truncated_mkv(work)
    out = work / "cut.parquet"
    done = blazecli("detect", str(cut), "-o", str(out))
    assert done.returncode == 1 and "truncated" in done.stderr.decode() and not out.exists()
    done = blazecli("detect", str(cut), "-o", str(out), "--keep-partial")
    said = done.stderr.decode()
    assert done.returncode == 0, said
    assert "warning" in said and "truncated" in said
    from blazecli.outputs.sinks import read_metadata

    (facts,) = read_metadata(str(out))["videos"]
    assert facts["truncated"] is True and 0 < facts["frames_decoded"] < 40
    assert facts["declared_duration_s"] == pytest.approx(40 / 25, abs=0.05)
    # how far it was read, not what it declares
    assert facts["duration_s"] == pytest.approx(facts["frames_decoded"] / 25, abs=0.05)
    assert len(pd.read_parquet(out)) == facts["faces"] > 0


# 5. Messages and options.

def test_bad_choice_reads_like_a_choice_error(cli, clip: Path) -> None:
    result = cli("detect", str(clip), "-o", "-", "--model", "large")
    assert result.exit_code == 2
    assert "Value error" not in result.output and "'large' is not one of 'short', 'full'" in result.output


def test_avi_output_is_refused_in_plain_words(cli, work: Path, clip: Path) -> None:
    result = cli("annotate", str(clip), "-o", str(work / "out.avi"))
    assert result.exit_code == 2 and "AVI is not written: use .mp4, .mov or .mkv" in result.output


def test_summary_says_what_happened_when_nothing_ran(cli, work: Path) -> None:
    result = cli.verbose("detect", str(work / "nowhere.mp4"), "-o", str(work / "n.csv"))
    assert result.exit_code == 1
    assert "no device" not in result.output and "0 frames/s" not in result.output
    assert "no input was processed" in result.output
    assert "━" not in result.output  # no progress bar for an input that never started


def test_nothing_on_stdout_before_an_error(clip: Path) -> None:
    done = blazecli("detect", str(clip), "-o", "-", "--device", "cuda", "-q")
    if done.returncode == 0:
        pytest.skip("CUDA runs here")
    assert done.returncode == 4 and done.stdout == b""
    done = blazecli("detect", str(clip), "-o", "-", "--stream", "3", "-q")
    assert done.returncode == 1 and done.stdout == b""


@pytest.mark.parametrize("args, flag", [
    (["--stream", "-1"], "--stream"),
    (["--start", "-1"], "--start"),
    (["--skip-existing", "--overwrite"], "--skip-existing"),
])
def test_contradictory_or_negative_options_are_usage_errors(cli, clip: Path, args, flag) -> None:
    result = cli("detect", str(clip), "-o", "-", *args)
    assert result.exit_code == 2 and flag in result.output, result.output


def test_annotate_negative_start_is_a_usage_error(cli, work: Path, clip: Path) -> None:
    result = cli("annotate", str(clip), "-o", str(work / "neg.mp4"), "--start", "-1")
    assert result.exit_code == 2 and "--start" in result.output


def test_png_named_mp4_is_read_as_the_photo_it_is(work: Path, astronaut: np.ndarray) -> None:
    import av

    photo = work / "photo.mp4"
    frame = av.VideoFrame.from_ndarray(astronaut, format="rgb24")
    with av.open(str(work / "photo.png"), "w") as container:
        stream = container.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = 512, 512, "rgb24"
        container.mux(stream.encode(frame))
    photo.write_bytes((work / "photo.png").read_bytes())
    done = blazecli("detect", str(photo), "-o", "-", "-q")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.decode().splitlines()) == 2  # the header and the astronaut
    done = blazecli("annotate", str(photo), "-o", str(work / "photo_out.mp4"), "-q")
    assert done.returncode == 2 and "is a photo" in done.stderr.decode()
    done = blazecli("annotate", str(photo), "-o", str(work / "photo_out.png"), "-q")
    assert done.returncode == 0 and (work / "photo_out.png").exists()



def test_jpeg_named_mov_is_read_as_a_photo(cli, work: Path, astronaut: np.ndarray) -> None:
    from corpus import still_image

    photo = still_image(work / "photo.mov", astronaut, "jpg")
    result = cli("detect", str(photo), "-o", "-")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 2, result.output


# 6. A reader that closes stdout.

def test_closed_pipe_is_said_and_the_bar_not_completed(work: Path) -> None:
    long = moving_face_clip(work / "long.mp4", frames=400, width=160, height=120, head_height=90,
                            velocity=(0.1, 0.0))
    detect = subprocess.Popen([sys.executable, "-m", "blazecli", "detect", str(long), "-o", "-"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    head = subprocess.run(["head", "-2"], stdin=detect.stdout, capture_output=True)
    detect.stdout.close()
    _, err = detect.communicate(timeout=120)
    assert len(head.stdout.splitlines()) == 2
    said = err.decode()
    assert detect.returncode == 0, said
    assert "the reader closed the output" in said
    assert "400/400" not in said and "frames/s" not in said
    quiet = subprocess.Popen([sys.executable, "-m", "blazecli", "detect", str(long), "-o", "-", "-q"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    subprocess.run(["head", "-2"], stdin=quiet.stdout, capture_output=True)
    quiet.stdout.close()
    _, err = quiet.communicate(timeout=120)
    assert quiet.returncode == 0 and err == b""  # -q: not a word


# 7. stability's table.

def test_stability_table_fits_and_explains_itself(cli, clip: Path) -> None:
    result = cli("stability", str(clip), "--shift", "1px,2px")
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    assert "IOD" in result.output and "inter-ocular distance" in result.output
    assert "lower is better" in result.output and "px" in result.output
    wide = max(len(line) for line in result.output.splitlines())
    assert wide <= 80 or "\n" in result.output


def test_stability_table_fits_an_80_column_terminal(clip: Path) -> None:
    done = blazecli("stability", str(clip), "--shift", "1px,2px", "-q", columns=80)
    said = done.stdout.decode()
    assert done.returncode == 0 and "…" not in said, said


# 8. --help and output names.

def test_help_reads_plainly() -> None:
    annotate = blazecli("annotate", "--help", columns=100).stdout.decode()
    detect = blazecli("detect", "--help", columns=100).stdout.decode()
    stability = blazecli("stability", "--help", columns=100).stdout.decode()
    assert "detect --workers" not in annotate
    for text in (annotate, detect, stability):
        assert "<list[str]>" not in text and "{" not in text.split("Options")[0], text[:300]
    assert "INPUT..." in detect and "VIDEO" in annotate and "SHIFT" in stability


@pytest.mark.parametrize("suffix", [".json", ".ndjson"])
def test_json_names_take_json_lines(cli, work: Path, clip: Path, suffix: str) -> None:
    out = work / f"faces{suffix}"
    result = cli("detect", str(clip), "-o", str(out))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 20 and rows[0]["frame_index"] == 0


# 9. Boxes past the frame's edges, clipped in the example.

def test_example_clips_boxes_to_the_frame(work: Path) -> None:
    from clips import Path2D, astronaut_head, compose, write_clip

    head = astronaut_head(200)  # half a face past the left edge
    clip = write_clip(work / "edge.mp4", lambda i: compose(240, 240, [(head, Path2D((-40, 20)))], i), 3)
    faces = work / "edge.parquet"
    assert blazecli("detect", str(clip), "-o", str(faces), "-q").returncode == 0
    rows = pd.read_parquet(faces)
    assert len(rows) == 3 and (rows.x_min < 0).all()  # as MediaPipe: the box goes past the edge
    done = subprocess.run([sys.executable, str(REPO / "examples" / "read_faces.py"), str(faces), "--clip"],
                          capture_output=True, text=True, env=ENV)
    assert done.returncode == 0, done.stderr
    assert "3 of 3 boxes reach past the frame" in done.stdout and "x_min_norm" in done.stdout
    shown = done.stdout.split("x_min_norm")[1].splitlines()[1].split()
    assert float(shown[3]) == 0.0  # x_min_norm clipped to the frame


# 10. annotate's memory at 1080p.

@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_annotate_at_1080p_stays_within_400_mb(work: Path) -> None:
    """It peaked at 687 MB here (832 MB on a real 1080p clip): batches of 8 full frames and
    their RGB held ahead of the encoder, pyarrow loaded for nothing, glibc keeping freed frames."""
    clip = moving_face_clip(work / "hd.mp4", frames=48, width=1920, height=1080, head_height=500,
                            velocity=(4.0, 1.0))
    # VmHWM: this process's own peak. ru_maxrss would also count the parent's resident pages at
    # the fork (Linux carries them over exec), which a big pytest process inflates.
    probe = ("import runpy, sys\nsys.argv = ['blazecli', 'annotate', sys.argv[1], '-o', sys.argv[2], '-q']\n"
             "try:\n    runpy.run_module('blazecli', run_name='__main__')\nfinally:\n"
             "    status = open('/proc/self/status').read()\n"
             "    print(status.split('VmHWM:')[1].split()[0], file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", probe, str(clip), str(work / "hd_out.mp4")],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr
    peak_mb = int(done.stderr.split()[-1]) / 1024
    assert peak_mb < 400, f"annotate peaked at {peak_mb:.0f} MB at 1080p"


def test_hiding_in_small_batches_holds_frames_as_far_back_as_tiles_fill(shared_data: Path,
                                                                      tmp_path: Path) -> None:
    """Tiles lengthen how far back the tracker fills gaps; the frames held for it must follow
    (batches of 1 to 3, as annotate now picks for large frames, lost frames: IndexError)."""
    video = shared_data / "videos" / "liveportrait_s18.mp4"
    done = blazecli("annotate", str(video), "-o", str(tmp_path / "hidden.mp4"), "-q", "--blur",
                    "--batch-size", "1", "--end", "1")
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("name, kind", [("holiday.mp4", "png"), ("holiday.mov", "jpg")])
def test_photo_named_like_a_video_is_read_as_the_photo(cli, tmp_path: Path, astronaut: np.ndarray,
                                                       name: str, kind: str) -> None:
    renamed = still_image(tmp_path / name, astronaut, kind)
    out = tmp_path / "faces.jsonl"
    assert cli("detect", str(renamed), "-o", str(out)).exit_code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["frame_index"] == 0
    assert cli("annotate", str(renamed), "-o", str(tmp_path / "drawn.png")).exit_code == 0
    assert cli("annotate", str(renamed), "-o", str(tmp_path / "drawn.mp4")).exit_code == 2


def test_an_animated_png_is_read_as_the_video_it_is(cli, tmp_path: Path, astronaut: np.ndarray) -> None:
    """With a few kilobytes (a colour profile, a comment) ahead of its animation chunk, FFmpeg
    took it for a PNG and read its first frame only: the other frames went unseen, and annotate
    wrote one still, silently."""
    from PIL import Image, PngImagePlugin

    frames = [Image.fromarray(astronaut), Image.fromarray(astronaut[:, ::-1]), Image.fromarray(astronaut)]
    source = tmp_path / "animated.png"
    comment = PngImagePlugin.PngInfo()
    comment.add_text("Comment", "".join(chr(65 + k % 26) for k in range(0, 4000 * 7, 7)))
    frames[0].save(source, save_all=True, append_images=frames[1:], duration=100, pnginfo=comment)
    out = tmp_path / "faces.csv"
    assert cli("detect", str(source), "-o", str(out)).exit_code == 0
    rows = pd.read_csv(out)
    assert rows.frame_index.tolist() == [0, 1, 2]
    np.testing.assert_allclose(rows.time_s, [0.0, 0.1, 0.2])
    assert rows.x_min[1] == pytest.approx(512 - rows.x_max[0], abs=3)  # the mirrored frame


def test_a_gif_of_one_picture_is_a_photo_and_an_animated_one_a_video(cli, tmp_path: Path,
                                                                      astronaut: np.ndarray) -> None:
    """A still GIF was read as a video of one frame: annotate asked for a video output, and
    detect tracked and timed it as one."""
    from PIL import Image

    still, animated = tmp_path / "still.gif", tmp_path / "animated.gif"
    Image.fromarray(astronaut).save(still)
    frames = [Image.fromarray(astronaut), Image.fromarray(astronaut[:, ::-1]), Image.fromarray(astronaut)]
    frames[0].save(animated, save_all=True, append_images=frames[1:], duration=100)

    refused = cli("annotate", str(still), "-o", str(tmp_path / "hidden.gif"), "--blur")
    assert refused.exit_code == 2 and "GIF is not written" in refused.output
    hidden = tmp_path / "hidden.png"
    result = cli("annotate", str(still), "-o", str(hidden), "--blur", "--crf", "30")
    assert result.exit_code == 0 and f"--crf not used: {hidden} is a photo" in result.output
    with Image.open(hidden) as image:
        assert image.format == "PNG" and image.size == (512, 512)
        out = np.asarray(image.convert("RGB")).astype(int)
    face = (slice(60, 200), slice(180, 300))  # the astronaut's face
    assert np.abs(out[face] - astronaut[face]).mean() > 10  # blurred
    assert np.abs(out[400:, :100] - astronaut[400:, :100]).mean() < 8  # the rest as it was (palette)

    rows = tmp_path / "faces.csv"
    assert cli("detect", str(still), str(animated), "-o", str(rows)).exit_code == 0
    faces = pd.read_csv(rows)
    photo, video = faces[faces.video == str(still)], faces[faces.video == str(animated)]
    assert len(photo) == 1 and photo.track_id.isna().all()  # a photo's face has no track
    assert video.frame_index.tolist() == [0, 1, 2] and (video.track_id >= 0).all()
    np.testing.assert_allclose(video.time_s, [0.0, 0.1, 0.2])


def refused_when_cut(cli, wholes: list[Path], kind: str, share: float) -> None:  # noqa: ANN001
    """Each of ``wholes`` cut to ``share`` of its bytes: annotate refuses it in words (exit 3)
    and writes nothing; detect --keep-partial keeps the last one's rows, marked truncated."""
    for whole in wholes:
        cut = whole.with_name(f"cut_{whole.name}")
        cut.write_bytes(whole.read_bytes()[:int(whole.stat().st_size * share)])
        out = whole.with_name(f"hidden_{whole.stem}.png")
        result = cli("annotate", str(cut), "-o", str(out), "--blur")
        assert result.exit_code == 3 and f"the {kind} stops before its end" in result.output, result.output
        assert not out.exists()
    rows = cut.with_name(f"partial_{whole.stem}.csv")
    assert cli("detect", str(cut), "-o", str(rows), "--keep-partial").exit_code == 0
    assert json.loads(Path(f"{rows}.meta.json").read_text())["videos"][0]["truncated"] is True


def test_a_jpeg_cut_short_is_refused_and_one_with_data_after_its_end_is_read(cli, tmp_path: Path,
                                                                             astronaut: np.ndarray) -> None:
    """FFmpeg decodes a cut JPEG without a word, the rest grey: annotate hid nothing there and
    said exit 0, detect wrote `truncated: false`. Data after the picture's end (a phone's motion
    photo appends its video) is no cut."""
    from PIL import Image

    wholes = [tmp_path / "whole.jpg", tmp_path / "progressive.jpg"]
    for whole in wholes:
        Image.fromarray(astronaut).save(whole, quality=90, progressive=whole.stem == "progressive")
    refused_when_cut(cli, wholes, "JPEG", 1 / 3)
    motion = tmp_path / "motion.jpg"
    motion.write_bytes((tmp_path / "whole.jpg").read_bytes() + b"\x00\x00\x00\x18ftypmp42" + bytes(4096))
    assert cli("annotate", str(motion), "-o", str(tmp_path / "motion_hidden.jpg"), "--blur").exit_code == 0


def test_a_damaged_webp_is_not_called_animated(cli, tmp_path: Path, astronaut: np.ndarray) -> None:
    """Every WebP that decoded to nothing was said to be animated, a cut still one too."""
    from PIL import Image

    still, animated = tmp_path / "still.webp", tmp_path / "animated.webp"
    Image.fromarray(astronaut).save(still, quality=90)
    frames = [Image.fromarray(astronaut), Image.fromarray(astronaut[:, ::-1])]
    frames[0].save(animated, save_all=True, append_images=frames[1:], duration=100)
    cut = tmp_path / "cut.webp"
    cut.write_bytes(still.read_bytes()[:still.stat().st_size // 3])
    for source, said in ((cut, "truncated or damaged: its WebP picture does not decode"),
                         (animated, "an animated WebP, which FFmpeg cannot decode")):
        result = cli("detect", str(source), "-o", str(tmp_path / "faces.csv"), "--overwrite")
        assert result.exit_code == 1 and said in result.output, result.output


def test_a_gif_cut_short_is_refused_and_one_on_stdin_is_told_apart(cli, tmp_path: Path,
                                                                     astronaut: np.ndarray) -> None:
    """FFmpeg decodes a cut GIF without a word: a cut animation came out shorter, a cut picture
    garbled, both with exit 0. On a pipe, where FFmpeg counts no pictures, a still GIF was a
    video, and `--input-format gif_pipe` made an animated one (and two PNGs end to end) a photo
    of its first frame."""
    from PIL import Image

    still, animated = tmp_path / "still.gif", tmp_path / "animated.gif"
    Image.fromarray(astronaut).save(still)
    frames = [Image.fromarray(astronaut), Image.fromarray(astronaut[:, ::-1]), Image.fromarray(astronaut)]
    frames[0].save(animated, save_all=True, append_images=frames[1:], duration=100)
    refused_when_cut(cli, [still, animated], "GIF", 2 / 3)

    hidden = tmp_path / "from_stdin.png"
    done = subprocess.run([sys.executable, "-m", "blazecli", "annotate", "-", "-o", str(hidden), "--blur",
                           "-q"], input=still.read_bytes(), capture_output=True, timeout=120)  # a pipe
    assert done.returncode == 0, done.stderr
    assert Image.open(hidden).size == (512, 512)
    piped = tmp_path / "piped.csv"
    assert cli("detect", str(animated), "-o", str(piped), "--input-format", "gif_pipe").exit_code == 0
    assert pd.read_csv(piped).frame_index.tolist() == [0, 1, 2]
    png = tmp_path / "face.png"  # two pictures end to end on a pipe: a video of two, not the first
    Image.fromarray(astronaut).save(png)
    two = tmp_path / "two.csv"
    done = subprocess.run([sys.executable, "-m", "blazecli", "detect", "-", "-o", str(two), "-q"],
                          input=png.read_bytes() * 2, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert pd.read_csv(two).frame_index.tolist() == [0, 1]


def test_a_tiff_of_several_pages_is_refused_not_read_for_its_first(cli, tmp_path: Path,
                                                                 astronaut: np.ndarray) -> None:
    from PIL import Image

    source = tmp_path / "pages.tif"
    Image.fromarray(astronaut).save(source, save_all=True, append_images=[Image.fromarray(astronaut[::-1])])
    result = cli("detect", str(source), "-o", str(tmp_path / "faces.csv"))
    assert result.exit_code == 1 and "a TIFF of 2 pages, of which FFmpeg reads the first only" in result.output


def test_a_jpeg_compressed_tiff_is_refused_not_read_as_black(cli, tmp_path: Path, astronaut: np.ndarray) -> None:
    """FFmpeg decodes a TIFF of JPEG data as an all-black picture: 0 faces, and a black
    'anonymized' output, with exit 0."""
    from PIL import Image

    source = tmp_path / "jpeg.tif"
    Image.fromarray(astronaut).save(source, compression="jpeg")
    result = cli("annotate", str(source), "-o", str(tmp_path / "out.tif"), "--blur")
    assert result.exit_code == 3 and "a TIFF of JPEG-compressed pixels" in result.output
    assert not (tmp_path / "out.tif").exists()
    Image.fromarray(astronaut).save(source, compression="tiff_lzw")
    assert cli("annotate", str(source), "-o", str(tmp_path / "out.tif"), "--blur").exit_code == 0


def test_an_avif_photo_is_a_photo(tmp_path: Path, astronaut: np.ndarray) -> None:
    """FFmpeg reads an AVIF as a one-frame MP4: it ran a video's 3 tiles and its coarse grid,
    so `annotate --blur` left most faces of a crowd visible, and refused a photo output."""
    import av

    from blazecli.media.reader import VideoReader

    source = tmp_path / "photo.avif"
    with av.open(str(source), "w", format="avif") as container:
        stream = container.add_stream("libsvtav1", rate=1)
        stream.width, stream.height, stream.pix_fmt = 512, 512, "yuv420p"
        for frame in (av.VideoFrame.from_ndarray(astronaut, format="rgb24"), None):
            container.mux(stream.encode(frame))
    with VideoReader(str(source)) as reader:
        assert reader.info.is_image
    done = blazecli("annotate", str(source), "-o", str(tmp_path / "out.png"), "--blur", "-q")
    assert done.returncode == 0, done.stderr
    with av.open(str(tmp_path / "out.png")) as container:
        out = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert out.shape == astronaut.shape
    done = blazecli("detect", str(tmp_path / "out.png"), "-o", "-", "-q")
    assert done.returncode == 0 and len(done.stdout.decode().splitlines()) == 1  # the header alone


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
def test_a_photo_of_unequal_dpi_keeps_square_pixels(tmp_path: Path, astronaut: np.ndarray, suffix: str) -> None:
    """FFmpeg reads 300x150 dpi as a 2:1 pixel aspect: the photo was detected and written
    stretched to 1024x512, which no viewer shows, and the face was missed."""
    from PIL import Image

    source = tmp_path / f"dpi{suffix}"
    Image.fromarray(astronaut[:, :400]).save(source, dpi=(300, 150))
    done = blazecli("detect", str(source), "-o", "-", "-q")
    assert done.returncode == 0, done.stderr
    rows = pd.read_csv(io.BytesIO(done.stdout))
    assert len(rows) == 1 and (rows.frame_width[0], rows.frame_height[0]) == (400, 512)
    done = blazecli("annotate", str(source), "-o", str(tmp_path / f"out{suffix}"), "--blur", "-q")
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / f"out{suffix}").size == (400, 512)
    if suffix == ".png":  # square pixels stated: left unknown, pHYs said an aspect of 0 to 1
        data = (tmp_path / "out.png").read_bytes()
        at = data.index(b"pHYs") + 4
        assert data[at:at + 4] == data[at + 4:at + 8] == (1).to_bytes(4, "big")


def _tiff(*subfile_types: int, loop: bool = False) -> bytes:
    """A little-endian TIFF skeleton: one directory per NewSubfileType value, chained."""
    data = bytearray(b"II*\x00" + (8).to_bytes(4, "little"))
    for k, value in enumerate(subfile_types):
        start = len(data)
        following = start + 18 if k + 1 < len(subfile_types) else (8 if loop else 0)
        data += (1).to_bytes(2, "little") + (254).to_bytes(2, "little") + (4).to_bytes(2, "little")
        data += (1).to_bytes(4, "little") + value.to_bytes(4, "little") + following.to_bytes(4, "little")
    return bytes(data)


@pytest.mark.parametrize(("types", "loop", "pages"), [
    ((0,), False, 1), ((0, 0, 0), False, 3), ((0, 1), False, 1),  # a thumbnail is no page
    ((0, 0), True, 2),  # a chain that loops ends
])
def test_tiff_pages_counts_full_resolution_directories(tmp_path: Path, types, loop, pages) -> None:  # noqa: ANN001
    from blazecli.media.stills import tiff_pages

    path = tmp_path / "skeleton.tif"
    path.write_bytes(_tiff(*types, loop=loop))
    assert tiff_pages(path) == pages
    path.write_bytes(b"not a tiff")
    assert tiff_pages(path) == 0


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import zlib

    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def test_a_photo_too_large_for_ffmpeg_is_called_that_not_damaged(cli, tmp_path: Path) -> None:
    """A valid 30000x30000 PNG was called "damaged, or a kind FFmpeg does not read"."""
    import zlib

    header = (30000).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])  # 8-bit RGB
    source = tmp_path / "huge.png"
    source.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
                       + _png_chunk(b"IDAT", zlib.compress(bytes(4 * (1 + 3 * 30000))))
                       + _png_chunk(b"IEND", b""))
    result = cli("detect", str(source), "-o", str(tmp_path / "faces.csv"))
    assert result.exit_code == 1, result.output
    assert "its 30000x30000 picture is larger than FFmpeg decodes" in result.output


def test_an_output_that_is_a_device_or_a_pipe_is_refused_even_with_overwrite(work: Path, clip: Path) -> None:
    """--overwrite renamed a regular file over a named pipe, or over a device reached by a link
    such as /dev/stdout: the pipe's reader waited for good, and the device was gone."""
    folder = work / "not_files"
    folder.mkdir()
    fifo, link = folder / "faces.csv", folder / "stdout.csv"
    os.mkfifo(fifo)
    link.symlink_to("/dev/null")
    for command, output in [("detect", fifo), ("detect", link), ("annotate", folder / "out.mp4")]:
        if command == "annotate":
            os.mkfifo(output)
        result = blazecli(command, str(clip), "-o", str(output), "--overwrite", "-q")
        assert result.returncode == 5, result.stderr
        assert f"{output}: is a device, a pipe or a stream, not a file" in result.stderr.decode()
        assert "Traceback" not in result.stderr.decode()
        assert ("'-' for stdout" in result.stderr.decode()) is (command == "detect")  # annotate has no stdout
    assert fifo.is_fifo() and link.is_symlink() and Path("/dev/null").is_char_device()
    os.mkfifo(folder / "report.json")
    report = blazecli("detect", str(clip), "-o", str(folder / "r.csv"), "--report", str(folder / "report.json"),
                      "--overwrite")
    assert report.returncode == 5 and (folder / "report.json").is_fifo() and not (folder / "r.csv").exists()


def test_an_output_linked_to_a_standard_stream_is_refused_while_a_file_is_behind_it(work: Path, clip: Path) -> None:
    """-o /dev/stdout --overwrite with stdout redirected to a file (as root) renamed the output
    over /dev/stdout itself, for every process; a link to /proc/self/fd/1 was replaced too."""
    link = work / "mystdout.csv"
    link.symlink_to("/proc/self/fd/1")
    with open(work / "redirected.csv", "wb") as redirected:
        result = blazecli("detect", str(clip), "-o", str(link), "--overwrite", "-q", stdout=redirected)
    assert result.returncode == 5, result.stderr
    assert "is a device, a pipe or a stream, not a file" in result.stderr.decode()
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    assert not Path(str(link) + ".meta.json").exists()


def test_an_empty_name_is_no_input_and_a_folder_no_detections_file(work: Path, clip: Path) -> None:
    """`detect ''` searched the current folder (Path('') is '.') and wrote its videos' faces;
    stability and annotate called it '.: is a directory'; a folder given to --detections was
    'no such file'."""
    said = "error: an input is an empty name: give a file, a folder, or '-' for stdin"
    for command in (["detect", "", "-o", str(work / "x.csv")], ["detect", str(clip), "", "-o", str(work / "x.csv")],
                    ["stability", ""], ["annotate", "", "-o", str(work / "x.mp4")]):
        result = blazecli(*command)
        assert result.returncode == 2 and said in result.stderr.decode(), (command, result.stderr)
    assert not (work / "x.csv").exists() and not (work / "x.mp4").exists()
    result = blazecli("annotate", str(clip), "-o", str(work / "x.mp4"), "--detections", f"{work}/")
    assert result.returncode == 2
    assert "is a directory: --detections takes the file detect wrote" in result.stderr.decode()


def test_a_name_too_long_for_the_file_system_is_said_in_one_line(work: Path, clip: Path) -> None:
    """A name over 255 bytes, as an input, an output, a report or beside an output (its sidecar),
    was an OSError traceback."""
    long = "d" * 300
    for command in (["detect", str(work / f"{long}.mp4"), "-o", str(work / "x.csv")],
                    ["detect", str(clip), "-o", str(work / f"{long}.csv")],
                    ["detect", str(clip), "-o", str(work / f"{'e' * 249}.csv")],  # its .meta.json
                    ["detect", str(clip), "-o", str(work / "x.csv"), "--report", str(work / f"{long}.json")],
                    ["annotate", str(clip), "-o", str(work / f"{long}.mp4")],
                    ["stability", str(work / f"{long}.mp4")]):
        result = blazecli(*command)
        stderr = result.stderr.decode()
        assert result.returncode == 2 and "its name is too long for the file system" in stderr, (command, stderr)
        assert "Traceback" not in stderr
    assert not [p for p in work.iterdir() if p.name.startswith((".ddd", ".eee", "ddd", "eee"))]


def test_an_output_name_held_by_a_link_to_nothing_is_refused_before_the_work(work: Path, clip: Path) -> None:
    """A dangling or self-looping link in the output's place was found only at the end, as a file
    that 'appeared while this run wrote it', after all the work."""
    folder = work / "links"
    folder.mkdir()
    (folder / "gone.csv").symlink_to("nowhere")
    (folder / "loop.csv").symlink_to("loop.csv")
    for name in ("gone.csv", "loop.csv"):
        result = blazecli("detect", str(clip), "-o", str(folder / name), "-q")
        said = f"{folder / name}: already exists (use --overwrite to replace it)"
        assert result.returncode == 5 and said in result.stderr.decode(), result.stderr
    assert blazecli("detect", str(clip), "-o", str(folder / "gone.csv"), "-q", "--overwrite").returncode == 0
    assert not (folder / "gone.csv").is_symlink() and (folder / "gone.csv").stat().st_size > 0


def test_detections_under_a_name_that_is_not_utf8_are_read(work: Path, clip: Path) -> None:
    """Linux names are bytes; pyarrow took the file's name as UTF-8 and refused the one that
    detect itself had written."""
    import shutil

    folder = work / "names"
    folder.mkdir()
    source = os.fsdecode(os.fsencode(folder) + b"/caf\xe9.mp4")  # Latin-1, as old cameras name files
    shutil.copy(clip, source)
    detections = source + ".parquet"
    assert blazecli("detect", source, "-o", detections, "-q").returncode == 0
    done = blazecli("annotate", source, "-o", str(folder / "hidden.mp4"), "--detections", detections, "-q")
    assert done.returncode == 0, done.stderr
    assert (folder / "hidden.mp4").stat().st_size > 0
