"""Writers for per-face rows: Parquet, CSV and JSON Lines, streamed batch by batch and atomic.

A file appears under its final name only when it is complete: rows go to a hidden temporary
file beside it, renamed at the end, and deleted if anything fails. Run settings and per-video
facts (frames processed, sampling, fps...) travel with the rows so that a reader can tell
"frame N had no face" from "frame N was not processed": as the ``blazecli`` key of the
Parquet key-value metadata, or in a ``<output>.meta.json`` sidecar for CSV and JSONL.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa

from ..choices import FORMATS
from ..detections import KEYPOINT_NAMES, Detections
from ..errors import (
    BlazeCliError,
    InvalidOptionError,
    OutputNotWritableError,
)
from .paths import (  # noqa: F401 - publish and the temporary files: here too, as before
    SIDECAR,
    STDOUT,
    check_writable,
    publish,
    temporary_beside,
    temporary_pattern,
)

METADATA_KEY = "blazecli"
HELD_ROWS = 200_000  # about 20 MB: rows of one video kept back until it is known to be whole
LIVE_ROW_GROUP_S = 1.0
"""On live input, Parquet rows wait at most about this long for their row group to be written."""

KEYPOINT_COLUMNS = [f"{name}_{axis}" for name in KEYPOINT_NAMES for axis in ("x", "y")]
SCHEMA = pa.schema(
    [("video", pa.string()), ("frame_index", pa.int64()), ("time_s", pa.float64()),
     ("track_id", pa.int64()), ("score", pa.float32()),
     ("x_min", pa.float32()), ("y_min", pa.float32()), ("x_max", pa.float32()), ("y_max", pa.float32())]
    + [(name, pa.float32()) for name in KEYPOINT_COLUMNS]
    + [("frame_width", pa.int32()), ("frame_height", pa.int32()), ("interpolated", pa.bool_())]
)
"""The row layout every format shares (documented column by column in the README)."""
_NUMPY_TYPES = {pa.int64(): np.int64, pa.int32(): np.int32, pa.float64(): np.float64,
                pa.float32(): np.float32}


FORMAT_SUFFIXES = {**{fmt: fmt for fmt in FORMATS}, "json": "jsonl", "ndjson": "jsonl"}
"""Extensions (without the dot) and the format each names: .json and .ndjson are JSON Lines."""


def format_for(path: str, explicit: str | None = None) -> str:
    """The format named by ``--format`` or else by the extension; stdout is CSV by default.

    A ``--format`` that contradicts the extension is refused: ``faces.csv`` holding Parquet
    bytes would mislead every later reader.
    """
    suffix = "" if path == STDOUT else Path(path).suffix.lower().lstrip(".")
    named = FORMAT_SUFFIXES.get(suffix)
    if explicit:
        if explicit not in FORMATS:
            raise InvalidOptionError(f"`format` must be one of {', '.join(FORMATS)}, got {explicit!r}")
        if named is not None and named != explicit:
            raise InvalidOptionError(f"`format={explicit}` contradicts the extension of {path!r}")
        return explicit
    if path == STDOUT:
        return "csv"
    if named is not None:
        return named
    raise InvalidOptionError(
        f"cannot tell the output format of {path!r} from its extension: use .parquet, .csv or "
        ".jsonl (.json, .ndjson), or give `format`")


def path_text(path: str) -> str:
    """A path as UTF-8 text for the ``video`` column and facts: bytes that are not UTF-8 (an
    old Latin-1 file name) are written as ``\\xff`` escapes instead of failing the output."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def rows_table(video: str, faces: Detections, times: np.ndarray, widths: np.ndarray,
               heights: np.ndarray) -> pa.Table:
    """One Arrow table of rows for faces in pixel coordinates.

    ``times``/``widths``/``heights`` are per face (already looked up by frame). Columns are
    built from numpy buffers directly: ``pa.array`` would import pandas on its first call
    (pyarrow checks every input for pandas objects), 0.2-0.4 s of start-up `detect` can skip.
    """
    n = len(faces)
    flat = faces.keypoints.reshape(n, 12)
    values: dict[str, np.ndarray] = {
        "frame_index": faces.frame_index, "time_s": times, "track_id": faces.track_id,
        "score": faces.scores, "x_min": faces.boxes[:, 0], "y_min": faces.boxes[:, 1],
        "x_max": faces.boxes[:, 2], "y_max": faces.boxes[:, 3],
        **{name: flat[:, i] for i, name in enumerate(KEYPOINT_COLUMNS)},
        "frame_width": widths, "frame_height": heights,
    }
    encoded = path_text(video).encode()
    columns = [pa.Array.from_buffers(pa.string(), n, [
        None, pa.py_buffer(np.arange(n + 1, dtype=np.int32) * len(encoded)), pa.py_buffer(encoded * n)])]
    for field in list(SCHEMA)[1:-1]:
        data = np.ascontiguousarray(values[field.name], _NUMPY_TYPES[field.type])
        valid = None
        if field.name == "track_id" and (faces.track_id < 0).any():  # no track: null
            valid = pa.py_buffer(np.packbits(faces.track_id >= 0, bitorder="little"))
        columns.append(pa.Array.from_buffers(field.type, n, [valid, pa.py_buffer(data)]))
    columns.append(pa.Array.from_buffers(pa.bool_(), n, [
        None, pa.py_buffer(np.packbits(faces.interpolated, bitorder="little"))]))
    return pa.Table.from_arrays(columns, schema=SCHEMA)


class RowSink:
    """Base for the writers: temporary file, atomic rename, metadata collected as it goes.

    ``live``: the rows come from a live input and are written as they come, flushed batch by
    batch (Parquet: a row group at least every ``LIVE_ROW_GROUP_S``), for a reader of the
    stream; a stopped recording keeps them.
    """

    live = False
    sidecar = True
    """Whether the metadata goes to a ``.meta.json`` beside the rows (not in the file itself)."""

    def __init__(self, path: str, overwrite: bool = False) -> None:
        self.path = path
        self.overwrite = overwrite
        if self.sidecar and path != STDOUT:  # the output's folder first, said in its own name;
            check_writable(Path(path), overwrite)  # then a sidecar's name, which is the user's too
            check_writable(Path(path + SIDECAR), overwrite)
        self.metadata: dict[str, Any] = {"videos": []}
        self.rows = 0
        self._video_rows: list[pa.Table] = []
        self._video_written = 0
        self._tmp: str | None = None
        self._stream: IO[bytes]
        if path == STDOUT and sys.stdout is None:  # started with stdout closed (`>&-`)
            raise OutputNotWritableError("stdout is closed: give `output` a file name")
        # A signal while opening too: the caller never gets the sink to abort.
        with self._dropped_on_failure():
            self._stream = (sys.stdout.buffer if path == STDOUT
                            else self._open_temporary(Path(path), overwrite))
            self._open()  # writes a header already (CSV)

    @contextmanager
    def _dropped_on_failure(self) -> Iterator[None]:
        """Any failure drops the temporary file; an OSError from writing becomes the output's
        error (:meth:`_write_failed`), the library's own errors pass as they are."""
        try:
            yield
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError) and not isinstance(exc, BlazeCliError):
                raise self._write_failed(exc) from exc
            raise

    def _write_failed(self, exc: OSError) -> Exception:
        """The error to raise for a failed write: a reader that closed its pipe (`| head`)
        stays a BrokenPipeError, which ends the command quietly (pyarrow's carries no errno)."""
        if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE or "Broken pipe" in str(exc):
            return BrokenPipeError(errno.EPIPE, "Broken pipe")
        where = "stdout" if self.path == STDOUT else self.path
        return OutputNotWritableError(f"{where}: write failed ({exc.strerror or exc})")

    def _open_temporary(self, final: Path, overwrite: bool) -> IO[bytes]:
        fd, self._tmp = temporary_beside(final, overwrite)
        return os.fdopen(fd, "wb")

    def _open(self) -> None:
        """Format-specific setup after the stream exists."""

    def write(self, table: pa.Table) -> None:
        """Rows of the video being read: held until :meth:`add_video` says it is complete, so that
        a video failing part-way leaves none (stdout gets them at once: a pipe cannot take back).

        Past ``HELD_ROWS`` rows a long video streams on: bounded memory comes first, and a
        failure after that is reported with the number of its rows already written.
        """
        if self.live:
            self._emit(table)
            self._video_written += table.num_rows
            try:
                self._flush_live()
            except OSError as exc:
                raise self._write_failed(exc) from exc
            return
        if not table.num_rows:
            return
        if self._tmp is None:
            self._emit(table)
            return
        self._video_rows.append(table)
        if sum(t.num_rows for t in self._video_rows) > HELD_ROWS:
            self._emit_held()

    def _flush_live(self) -> None:
        """Rows so far out of the process, for a reader of a live run."""
        self._stream.flush()

    def _emit(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        try:
            self._write(table)
        except OSError as exc:
            raise self._write_failed(exc) from exc
        self.rows += table.num_rows

    def _write(self, table: pa.Table) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Format-specific closing (footers, metadata) before the rename."""

    def _emit_held(self) -> None:
        for table in self._video_rows:
            self._emit(table)
            self._video_written += table.num_rows
        self._video_rows.clear()

    def add_video(self, facts: dict[str, Any]) -> None:
        """The video is complete: its rows join the output, its facts the metadata."""
        self._emit_held()
        self._video_written = 0
        self.metadata["videos"].append({**facts, "video": path_text(facts["video"])})

    def drop_video(self) -> int:
        """Forget the held rows of a video that failed part-way; returns how many of its rows
        were already written (0 unless the video was longer than ``HELD_ROWS`` rows)."""
        self._video_rows.clear()
        written, self._video_written = self._video_written, 0
        return written

    def commit(self) -> None:
        with self._dropped_on_failure():
            self._finish()
            if self._tmp is None:
                self._stream.flush()
                return
            self._stream.close()
            if not self.sidecar:
                publish(self._tmp, self.path, self.overwrite)
                self._tmp = None
                return
            # The sidecar is written whole before the rows are published, and published after
            # them: a full disk leaves neither, and a run that lost its rows keeps the old one.
            sidecar = staged(self.path + SIDECAR, json.dumps(self.metadata, indent=2, sort_keys=True).encode(),
                             overwrite=True)
            try:
                publish(self._tmp, self.path, self.overwrite)
                self._tmp = None
                publish(sidecar, self.path + SIDECAR, overwrite=True)
            finally:
                Path(sidecar).unlink(missing_ok=True)

    def abort(self) -> None:
        """Drop the temporary file; an existing output stays untouched. It goes even when a
        second Ctrl-C lands while the stream closes."""
        if self._tmp is None:
            return
        try:
            writer = getattr(self, "_writer", None)
            if writer is not None:
                writer.close()  # before the stream, or pyarrow complains when collected
            self._stream.close()
        except Exception:  # closing a broken stream must not hide the real error
            pass
        finally:
            Path(self._tmp).unlink(missing_ok=True)
            self._tmp = None

    def __enter__(self) -> RowSink:
        return self

    def __exit__(self, exc_type: type | None, *rest: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class ParquetSink(RowSink):
    """Row groups streamed with pyarrow; settings and per-video facts in the footer metadata."""

    sidecar = False

    def _open(self) -> None:
        import pyarrow.parquet as pq

        self._writer = pq.ParquetWriter(self._stream, SCHEMA, compression="zstd")
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._pending_since = time.monotonic()  # when the oldest pending row came

    def _write(self, table: pa.Table) -> None:
        # Batches are small (a few faces per frame); gather them into sensible row groups.
        if not self._pending:
            self._pending_since = time.monotonic()
        self._pending.append(table)
        self._pending_rows += table.num_rows
        if self._pending_rows >= 65536:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(pa.concat_tables(self._pending))
            self._pending, self._pending_rows = [], 0

    def _flush_live(self) -> None:
        if self._pending and time.monotonic() - self._pending_since >= LIVE_ROW_GROUP_S:
            self._flush()
            self._stream.flush()

    def _finish(self) -> None:
        self._flush()
        self._writer.add_key_value_metadata(
            {METADATA_KEY: json.dumps(self.metadata, sort_keys=True)})
        self._writer.close()


class CsvSink(RowSink):
    """The header is written with the first rows, or at the end of a run without any: a run
    that fails first (no CUDA, a missing stream) leaves stdout empty."""

    _writer: Any = None

    def _header(self) -> Any:
        if self._writer is None:
            import pyarrow.csv as pacsv

            self._writer = pacsv.CSVWriter(self._stream, SCHEMA)
        return self._writer

    def _write(self, table: pa.Table) -> None:
        self._header().write_table(table)
        if self._tmp is None:
            self._stream.flush()  # rows reach a pipe as they are found

    def _finish(self) -> None:
        self._header().close()


class JsonlSink(RowSink):
    def _write(self, table: pa.Table) -> None:
        lines = "".join(json.dumps(row) + "\n" for row in table.to_pylist())
        self._stream.write(lines.encode())

    def _finish(self) -> None:
        self._stream.flush()


_SINKS = {"parquet": ParquetSink, "csv": CsvSink, "jsonl": JsonlSink}


def finished_output(path: str, fmt: str | None = None) -> bool:
    """Whether ``path`` holds a whole output: its rows and, where the format keeps the metadata
    beside them (CSV, JSON Lines), that sidecar, with as many rows as it records faces.
    ``skip_existing`` keeps these only; the parts of an unfinished one (a rows file deleted to
    redo it, a sidecar lost, rows cut short by a copy) are made again."""
    target = Path(path)
    if not target.is_file():  # a folder in its place is no output
        return False
    kind = format_for(path, fmt)
    if kind == "parquet":  # the footer, written last, ends with the magic bytes
        try:
            with target.open("rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - 4))
                return size >= 12 and handle.read(4) == b"PAR1"
        except OSError:
            return False
    if not _SINKS[kind].sidecar:
        return True
    recorded = _faces_recorded(Path(path + SIDECAR))
    return recorded is not None and _holds_rows(target, kind, recorded)


def read_json_file(path: Path, most_bytes: int) -> Any:
    """The JSON value of a regular file of at most ``most_bytes``; None where there is none
    (missing, a folder or a device, larger, unreadable, not JSON, nested past Python's depth)."""
    try:
        if not path.is_file() or path.stat().st_size > most_bytes:
            return None
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None


def _faces_recorded(sidecar: Path) -> int | None:
    """The faces a sidecar says its rows hold (one row a face), None where it says nothing."""
    metadata = read_json_file(sidecar, SIDECAR_MOST_BYTES)
    videos = metadata.get("videos") if isinstance(metadata, dict) else None
    if not isinstance(videos, list):
        return None
    counts = [video.get("faces") if isinstance(video, dict) else None for video in videos]
    whole = [count for count in counts if type(count) is int and count >= 0]
    return sum(whole) if len(whole) == len(counts) else None


def _holds_rows(rows: Path, kind: str, count: int) -> bool:
    """Whether a CSV or JSON Lines file holds ``count`` whole rows. A JSON line is one row (a
    line break inside a value is escaped); a CSV is parsed, since a quoted field (a video's
    name) may hold line breaks, and a row cut short fails to parse."""
    try:
        if kind != "csv":
            with rows.open("rb") as handle:
                return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) == count
        import pyarrow.csv as pacsv

        with rows.open("rb") as handle:  # by name, pyarrow would take it as UTF-8
            return int(pacsv.read_csv(handle).num_rows) == count
    except (OSError, pa.ArrowException):
        return False


def keeps_sidecar(path: str, fmt: str | None = None) -> bool:
    """Whether an output in this format keeps its metadata in a ``.meta.json`` beside it."""
    return _SINKS[format_for(path, fmt)].sidecar


SIDECAR_MOST_BYTES = 16 << 20
"""Larger than any sidecar a run writes: a file this large in a sidecar's place is someone's own."""


def not_left_by_a_run(path: str, fmt: str | None = None) -> Path | None:
    """The part of an unfinished output (its rows, or its sidecar) that no run or cut-off copy
    of one can have left, or None: ``skip_existing`` redoes what a run left (rows cut short
    or without their sidecar, a sidecar without its rows) and keeps someone's own file of that
    name (a video named ``x.mp4.parquet``, notes in ``faces.csv``).

    A part is a run's when empty or when it begins as a run writes it: Parquet's magic bytes,
    the CSV header, a JSON line's first key, a sidecar's first key. What is not a regular file
    (a folder, a device) is left to :func:`~blazecli.outputs.paths.check_writable`'s refusal."""
    kind = format_for(path, fmt)
    opening = {"parquet": b"PAR1", "csv": _csv_header(), "jsonl": b'{"video": '}[kind]
    parts = [(Path(path), opening)]
    if _SINKS[kind].sidecar:
        parts.append((Path(path + SIDECAR), b'{\n  "blazecli_version": '))
    return next((part for part, begins in parts if part.is_file() and not _begins_as(part, begins)), None)


def _begins_as(path: Path, opening: bytes) -> bool:
    """Whether a file's bytes begin as ``opening`` does (as much of it as the file holds: a
    copy cut short); not if it cannot be read."""
    try:
        with path.open("rb") as handle:
            return opening.startswith(handle.read(len(opening)))
    except OSError:
        return False


@lru_cache(maxsize=1)
def _csv_header() -> bytes:
    """The header line (and its line break) a CSV output begins with: a CSV of no rows."""
    import pyarrow.csv as pacsv

    sink = pa.BufferOutputStream()
    pacsv.write_csv(SCHEMA.empty_table(), sink)
    return bytes(sink.getvalue().to_pybytes())


def open_sink(path: str, fmt: str | None = None, overwrite: bool = False) -> RowSink:
    """A writer for ``path`` (``-`` is stdout) in the format named or implied by the extension."""
    return _SINKS[format_for(path, fmt)](path, overwrite=overwrite)


def write_atomic(path: str, data: bytes, *, overwrite: bool) -> None:
    """Small files (sidecars, manifests, reports): whole or not at all, with normal permissions;
    a failed write is an :class:`OutputNotWritableError`."""
    tmp = staged(path, data, overwrite=overwrite)
    try:
        publish(tmp, path, overwrite)
    except BlazeCliError:  # OutputExistsError
        raise
    except OSError as exc:
        raise OutputNotWritableError(f"{path}: write failed ({exc.strerror or exc})") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)


def staged(path: str, data: bytes, *, overwrite: bool) -> str:
    """``data`` written whole to a temporary file beside ``path``, for :func:`publish`: its
    name. A failed write leaves nothing and is an :class:`OutputNotWritableError`."""
    fd, tmp = temporary_beside(Path(path), overwrite)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputNotWritableError(f"{path}: write failed ({exc.strerror or exc})") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def has_metadata(path: str) -> bool:
    """Whether an output file carries the metadata :func:`read_metadata` reads: rows written
    to stdout carry none, nor a Parquet file that another tool rewrote."""
    if format_for(path) == "parquet":
        import pyarrow.parquet as pq

        with open(path, "rb") as source:  # by name, pyarrow would take it as UTF-8
            return METADATA_KEY.encode() in (pq.read_metadata(source).metadata or {})
    return Path(path + SIDECAR).is_file()


def read_metadata(path: str) -> dict[str, Any]:
    """The run settings and per-video facts stored with an output file."""
    if format_for(path) == "parquet":
        import pyarrow.parquet as pq

        with open(path, "rb") as source:  # by name, pyarrow would take it as UTF-8
            raw = (pq.read_metadata(source).metadata or {}).get(METADATA_KEY.encode())
        if raw is None:
            raise InvalidOptionError(f"{path}: not written by blazecli (no metadata)")
        return json.loads(raw)
    try:
        return json.loads(Path(path + SIDECAR).read_text())
    except FileNotFoundError:
        raise InvalidOptionError(f"{path}: its {SIDECAR} sidecar is missing (rows written to stdout "
                                 "carry none)") from None
