"""Faces that ``detect`` wrote, read back for ``annotate``: one video's rows of a Parquet, CSV
or JSON Lines file, checked against that video by the facts of the file's metadata, so that
rows of another video, or of frames ``detect`` skipped, never decide what is hidden."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..detections import Detections
from ..errors import (
    BlazeCliError,
    DetectionsMismatchError,
    InputNotFoundError,
    InvalidOptionError,
    UnreadableInputError,
    permission_denied_as,
)
from ..media.files import STDIN
from ..media.reader import DecodedFrame, VideoInfo, VideoReader
from ..media.selection import FrameSelection
from ..outputs.paths import SIDECAR, file_identity
from .hiding import weaker_detections_warning

if TYPE_CHECKING:
    import pyarrow as pa


_ENDED_EARLY = ("{path}: its detections end at `end_s={end:g}` and {source} goes on: hiding "
                "faces needs every frame (annotate up to `end_s={end:g}`, or detect further)")
_STARTED_LATE = ("{path}: its detections start at `start_s={start:g}`, and {source} is annotated "
                 "from before it: hiding faces needs every frame (annotate from `start_s={start:g}`, "
                 "or detect from earlier)")


def processed_by_detect(facts: dict[str, Any]) -> Callable[[int, float], bool]:
    """Whether ``detect`` processed a frame (index, time), by the facts of its file: a frame it
    left out has no face in the file because nobody looked."""
    chosen = facts.get("processed_frames")  # --fps, --keyframes: listed
    if chosen is not None:
        listed = set(chosen)
        return lambda index, _time: index in listed
    return FrameSelection(every=int(facts.get("every") or 1), start_s=facts.get("start_s"),
                          end_s=facts.get("end_s")).wants


def faces_from_file(reader: VideoReader, faces: Detections, facts: dict[str, Any],
                     processed: Callable[[int, float], bool], path: str, selection: FrameSelection,
                     complete: bool) -> Iterator[tuple[DecodedFrame, Detections]]:
    """Every frame in ``selection`` with its rows of ``faces`` (sorted by frame).

    Read whole, the video must have the frame count ``detect`` saw, or the detections belong
    to another video; one that ``detect --end`` cut short may go on past it, and a frame before
    ``detect --start`` (not ``processed``) be written, unless every frame needs its faces
    (``complete``: hiding).
    """
    index = faces.frame_index
    detected_to = facts.get("end_s")  # `detect --end`: no rows from there on
    detected_from = facts.get("start_s")  # `detect --start`: none before it
    count = 0
    for decoded in reader.frames():
        count += 1
        if selection.past_end(decoded.time_s):
            return
        if selection.wants(decoded.index, decoded.time_s):
            if complete and detected_to is not None and decoded.time_s >= detected_to:
                raise InvalidOptionError(_ENDED_EARLY.format(path=path, end=detected_to,
                                                             source=reader.source))
            if complete and detected_from is not None and not processed(decoded.index, decoded.time_s):
                raise InvalidOptionError(_STARTED_LATE.format(path=path, start=detected_from,
                                                              source=reader.source))
            lo, hi = np.searchsorted(index, [decoded.index, decoded.index + 1]).tolist()
            yield decoded, faces[lo:hi]
    if facts.get("assumed"):  # rows without their facts: they must at least lie within the video
        if len(index) and index[-1] >= count:
            raise DetectionsMismatchError(
                f"{path}: has rows for frame {index[-1]}, but {reader.source} has {count} frames "
                f"(0 to {count - 1}): not the same video")
        return
    expected = int(facts.get("frames_read", facts.get("frames_decoded")) or 0)  # older files: the latter
    cut_short = count > expected and facts.get("end_s") is not None
    if count == expected or (cut_short and not complete):
        return
    if cut_short:
        raise InvalidOptionError(_ENDED_EARLY.format(path=path, end=detected_to, source=reader.source))
    raise DetectionsMismatchError(f"{path}: made from a video of {expected} frames, but "
                                  f"{reader.source} has {count}: not the same video")


def load_detections(path: str, source: str, info: VideoInfo,
                    complete: bool = False) -> tuple[Detections, dict[str, Any]]:
    """The faces a ``detect`` output holds for ``source`` (sorted by frame) and its stored facts.

    The file's entry for the video is found by path (the same file, else the path that ends
    most like this one's), or is the file's only one (a copy of the video, or stdin); its
    size in bytes, frame size, orientation, stream, length and frame count must be this
    video's. With ``complete`` (hiding faces) the detections must cover every frame: a frame
    left out would show its faces.
    """
    import pyarrow as pa  # here, not above: drawing as detecting leaves pyarrow (~40 MB) unloaded

    from ..outputs.sinks import FORMAT_SUFFIXES, has_metadata, read_metadata

    if not path:
        raise InvalidOptionError("`detections` is empty: name the file detect wrote")
    with permission_denied_as(UnreadableInputError, path):
        if Path(path).is_dir():
            raise InvalidOptionError(f"{path}: is a directory: `detections` takes the file detect wrote")
        if not Path(path).is_file():
            raise InputNotFoundError(f"{path}: no such file")
    if path.endswith(SIDECAR):
        raise InvalidOptionError(f"{path} is the metadata beside {path[:-len(SIDECAR)]}: give "
                                 "that file, which holds the detections")
    if Path(path).suffix.lower().lstrip(".") not in FORMAT_SUFFIXES:
        raise InvalidOptionError(f"{path}: detections are read from the .parquet, .csv or .jsonl "
                                 "file blazecli detect wrote (a file written with --format under "
                                 "another name: rename it to say its format)")
    try:
        if not has_metadata(path):  # written to stdout, or rewritten by another tool
            return _detections_without_facts(path, source, info, complete)
        meta = read_metadata(path)
        facts = _facts_for(meta, source, path)
        table = _read_rows(path, facts["video"])
    except BlazeCliError:
        raise
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise InvalidOptionError(f"{path}: cannot read detections from it ({_printable(exc)})") from exc
    stored = tuple(facts.get(k) for k in ("width", "height", "rotation", "mirrored", "stream_index"))
    actual = (info.width, info.height, info.display.rotation, info.display.mirrored, info.stream_index)
    if stored != actual:
        raise DetectionsMismatchError(
            f"{path}: made from a different video than {source} (width, height, rotation, "
            f"mirrored, stream: "
            f"{', '.join(map(str, stored))} there, {', '.join(map(str, actual))} here)")
    _check_frame_size(table, info, path, source)  # rows edited to another size
    # The length too, before any frame is read: `end_s` stops the reading before the frame
    # count could show that the detections are another video's.
    made_from, here = facts.get("duration_s"), info.duration_s
    if made_from is not None and here is not None and abs(made_from - here) > max(0.1, 0.01 * here):
        raise DetectionsMismatchError(f"{path}: made from a video of {made_from:g} s, but {source} "
                                      f"lasts {here:g} s: not the same video")
    # Last, the bytes: recordings alike in all of the above (a camera's segments) differ there.
    made_of, here_of = facts.get("size_bytes"), info.size_bytes
    if made_of is not None and here_of is not None and made_of != here_of:
        raise DetectionsMismatchError(f"{path}: made from a file of {made_of:,} bytes, but {source} "
                                      f"has {here_of:,}: not the same file (run detect on it)")
    read = facts.get("frames_read", facts.get("frames_decoded"))  # older files: the latter
    detections = _to_detections(table, path)
    if len(detections) and isinstance(read, int) and int(detections.frame_index.max()) >= read:
        raise DetectionsMismatchError(f"{path}: has rows for frame {int(detections.frame_index.max())}, "
                                      f"but its metadata says {read} frames were read: not this run's rows")
    notes = [weaker_detections_warning(meta, Path(path).name)] if complete else []
    recorded = facts.get("faces")
    if complete and isinstance(recorded, int) and recorded and not len(detections):
        raise DetectionsMismatchError(f"{path}: holds no rows for {facts['video']} where its metadata "
                                      f"records {recorded:,} faces (emptied, or the rows of another "
                                      "video): hiding would hide nothing")
    if complete and isinstance(recorded, int) and len(detections) < recorded:
        # Some removed on purpose (a face to keep showing) or lost: said, not refused.
        notes.append(f"warning: {Path(path).name} holds {len(detections)} rows for this video where "
                     f"its metadata records {recorded}: the faces of the rows not there are not hidden")
    facts = {**facts, "notes": [note for note in notes if note]}
    skipped = (read or 0) - (facts.get("frames_processed") or 0)
    # Frames before `detect --start` alone are checked as the video is read: a preview from
    # there on needs none of them.
    from_start_only = (facts.get("every") == 1 and facts.get("sample_fps") is None
                       and not facts.get("keyframes") and facts.get("start_s") is not None)
    if complete and (facts.get("every") != 1 or skipped) and not from_start_only:
        chosen = {name: facts.get(key) for name, key in (("every", "every"), ("fps", "sample_fps"),
                                                         ("start_s", "start_s"), ("end_s", "end_s"))}
        settings = [f"`{name}={value:g}`" for name, value in chosen.items()
                    if value is not None and (name, value) != ("every", 1)]
        settings += ["`keyframes`"] if facts.get("keyframes") else []
        raise InvalidOptionError(
            f"{path}: its detections skip {skipped:,} frame(s) ({', '.join(settings)}), and hiding "
            "faces needs every frame: run detect on every frame, or leave out `detections` to "
            "detect while annotating")
    return detections, facts


def _detections_without_facts(path: str, source: str, info: VideoInfo,
                              complete: bool) -> tuple[Detections, dict[str, Any]]:
    """Rows written to stdout and saved (``detect -o - > faces.csv``) carry no facts: they are
    taken as made from ``source`` with every frame processed, which the rows themselves must
    not contradict (their frame size here, their last frame once the video is read). Hiding
    goes on with a warning, the rows being the truth, unless they lie only on every Nth frame."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        table = _read_rows(path, None)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise InvalidOptionError(f"{path}: cannot read detections from it ({_printable(exc)})") from exc
    videos = [str(v) for v in pc.unique(table["video"]).to_pylist()]
    entry = _entry_for(videos, source)
    if len(videos) > 1:
        if entry is None:
            raise DetectionsMismatchError(f"{path}: holds rows of {len(videos)} videos and no "
                                          f"metadata to tell which is {source}")
        table = table.filter(pc.field("video") == videos[entry])
    _check_frame_size(table, info, path, source)
    if entry is None and videos and videos != [STDIN]:  # rows read from stdin name no file
        raise DetectionsMismatchError(f"{path}: holds the rows of {videos[0]}, not of {source}, and "
                                      "no metadata to tell whether they are the same video")
    name = Path(path).name
    notes = [f"note: {name} has no metadata (rows written to stdout, or rewritten by another tool): "
             f"assuming it was made from {source} with every frame processed"]
    if complete:
        frames = np.unique(table["frame_index"].to_numpy())
        step = int(np.gcd.reduce(frames)) if len(frames) >= 3 else 1
        if step > 1:
            raise InvalidOptionError(
                f"{path}: its rows lie only on every {_ordinal(step)} frame (detect `every={step}`?), "
                "and hiding faces needs every frame: run detect without `every`, or leave out "
                "`detections` to detect while annotating")
        notes.append(f"warning: {name}: it cannot be verified that every frame was processed; "
                     "its rows are taken as the truth, and a frame without rows is left as it is: "
                     "check the output, or run detect to a file (its sidecar records this)")
    return _to_detections(table, path), {"video": videos[entry or 0] if videos else source,
                                         "assumed": notes}


def _check_frame_size(table: pa.Table, info: VideoInfo, path: str, source: str) -> None:
    """Rows of frames of another size are another video's (or hand-made): refused."""
    # Whole columns at once (an hour of video holds hundreds of thousands of rows); an empty
    # cell reads as -1 and is another size too.
    sizes = np.unique(np.stack([table[name].fill_null(-1).to_numpy() for name in ("frame_width", "frame_height")],
                               axis=1).reshape(-1, 2), axis=0)
    if (sizes != (info.width, info.height)).any():
        shown = ", ".join(f"{w}x{h}" for w, h in sorted(sizes.tolist(), key=str))
        raise DetectionsMismatchError(f"{path}: its rows are of {shown} frames, {source} shows "
                                      f"{info.width}x{info.height}: not the same video")


def _entry_for(recorded: list[str], source: str) -> int | None:
    """Which of the videos a file names is ``source``: the same file, else the one whose path
    ends the most like its real path (a relative path given from another folder, a moved
    copy); None where no name matches or two match alike."""
    from ..outputs.sinks import path_text

    here = file_identity(source)
    for i, video in enumerate(recorded):
        if file_identity(video) == here:
            return i
    # As the file states paths: bytes that are not UTF-8 written as escapes.
    tail = Path(path_text(os.path.realpath(source))).parts[::-1] if source != STDIN else ()

    def shared(video: str) -> int:
        count = 0
        for mine, theirs in zip(tail, Path(video).parts[::-1], strict=False):
            if mine != theirs:
                break
            count += 1
        return count

    alike = [shared(video) for video in recorded]
    best = max(alike, default=0)
    return alike.index(best) if best and alike.count(best) == 1 else None


def _printable(exc: Exception) -> str:
    """A reader's error, fit for one line: a binary file's bytes are not echoed."""
    text = " ".join(str(exc).split())
    cut = next((i for i, c in enumerate(text) if c == "\ufffd" or not c.isprintable()), len(text))
    cut = min(cut, 200)
    return text if cut == len(text) else text[:cut].rstrip() + " ..."


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


_FACTS_NEEDED = ("video", "width", "height", "rotation", "mirrored", "stream_index")
"""What a video's entry in the metadata must state to be checked against the video."""

_FACT_KINDS: dict[str, str] = {
    "video": "path", "width": "count", "height": "count", "rotation": "count", "mirrored": "switch",
    "stream_index": "count", "size_bytes": "count", "duration_s": "number", "frames_read": "count",
    "frames_decoded": "count",
    "frames_processed": "count", "faces": "count", "every": "count", "sample_fps": "number",
    "start_s": "number", "end_s": "number", "keyframes": "switch", "processed_frames": "counts",
}
"""What each fact of a video's entry that ``annotate`` reads must be where it is not null: a
hand-edited sidecar is then refused in words, not in a traceback."""

_KIND_WORDS = {"path": "a path", "count": "a whole number", "switch": "true or false",
               "number": "a finite number", "counts": "a list of whole numbers"}


def _is_kind(value: object, kind: str) -> bool:
    if kind == "counts":
        return isinstance(value, list) and all(_is_kind(v, "count") for v in value)
    if kind == "path":
        return isinstance(value, str)
    if kind == "switch":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if kind == "count":
        return isinstance(value, int) and 0 <= value < 2**63
    return math.isfinite(value)


def _facts_for(meta: object, source: str, path: str) -> dict[str, Any]:
    videos = meta.get("videos") if isinstance(meta, dict) else None
    if not (isinstance(videos, list)
            and all(isinstance(f, dict) and all(k in f for k in _FACTS_NEEDED) for f in videos)):
        raise InvalidOptionError(f"{path}: its metadata is not what blazecli detect writes (a "
                                 f"`videos` list, each entry with {', '.join(_FACTS_NEEDED)})")
    for entry in videos:
        for key, kind in _FACT_KINDS.items():
            value = entry.get(key)
            if value is not None and not _is_kind(value, kind):
                raise InvalidOptionError(f"{path}: its metadata's \"{key}\" is {value!r:.40}, where "
                                         f"blazecli detect writes {_KIND_WORDS[kind]}")
    entry = _entry_for([str(f.get("video")) for f in videos], source)
    if entry is None and len(videos) == 1:  # renamed, or piped: the checks that follow tell
        entry = 0
    if entry is not None:
        return videos[entry]
    shown = [str(v.get("video")) for v in videos[:3]] + (["..."] if len(videos) > 3 else [])
    held = f"{len(videos)} videos ({', '.join(shown)})" if videos else "no video"
    raise DetectionsMismatchError(f"{path}: holds detections for {held}, not for {source}")


def _read_rows(path: str, video: str | None) -> pa.Table:
    """The rows of one video (None: all) from a Parquet, CSV or JSON Lines file ``detect`` wrote."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..outputs.sinks import SCHEMA, format_for

    # Whole numbers read as floats first: other tools write `0.0` for them (pandas, once a
    # column holds a null), and the cast below refuses a fraction.
    read_as = pa.schema([pa.field(f.name, pa.float64()) if pa.types.is_integer(f.type) else f
                         for f in SCHEMA])
    fmt = format_for(path)
    # Opened here, not by name: pyarrow takes names as UTF-8, and a name may hold other bytes.
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with open(path, "rb") as source:
            one_video = video is not None and "video" in pq.read_schema(source).names  # its rows only
        with open(path, "rb") as source:
            table = pq.read_table(source, filters=pc.field("video") == video if one_video else None)
    elif fmt == "csv":
        import pyarrow.csv as pacsv

        with open(path, "rb") as source:
            table = pacsv.read_csv(source, convert_options=pacsv.ConvertOptions(column_types=read_as))
    elif Path(path).stat().st_size == 0:  # detect's JSON Lines of a video without faces
        table = SCHEMA.empty_table()
    else:
        import pyarrow.json as pajson

        with open(path, "rb") as source:
            table = pajson.read_json(source, parse_options=pajson.ParseOptions(explicit_schema=read_as))
    missing = [name for name in SCHEMA.names if name not in table.column_names]
    if missing:
        raise InvalidOptionError(f"{path}: lacks the column(s) {', '.join(missing)} that blazecli "
                                 "detect writes")
    # Other tools' types (a Parquet file edited elsewhere, `0.0` for a whole number) cast back;
    # a fraction where a whole number belongs is an error, not a truncation.
    table = table.select(SCHEMA.names).cast(SCHEMA)
    return table if video is None else table.filter(pc.field("video") == video)


def _to_detections(table: pa.Table, path: str) -> Detections:
    """The rows as faces. A row with an empty or non-finite coordinate, score or frame index (a
    hand edit) is refused, naming its frame: its face could be neither drawn nor hidden."""
    from ..outputs.sinks import KEYPOINT_COLUMNS

    table = table.sort_by("frame_index")
    frame_index = table["frame_index"]
    if frame_index.null_count or (len(table) and frame_index[0].as_py() < 0):  # sorted: nulls last
        raise InvalidOptionError(f"{path}: a row has no frame_index, or a negative one")

    def columns(names: list[str]) -> np.ndarray:
        values = np.stack([table[n].to_numpy() for n in names], axis=1).reshape(len(table), len(names))
        rows, where = np.nonzero(~np.isfinite(values))  # an empty cell reads as NaN
        if len(rows):
            raise InvalidOptionError(f"{path}: a row of frame {frame_index[int(rows[0])]} has no "
                                     f"finite {names[int(where[0])]} ({values[rows[0], where[0]]})")
        return values

    boxes = columns(["x_min", "y_min", "x_max", "y_max"])
    empty = np.nonzero((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]))[0]
    if len(empty):  # a mask over no area hides nothing
        x0, y0, x1, y1 = boxes[empty[0]].tolist()
        raise InvalidOptionError(f"{path}: a row of frame {frame_index[int(empty[0])]} has a box of no "
                                 f"area (x {x0:g} to {x1:g}, y {y0:g} to {y1:g}): each max must "
                                 "exceed its min")
    return Detections(boxes,
                      columns(KEYPOINT_COLUMNS).reshape(-1, 6, 2), columns(["score"])[:, 0],
                      frame_index.to_numpy(), table["track_id"].fill_null(-1).to_numpy(),
                      table["interpolated"].fill_null(False).to_numpy())
