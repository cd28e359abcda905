"""Wires the stages for one video: decode -> sample -> infer -> candidates -> ties -> (track) -> rows.

The work overlaps on threads: decoding (plus FFmpeg's own frame threads), sampling frames
down to the model input (1 to 4 threads, by cores), inference ahead of the rest (two batches
at once on the CPU with tiles), and the caller's thread for ties, tracking and rows. Queues
between them are bounded (a few batches of small uint8 model inputs, at most 8 full-size
frames per sampler thread waiting to be sampled), so memory stays bounded whatever the
video's length.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..checks import whole_number
from ..detections import Detections
from ..inference.detector import DetectorOptions, FaceDetector
from ..inference.tiles import tile_period, tiles_along, tiles_for_frame
from ..media.files import drops_by_default
from ..media.live import LiveFeed
from ..media.packets import WHOLE, Segment
from ..media.reader import DecodedFrame, VideoInfo, VideoReader
from ..media.sampling import Letterbox, regions_rgb, sample_mediapipe_frame, sample_mediapipe_frames
from ..media.selection import FrameSelection
from ..temporal.camera import GREY_PIXELS, MOTION_EVERY, camera_motion, newly_shown, normalized, one_shot
from ..temporal.tracking import Tracker, TrackerOptions
from .signals import next_in, result_of, signals_held

_QUEUE_BATCHES = 4
_AWAITING_SAMPLING_PER_SAMPLER = 8  # decoded full-size frames queued per sampler: bounds memory
# Frames sampled in one call: the Python work of a call holds the GIL, so calls of several frames
# let sampler threads scale where one frame a call did not.
_SAMPLING_CHUNK = 4
LIVE_BUFFER_BYTES = 100_000_000  # decoded live frames (4:2:0) waiting: 32 at 1080p
_RECENT_FRAMES = 256  # frame facts kept for faces a tracker fills into recent gaps
_NO_TILES = np.zeros((0, 4), np.int64)
_NO_TILES.setflags(write=False)
_I_FRAME = av.video.frame.PictureType.I
READ_ONCE = "a video's frames are read once, and not once it is closed: open it again to read them again"
"""What a second loop over one video, or a loop after its close(), raises."""
_NO_EDGES = np.zeros(4)
_NO_EDGES.setflags(write=False)
TILES_PER_FRAME = 2
"""Tiles a video frame runs beside the whole frame; the others follow on the next frames, and
tracking carries a face between visits (a round of 20 frames at 720p). It keeps ``--tiles
auto`` above a quarter of the untiled speed at 720p on 2 cores; a photo runs all its tiles."""
EDGE_SWEEP = 0.5
"""New scenery at an edge is swept once its strip is this share of a tile's side wide: a face
that came in is then well inside the edge's tiles, and a pan costs a column of tiles each
time it moves half a tile."""


@dataclass
class FrameBatch:
    """Frames that went through the model together, and the faces found in them.

    ``index``/``time_s``/``width``/``height``: ``(N,)`` per processed frame; ``faces`` in pixels.
    ``face_time_s``/``face_width``/``face_height``: the same facts per face (a tracker may add
    faces for recent frames of an earlier batch, filled into a gap).
    """

    index: np.ndarray
    time_s: np.ndarray
    width: np.ndarray
    height: np.ndarray
    faces: Detections = field(default_factory=Detections.empty)
    face_time_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    face_width: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    face_height: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    frames: list[DecodedFrame] | None = None  # with keep_frames: the decoded frames
    # With keep_frames: their RGB in display orientation where tiles needed the whole frame
    # converted, else None (the caller converts the frame when it draws: a batch of full-size
    # RGB frames held ahead of the encoder cost ~200 MB at 1080p).
    images: list[np.ndarray | None] | None = None


@dataclass
class VideoSummary:
    """What happened to one input: filled in as the video is processed.

    ``frames_read``: the video's frames passed (up to the span's end), which number its frames;
    ``frames_decoded``: those the decoder made, fewer where a sampled run skipped some.
    """

    info: VideoInfo
    frames_decoded: int = 0
    frames_processed: int = 0
    faces: int = 0
    skipped_packets: int = 0
    seconds: float = 0.0
    selection: FrameSelection = field(default_factory=FrameSelection)
    frames_read: int = 0
    processed: list[int] = field(default_factory=list)  # frame indices, kept for --fps/--keyframes
    truncated: bool = False  # kept up to where a truncated file stops (keep_partial)
    declared_duration_s: float | None = None  # what a truncated file declares
    read_duration_s: float | None = None  # how far a truncated file could be read (None: not known)
    live: bool = False  # a URL, a device or a pipe: read as it arrives
    frames_dropped: int = 0  # live frames left out because detection fell behind
    stopped: str | None = None  # why a live input ended before its stream did

    def facts(self) -> dict[str, Any]:
        """JSON-ready metadata stored with the rows."""
        info = self.info
        chosen = self.selection
        return {
            "video": info.source, "width": info.width, "height": info.height,
            "rotation": info.display.rotation, "mirrored": info.display.mirrored,
            "sample_aspect_ratio": f"{info.display.sar.numerator}/{info.display.sar.denominator}",
            "fps": info.fps, "duration_s": self.read_duration_s if self.truncated else info.duration_s,
            "codec": info.codec, "stream_index": info.stream_index, "size_bytes": info.size_bytes,
            "frames_read": self.frames_read, "frames_decoded": self.frames_decoded,
            "frames_processed": self.frames_processed,
            "faces": self.faces, "skipped_packets": self.skipped_packets,
            "every": chosen.every, "start_s": chosen.start_s, "end_s": chosen.end_s,
            "sample_fps": None if chosen.fps is None else float(chosen.fps),
            "keyframes": chosen.keyframes,
            "processed_frames": self.processed if chosen.by_content else None,
            "truncated": self.truncated, "declared_duration_s": self.declared_duration_s,
            "live": self.live, "frames_dropped": self.frames_dropped, "stopped": self.stopped,
        }


class _NewViews:
    """What a frame shows that no tile has looked at yet, for sweeps of tiles (``annotate``):
    a new shot, and strips of scenery that the camera brought in at the frame's edges.

    A cut is a keyframe (encoders put one at a cut) unlike the frame before it, or a frame
    unlike the last one the camera was measured on. The camera is measured every
    :data:`~blazecli.temporal.camera.MOTION_EVERY` frames, as the hiding cover measures it. The
    grey copies are made by this thread's own converter: the frame before may be in the
    caller's hands already."""

    def __init__(self) -> None:
        self.converter = VideoReformatter()
        self.previous: DecodedFrame | None = None
        self.measured: np.ndarray | None = None  # the normalized grey copy of the last measured frame
        self.size = (0, 0)
        self.since = 0  # frames since that one
        self.strips = np.zeros(4)  # left, top, right, bottom: pixels of unswept new scenery

    def look(self, decoded: DecodedFrame, sweep_from: float) -> tuple[bool, np.ndarray]:
        """Whether ``decoded`` opens a new shot, and the strips (as :attr:`strips`) of new
        scenery at least ``sweep_from`` pixels wide that its tiles should sweep (0 elsewhere)."""
        previous, self.previous = self.previous, decoded
        cut = previous is not None and bool(decoded.frame.key_frame or decoded.frame.pict_type == _I_FRAME) and \
            not one_shot(self._grey(previous), self._grey(decoded), *decoded.size)
        self.since += 1
        if cut or self.measured is None or decoded.size != self.size:
            self.measured, self.size, self.since = normalized(self._grey(decoded)), decoded.size, 0
            self.strips[:] = 0
        elif self.since == MOTION_EVERY:
            latest, self.since = normalized(self._grey(decoded)), 0  # the same size: the same shape
            scale, shift, same = camera_motion(self.measured[None], latest[None], *decoded.size)
            cut = not same[0]
            self.strips = np.zeros(4) if cut else newly_shown(self.strips, float(scale[0]), shift[0], *decoded.size)
            self.measured = latest
        return cut, np.where(self.strips >= sweep_from, self.strips, 0.0)

    def swept(self, strips: np.ndarray) -> None:
        """The tiles along ``strips`` (as :meth:`look` gave them) ran."""
        self.strips[strips > 0] = 0

    def _grey(self, decoded: DecodedFrame) -> np.ndarray:
        return decoded.small_grey(GREY_PIXELS, self.converter)


class _Batch:
    __slots__ = ("index", "time_s", "width", "height", "samples", "frames", "images", "sampling",
                 "waiting", "tile_samples", "tile_boxes", "tile_owner", "tile_waiting")

    def __init__(self, capacity: int, size: int, tiles_per_frame: int = 0, more_tiles: int = 0) -> None:
        self.index: list[int] = []
        self.time_s: list[float] = []
        self.width: list[int] = []
        self.height: list[int] = []
        self.samples = np.empty((capacity, size, size, 3), np.uint8)
        self.frames: list[DecodedFrame] = []
        self.images: list[np.ndarray | None] = []
        self.sampling: list[Future] = []  # samples still being written by the sampler thread
        self.waiting: list[DecodedFrame] = []  # the last frames, not yet handed to the sampler
        self.tile_samples = np.empty((capacity * tiles_per_frame + more_tiles, size, size, 3), np.uint8)
        self.tile_boxes: list[Letterbox] = []  # where each tile lies on its frame
        self.tile_owner: list[int] = []  # the batch position of each tile's frame
        self.tile_waiting: list[tuple[DecodedFrame, np.ndarray, int]] = []  # frame, regions, slot


_DONE = object()


MAX_BATCH_SIZE = 1024
"""Beyond this a batch gains no speed on any device, and its samples alone take gigabytes."""


def tile_schedule(options: DetectorOptions, info: VideoInfo) -> tuple[int, int]:
    """How a video of ``info`` visits its tiles: (tiles a frame runs, frames over which every
    tile runs once); (0, 0) untiled. A photo runs all its tiles at once."""
    tiles = len(options.tile_regions(info.width, info.height, still=info.is_image))
    if not tiles:
        return 0, 0
    per_frame = tiles if info.is_image else min(tiles, TILES_PER_FRAME)
    return per_frame, tile_period(tiles, per_frame)


def tracking_across_tiles(tracking: TrackerOptions | None, period: int) -> TrackerOptions | None:
    """The tracking of a tiled video: a track may go a whole tile period unseen, since a face
    only tiles find is seen once a period. Every job that tracks a video uses this, so that a
    video cut into parts is tracked as one pipeline tracks it."""
    if tracking is None or not period:
        return tracking
    return replace(tracking, max_missed=max(tracking.max_missed, period))


def check_batch_size(batch_size: int | None) -> None:
    """None (the device's default) or 1 to :data:`MAX_BATCH_SIZE` frames."""
    if batch_size is not None:
        whole_number("batch_size", batch_size, 1, MAX_BATCH_SIZE)


def sampler_threads() -> int:
    """Threads that sample decoded frames down to the model input: one per 4 cores, 1 to 4.

    One sampler keeps up with FFmpeg on a few cores but not on many, so more cores get more
    samplers. On 2 cores one is enough: decoding is the bottleneck there.
    """
    return max(1, min(4, (os.cpu_count() or 2) // 4))


def _sample_into(batch: _Batch, start: int, frames: list[DecodedFrame],
                 tiles: list[tuple[DecodedFrame, np.ndarray, int]], detector: FaceDetector,
                 backlog: threading.BoundedSemaphore) -> None:
    """Sample frames, then their tiles, on one sampler thread: a frame's converter is not for
    two threads at once."""
    try:
        batch.samples[start:start + len(frames)] = sample_mediapipe_frames(
            [decoded.frame for decoded in frames], frames[0].display, detector.spec.input_size)
        for decoded, regions, slot in tiles:
            batch.tile_samples[slot:slot + len(regions)] = _sample_tiles(decoded, regions, detector)[0]
    finally:
        backlog.release(len(frames))


def _sample_tiles(decoded: DecodedFrame, regions: np.ndarray,
                  detector: FaceDetector) -> tuple[np.ndarray, np.ndarray | None]:
    """A frame's tiles sampled from the planes under them (a seventh of a 720p frame for 2 tiles),
    else from the whole frame converted to RGB, which is then returned too (None otherwise)."""
    crops = regions_rgb(decoded.frame, decoded.display, regions)
    if crops is None:
        rgb = decoded.to_rgb()
        return detector.sample_tiles(rgb, regions), rgb
    return detector.sample_crops(crops), None


def _sample_waiting(batch: _Batch, sampler: ThreadPoolExecutor, detector: FaceDetector,
                    backlog: threading.BoundedSemaphore) -> None:
    """Hand the batch's waiting frames (its last slots) and their tiles to the sampler, as one call."""
    start = len(batch.index) - len(batch.waiting)
    batch.sampling.append(sampler.submit(_sample_into, batch, start, batch.waiting,
                                         batch.tile_waiting, detector, backlog))
    batch.waiting, batch.tile_waiting = [], []


class TemporalStage:
    """Tracking (when on) and each face's frame facts, over batches that arrive in frame order.

    A tracker may fill faces into frames of earlier batches (``fill_gaps``): the facts of the
    last ``_RECENT_FRAMES`` frames (at least ``max_missed + 1``) are kept for them.
    """

    def __init__(self, tracking: TrackerOptions | None) -> None:
        self.tracker = Tracker(tracking) if tracking is not None else None
        self._keep = max(_RECENT_FRAMES, tracking.max_missed + 1 if tracking else 0)
        self._recent: dict[int, tuple[float, int, int]] = {}  # frame -> time, width, height

    def finish(self, index: np.ndarray, time_s: np.ndarray, width: np.ndarray, height: np.ndarray,
               faces: Detections) -> FrameBatch:
        """The batch's faces tracked (and smoothed), with the time and size of each face's frame."""
        if self.tracker is not None:
            faces = self.tracker.update(faces, index, time_s, np.stack([width, height], axis=1))
        self._recent.update(zip(index.tolist(), zip(time_s.tolist(), width.tolist(),
                                                    height.tolist(), strict=False), strict=False))
        facts = np.array([self._recent[i] for i in faces.frame_index.tolist()],
                         np.float64).reshape(-1, 3)  # (K, 3): time, width, height
        while len(self._recent) > self._keep:  # after the lookup: a batch may be longer
            del self._recent[next(iter(self._recent))]
        return FrameBatch(index, time_s, width, height, faces, facts[:, 0],
                          facts[:, 1].astype(np.int32), facts[:, 2].astype(np.int32))


class VideoJob:
    """Detect faces in one video, batch by batch: the engine under :func:`detect_video`, ``detect``
    and ``annotate``. Iterate :meth:`batches`, then read ``summary``; as a context manager it
    closes the decoder however the loop ends.

    ``on_frames`` is called with the number of frames decoded since the last call (progress).
    ``keep_frames`` hands each batch its decoded frames and RGB images (for drawing on them);
    ``tracking`` turns on the temporal stage (track ids, smoothing) for videos; still images
    have no time to track over. ``batch_size`` None: what suits the detector's device.
    ``segment``: only that part of the video (a worker's share, :mod:`blazecli.jobs.workers`);
    ``samplers``: sampler threads (None: by cores).

    A live input (a URL, a device given by ``input_format``, a pipe) is read as it arrives
    (:class:`LiveFeed`): a batch is whatever has arrived, up to ``batch_size`` frames, and
    nothing waits for a second batch, so each frame's faces come out as soon as the model has
    seen it. ``live_drop``: leave out frames when detection falls behind (None: as
    :func:`~blazecli.media.files.drops_by_default` says).

    ``sweep_new_views``: with tiles, the first frame after a cut also runs every tile, the
    first frame read runs every tile as the video's first does (also after a ``start``), and
    where the camera brings new scenery in at an edge (a pan, a zoom out), a frame runs the
    tiles along that edge once the strip is half a tile wide (``annotate``: a face
    that enters and leaves between two visits of its tile would stay showing). Not for a split
    video: a part cannot tell whether its first frame follows a cut, and parts run the tiles
    one pipeline would.
    """

    def __init__(self, source: str, detector: FaceDetector, *, selection: FrameSelection | None = None,
                 batch_size: int | None = None, stream: int = 0, decoder_threads: int = 0,
                 on_frames: Callable[[int], None] | None = None, keep_frames: bool = False,
                 tracking: TrackerOptions | None = None, segment: Segment = WHOLE,
                 samplers: int | None = None, keep_partial: bool = False,
                 input_format: str | None = None, live_drop: bool | None = None,
                 sweep_new_views: bool = False) -> None:
        check_batch_size(batch_size)
        self.detector = detector
        self.selection = selection or FrameSelection()
        self.batch_size = batch_size or detector.batch_size
        self.on_frames = on_frames
        self.keep_frames = keep_frames
        self.samplers = samplers or sampler_threads()
        self.reader = VideoReader(source, stream=stream, threads=decoder_threads, segment=segment,
                                  selection=self.selection, keep_partial=keep_partial,
                                  input_format=input_format)
        self.live = self.reader.live
        self.live_drop = live_drop if live_drop is not None else drops_by_default(source, input_format)
        self._feed: LiveFeed | None = None
        info = self.reader.info
        self.tiles_per_frame, self.tile_period = tile_schedule(detector.options, info)
        """Tiles a frame runs, and frames over which every tile runs once: a face only tiles
        find is seen once a period."""
        # The first frame runs every tile (tiles_for_frame): room for them in the first batch;
        # sweeps where asked: room in each batch for every tile after a cut, and as many along edges.
        video_tiles = (len(detector.tile_regions(info.width, info.height))
                       if self.tiles_per_frame and not info.is_image else 0)
        self._opening_tiles = video_tiles if segment.first == 0 else 0
        self._sweep_tiles = 2 * video_tiles if sweep_new_views else 0
        tracking = tracking_across_tiles(tracking, self.tile_period)
        self.temporal = TemporalStage(None if info.is_image else tracking)
        self.gap_frames = (tracking.max_missed if tracking is not None and tracking.fill_gaps
                           and not info.is_image else 0)
        """How many processed frames back the tracker may still add faces to (filled gaps)."""
        self.summary = VideoSummary(self.reader.info, selection=self.selection, live=self.live)
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.closed = False
        """Whether :meth:`close` was called: a loop under way then ends where it is."""
        self._reading = False  # a loop is under way: its end closes the reader, after its threads
        self._reader_lock = threading.Lock()
        self._begun = False  # batches() has started reading: a second reader would share the decoder
        self._begin_lock = threading.Lock()

    def _produce(self, out: queue.Queue, sampler: ThreadPoolExecutor, samplers: int) -> None:
        """Decode in the background and hand frames to the sampler; errors travel through the queue.

        Sampling runs on its own thread so that decoding never waits for it: decoding is the
        bottleneck on few cores, and swscale and numpy release the GIL for most of their work.
        """
        size = self.detector.spec.input_size
        per_frame = self.tiles_per_frame
        batch_start = 0  # frames processed before this batch
        backlog = threading.BoundedSemaphore(_AWAITING_SAMPLING_PER_SAMPLER * samplers)
        # The reader yields the selected frames only, and decodes no more than it must; a live
        # feed also yields None when nothing more has arrived: the batch goes as it is.
        frames: Iterator[DecodedFrame | None] = (
            self.reader.frames() if self._feed is None else self._feed.frames())
        new_views = _NewViews() if self._sweep_tiles else None
        try:  # everything that may fail: the consumer waits for this thread's last word
            batch = _Batch(self.batch_size, size, per_frame, self._opening_tiles + self._sweep_tiles)
            for decoded in frames:
                if self._stop.is_set():
                    return
                self.summary.frames_read = self.reader.frames_read
                if decoded is None:
                    if batch.index:
                        if batch.waiting:
                            _sample_waiting(batch, sampler, self.detector, backlog)
                        self._put(out, batch)
                        batch_start += len(batch.index)
                        batch = _Batch(self.batch_size, size, per_frame, self._sweep_tiles)
                    continue
                slot = len(batch.index)
                if new_views is None:
                    regions = self._tiles_of(decoded, batch_start + slot)
                else:  # room for sweeps: what the batch has left beyond the later frames' own tiles
                    room = (len(batch.tile_samples) - len(batch.tile_boxes)
                            - per_frame * (self.batch_size - slot - 1))
                    regions = self._swept(decoded, batch_start + slot, new_views, room)
                tile_slot = len(batch.tile_boxes)
                batch.tile_boxes += [Letterbox(w, h, x, y) for x, y, w, h in regions.tolist()]
                batch.tile_owner += [slot] * len(regions)
                if self.keep_frames:
                    # Sampled from the frame as detect samples it (the RGB shown is stretched by
                    # swscale), on this thread: a frame's converter is not for two at once.
                    batch.samples[slot] = sample_mediapipe_frame(decoded.frame, decoded.display, size)
                    batch.frames.append(decoded)
                    rgb = None
                    if len(regions):
                        batch.tile_samples[tile_slot:tile_slot + len(regions)], rgb = _sample_tiles(
                            decoded, regions, self.detector)
                    batch.images.append(rgb)
                else:
                    while not backlog.acquire(timeout=0.1):  # stays responsive to a stop
                        if self._stop.is_set():
                            return
                    batch.waiting.append(decoded)
                    if len(regions):
                        batch.tile_waiting.append((decoded, regions, tile_slot))
                width, height = decoded.size
                batch.index.append(decoded.index)
                batch.time_s.append(decoded.time_s)
                batch.width.append(width)
                batch.height.append(height)
                full = len(batch.index) == self.batch_size
                if len(batch.waiting) == _SAMPLING_CHUNK or (full and batch.waiting):
                    _sample_waiting(batch, sampler, self.detector, backlog)
                if full:
                    self._put(out, batch)
                    batch = _Batch(self.batch_size, size, per_frame, self._sweep_tiles)
                    batch_start += self.batch_size
            if batch.waiting:
                _sample_waiting(batch, sampler, self.detector, backlog)
            if batch.index:
                self._put(out, batch)
            self.summary.frames_read = self.reader.frames_read
            self._put(out, _DONE)
        except BaseException as exc:  # re-raised in the consumer thread
            self._put(out, exc)

    def _live_buffer(self) -> int:
        """Live frames that may wait for detection: about a second of them, for the bursts in
        which streams arrive (a Matroska cluster, a keyframe's packets), within
        ``LIVE_BUFFER_BYTES`` of decoded frames and never under a batch."""
        info = self.reader.info
        second = round(info.fps) if info.fps else 30
        fitting = LIVE_BUFFER_BYTES * 2 // (3 * info.width * info.height)
        return max(self.batch_size, min(second, fitting))

    def _tiles_of(self, decoded: DecodedFrame, processed: int, after_cut: bool = False,
                  edges: np.ndarray = _NO_EDGES) -> np.ndarray:
        """The tiles a processed frame runs, by its own size (streams may switch size) and its
        place among the sampled frames of the whole video, so that the parts of a split video
        run the tiles one pipeline would. Frames chosen by time or keyframe (never split) go by
        their count, ``processed``: their indices may share a phase with the tile period. The
        video's first frame runs every tile, and so do a sweeping job's first (after
        ``--start``) and a frame ``after_cut``; the tiles along ``edges`` (strip widths, as
        :func:`~blazecli.inference.tiles.tiles_along`) run too."""
        if not self.tiles_per_frame:
            return _NO_TILES
        still = self.reader.info.is_image
        regions = self.detector.tile_regions(*decoded.size, still=still)
        period = tile_period(len(regions), self.tiles_per_frame)
        phase = processed if self.selection.by_content else decoded.index // self.selection.every
        first = phase == 0 or (self._sweep_tiles > 0 and processed == 0)
        chosen = tiles_for_frame(len(regions), period, phase, opening=first or after_cut)
        if edges.any():
            chosen = np.union1d(chosen, tiles_along(regions, edges, *decoded.size))
        return regions[chosen]

    def _swept(self, decoded: DecodedFrame, processed: int, new_views: _NewViews, room: int) -> np.ndarray:
        """The tiles of a frame that may open a new view: every tile after a cut, or
        with the tiles along new scenery at its edges where they fit in the batch's ``room``
        (else a later frame sweeps them). A frame of a size without tiles runs none."""
        tiles = self.detector.tile_regions(*decoded.size)
        if not len(tiles):
            return _NO_TILES
        _, _, tile_width, tile_height = tiles[0].tolist()
        after_cut, edges = new_views.look(decoded, EDGE_SWEEP * min(tile_width, tile_height))
        regions = self._tiles_of(decoded, processed, after_cut, edges)
        if len(regions) <= room:
            new_views.swept(edges)
            return regions
        regions = self._tiles_of(decoded, processed, after_cut)
        return regions if len(regions) <= room else self._tiles_of(decoded, processed)

    def _put(self, out: queue.Queue, item: object) -> None:
        while not self._stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def batches(self) -> Generator[FrameBatch, None, None]:
        """Results batch by batch, in frame order; once (the video is read as they are made)."""
        with self._begin_lock:  # read, being read (two loops would share one decoder), or closed
            if self._begun or self._stop.is_set():
                raise RuntimeError(READ_ONCE)
            self._begun = True
        started = time.perf_counter()
        # Batches that carry full frames are big (annotate): hold only as many as run at once.
        # Live frames wait in no queue: they would grow old there.
        runs = self.detector.parallel_runs
        out: queue.Queue = queue.Queue(maxsize=1 if self.live else runs if self.keep_frames else _QUEUE_BATCHES)
        if self.live:
            self._feed = LiveFeed(self.reader, self._live_buffer(), self.live_drop)
        samplers = self.samplers
        sampler = ThreadPoolExecutor(max_workers=samplers, thread_name_prefix="blazecli-sample")
        worker = threading.Thread(target=self._produce, args=(out, sampler, samplers), daemon=True,
                                  name="blazecli-decode")
        self._worker = worker
        worker.start()
        # Inference runs on its own threads (ORT releases the GIL), as many batches at once as
        # the detector runs in parallel, ahead of the post-processing here, so the model never
        # waits for ties, tracking and rows; a batch waiting for its samples leaves the cores to
        # another batch's inference.
        model = ThreadPoolExecutor(max_workers=runs, thread_name_prefix="blazecli-infer")
        in_flight: deque[tuple[_Batch, Future]] = deque()
        self._reading = True
        reported = 0
        try:
            while True:
                item = self._next(out)
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                in_flight.append((item, model.submit(self._candidates, item)))
                # Annotate too: its hiding and encoding overlap the model. A live batch does
                # not wait: its rows are due now.
                if len(in_flight) < (1 if self.live else 1 + runs):
                    continue
                batch, candidates = in_flight.popleft()
                yield self._finish(batch, result_of(candidates))
                reported = self._report_progress(reported)
            while in_flight and not self.closed:
                batch, candidates = in_flight.popleft()
                yield self._finish(batch, result_of(candidates))
                reported = self._report_progress(reported)
        finally:
            with signals_held():
                self._stop.set()
                worker.join()
                model.shutdown(wait=True, cancel_futures=True)
                sampler.shutdown(wait=True, cancel_futures=True)
                self.summary.skipped_packets = self.reader.skipped_packets
                self.summary.frames_decoded = self.reader.frames_decoded
                if self._feed is not None:
                    self.summary.frames_dropped = self._feed.dropped
                self.summary.stopped = self.reader.read_error
                if self.reader.truncated is not None:
                    self.summary.truncated = True
                    self.summary.read_duration_s, self.summary.declared_duration_s = self.reader.truncated
                self.summary.seconds = time.perf_counter() - started
                self._reading = False
                self._close_reader()
        self._report_progress(reported)

    def _next(self, out: queue.Queue) -> Any:  # a _Batch, an exception or _DONE
        """The decode thread's next word; ``_DONE`` once the job is closed under way (by the
        loop's body, or from another thread), which stops that thread without a last word."""
        while not self.closed:
            try:
                return next_in(out)
            except queue.Empty:
                continue
        return _DONE

    def _report_progress(self, reported: int) -> int:
        """Tell ``on_frames`` how many frames were read since ``reported``."""
        read = self.summary.frames_read
        if self.on_frames and read > reported:
            self.on_frames(read - reported)
        return read

    def _candidates(self, batch: _Batch) -> Detections:
        """On the inference thread: wait for the batch's samples, run the model."""
        for pending in batch.sampling:
            result_of(pending)  # re-raises what sampling raised
        samples = batch.samples[:len(batch.index)]
        if batch.tile_boxes:  # one inference for the frames and their tiles
            samples = np.concatenate([samples, batch.tile_samples[:len(batch.tile_boxes)]])
        # A video's batches already run side by side; a photo is one batch of many tiles.
        return self.detector.candidates(samples, at_once=None if self.reader.info.is_image else 1)

    def _finish(self, batch: _Batch, candidates: Detections) -> FrameBatch:
        """Ties and pixels, then the temporal stage, for one batch in frame order."""
        boxes = [Letterbox(w, h) for w, h in zip(batch.width, batch.height, strict=True)]
        if batch.tile_boxes:
            owner = np.r_[np.arange(len(boxes)), batch.tile_owner]
            faces = self.detector.resolve_tiled(candidates, boxes + batch.tile_boxes, owner)
        else:
            faces = self.detector.resolve(candidates, boxes)
        index = np.asarray(batch.index, np.int64)
        faces = faces.replace(frame_index=index[faces.frame_index])
        result = self.temporal.finish(index, np.asarray(batch.time_s, np.float64),
                                      np.asarray(batch.width, np.int32),
                                      np.asarray(batch.height, np.int32), faces)
        if self.keep_frames:
            result.frames, result.images = batch.frames, batch.images
        self.summary.frames_processed += len(index)
        self.summary.faces += len(result.faces)
        if self.selection.by_content:
            self.summary.processed.extend(index.tolist())
        return result

    def close(self) -> None:
        """Stop decoding; the decode thread is joined before the container it reads is closed
        (with signals held: an interrupted join would leave the decoder to a running thread)."""
        self.closed = True
        with signals_held():
            self._stop.set()
            if self._worker is not None:
                self._worker.join()
            if not self._reading:  # else the loop closes it once its sampling threads are done:
                self._close_reader()  # they may still convert frames of this decoder

    def _close_reader(self) -> None:
        """Close the decoder once nothing reads it: a live feed blocked on a silent source
        ends at the reader's timeout, and the process may end first. Once, whichever thread
        comes first (close() from another thread, or the loop's end)."""
        with self._reader_lock:
            if self._feed is None or self._feed.close():
                self.reader.close()

    def __enter__(self) -> VideoJob:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
