"""``blazecli annotate`` end to end: decodable output, exact timing, audio, hiding, and errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from clips import (
    Path2D,
    astronaut_head,
    compose,
    moving_face_clip,
    shifted_copy,
    stored_for,
    write_clip,
)

from blazecli.jobs.annotate import AnnotateSettings, annotate_video
from blazecli.media.writer import VideoWriter, editable_copy
from blazecli.outputs.draw import Anonymizer, mask_region
from blazecli.outputs.sinks import read_metadata

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "demo.mp4"


def decode(path: Path) -> tuple[list[np.ndarray], list[Fraction]]:
    """Every frame as RGB and its presentation time (exact: pts x time base)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames, times = [], []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            times.append(frame.pts * stream.time_base)
    return frames, times


def streams(path: Path) -> dict[str, object]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = [(s.codec_context.name, s.sample_rate) for s in container.streams.audio]
        packets = ([(p.pts, p.size) for p in container.demux(*container.streams.audio) if p.size]
                   if audio else [])
        return {"codec": video.codec_context.name, "size": (video.width, video.height),
                "duration": float(video.duration * video.time_base) if video.duration else None,
                "audio": audio, "audio_packets": packets}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("annotate")


@pytest.fixture(scope="module")
def demo_faces(cli, work: Path) -> Path:
    out = work / "demo.parquet"
    assert cli("detect", str(DEMO), "-o", str(out)).exit_code == 0
    return out


@pytest.fixture(scope="module")
def demo_annotated(cli, work: Path) -> Path:
    out = work / "demo_annotated.mp4"
    result = cli("annotate", str(DEMO), "-o", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_output_has_every_frame_at_its_time_and_boxes_on_the_faces(demo_annotated: Path,
                                                                   demo_faces: Path) -> None:
    source_frames, source_times = decode(DEMO)
    frames, times = decode(demo_annotated)
    assert len(frames) == len(source_frames) == 100
    assert times == source_times  # exact pts, frame by frame
    facts, source_facts = streams(demo_annotated), streams(DEMO)
    assert facts["codec"] == "h264" and facts["size"] == (640, 360)
    assert abs(facts["duration"] - source_facts["duration"]) < 1 / 25
    rows = pd.read_parquet(demo_faces)
    for index in (0, 50, 99):
        changed = np.abs(frames[index].astype(int) - source_frames[index]).max(axis=2) > 60
        near = np.zeros(changed.shape, bool)
        for face in rows[rows.frame_index == index].itertuples():
            x0, y0, x1, y1 = (int(round(v)) for v in (face.x_min, face.y_min, face.x_max, face.y_max))
            assert changed[y0 - 1:y0 + 2, x0:x1].mean() > 0.5  # the top edge is drawn
            assert changed[y0:y1, x0 - 1:x0 + 2].mean() > 0.5  # and the left
            near[max(y0 - 40, 0):y1 + 20, max(x0 - 20, 0):x1 + 20] = True  # box, label, keypoints
        assert not changed[~near].any()
        assert psnr(frames[index][~near], source_frames[index][~near]) > 38


def test_detections_file_and_detecting_on_the_fly_draw_the_same_frames(
        cli, work: Path, demo_faces: Path, demo_annotated: Path) -> None:
    from_file = work / "demo_from_file.mp4"
    assert cli("annotate", str(DEMO), "-o", str(from_file), "--detections", str(demo_faces)).exit_code == 0
    frames, times = decode(from_file)
    expected, expected_times = decode(demo_annotated)
    assert times == expected_times
    for a, b in zip(frames, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_csv_detections_draw_like_parquet(cli, tmp_path: Path) -> None:
    clip = moving_face_clip(tmp_path / "face.mp4", frames=10)
    outputs = []
    for ext in ("parquet", "csv", "jsonl"):
        faces = tmp_path / f"faces.{ext}"
        assert cli("detect", str(clip), "-o", str(faces)).exit_code == 0
        out = tmp_path / f"from_{ext}.mp4"
        assert cli("annotate", str(clip), "-o", str(out), "--detections", str(faces)).exit_code == 0
        outputs.append(decode(out)[0])
    same_file = tmp_path / "same_file.mp4"  # the path written another way still matches
    assert cli("annotate", f"{tmp_path}/./face.mp4", "-o", str(same_file), "--detections",
                    str(tmp_path / "faces.parquet")).exit_code == 0
    outputs.append(decode(same_file)[0])
    for frames in outputs[1:]:
        for a, b in zip(frames, outputs[0], strict=True):
            np.testing.assert_array_equal(a, b)


def textured_face_clip(path: Path, frames: int = 16, pix_fmt: str = "yuv420p") -> Path:
    """A head moving over a photo (coffee, no face): texture shows what hiding touches."""
    from skimage import data

    background = np.ascontiguousarray(data.coffee()[80:320, 140:460])  # 240 x 320
    head = astronaut_head(140)
    track = Path2D((60, 40), (4, 2))

    def frame_at(i: int) -> np.ndarray:
        frame = background.copy()
        x, y = track.at(i)
        frame[y:y + head.shape[0], x:x + head.shape[1]] = head
        return frame

    return write_clip(path, frame_at, frames, pix_fmt=pix_fmt, options={"crf": "12"})


@pytest.fixture(scope="module")
def textured(cli, work: Path) -> tuple[Path, pd.DataFrame, list[np.ndarray]]:
    """The textured clip, its faces, and its frames re-encoded untouched (the codec's own noise)."""
    clip = textured_face_clip(work / "textured.mp4")
    faces = work / "textured.parquet"
    assert cli("detect", str(clip), "-o", str(faces)).exit_code == 0
    plain = work / "plain.mp4"
    assert cli("annotate", str(clip), "-o", str(plain), "--no-boxes").exit_code == 0
    return clip, pd.read_parquet(faces), decode(plain)[0]


@pytest.mark.parametrize("mode", [["--blur"], ["--pixelate"], ["--fill", "black"]])
def test_hiding_changes_faces_strongly_and_nothing_far_from_them(cli, tmp_path: Path, textured,
                                                                 mode: list[str]) -> None:
    clip, rows, plain = textured
    out = tmp_path / "hidden.mp4"
    assert cli("annotate", str(clip), "-o", str(out), *mode).exit_code == 0
    source, _ = decode(clip)
    hidden, _ = decode(out)
    assert len(hidden) == len(source) == 16 and rows.frame_index.nunique() == 16
    for index, (before, after) in enumerate(zip(source, hidden, strict=False)):
        box = rows[rows.frame_index == index][["x_min", "y_min", "x_max", "y_max"]].to_numpy()[0]
        inside = np.zeros(before.shape[:2], bool)
        rows_, cols, _ = mask_region(box, 0.8, "box", 320, 240)  # the middle of the face
        inside[rows_, cols] = True
        far = np.ones(before.shape[:2], bool)
        rows_, cols, _ = mask_region(box, 2.0, "box", 320, 240)  # beyond the 1.6x ellipse
        far[rows_, cols] = False
        assert psnr(after[inside], before[inside]) < 22, index
        assert np.abs(after[inside].astype(int) - before[inside]).mean() > 15
        codec_noise = psnr(plain[index][far], before[far])
        assert codec_noise > 35 and psnr(after[far], before[far]) > codec_noise - 0.5, index


def blur_in_planes_and_in_rgb(frame: av.VideoFrame, boxes: np.ndarray) -> None:
    """Blurring a yuv420p frame's planes shows (as RGB) what blurring its RGB does: as strong on
    the face, the same pixels a few pixels beyond the mask (where chroma's half size reaches)."""
    source = frame.to_ndarray(format="rgb24")
    in_rgb = source.copy()
    Anonymizer("blur").apply(in_rgb, boxes)
    copy, planes = editable_copy(frame)
    Anonymizer("blur").apply_planes(planes, boxes)
    in_planes = copy.to_ndarray(format="rgb24")
    np.testing.assert_array_equal(frame.to_ndarray(format="rgb24"), source)  # the source untouched
    height, width = source.shape[:2]
    masked, near, middle = (np.zeros((height, width), bool) for _ in range(3))
    for box in boxes:
        rows, cols, mask = mask_region(box, 1.6, "ellipse", width, height)
        masked[rows, cols] |= mask
        rows, cols, _ = mask_region(box, 1.6, "box", width, height)
        near[max(rows.start - 4, 0):rows.stop + 4, max(cols.start - 4, 0):cols.stop + 4] = True
        rows, cols, _ = mask_region(box, 0.8, "box", width, height)
        middle[rows, cols] = True
    difference = np.abs(in_planes.astype(int) - in_rgb).max(axis=2)
    assert difference[masked].mean() < 2 and np.percentile(difference[masked], 99) <= 6
    np.testing.assert_array_equal(in_planes[~near], source[~near])
    change = np.abs(in_planes[middle].astype(int) - source[middle]).mean()
    assert change > 15 and change > 0.95 * np.abs(in_rgb[middle].astype(int) - source[middle]).mean()


def test_blur_in_yuv_planes_looks_as_in_rgb(tmp_path: Path) -> None:
    with av.open(str(textured_face_clip(tmp_path / "textured.mp4", frames=1))) as container:
        frame = next(container.decode(video=0))
    blur_in_planes_and_in_rgb(frame, np.array([[64.0, 42.0, 158.0, 170.0], [5.3, 180.6, 41.0, 229.0]]))


def test_blur_in_yuv_planes_looks_as_in_rgb_on_a_real_frame(shared_data: Path) -> None:
    with av.open(str(shared_data / "videos" / "liveportrait_s18.mp4")) as container:
        frame = next(container.decode(video=0))
    assert frame.format.name == "yuv420p"
    blur_in_planes_and_in_rgb(frame, np.array([[500.0, 150.0, 760.0, 450.0], [1201.3, 640.7, 1290.0, 733.0]]))


@pytest.mark.parametrize("pix_fmt, in_planes", [("yuv420p", True), ("yuvj420p", True), ("yuv444p", False)])
def test_hiding_alone_encodes_the_decoded_planes_as_hiding_in_rgb_would(tmp_path: Path, monkeypatch,
                                                                         pix_fmt: str, in_planes: bool) -> None:
    clip = textured_face_clip(tmp_path / "textured.mp4", frames=6, pix_fmt=pix_fmt)
    settings = AnnotateSettings(anonymizer=Anonymizer("blur"), draw=False)
    monkeypatch.setattr(VideoWriter, "takes", lambda self, frame: False)  # every frame through RGB
    annotate_video(str(clip), str(tmp_path / "rgb.mp4"), settings)
    monkeypatch.undo()
    if in_planes:
        monkeypatch.setattr(VideoWriter, "write", None)  # no RGB reaches the writer
    annotate_video(str(clip), str(tmp_path / "planes.mp4"), settings)
    source = decode(clip)[0]
    for frame, in_rgb, original in zip(decode(tmp_path / "planes.mp4")[0], decode(tmp_path / "rgb.mp4")[0],
                                       source, strict=True):
        assert psnr(frame, in_rgb) > 35  # the codec and the RGB round trip: 37.8 dB
        assert psnr(frame, original) >= psnr(in_rgb, original) - 0.1  # no RGB round trip to lose


def test_mirrored_video_is_hidden_as_shown(cli, tmp_path: Path) -> None:
    """A frame not shown as stored takes the RGB path: its faces are hidden where they are seen."""
    shown = moving_face_clip(tmp_path / "shown.mp4", frames=4, options={"crf": "12"})
    frames = decode(shown)[0]
    stored = write_clip(tmp_path / "stored.mp4", lambda i: frames[i][:, ::-1], 4, hflip=True,
                        options={"crf": "12"})
    outputs = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    for clip, out in zip([shown, stored], outputs, strict=True):
        assert cli("annotate", str(clip), "-o", str(out), "--blur").exit_code == 0
    for a, b in zip(decode(outputs[0])[0], decode(outputs[1])[0], strict=True):
        assert psnr(a, b) > 35


def vfr_clip(path: Path, times_ms: list[int]) -> Path:
    """A clip whose frames come at irregular times (variable frame rate), time base 1/1000."""
    head = astronaut_head(150)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"preset": "ultrafast"}
        for i, ms in enumerate(times_ms):
            rgb = np.full((240, 320, 3), 90, np.uint8)
            rgb[45:195, 80 + i:80 + i + head.shape[1]] = head
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_variable_frame_rate_and_late_start_survive(cli, tmp_path: Path, ext: str) -> None:
    times_ms = [400, 433, 466, 600, 610, 620, 1000, 1033, 1500, 1517]
    clip = vfr_clip(tmp_path / f"vfr.{ext}", times_ms)
    out = tmp_path / f"out.{ext}"
    assert cli("annotate", str(clip), "-o", str(out)).exit_code == 0
    source_frames, source_times = decode(clip)
    frames, times = decode(out)
    assert [float(t) for t in source_times] == pytest.approx([t / 1000 for t in times_ms])
    assert times == source_times
    assert len(frames) == len(times_ms)


def upright(i: int) -> np.ndarray:
    """A face moving on grey, as it should be shown."""
    return compose(320, 240, [(astronaut_head(150), Path2D((60, 40), (2, 1)))], i)


@pytest.mark.parametrize("rotation, hflip, squeeze", [(90, False, 1), (0, True, 1), (270, True, 2)])
def test_video_is_written_as_shown_at_its_displayed_size(cli, tmp_path: Path, rotation: int, hflip: bool,
                                                         squeeze: int) -> None:
    """Upright, unmirrored, in square pixels: no display matrix or aspect ratio to honour."""
    clip = write_clip(tmp_path / "stored.mp4", lambda i: stored_for(upright(i), rotation, hflip, squeeze),
                      8, rotation=rotation, hflip=hflip, sar=Fraction(squeeze), options={"crf": "12"})
    out = tmp_path / "shown.mp4"
    assert cli("annotate", str(clip), "-o", str(out), "--no-boxes").exit_code == 0
    frames, _ = decode(out)
    with av.open(str(out)) as container:
        first = next(container.decode(video=0))
        assert (first.width, first.height) == (320, 240) and "DISPLAYMATRIX" not in first.side_data
        assert container.streams.video[0].sample_aspect_ratio in (None, 1)
    assert len(frames) == 8
    assert all(psnr(frame, upright(i)) > 30 for i, frame in enumerate(frames))  # squeezed: 33 dB


def test_anamorphic_mirrored_video_draws_the_faces_detect_finds(cli, tmp_path: Path) -> None:
    """Sampled alike for ``detect`` and while annotating: the same boxes, the same frames."""
    clip = write_clip(tmp_path / "stored.mp4", lambda i: stored_for(upright(i), 90, True, 2), 8,
                      rotation=90, hflip=True, sar=Fraction(2))
    faces, on_the_fly, from_file = tmp_path / "faces.parquet", tmp_path / "a.mp4", tmp_path / "b.mp4"
    assert cli("detect", str(clip), "-o", str(faces)).exit_code == 0
    assert cli("annotate", str(clip), "-o", str(on_the_fly)).exit_code == 0
    assert cli("annotate", str(clip), "-o", str(from_file), "--detections", str(faces)).exit_code == 0
    for a, b in zip(decode(on_the_fly)[0], decode(from_file)[0], strict=True):
        np.testing.assert_array_equal(a, b)


def test_audio_is_copied_packet_for_packet(cli, tmp_path: Path) -> None:
    clip = moving_face_clip(tmp_path / "talk.mp4", frames=25, audio=True)
    out = tmp_path / "out.mp4"
    assert cli("annotate", str(clip), "-o", str(out), "--fill", "gray").exit_code == 0
    source, copied = streams(clip), streams(out)
    assert copied["audio"] == source["audio"] == [("aac", 16000)]
    assert copied["audio_packets"] == source["audio_packets"] and len(source["audio_packets"]) > 10


def clip_with_audio(path: Path, codec: str, layout: str = "stereo") -> Path:
    """A 5-frame clip with 0.2 s of silence in ``codec`` (16-bit samples) beside it."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.options = {"preset": "ultrafast"}  # no B-frames, which AVI stores without their order
        audio = container.add_stream(codec, rate=16000)
        audio.layout, audio.format = layout, "s16"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        for start in range(0, 3200, 1024):
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 2048), np.int16), format="s16", layout=layout)
            samples.sample_rate, samples.pts = 16000, start
            container.mux(audio.encode(samples))
        container.mux(audio.encode())
    return path


@pytest.mark.parametrize("source, output, hint", [("alaw.mov", "out.mkv", "try .mov"),
                                                  ("alaw.mov", "out.mp4", "try .mov"),
                                                  ("mulaw.mov", "out.mp4", "try .mov")])
def test_audio_the_output_cannot_hold_is_refused_naming_one_that_can(cli, tmp_path: Path, source: str,
                                                                     output: str, hint: str) -> None:
    """A-law and mu-law (IP cameras) have no tag in Matroska or MP4: a ValueError traceback."""
    codec = {"alaw": "pcm_alaw", "mulaw": "pcm_mulaw"}[source.split(".")[0]]
    clip = clip_with_audio(tmp_path / source, codec)
    out = tmp_path / output
    result = cli.verbose("annotate", str(clip), "-o", str(out))
    assert result.exit_code == 5, result.output
    assert f"cannot store H.264 with {codec} audio" in result.output and hint in result.output
    assert not out.exists() and no_leftovers(tmp_path)


def test_audio_no_container_holds_can_be_left_out(cli, tmp_path: Path) -> None:
    """Microsoft ADPCM (old cameras' AVI) goes into none of the outputs: annotate could not run at
    all. It says to leave the audio out, and --no-audio does."""
    clip = clip_with_audio(tmp_path / "adpcm.avi", "adpcm_ms")
    out = tmp_path / "out.mp4"
    result = cli.verbose("annotate", str(clip), "-o", str(out), "--blur")
    assert result.exit_code == 5 and "leave the audio out (--no-audio)" in result.output, result.output
    result = cli("annotate", str(clip), "-o", str(out), "--blur", "--no-audio")
    assert result.exit_code == 0, result.output
    assert streams(out)["audio"] == [] and len(decode(out)[0]) == 5
    result = cli("annotate", str(DEMO), "-o", str(tmp_path / "silent.mp4"), "--no-audio")
    assert result.exit_code == 0 and streams(tmp_path / "silent.mp4")["audio"] == []


def test_pcm_from_avi_goes_into_mp4(cli, tmp_path: Path) -> None:
    """AVI's PCM states no channel order; MP4 refused it only as the file closed ("write failed")."""
    clip = clip_with_audio(tmp_path / "camera.avi", "pcm_s16le")
    assert streams(clip)["audio"] == [("pcm_s16le", 16000)]
    out = tmp_path / "out.mp4"
    result = cli("annotate", str(clip), "-o", str(out))
    assert result.exit_code == 0
    assert streams(out)["audio"] == [("pcm_s16le", 16000)] and len(decode(out)[0]) == 5
    # Stored, but few players play PCM from MP4: said, with where it plays.
    assert "out.mp4 holds pcm_s16le audio, which few players play from MP4" in result.output
    assert "--no-audio" in result.output
    result = cli("annotate", str(clip), "-o", str(tmp_path / "out.mkv"))
    assert result.exit_code == 0 and "few players" not in result.output
    result = cli("annotate", str(DEMO), "-o", str(tmp_path / "aac.mp4"))  # AAC: plays everywhere
    assert result.exit_code == 0 and "few players" not in result.output


def test_a_broadcast_clock_starts_the_output_at_zero(cli, tmp_path: Path) -> None:
    """MPEG-TS times are a running clock (an HLS segment from minute 50 starts at 3000 s): a
    3 s segment at 10 h came out as a 10 h MP4, all of it empty but its end. The output starts
    from the earliest stream, with audio and video as far apart as they were."""
    made = clip_with_audio(tmp_path / "made.ts", "mp2")
    late = tmp_path / "late.ts"
    with av.open(str(made)) as given, av.open(str(late), "w") as remuxed:
        into = {s.index: remuxed.add_stream_from_template(s) for s in given.streams}
        for packet in given.demux():
            if packet.dts is not None:
                shift = round(36000 / packet.time_base)
                packet.pts, packet.dts = packet.pts + shift, packet.dts + shift
                packet.stream = into[packet.stream.index]
                remuxed.mux(packet)
    with av.open(str(late)) as given:
        began = {s.type: float(s.start_time * s.time_base) for s in given.streams}
    assert began["video"] > 36000
    out = tmp_path / "out.mp4"
    assert cli("annotate", str(late), "-o", str(out)).exit_code == 0
    with av.open(str(out)) as written:
        starts = {s.type: float(s.start_time * s.time_base) for s in written.streams}
        assert written.duration / av.time_base < 1
    assert min(starts.values()) < 0.05
    assert abs((starts["video"] - starts["audio"]) - (began["video"] - began["audio"])) < 0.03
    assert len(decode(out)[0]) == 5


def test_audio_tracks_keep_their_language_title_and_default(cli, tmp_path: Path) -> None:
    """The copied tracks lost their language, title and default flag: a player could no
    longer tell the main track from the commentary. Subtitles, not copied, were left out
    without a word."""
    import shutil

    clip = tmp_path / "tracks.mkv"
    with av.open(str(clip), "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        tracks = [container.add_stream("aac", rate=16000) for _ in range(2)]
        for track, language, default in zip(tracks, ("eng", "fra"), (True, False), strict=True):
            track.layout = "mono"
            track.metadata["language"] = language
            track.disposition = av.stream.Disposition.default if default else av.stream.Disposition(0)
        tracks[1].metadata["title"] = "Commentary"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        for track in tracks:
            for start in range(0, 3200, 1024):
                samples = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
                samples.sample_rate, samples.pts = 16000, start
                container.mux(track.encode(samples))
            container.mux(track.encode())
    for suffix in (".mkv", ".mp4"):
        out = tmp_path / f"out{suffix}"
        assert cli("annotate", str(clip), "-o", str(out)).exit_code == 0
        with av.open(str(out)) as written:
            audio = [(s.metadata.get("language"), s.metadata.get("title"),
                      bool(s.disposition & av.stream.Disposition.default)) for s in written.streams.audio]
            assert written.streams.video[0].disposition & av.stream.Disposition.default
        assert [(language, default) for language, _, default in audio] == [("eng", True), ("fra", False)]
        if suffix == ".mkv":
            assert audio[1][1] == "Commentary"
    if shutil.which("ffmpeg"):
        (tmp_path / "subs.srt").write_text("1\n00:00:00,000 --> 00:00:00,100\nhello\n")
        subtitled = tmp_path / "subtitled.mkv"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-i", str(tmp_path / "subs.srt"), "-map", "0",
                        "-map", "1", "-c", "copy", str(subtitled)], check=True)
        result = cli.verbose("annotate", str(subtitled), "-o", str(tmp_path / "subtitled_out.mkv"))
        assert result.exit_code == 0
        assert "subtitled_out.mkv is written without subtitled.mkv's 1 subtitle stream(s)" in result.output
        timecoded = tmp_path / "timecoded.mov"  # a camera's timecode track: a data stream
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-map", "0", "-c", "copy", "-timecode",
                        "01:00:00:00", str(timecoded)], check=True)
        result = cli.verbose("annotate", str(timecoded), "-o", str(tmp_path / "timecoded_out.mov"))
        assert result.exit_code == 0
        assert "written without timecoded.mov's 1 data stream(s)" in result.output, result.output


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_chapters_are_kept_and_follow_a_preview_span(cli, tmp_path: Path, suffix: str) -> None:
    """Chapters (a lecture's or a film's) were dropped without a word; an MP4's chapter track
    counted as a data stream left out."""
    chapters = [{"id": 1, "start": 0, "end": 400, "time_base": Fraction(1, 1000), "metadata": {"title": "Intro"}},
                {"id": 2, "start": 400, "end": 960, "time_base": Fraction(1, 1000), "metadata": {"title": "Talk"}}]
    clip = moving_face_clip(tmp_path / f"chaptered{suffix}", frames=24, chapters=chapters)

    def kept(path: Path) -> list[tuple[str, float, float]]:
        with av.open(str(path)) as container:
            return [(c["metadata"]["title"], float(c["start"] * c["time_base"]), float(c["end"] * c["time_base"]))
                    for c in container.chapters()]

    assert kept(clip) == [("Intro", 0.0, 0.4), ("Talk", 0.4, 0.96)]
    whole = tmp_path / f"whole{suffix}"
    result = cli.verbose("annotate", str(clip), "-o", str(whole), "--blur")
    assert result.exit_code == 0 and "written without" not in result.output, result.output
    assert kept(whole) == [("Intro", 0.0, 0.4), ("Talk", 0.4, 0.96)]
    preview = tmp_path / f"preview{suffix}"
    assert cli("annotate", str(clip), "-o", str(preview), "--start", "0.2", "--end", "0.6").exit_code == 0
    assert kept(preview) == [("Intro", 0.0, 0.2), ("Talk", 0.2, 0.4)]


def test_chapters_of_a_pipe_follow_its_frames_counted_from_the_first(tmp_path: Path) -> None:
    """A pipe's frames are timed from the first one; its chapters are shifted as they are."""
    chapters = [{"id": 1, "start": 9600, "end": 10400, "time_base": Fraction(1, 1000), "metadata": {"title": "Before"}},
                {"id": 2, "start": 10400, "end": 10960, "time_base": Fraction(1, 1000), "metadata": {"title": "Talk"}}]
    clip = moving_face_clip(tmp_path / "late.mkv", frames=24, chapters=chapters, start=250)  # from 10 s
    out = tmp_path / "piped.mkv"
    result = subprocess.run([sys.executable, "-m", "blazecli", "annotate", "-", "-o", str(out), "--quiet"],
                            input=clip.read_bytes(), capture_output=True, timeout=300)  # a pipe
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as container:
        assert [(c["metadata"]["title"], float(c["start"] * c["time_base"]), float(c["end"] * c["time_base"]))
                for c in container.chapters()] == [("Before", 0.0, 0.4), ("Talk", 0.4, 0.96)]


def test_hiding_a_clip_of_a_few_frames(cli, tmp_path: Path) -> None:
    """Hiding read the chapters after a clip shorter than a batch was read whole, and its
    container closed: a traceback for any clip of up to 8 frames, or a short preview."""
    clip = moving_face_clip(tmp_path / "five.mp4", frames=5, width=640, height=360)
    out = tmp_path / "hidden.mp4"
    assert cli("annotate", str(clip), "-o", str(out), "--blur").exit_code == 0
    assert len(decode(out)[0]) == 5


def test_joined_streams_keep_their_spacing_proportions_and_tracks(cli, tmp_path: Path) -> None:
    """Two MPEG-TS files joined end to end: times restart and the size switches from 320x240
    to 240x240. The output keeps every frame a frame apart, fits the second part in the first
    size on black instead of stretching it, and no track spans the join."""
    head = astronaut_head(120)
    first = write_clip(tmp_path / "a.ts", lambda i: compose(320, 240, [(head, Path2D((100, 60), (0, 0)))], i), 10)
    second = write_clip(tmp_path / "b.ts", lambda i: compose(240, 240, [(head, Path2D((60, 60), (0, 0)))], i), 10)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    out = tmp_path / "out.mp4"
    assert cli("annotate", str(joined), "-o", str(out), "--fill", "black").exit_code == 0
    frames, times = decode(out)
    assert len(frames) == 20 and streams(out)["size"] == (320, 240)
    steps = np.diff([float(t) for t in times])
    assert np.allclose(steps, 0.04, atol=0.002), steps  # no frames piled up after the join
    assert frames[15][:, :30].max() < 20 and frames[15][:, 290:].max() < 20  # side bars, not stretched
    faces = tmp_path / "faces.csv"
    assert cli("detect", str(joined), "-o", str(faces)).exit_code == 0
    rows = pd.read_csv(faces)
    assert set(rows.track_id[rows.frame_index < 10]).isdisjoint(rows.track_id[rows.frame_index >= 10])


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_joined_files_keep_both_parts_audio_going_forward(cli, tmp_path: Path, ext: str) -> None:
    """Two MPEG-TS files with audio joined end to end: the audio's times restart too. The
    muxer refused them ("write failed (Invalid argument)", exit 5, part-way); the second part's
    audio now follows the first's, as its video does."""
    first = moving_face_clip(tmp_path / "a.ts", frames=10, audio=True)
    second = moving_face_clip(tmp_path / "b.ts", frames=10, audio=True)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    out = tmp_path / f"out{ext}"
    assert cli("annotate", str(joined), "-o", str(out), "--blur", "-q").exit_code == 0
    frames, _ = decode(out)
    audio = streams(out)["audio_packets"]
    assert len(frames) == 20 and len(audio) > 10
    starts = [pts for pts, _ in audio]
    assert all(b > a for a, b in zip(starts, starts[1:], strict=False))  # only forward
    with av.open(str(out)) as container:
        stream = container.streams.audio[0]
        last = max(starts) * stream.time_base
    assert float(last) > 0.6  # both parts' 0.4 s of sound, not the first's alone


def test_odd_sized_video_gets_an_edge_column_and_row_for_4_2_0(cli, tmp_path: Path) -> None:
    clip = moving_face_clip(tmp_path / "odd.mp4", frames=4, width=321, height=241, pix_fmt="yuv444p")
    out = tmp_path / "out.mp4"
    assert cli("annotate", str(clip), "-o", str(out)).exit_code == 0
    assert streams(out)["size"] == (322, 242) and len(decode(out)[0]) == 4
    with av.open(str(out)) as container:  # the 4:2:0 that browsers and QuickTime play
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"
    frame = decode(out)[0][0].astype(int)
    assert np.abs(frame[:, -1] - frame[:, -2]).mean() < 3 and np.abs(frame[-1] - frame[-2]).mean() < 3


@pytest.mark.slow
@pytest.mark.parametrize("name", ["face_recognition_short_hamilton_clip.mp4", "liveportrait_d18.mp4"])
def test_real_videos_keep_frames_timing_and_audio(cli, shared_data: Path, tmp_path: Path, name: str) -> None:
    source = shared_data / "videos" / name
    out = tmp_path / "out.mp4"
    assert cli("annotate", str(source), "-o", str(out), "--pixelate", "--preset", "ultrafast").exit_code == 0
    _, source_times = decode(source)
    _, times = decode(out)
    assert times == source_times  # also the Hamilton clip's late start (0.852 s)
    before, after = streams(source), streams(out)
    assert after["audio"] == before["audio"] and after["audio"][0][0] == "aac"
    assert after["audio_packets"] == before["audio_packets"]
    assert abs(after["duration"] - before["duration"]) < 0.034


# --- errors: clear messages, exit codes, and never a partial output -------------------------

def no_leftovers(folder: Path) -> bool:
    return not list(folder.glob(".*tmp"))


def test_detections_of_another_video_are_refused(cli, tmp_path: Path, demo_faces: Path) -> None:
    clip = moving_face_clip(tmp_path / "other.mp4", frames=6)
    out = tmp_path / "out.mp4"
    result = cli("annotate", str(clip), "-o", str(out), "--detections", str(demo_faces))  # its only video
    assert result.exit_code == 2 and "different video" in result.output
    two = tmp_path / "two.parquet"
    assert cli("detect", str(DEMO), str(moving_face_clip(tmp_path / "b.mp4", frames=3)), "-o", str(two)).exit_code == 0
    result = cli("annotate", str(clip), "-o", str(out), "--detections", str(two))
    assert result.exit_code == 2 and "holds detections for" in result.output and "other.mp4" in result.output
    result = cli("annotate", str(clip), "-o", str(out), "--detections", str(tmp_path / "b.mp4"))
    assert result.exit_code == 2 and ".parquet, .csv or .jsonl" in result.output
    # The same path, but the video was replaced by another one since `detect` ran.
    faces = tmp_path / "faces.parquet"
    assert cli("detect", str(clip), "-o", str(faces)).exit_code == 0
    moving_face_clip(clip, frames=6, width=256, height=192)
    result = cli("annotate", str(clip), "-o", str(out), "--detections", str(faces))
    assert result.exit_code == 2 and "different video" in result.output
    moving_face_clip(clip, frames=9)  # same size, longer: found before any frame is read
    result = cli("annotate", str(clip), "-o", str(out), "--detections", str(faces))
    assert result.exit_code == 2 and "0.24 s" in result.output and "0.36 s" in result.output
    # A span that ends before the detections' video did (their frame count is never reached)
    # hid the faces of another video where this one's are.
    moving_face_clip(clip, frames=30)
    result = cli("annotate", str(clip), "-o", str(out), "--detections", str(faces), "--blur", "--end", "0.2")
    assert result.exit_code == 2 and "not the same video" in result.output
    assert not out.exists() and no_leftovers(tmp_path)


def test_detections_follow_a_renamed_copy_of_the_video(cli, tmp_path: Path) -> None:
    clip = moving_face_clip(tmp_path / "face.mp4", frames=6)
    faces = tmp_path / "faces.csv"
    assert cli("detect", str(clip), "-o", str(faces)).exit_code == 0
    copy = tmp_path / "renamed.mp4"
    copy.write_bytes(clip.read_bytes())
    out = tmp_path / "out.mp4"
    result = cli("annotate", str(copy), "-o", str(out), "--detections", str(faces), "--blur")
    assert result.exit_code == 0, result.output
    assert len(decode(out)[0]) == 6
    # In a file of several videos, the one of the same name (paths stored relative to where
    # detect ran, annotate run from elsewhere).
    other = moving_face_clip(tmp_path / "other.mp4", frames=4)
    both = tmp_path / "both.parquet"
    assert cli("detect", str(clip), str(other), "-o", str(both)).exit_code == 0
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (moved / "face.mp4").write_bytes(clip.read_bytes())
    result = cli("annotate", str(moved / "face.mp4"), "-o", str(out), "--overwrite", "--detections", str(both))
    assert result.exit_code == 0, result.output


def test_detections_of_another_file_alike_are_refused(cli, tmp_path: Path) -> None:
    """Two recordings alike in name, frame size, length and frame count (a camera's segments in
    two folders): the detections of one hid the other's faces where the first had them."""
    first, second = tmp_path / "monday" / "clip.mp4", tmp_path / "tuesday" / "clip.mp4"
    first.parent.mkdir()
    second.parent.mkdir()
    moving_face_clip(first, frames=6)
    moving_face_clip(second, frames=6, velocity=(-3.0, 1.0))
    assert first.stat().st_size != second.stat().st_size
    faces = tmp_path / "faces.parquet"
    assert cli("detect", str(first), "-o", str(faces)).exit_code == 0
    out = tmp_path / "out.mp4"
    result = cli("annotate", str(second), "-o", str(out), "--detections", str(faces), "--blur")
    assert result.exit_code == 2 and "not the same file" in result.output, result.output
    assert not out.exists()
    copy = tmp_path / "copy.mp4"  # a renamed copy is still the same file
    copy.write_bytes(first.read_bytes())
    assert cli("annotate", str(copy), "-o", str(out), "--detections", str(faces), "--blur").exit_code == 0


def test_detections_of_relative_paths_are_found_from_another_folder(cli, tmp_path: Path, monkeypatch) -> None:
    """Videos of one name in two folders, detected by relative paths: from inside one of the
    folders, `sub/clip.mp4` matched both entries by name and was refused."""
    videos = tmp_path / "videos"
    (videos / "sub").mkdir(parents=True)
    moving_face_clip(videos / "clip.mp4", frames=6)
    moving_face_clip(videos / "sub" / "clip.mp4", frames=4)
    monkeypatch.chdir(tmp_path)
    assert cli("detect", "videos/clip.mp4", "videos/sub/clip.mp4", "-o", "both.parquet").exit_code == 0
    monkeypatch.chdir(videos)
    for name, frames in (("sub/clip.mp4", 4), ("clip.mp4", 6)):
        result = cli("annotate", name, "-o", str(tmp_path / "out.mp4"), "--overwrite",
                     "--detections", "../both.parquet", "--blur")
        assert result.exit_code == 0, result.output
        assert len(decode(tmp_path / "out.mp4")[0]) == frames


def test_rows_of_another_video_without_metadata_are_refused(cli, tmp_path: Path) -> None:
    clip = moving_face_clip(tmp_path / "face.mp4", frames=6)
    rows = tmp_path / "faces.csv"
    assert cli("detect", str(clip), "-o", str(rows)).exit_code == 0
    Path(str(rows) + ".meta.json").unlink()
    other = moving_face_clip(tmp_path / "other.mp4", frames=6, velocity=(-3.0, 1.0))
    result = cli("annotate", str(other), "-o", str(tmp_path / "out.mp4"), "--detections", str(rows), "--blur")
    assert result.exit_code == 2 and "holds the rows of" in result.output, result.output


def test_rows_without_metadata_find_a_video_named_in_latin_1(cli, tmp_path: Path) -> None:
    """The rows name a file whose name is not UTF-8 with escapes (`caf\\xe9.mp4`): they are that
    file's, and were refused as another video's."""
    latin = moving_face_clip(tmp_path / os.fsdecode(b"caf\xe9.mp4"), frames=4)
    rows = tmp_path / "faces.csv"
    assert cli("detect", str(latin), "-o", str(rows)).exit_code == 0
    Path(str(rows) + ".meta.json").unlink()
    result = cli("annotate", str(latin), "-o", str(tmp_path / "out.mp4"), "--detections", str(rows), "--blur")
    assert result.exit_code == 0, result.output


def test_detections_rewritten_by_other_tools_are_read(cli, tmp_path: Path) -> None:
    """pandas writes whole numbers as `0.0` once a column holds a null, and a Parquet file it
    rewrites loses blazecli's metadata: both were refused, where a CSV without a sidecar is read."""
    clip = moving_face_clip(tmp_path / "face.mp4", frames=6)
    rows = tmp_path / "faces.parquet"
    assert cli("detect", str(clip), "-o", str(rows)).exit_code == 0
    table = pd.read_parquet(rows)
    table.to_parquet(tmp_path / "rewritten.parquet")
    table.astype({"frame_index": float, "track_id": float}).to_csv(tmp_path / "floats.csv", index=False)
    Path(str(tmp_path / "floats.csv") + ".meta.json").write_text(json.dumps(read_metadata(str(rows))))
    for name in ("rewritten.parquet", "floats.csv"):
        result = cli("annotate", str(clip), "-o", str(tmp_path / "out.mp4"), "--overwrite",
                     "--detections", str(tmp_path / name), "--blur")
        assert result.exit_code == 0, result.output
    assert "rewritten.parquet has no metadata" in cli(
        "annotate", str(clip), "-o", str(tmp_path / "out.mp4"), "--overwrite",
        "--detections", str(tmp_path / "rewritten.parquet")).output


def test_hiding_with_detections_that_skip_frames_is_refused(cli, tmp_path: Path) -> None:
    clip = moving_face_clip(tmp_path / "face.mp4", frames=6)
    faces = tmp_path / "faces.parquet"
    assert cli("detect", str(clip), "-o", str(faces), "--every", "2").exit_code == 0
    out = tmp_path / "out.mp4"
    result = cli("annotate", str(clip), "-o", str(out), "--detections", str(faces), "--blur")
    assert result.exit_code == 2 and "--every 2" in result.output and "None" not in result.output
    assert cli("annotate", str(clip), "-o", str(out), "--detections", str(faces)).exit_code == 0  # drawing is fine


@pytest.mark.parametrize(("sampling", "named"), [(["--fps", "5"], "(--fps 5)"), (["--keyframes"], "(--keyframes)")])
def test_a_refusal_of_sampled_detections_names_how_they_were_sampled(cli, tmp_path: Path, sampling, named) -> None:  # noqa: ANN001
    """It said "(--every 1)" for detections made with --fps or --keyframes."""
    clip = moving_face_clip(tmp_path / "face.mp4", frames=12)
    faces = tmp_path / "faces.parquet"
    assert cli("detect", str(clip), "-o", str(faces), *sampling).exit_code == 0
    result = cli("annotate", str(clip), "-o", str(tmp_path / "out.mp4"), "--detections", str(faces), "--blur")
    assert result.exit_code == 2 and named in result.output, result.output


def _edited(rows: Path, to: Path, edit) -> Path:  # noqa: ANN001
    """A copy of a detect CSV and its sidecar, its rows changed by ``edit(frame) -> frame``."""
    edit(pd.read_csv(rows)).to_csv(to, index=False)
    to.with_name(to.name + ".meta.json").write_bytes(rows.with_name(rows.name + ".meta.json").read_bytes())
    return to


def _set(column: str, value: object):  # noqa: ANN202
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[3, column] = value
        return frame
    return edit


@pytest.mark.parametrize(("edit", "said"), [
    (_set("x_min", float("nan")), "a row of frame 3 has no finite x_min"),  # an emptied cell
    (_set("y_max", float("inf")), "a row of frame 3 has no finite y_max"),
    (_set("score", ""), "a row of frame 3 has no finite score"),
    (_set("frame_index", -5), "a row has no frame_index, or a negative one"),
    (_set("frame_index", 10**12), "has rows for frame 1000000000000, but its metadata says 8 frames"),
    (lambda frame: frame.drop(columns=["right_eye_y", "interpolated"]),
     "lacks the column(s) right_eye_y, interpolated"),
    # A mask over no area hid nothing, and every frame was counted as hidden.
    (_set("x_max", -1.0), "a row of frame 3 has a box of no area"),
    (_set("y_max", 0.0), "a row of frame 3 has a box of no area"),
    # Rows of another video, or none: nothing was hidden, and the exit was 0.
    (lambda frame: frame.iloc[:0], "holds no rows for"),
    (lambda frame: frame.assign(video="other.mp4"), "holds no rows for"),
    (_set("frame_width", 1280), "its rows are of 1280x240, 320x240 frames"),
])
def test_a_hand_edited_detections_file_is_refused_naming_the_fault(cli, tmp_path: Path, edit, said) -> None:  # noqa: ANN001
    """Empty or infinite cells and missing columns were tracebacks; lost rows and frames
    beyond the video were taken as they were, and hiding left those faces showing."""
    clip = moving_face_clip(tmp_path / "face.mp4", frames=8)
    rows = tmp_path / "faces.csv"
    assert cli("detect", str(clip), "-o", str(rows)).exit_code == 0
    edited = _edited(rows, tmp_path / "edited.csv", edit)
    out = tmp_path / "out.mp4"
    result = cli("annotate", str(clip), "-o", str(out), "--detections", str(edited), "--blur")
    assert result.exit_code == 2 and said in result.output, result.output
    assert not out.exists()


@pytest.mark.parametrize(("edit", "said"), [
    (lambda table: table.drop_columns(["score"]), "lacks the column(s) score"),
    (lambda table: table.set_column(table.schema.get_field_index("x_min"), "x_min",
                                    pa.array(["left"] * len(table))), "cannot read detections from it"),
])
def test_a_parquet_file_edited_elsewhere_is_refused_naming_the_fault(cli, tmp_path: Path, edit, said) -> None:  # noqa: ANN001
    """A Parquet file without a column, or with one of another type, was a traceback (a CSV
    file was refused in words); one whose numbers were written as text is read."""
    import pyarrow.parquet as pq

    clip = moving_face_clip(tmp_path / "face.mp4", frames=8)
    rows = tmp_path / "faces.parquet"
    assert cli("detect", str(clip), "-o", str(rows)).exit_code == 0
    table, facts = pq.read_table(rows), {b"blazecli": pq.read_metadata(rows).metadata[b"blazecli"]}
    out = tmp_path / "out.mp4"
    pq.write_table(edit(table).replace_schema_metadata(facts), tmp_path / "edited.parquet")
    result = cli("annotate", str(clip), "-o", str(out), "--detections", str(tmp_path / "edited.parquet"), "--blur")
    assert result.exit_code == 2 and said in result.output, result.output
    assert not out.exists()
    as_text = table.set_column(table.schema.get_field_index("x_min"), "x_min", table["x_min"].cast(pa.string()))
    pq.write_table(as_text.replace_schema_metadata(facts), tmp_path / "text.parquet")
    result = cli("annotate", str(clip), "-o", str(out), "--detections", str(tmp_path / "text.parquet"), "--blur")
    assert result.exit_code == 0, result.output


def test_json_lines_of_a_video_without_faces_annotate_it(cli, tmp_path: Path) -> None:
    """detect writes an empty file for a video without faces; annotate said "Empty JSON file"."""
    clip = tmp_path / "empty.mp4"
    write_clip(clip, lambda i: np.full((48, 64, 3), 90, np.uint8), 4)
    rows = tmp_path / "faces.jsonl"
    assert cli("detect", str(clip), "-o", str(rows)).exit_code == 0 and rows.stat().st_size == 0
    result = cli.verbose("annotate", str(clip), "-o", str(tmp_path / "out.mp4"), "--detections", str(rows), "--blur")
    assert result.exit_code == 0 and (tmp_path / "out.mp4").exists(), result.output
    example = Path(__file__).resolve().parents[1] / "examples" / "read_faces.py"  # it read no columns
    shown = subprocess.run([sys.executable, str(example), str(rows)], capture_output=True, text=True)
    assert shown.returncode == 0 and "4 frames processed, 0 with a face, 0 faces" in shown.stdout, shown.stderr


def test_hiding_says_when_rows_are_fewer_than_the_file_records(cli, tmp_path: Path) -> None:
    """A file that lost rows hid nothing, silently. Rows may also be left out on purpose (a
    face to keep showing), so it is said, not refused."""
    clip = moving_face_clip(tmp_path / "face.mp4", frames=8)
    rows = tmp_path / "faces.csv"
    assert cli("detect", str(clip), "-o", str(rows)).exit_code == 0
    edited = _edited(rows, tmp_path / "edited.csv", lambda frame: frame.iloc[:2])
    result = cli("annotate", str(clip), "-o", str(tmp_path / "out.mp4"), "--detections", str(edited), "--blur")
    assert result.exit_code == 0
    assert "edited.csv holds 2 rows for this video where its metadata records 8" in result.output


def test_hiding_says_when_detections_were_made_with_less_recall(cli, tmp_path: Path) -> None:
    """Detections of detect's defaults (short-range model, no tiles) hid none of a crowd's
    small faces, in silence: hiding's own detection finds them."""
    clip = moving_face_clip(tmp_path / "face.mp4", frames=4)
    plain, recall_first = tmp_path / "plain.parquet", tmp_path / "recall.parquet"
    assert cli("detect", str(clip), "-o", str(plain)).exit_code == 0
    profile = ["--model", "full", "--tiles", "auto", "--threshold", "0.4", "--fill-gaps"]
    assert cli("detect", str(clip), "-o", str(recall_first), *profile, "--brighten").exit_code == 0
    said = ("plain.parquet was detected with the short-range model, no tiles, no brightening, threshold 0.5, "
            "no filled gaps")
    result = cli("annotate", str(clip), "-o", str(tmp_path / "a.mp4"), "--detections", str(plain), "--blur")
    assert result.exit_code == 0 and said in result.output
    assert "(--model full, --tiles auto, --threshold 0.4, --brighten, no --max-faces, --fill-gaps)" in result.output
    unlit = tmp_path / "unlit.parquet"
    assert cli("detect", str(clip), "-o", str(unlit), *profile).exit_code == 0
    result = cli("annotate", str(clip), "-o", str(tmp_path / "d.mp4"), "--detections", str(unlit), "--blur")
    assert result.exit_code == 0 and "unlit.parquet was detected with no brightening:" in result.output
    result = cli("annotate", str(clip), "-o", str(tmp_path / "b.mp4"), "--detections", str(recall_first), "--blur")
    assert result.exit_code == 0 and "was detected with" not in result.output
    result = cli("annotate", str(clip), "-o", str(tmp_path / "c.mp4"), "--detections", str(plain))  # drawing
    assert result.exit_code == 0 and "was detected with" not in result.output
    # The cover is annotate's own, with or without a file: turning it off is said too.
    result = cli("annotate", str(clip), "-o", str(tmp_path / "e.mp4"), "--detections", str(recall_first), "--blur",
                 "--cover", "0")
    assert result.exit_code == 0 and "hiding with --cover 0:" in result.output, result.output
    assert "was detected with" not in result.output


@pytest.mark.parametrize(("options", "said"), [
    (["--tiles", "none"], "hiding with the short-range model, no tiles:"),
    (["--threshold", "0.9"], "hiding with threshold 0.9:"),
    (["--max-faces", "1"], "hiding with at most 1 face(s) a frame:"),
    (["--cover", "0"], "hiding with --cover 0:"),
    (["--no-fill-gaps"], "hiding with no filled gaps:"),
    ([], None),
])
def test_hiding_says_when_its_options_find_or_hold_fewer_faces(cli, tmp_path: Path, options: list[str],
                                                               said: str | None) -> None:
    """--tiles none left 35 of a stage clip's 124 faces, --max-faces 1 five of a photo's seven,
    --cover 0 dropped the tile rounds' hold: all in silence."""
    clip = moving_face_clip(tmp_path / "face.mp4", frames=4)
    result = cli("annotate", str(clip), "-o", str(tmp_path / "out.mp4"), "--blur", *options)
    assert result.exit_code == 0, result.output
    if said is None:
        assert "warning" not in result.output
    else:
        assert said in result.output and "fewer faces are found or held" in result.output


def test_hiding_detections_made_with_max_faces_are_said(cli, tmp_path: Path) -> None:
    clip = moving_face_clip(tmp_path / "face.mp4", frames=4)
    capped = tmp_path / "capped.parquet"
    profile = ["--model", "full", "--tiles", "auto", "--threshold", "0.4", "--brighten"]
    assert cli("detect", str(clip), "-o", str(capped), *profile, "--max-faces", "1").exit_code == 0
    result = cli("annotate", str(clip), "-o", str(tmp_path / "a.mp4"), "--detections", str(capped), "--blur")
    assert result.exit_code == 0 and "capped.parquet was detected with at most 1 face(s) a frame" in result.output


def test_a_mask_smaller_than_the_default_is_said(cli, tmp_path: Path) -> None:
    """At --mask-scale 0.7 a detector still found 29 of 32 faces after blurring, in silence."""
    clip = moving_face_clip(tmp_path / "face.mp4", frames=3)
    small = cli("annotate", str(clip), "-o", str(tmp_path / "a.mp4"), "--blur", "--mask-scale", "1.2")
    assert small.exit_code == 0 and "warning: --mask-scale 1.2 hides less than" in small.output
    default = cli("annotate", str(clip), "-o", str(tmp_path / "b.mp4"), "--pixelate")
    assert default.exit_code == 0 and "hides less than" not in default.output


def test_a_damaged_sidecar_or_the_sidecar_itself_is_refused(cli, tmp_path: Path) -> None:
    clip = moving_face_clip(tmp_path / "face.mp4", frames=4)
    rows = tmp_path / "faces.csv"
    assert cli("detect", str(clip), "-o", str(rows)).exit_code == 0
    sidecar = tmp_path / "faces.csv.meta.json"
    result = cli("annotate", str(clip), "-o", str(tmp_path / "a.mp4"), "--detections", str(sidecar))
    assert result.exit_code == 2 and "is the metadata beside" in result.output
    for damaged in ('[1, 2]', '{"videos": 5}', '{"videos": [{"video": "face.mp4"}]}'):
        sidecar.write_text(damaged)
        result = cli("annotate", str(clip), "-o", str(tmp_path / "a.mp4"), "--detections", str(rows))
        assert result.exit_code == 2 and "its metadata is not what blazecli detect writes" in result.output


@pytest.mark.parametrize("key, value", [("frames_processed", "lots"), ("duration_s", [1]), ("every", "2"),
                                        ("processed_frames", 3), ("video", 10**30), ("every", 2.5),
                                        ("frames_read", -1)])
def test_a_sidecar_fact_of_the_wrong_kind_is_refused_in_words(cli, tmp_path: Path, key: str,
                                                              value: object) -> None:
    """A hand-edited sidecar with a fact of another type ended in a traceback (TypeError,
    ValueError, OverflowError) while hiding compared it with the video."""
    clip = moving_face_clip(tmp_path / "face.mp4", frames=4)
    rows = tmp_path / "faces.csv"
    assert cli("detect", str(clip), "-o", str(rows)).exit_code == 0
    sidecar = tmp_path / "faces.csv.meta.json"
    meta = json.loads(sidecar.read_text())
    meta["videos"][0][key] = value
    sidecar.write_text(json.dumps(meta))
    result = cli("annotate", str(clip), "-o", str(tmp_path / "a.mp4"), "--detections", str(rows), "--blur")
    assert result.exit_code == 2, result.output
    assert f'its metadata\'s "{key}" is {value!r}' in result.output
    assert not (tmp_path / "a.mp4").exists()


def test_hiding_with_detections_of_an_end_past_the_video_is_fine(cli, tmp_path: Path) -> None:
    """detect --end 10 on a shorter clip processed every frame: hiding takes it."""
    clip = moving_face_clip(tmp_path / "face.mp4", frames=6)
    faces = tmp_path / "faces.parquet"
    assert cli("detect", str(clip), "-o", str(faces), "--end", "10").exit_code == 0
    out = tmp_path / "out.mp4"
    assert cli("annotate", str(clip), "-o", str(out), "--detections", str(faces), "--blur").exit_code == 0
    short = tmp_path / "short.parquet"
    assert cli("detect", str(clip), "-o", str(short), "--end", "0.1").exit_code == 0
    result = cli("annotate", str(clip), "-o", str(out), "--detections", str(short), "--blur", "--overwrite")
    assert result.exit_code == 2 and "needs every frame" in result.output


def test_hiding_a_preview_past_where_the_detections_end_is_refused(cli, tmp_path: Path) -> None:
    """annotate --end past detect --end once wrote the frames after it with their faces shown."""
    clip = moving_face_clip(tmp_path / "face.mp4", frames=20)  # 25 fps: 0.8 s
    short = tmp_path / "short.parquet"
    assert cli("detect", str(clip), "-o", str(short), "--end", "0.4").exit_code == 0
    out = tmp_path / "out.mp4"
    for start in ([], ["--start", "0.2"]):
        result = cli("annotate", str(clip), "-o", str(out), "--detections", str(short), "--blur",
                     *start, "--end", "0.6")
        assert result.exit_code == 2 and "needs every frame" in result.output, result.output
        assert not out.exists() and not list(tmp_path.glob(".*"))
    assert cli("annotate", str(clip), "-o", str(out), "--detections", str(short), "--blur",
               "--end", "0.4").exit_code == 0


def test_hiding_a_preview_from_where_the_detections_start(cli, tmp_path: Path) -> None:
    """`detect --start` then `annotate --blur --start` at the same place was refused for the
    frames before it, which the preview does not write; from before it, it must still be."""
    clip = moving_face_clip(tmp_path / "face.mp4", frames=20)  # 25 fps: 0.8 s
    late = tmp_path / "late.parquet"
    assert cli("detect", str(clip), "-o", str(late), "--start", "0.4").exit_code == 0
    out = tmp_path / "out.mp4"
    for start in ([], ["--start", "0.2"]):
        result = cli("annotate", str(clip), "-o", str(out), "--detections", str(late), "--blur", *start)
        assert result.exit_code == 2 and "its detections start at --start 0.4" in result.output, result.output
        assert not out.exists() and not list(tmp_path.glob(".*"))
    result = cli("annotate", str(clip), "-o", str(out), "--detections", str(late), "--blur", "--start", "0.4")
    assert result.exit_code == 0, result.output
    frames, _ = decode(out)
    assert len(frames) == 10


def test_existing_output_is_kept_unless_overwrite(cli, tmp_path: Path) -> None:
    clip = moving_face_clip(tmp_path / "face.mp4", frames=4)
    out = tmp_path / "out.mp4"
    out.write_text("precious")
    result = cli("annotate", str(clip), "-o", str(out))
    assert result.exit_code == 5 and "--overwrite" in result.output and out.read_text() == "precious"
    assert cli("annotate", str(clip), "-o", str(out), "--overwrite").exit_code == 0
    assert len(decode(out)[0]) == 4
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not the temporary file's 0600


@pytest.mark.slow
def test_interrupted_run_leaves_no_file_and_the_old_one_intact(tmp_path: Path) -> None:
    clip = moving_face_clip(tmp_path / "face.mp4", frames=20)
    out = tmp_path / "out.mp4"
    out.write_text("precious")

    class Interrupt:
        ended = False

        def start_file(self, name: str, frames: int | None) -> None:
            self.frames = 0

        def advance(self, frames: int) -> None:
            self.frames += frames
            if self.frames == 5:
                raise KeyboardInterrupt

        def end_file(self) -> None:
            self.ended = True

    progress = Interrupt()
    with pytest.raises(KeyboardInterrupt):
        annotate_video(str(clip), str(out), AnnotateSettings(overwrite=True), progress)
    assert out.read_text() == "precious" and no_leftovers(tmp_path)
    assert progress.frames == 5 and not progress.ended  # the bar stays where the run stopped


@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "terminated"),
                                                (signal.SIGHUP, 129, "hung up")])
def test_a_stop_signal_stops_cleanly(tmp_path: Path, signum: int, code: int, word: str) -> None:
    """SIGHUP (a closed terminal or ssh session) killed the run and left its temporary file."""
    clip = moving_face_clip(tmp_path / "long.mp4", frames=300, options={"preset": "ultrafast"})
    out = tmp_path / "out.mp4"
    process = subprocess.Popen([sys.executable, "-m", "blazecli", "annotate", str(clip), "-o", str(out), "-q"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:  # until frames are being written
        if any(p.stat().st_size > 0 for p in tmp_path.glob(".out.mp4.*.tmp")):
            break
        time.sleep(0.02)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert word in stderr and "Traceback" not in stderr
    assert not out.exists() and no_leftovers(tmp_path)


@pytest.mark.parametrize("args, code, message", [
    (["-o", "{tmp}/out.abc"], 2, "extension"),
    (["-o", "{tmp}/out.avi"], 2, "AVI is not written"),
    (["-o", "-", "--blur"], 2, "writes a file, not stdout"),
    (["-o", "{tmp}/", "--blur"], 2, "writes one file, not into a folder"),
    (["-o", "{tmp}/new/", "--blur"], 2, "writes one file, not into a folder"),
    (["-o", "{tmp}/out.mp4", "--blur", "--pixelate"], 2, "--blur and --pixelate"),
    (["-o", "{tmp}/out.mp4", "--fill", "reddish"], 2, "--fill"),
    (["-o", "{tmp}/out.mp4", "--crf", "60"], 2, "--crf"),
    (["-o", "{tmp}/out.mp4", "--blur", "--mask-scale", "0"], 2, "--mask-scale"),
    (["-o", "{tmp}/missing/out.mp4"], 5, "does not exist"),
    (["-o", "{tmp}/out.mp4", "--detections", "{tmp}/nothing.parquet"], 2, "no such file"),
    (["-o", "{tmp}/out.mp4", "--detections", ""], 2, "--detections is empty"),
    # Options that did nothing, silently.
    (["-o", "{tmp}/out.mp4", "--mask-shape", "box"], 2, "--mask-shape shapes the hidden area"),
    (["-o", "{tmp}/out.mp4", "--mask-scale", "2", "--mask-shape", "box"], 2,
     "--mask-scale and --mask-shape shape the hidden area"),
    (["-o", "{tmp}/out.mp4", "--no-track", "--fill-gaps"], 2, "--fill-gaps fills the frames a track missed"),
])
def test_bad_options_are_clear_errors(cli, tmp_path: Path, args: list[str], code: int, message: str) -> None:
    result = cli("annotate", str(DEMO), *[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == code and message in result.output, result.output
    assert not list(tmp_path.rglob("*.mp4")) and no_leftovers(tmp_path)


def test_bad_input_fails_cleanly(cli, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x01garbage" * 100)
    out = tmp_path / "out.mp4"
    result = cli("annotate", str(broken), "-o", str(out))
    assert result.exit_code == 3 and "broken.mp4" in result.output
    with open(broken, "rb") as redirected:  # a file on stdin (a pipe is a live source)
        result = subprocess.run([sys.executable, "-m", "blazecli", "annotate", "-", "-o", str(out)],
                                stdin=redirected, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "stdin" in result.stderr
    assert not out.exists() and no_leftovers(tmp_path)


def test_gpu_encoder_works_or_says_why(cli, tmp_path: Path) -> None:
    clip = moving_face_clip(tmp_path / "face.mp4", frames=4)
    out = tmp_path / "out.mp4"
    result = cli("annotate", str(clip), "-o", str(out), "--encoder", "h264_nvenc")
    if result.exit_code == 0:  # a machine with an NVIDIA encoder
        assert len(decode(out)[0]) == 4
    else:
        assert result.exit_code == 4 and "h264_nvenc" in result.output
        assert not out.exists() and no_leftovers(tmp_path)


def test_mp4_index_at_the_front(demo_annotated: Path) -> None:
    """faststart: the moov atom before the media data, so browsers play while loading."""
    data = demo_annotated.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


def test_start_end_preview_with_audio(cli, work: Path) -> None:
    source = write_clip(work / "preview_src.mp4", lambda i: np.full((64, 96, 3), i * 4 % 256, np.uint8),
                        50, fps=25, audio=True)
    out = work / "preview.mp4"
    assert cli("annotate", str(source), "-o", str(out), "--start", "0.8", "--end", "1.6").exit_code == 0
    frames, times = decode(out)
    assert len(frames) == 20  # frames 20..39 of 25 fps
    assert times[0] == 0 and times[-1] == Fraction(19, 25)
    info = streams(out)
    audio_starts = [pts for pts, _ in info["audio_packets"]]
    assert info["audio"] and min(audio_starts) >= 0
    assert max(audio_starts) / 16000 < 0.85  # the span's audio only (16 kHz time base)
    # the first frame kept is source frame 20
    assert abs(int(frames[0].mean()) - 80) <= 3


def test_start_past_the_end_is_a_usage_error(cli, work: Path) -> None:
    out = work / "empty_preview.mp4"
    result = cli("annotate", str(DEMO), "-o", str(out), "--start", "999")
    assert result.exit_code == 2 and "no frame" in result.output
    assert not out.exists()


def test_hiding_uses_the_profile_and_options_override_it(cli, work: Path, monkeypatch) -> None:
    import blazecli.jobs.annotate as job

    seen = []
    real = job.annotate_video

    def spy(source, output, settings, progress=None, **kwargs):
        seen.append(settings)
        return real(source, output, settings, progress, **kwargs)

    monkeypatch.setattr(job, "annotate_video", spy)
    assert cli("annotate", str(DEMO), "-o", str(work / "hid.mp4"), "--blur").exit_code == 0
    assert cli("annotate", str(DEMO), "-o", str(work / "hid2.mp4"), "--blur", "--model", "short",
                    "--tiles", "none", "--cover", "0", "--no-fill-gaps", "--preset", "medium",
                    "--crf", "18").exit_code == 0
    assert cli("annotate", str(DEMO), "-o", str(work / "drawn.mp4")).exit_code == 0
    profile, overridden, drawn = seen
    assert (profile.detector.model, profile.detector.tiles, profile.detector.min_score,
            profile.tracking.fill_gaps, profile.cover_frames) == ("full", "auto", 0.4, True, 10)
    assert (profile.encoder.preset, profile.encoder.crf) == ("superfast", 22)
    assert (overridden.detector.model, overridden.detector.tiles, overridden.tracking.fill_gaps,
            overridden.cover_frames) == ("short", "none", False, 0)
    assert (overridden.encoder.preset, overridden.encoder.crf) == ("medium", 18)
    assert (drawn.detector.model, drawn.detector.tiles, drawn.tracking.fill_gaps,
            drawn.cover_frames) == ("short", "none", False, 0)
    assert (drawn.encoder.preset, drawn.encoder.crf) == ("veryfast", 20)


def test_a_cover_longer_than_memory_allows_is_refused(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The frames held back for the cover are bounded: on a live stream a huge --cover grew
    without end. The hiding profile's own cover (two tile rounds) is capped instead."""
    from blazecli.jobs import annotate

    clip = moving_face_clip(tmp_path / "face.mp4", frames=4)
    out = tmp_path / "out.mp4"
    result = cli("annotate", str(clip), "-o", str(out), "--blur", "--cover", "100000")
    assert result.exit_code == 2 and "--cover 100000" in result.output and "at most" in result.output
    assert not out.exists() and not list(tmp_path.glob(".*"))
    wide = moving_face_clip(tmp_path / "wide.mp4", frames=4, width=1280, height=720)  # 23 frames a round
    monkeypatch.setattr(annotate, "COVER_BYTES", 12 * clip_bytes(wide))
    held: list[int] = []
    cover_faces = annotate.cover_faces
    monkeypatch.setattr(annotate, "cover_faces", lambda frames, n: held.append(n) or cover_faces(frames, n))
    assert cli("annotate", str(wide), "-o", str(out), "--blur", "--overwrite").exit_code == 0
    assert held == [12]  # two rounds of tiles (46 frames), capped


def clip_bytes(clip: Path) -> int:
    """What one frame of ``clip`` takes held for the cover, decoded 4:2:0."""
    import av

    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        return stream.width * stream.height * 3 // 2


@pytest.mark.parametrize("sampling, processed", [(("--every", "3"), 4), (("--end", "0.2"), 5),
                                                 (("--fps", "10"), 5)])
def test_frames_detect_left_out_are_not_counted_as_without_faces(cli, tmp_path: Path, sampling: tuple[str, str],
                                                                  processed: int) -> None:
    """Drawing from detections of some frames said the others had "no face found"."""
    clip = moving_face_clip(tmp_path / "face.mp4", frames=12)
    faces = tmp_path / "faces.csv"
    assert cli("detect", str(clip), "-o", str(faces), *sampling).exit_code == 0
    result = cli.verbose("annotate", str(clip), "-o", str(tmp_path / "out.mp4"), "--detections", str(faces))
    assert result.exit_code == 0, result.output
    assert (f"{processed} found, 0 covered only by a held or filled-in mask; 0 frames with no face found; "
            f"{12 - processed} frames not processed by detect") in result.output


def test_the_summary_does_not_call_faces_marked_when_nothing_is_drawn(cli, tmp_path: Path) -> None:
    result = cli.verbose("annotate", str(DEMO), "-o", str(tmp_path / "out.mp4"), "--no-boxes", "--end", "0.2")
    assert result.exit_code == 0 and "frames with faces (none drawn: --no-boxes): 5 found" in result.output


def test_the_summary_counts_faces_found_not_the_masks_the_cover_adds(cli, tmp_path: Path) -> None:
    """It said 258 faces for the demo's 200: the cover's held masks were counted as faces."""
    import pyarrow as pa
    import pyarrow.compute  # noqa: F401 - pa.compute
    import pyarrow.parquet as pq

    clip = moving_face_clip(tmp_path / "face.mp4", frames=12)
    faces = tmp_path / "faces.parquet"
    assert cli("detect", str(clip), "-o", str(faces)).exit_code == 0
    table = pq.read_table(faces)  # the face left out of the first 4 frames: the cover holds it there
    table = table.filter(pa.compute.greater_equal(table["frame_index"], 4))
    pq.write_table(table.replace_schema_metadata(pq.read_metadata(faces).metadata), faces)
    rows = table.num_rows
    result = cli.verbose("annotate", str(clip), "-o", str(tmp_path / "out.mp4"), "--detections", str(faces),
                         "--blur", "--cover", "5")
    assert result.exit_code == 0 and 0 < rows, result.output
    assert f"12 frames, {rows} faces" in result.output
    assert "8 found, 4 covered only by a held or filled-in mask" in result.output


def test_a_photo_past_the_output_format_s_size_limit_is_refused_in_words(cli, tmp_path: Path) -> None:
    """A panorama 16,400 px wide to WebP (16,383 px at most) was a traceback from the encoder."""
    from PIL import Image

    source = tmp_path / "pano.png"
    Image.new("RGB", (16400, 40), (120, 120, 120)).save(source)
    out = tmp_path / "pano.webp"
    result = cli("annotate", str(source), "-o", str(out), "--blur")
    assert result.exit_code == 2 and "libwebp cannot encode a 16400x40 picture" in result.output
    assert "write .png or .tif" in result.output and not out.exists() and not list(tmp_path.glob(".*"))
    assert cli("annotate", str(source), "-o", str(tmp_path / "hidden.png"), "--blur").exit_code == 0


@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_a_photo_keeps_its_transparency(cli, tmp_path: Path, suffix: str) -> None:
    """Written back as RGB, what was transparent had shown (whatever its colour channels held)."""
    from PIL import Image
    from skimage import data

    astronaut = data.astronaut()
    alpha = np.full(astronaut.shape[:2], 255, np.uint8)
    alpha[:, :100] = 0
    source = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([astronaut, alpha])).save(source)
    out = tmp_path / f"hidden{suffix}"
    assert cli("annotate", str(source), "-o", str(out), "--blur").exit_code == 0
    hidden = np.array(Image.open(out).convert("RGBA"))
    assert hidden.shape == (512, 512, 4)
    assert hidden[:, :100, 3].max() <= 8 and hidden[:, 100:, 3].min() >= 247  # lossy WebP: near
    face = (slice(60, 180), slice(180, 300))  # the astronaut's face: blurred
    assert np.abs(hidden[face][..., :3].astype(int) - astronaut[face]).mean() > 10


@pytest.mark.parametrize("suffix", [".jpg", ".bmp"])
def test_a_transparent_photo_written_without_opacity_is_laid_over_white(cli, tmp_path: Path, suffix: str) -> None:
    """JPEG and BMP keep no opacity: the colours a transparent area still held (an area erased
    by its opacity alone) were written as they were, and shown, without a word."""
    from PIL import Image
    from skimage import data

    astronaut = data.astronaut()
    alpha = np.full(astronaut.shape[:2], 255, np.uint8)
    alpha[:, :100], alpha[:, 100:150] = 0, 128
    source = tmp_path / "erased.png"
    Image.fromarray(np.dstack([astronaut, alpha])).save(source)
    out = tmp_path / f"hidden{suffix}"
    result = cli.verbose("annotate", str(source), "-o", str(out), "--blur")
    assert result.exit_code == 0 and f"{out} keeps no transparency: erased.png is laid over white" in result.output
    written = np.array(Image.open(out).convert("RGB")).astype(int)
    assert written[:, :90].min() >= 245  # white where nothing showed (JPEG: nearly)
    half = (astronaut[:, 100:150].astype(int) + 255) / 2
    assert np.abs(written[300:, 100:150] - half[300:]).mean() < 4  # half over white, below the face


def test_a_photo_s_summary_counts_faces_not_frames(cli, tmp_path: Path) -> None:
    """It said "1 frames, 1 faces, 2 frames/s" and a line of frames with faces for one picture."""
    from PIL import Image
    from skimage import data

    source = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(source)
    result = cli.verbose("annotate", str(source), "-o", str(tmp_path / "hidden.png"), "--blur")
    assert result.exit_code == 0, result.output
    assert "hidden.png: 1 face(s) hidden (detected on cpu)" in " ".join(result.output.split())
    assert "frames" not in result.output


@pytest.mark.parametrize("mode, suffix, expected", [("L", ".png", "L"), ("LA", ".png", "LA"),
                                                   ("L", ".tif", "L")])
def test_a_grey_photo_stays_grey(cli, tmp_path: Path, mode: str, suffix: str, expected: str) -> None:
    """Hidden faces add no colour, so a grey photo comes back grey; boxes drawn in colour make it RGB."""
    from PIL import Image
    from skimage import data

    grey = np.dot(data.astronaut(), [0.299, 0.587, 0.114]).astype(np.uint8)
    alpha = np.full(grey.shape, 255, np.uint8)
    alpha[:, :100] = 7
    source = tmp_path / f"grey{suffix}"
    Image.fromarray(np.dstack([grey, alpha]) if mode == "LA" else grey, mode).save(source)
    out = tmp_path / f"hidden{suffix}"
    assert cli("annotate", str(source), "-o", str(out), "--blur").exit_code == 0
    hidden = Image.open(out)
    assert hidden.mode == expected and hidden.size == (512, 512)
    pixels = np.array(hidden)
    if mode == "LA":
        assert (pixels[:, :, 1] == alpha).all()  # opacity kept exactly
        pixels = pixels[:, :, 0]
    assert (pixels[:, 320:] == grey[:, 320:]).all()  # lossless away from the face
    assert np.abs(pixels[60:180, 180:300].astype(int) - grey[60:180, 180:300]).mean() > 10
    drawn = tmp_path / f"drawn{suffix}"
    assert cli("annotate", str(source), "-o", str(drawn)).exit_code == 0
    assert Image.open(drawn).mode in ("RGB", "RGBA")


def test_hiding_writes_the_same_bytes_every_run(cli, tmp_path: Path) -> None:
    """Two runs of the hiding profile, tiles and two inference batches at once included, write
    byte-identical files: x264's frame threads and the parallel runs change no output."""
    outputs = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    for out in outputs:
        assert cli("annotate", str(DEMO), "-o", str(out), "--blur", "-q").exit_code == 0
    assert outputs[0].stat().st_size > 10_000
    assert outputs[0].read_bytes() == outputs[1].read_bytes()


def test_a_span_without_frames_says_where_the_frames_are(cli, tmp_path: Path) -> None:
    """A stream whose times start at 1000 s answered `--start 0.5 --end 1` with "no frame
    between start 0.5 s and end 1 s", and no hint that times count as stored."""
    late = shifted_copy(moving_face_clip(tmp_path / "face.mp4", frames=10), tmp_path / "late.mp4", 1000)
    result = cli("annotate", str(late), "-o", str(tmp_path / "out.mp4"), "--start", "0.5", "--end", "1")
    assert result.exit_code == 2
    assert ("no frame between --start 0.5 s and --end 1 s (times are as stored: its frames run from "
            "1000 s to 1000.4 s, where its last frame ends)") in result.output
    assert not (tmp_path / "out.mp4").exists()
    detected = cli.verbose("detect", str(late), "-o", str(tmp_path / "faces.csv"), "--start", "0.5", "--end", "1")
    assert detected.exit_code == 0 and "its frames run from 1000 s" in detected.output


def test_a_16_bit_photo_is_said_to_be_written_with_8_bits(cli, tmp_path: Path) -> None:
    """Pictures are processed with 8 bits a sample: a 16-bit grey PNG came back 8-bit without a word."""
    from PIL import Image

    ramp = np.linspace(0, 65535, 64 * 64).astype(np.uint16).reshape(64, 64)
    source, out = tmp_path / "deep.png", tmp_path / "out.png"
    Image.fromarray(ramp).save(source)
    result = cli.verbose("annotate", str(source), "-o", str(out), "--blur")
    assert result.exit_code == 0 and f"{out} is written with 8 bits a sample; deep.png has 16" in result.output
    written = np.array(Image.open(out))
    assert written.shape == (64, 64) and np.abs(written.astype(int) - (ramp >> 8)).max() <= 1
