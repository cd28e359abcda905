"""The per-image face detector: preprocess -> infer -> candidates -> tie resolution -> pixels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import real_number, switch, whole_number
from ..choices import RESIZE_MODES, TIES
from ..detections import Detections
from ..errors import InvalidOptionError
from ..media.sampling import Letterbox, as_rgb, sample_mediapipe
from ..models import ModelSpec, get_model
from .anchors import generate_anchors
from .candidates import decode_candidates
from .lighting import brightened
from .session import Session, default_threads, open_model
from .ties import resolve_frames
from .tiles import Tiling, tile_regions

PARALLEL_RUNS = 2
"""With tiles on the CPU, this many batches of a video (or parts of a photo's one batch of
tiles) run at once, each on its share of the inference threads: two single-thread runs beat one
run on two threads, whose threads wait on each other layer by layer, and a batch still waiting
for its samples leaves the cores to the other. Untiled runs keep one batch at a time (the
measured case, and the memory of annotate's full-frame batches)."""


CPU_RUN_PIXELS = 4 * 192 * 192
"""On the CPU one run of the model takes at most this many input pixels (4 full-range inputs,
9 short-range): a larger run outgrows the caches and costs more an input."""

MAX_THREADS = 1024
"""The most inference threads asked for: ONNX Runtime takes a C int, and more threads than
cores only wait on each other."""


@dataclass(frozen=True, kw_only=True)
class DetectorOptions:
    """What a detector does; validated once so every later stage can trust it."""

    model: str = "auto"  # short, full, or auto: full where tiles run, short elsewhere
    threshold: float | None = None  # None: the model's MediaPipe default (0.5 short, 0.6 full)
    tie: str = "blend"
    iou_threshold: float = 0.3
    resize: str = "mediapipe"
    max_faces: int | None = None
    device: str = "auto"
    threads: int | None = None
    tiles: str = "none"  # none, auto or RxC: see blazecli.inference.tiles
    brighten: bool = False  # also a brightened look at dark inputs: see blazecli.inference.lighting

    def __post_init__(self) -> None:
        try:  # stated canonically from here on (metadata, reports): ' AUTO' is auto, '2 x 3' 2x3
            object.__setattr__(self, "tiles", str(Tiling.parse(self.tiles)))
        except ValueError as exc:
            raise InvalidOptionError(str(exc)) from None
        if self.model == "auto":  # the short-range model, made for faces near a front camera,
            # takes textures in tiles for faces
            object.__setattr__(self, "model", "short" if self.tiles == "none" else "full")
        get_model(self.model)
        if self.threshold is not None:
            object.__setattr__(self, "threshold", real_number("threshold", self.threshold))
            if not 0.0 <= self.threshold <= 1.0:
                raise InvalidOptionError(f"`threshold` must be within [0, 1], got {self.threshold}")
        if self.tie not in TIES:
            raise InvalidOptionError(f"`tie` must be one of {', '.join(TIES)}, got {self.tie!r}")
        object.__setattr__(self, "iou_threshold", real_number("iou_threshold", self.iou_threshold))
        if not 0.0 < self.iou_threshold < 1.0:
            raise InvalidOptionError(f"`iou_threshold` must be within (0, 1), got {self.iou_threshold}")
        if self.resize not in RESIZE_MODES:
            raise InvalidOptionError(f"`resize` must be one of {', '.join(RESIZE_MODES)}, got {self.resize!r}")
        if self.max_faces is not None:
            object.__setattr__(self, "max_faces", whole_number("max_faces", self.max_faces, 1))
        if self.threads is not None:
            object.__setattr__(self, "threads", whole_number("threads", self.threads, 1, MAX_THREADS))
        object.__setattr__(self, "brighten", switch("brighten", self.brighten))

    @property
    def spec(self) -> ModelSpec:
        return get_model(self.model)

    @property
    def min_score(self) -> float:
        return self.spec.min_score if self.threshold is None else self.threshold

    @property
    def tiling(self) -> Tiling:
        return Tiling.parse(self.tiles)

    def tile_regions(self, width: int, height: int, still: bool = False) -> np.ndarray:
        """The tiles a frame shown ``width`` x ``height`` is cut into, ``(T, 4)`` ``x, y, w, h``
        (none without tiling); ``still``: a photo's, finer."""
        return tile_regions(width, height, self.tiling, self.spec.min_face_fraction, still)


@dataclass(frozen=True)
class ModelInputs:
    """A batch of model inputs: ``samples`` ``(I, S, S, 3)``, where each lies on its frame
    (``boxes``), and the position of that frame among ``frames`` (``owner``, ``(I,)``)."""

    samples: np.ndarray
    boxes: list[Letterbox]
    owner: np.ndarray
    frames: int


class FaceDetector:
    """BlazeFace on batches of frames of any size, returning faces in frame pixels.

    >>> detector = FaceDetector()
    >>> faces = detector.detect_image(rgb)          # Detections of one image
    >>> per_frame = detector.detect([rgb1, rgb2])   # list of Detections, one per frame
    """

    def __init__(self, options: DetectorOptions | None = None, /, **kwargs: Any) -> None:
        """``FaceDetector(model="full", threshold=0.7)`` (the fields of
        :class:`DetectorOptions`, by keyword), or ``FaceDetector(options)``; not both."""
        if options is not None and kwargs:
            raise TypeError("FaceDetector takes DetectorOptions or keyword options, not both "
                            f"(got options and {', '.join(sorted(kwargs))})")
        if options is not None and not isinstance(options, DetectorOptions):
            raise TypeError(f"FaceDetector takes DetectorOptions or keyword options, got {options!r}: "
                            "for a model by name, FaceDetector(model='full')")
        self.options = options if options is not None else DetectorOptions(**kwargs)
        spec = self.options.spec
        self.spec = spec
        self.anchors = generate_anchors(spec.anchors, spec.input_size)
        self.tiling = self.options.tiling
        threads = self.options.threads or default_threads(tiled=self.tiling.mode != "none")
        runs = min(threads, PARALLEL_RUNS) if self.tiling.mode != "none" else 1
        self.session: Session = open_model(spec, self.options.device, threads // runs)
        self.parallel_runs = runs if self.session.provider == "cpu" else 1

    @property
    def provider(self) -> str:
        """The execution provider that runs the model: ``cpu`` or ``cuda``."""
        return self.session.provider

    @property
    def batch_size(self) -> int:
        """Frames per batch that suit where the model runs: the default of a :class:`VideoJob`.

        CPU: 8, since larger batches cost more per frame once a decoder shares the cores.
        CUDA: 64, where the model runs several times faster than at 8 and the per-batch work
        on the caller's thread (ties, Arrow rows) is spread over more frames.
        """
        return 64 if self.provider == "cuda" else 8

    @property
    def run_size(self) -> int:
        """Model inputs one run takes: a batch on CUDA; on the CPU, as many as
        :data:`CPU_RUN_PIXELS` holds, and no more than a batch (bounded memory)."""
        if self.provider != "cpu":
            return self.batch_size
        return max(1, min(self.batch_size, CPU_RUN_PIXELS // self.spec.input_size ** 2))

    def sample(self, rgb: np.ndarray) -> np.ndarray:
        """One frame -> uint8 ``(S, S, 3)`` model-input pixels."""
        return sample_mediapipe(as_rgb(rgb), self.spec.input_size)

    def candidates(self, samples: np.ndarray, at_once: int | None = None) -> Detections:
        """Scored candidates of a batch of sampled frames before tie resolution, normalized.

        Public so that several tie resolutions can share one inference (``blazecli stability``).
        The batch runs in parts, ``at_once`` of them at a time (default :attr:`parallel_runs`;
        a caller that runs that many batches at once passes 1). With ``brighten``, the
        brightened copies of dark inputs run in the same batch; their candidates are their
        input's.
        """
        looks = None  # with copies: the input each model input looks at
        if self.options.brighten:
            dark, lifted = brightened(samples)
            if len(dark):
                looks = np.r_[np.arange(len(samples)), dark]
                samples = np.concatenate([samples, lifted])
        step = self.run_size  # a frame batch with its tiles runs in parts
        parts = [samples[i:i + step] for i in range(0, max(len(samples), 1), step)]
        at_once = self.parallel_runs if at_once is None else at_once
        if at_once > 1 and len(parts) > 1:
            with ThreadPoolExecutor(at_once, thread_name_prefix="blazecli-run") as runs:
                outputs = list(runs.map(self.session.run, parts))
        else:
            outputs = [self.session.run(part) for part in parts]
        regressors, logits = (np.concatenate(parts) for parts in zip(*outputs, strict=True))
        found = decode_candidates(regressors, logits, self.anchors, self.spec.box_scale,
                                  self.options.min_score)
        return found if looks is None else found.replace(frame_index=looks[found.frame_index])

    def resolve(self, candidates: Detections, boxes: Sequence[Letterbox],
                tie: str | None = None) -> Detections:
        """Ties resolved (``tie``, default the detector's own), then normalized coordinates
        mapped to pixels."""
        faces = resolve_frames(candidates, tie or self.options.tie, self.options.iou_threshold,
                               self.options.max_faces)
        return to_frame_pixels(faces, boxes)

    def tile_regions(self, width: int, height: int, still: bool = False) -> np.ndarray:
        """The tiles a frame shown ``width`` x ``height`` is cut into (:meth:`DetectorOptions.tile_regions`)."""
        return self.options.tile_regions(width, height, still)

    def sample_tiles(self, rgb: np.ndarray, regions: np.ndarray) -> np.ndarray:
        """Each region of a displayed RGB frame sampled as a whole frame is: ``(T, S, S, 3)``.
        Where a region reaches past the frame, that part is black."""
        return self.sample_crops([crop_padded(rgb, x, y, w, h) for x, y, w, h in regions.tolist()])

    def sample_crops(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """RGB crops (tiles) each sampled as a whole frame is: ``(T, S, S, 3)``."""
        size = self.spec.input_size
        return np.stack([sample_mediapipe(crop, size) for crop in crops]).reshape(-1, size, size, 3)

    def resolve_tiled(self, candidates: Detections, inputs: Sequence[Letterbox],
                      owner: np.ndarray, tie: str | None = None) -> Detections:
        """Candidates of whole frames and tiles in one batch -> faces of each frame, in pixels.

        inputs: the letterbox of each model input (a tile's carries its place on the frame);
        owner: ``(I,)`` the frame position of each input. Candidates are taken to frame pixels
        first, so that the same blending merges a face seen by the whole frame and by a tile,
        or by two overlapping tiles.
        """
        pixels = to_frame_pixels(candidates, inputs)
        pixels = pixels.replace(frame_index=np.asarray(owner, np.int64)[pixels.frame_index])
        return resolve_frames(pixels, tie or self.options.tie, self.options.iou_threshold,
                              self.options.max_faces)

    def inputs(self, frames: Sequence[np.ndarray], still: bool = False, name: str = "frames") -> ModelInputs:
        """Every model input of a list of frames: the frames, then each frame's tiles (all;
        ``still``: photos, with their finer tiles). Errors name the caller's parameter, ``name``."""
        images = [as_rgb(f, name) for f in frames]
        boxes = [Letterbox(f.shape[1], f.shape[0]) for f in images]
        samples = [np.stack([self.sample(f) for f in images])]
        owner = list(range(len(images)))
        for position, image in enumerate(images):
            regions = self.tile_regions(image.shape[1], image.shape[0], still)
            if len(regions):
                samples.append(self.sample_tiles(image, regions))
                boxes += [Letterbox(w, h, x, y) for x, y, w, h in regions.tolist()]
                owner += [position] * len(regions)
        return ModelInputs(np.concatenate(samples), boxes, np.array(owner, np.int64), len(images))

    def resolve_inputs(self, candidates: Detections, inputs: ModelInputs,
                       tie: str | None = None) -> Detections:
        """Faces of the frames of ``inputs`` from their candidates: untiled frames exactly as
        MediaPipe resolves them, tiled ones merged across their tiles."""
        if len(inputs.boxes) == inputs.frames:
            return self.resolve(candidates, inputs.boxes, tie)
        return self.resolve_tiled(candidates, inputs.boxes, inputs.owner, tie)

    def detect(self, frames: Iterable[np.ndarray]) -> list[Detections]:
        """Faces of each frame (uint8 grey, RGB or RGBA arrays of any sizes, or one ``(N, H, W, 3)``
        array), in that frame's pixels.

        With tiling, every tile of every frame runs (a video job spreads them over frames).
        """
        if isinstance(frames, np.ndarray) and (frames.ndim == 2 or frames.ndim == 3 and frames.shape[2] in (3, 4)):
            raise TypeError(f"detect takes a sequence of frames, got one {frames.shape} image: "
                            "use detect_image, or detect([image])")
        try:
            images = list(frames)  # views of a stacked array's frames, or a generator's
        except TypeError:
            raise TypeError(f"`frames` must be a sequence of images, got {type(frames).__name__}") from None
        return self._detect(images)

    def detect_image(self, image: np.ndarray) -> Detections:
        """Faces of one uint8 grey, RGB or RGBA image (a photo: with tiles, its finer grid), in
        its pixels."""
        return self._detect([image], still=True, name="image")[0]

    def _detect(self, images: list[np.ndarray], still: bool = False, name: str = "frames") -> list[Detections]:
        if not images:
            return []
        inputs = self.inputs(images, still, name)
        faces = self.resolve_inputs(self.candidates(inputs.samples), inputs)
        return [faces[faces.frame_index == i] for i in range(len(images))]


def crop_padded(rgb: np.ndarray, x: int, y: int, w: int, h: int) -> np.ndarray:
    """The ``w`` x ``h`` region of ``rgb`` at ``x, y``, black where it lies past the image."""
    height, width = rgb.shape[:2]
    if x >= 0 and y >= 0 and x + w <= width and y + h <= height:
        return rgb[y:y + h, x:x + w]
    crop = np.zeros((h, w, rgb.shape[2]), rgb.dtype)
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    crop[y0 - y:y1 - y, x0 - x:x1 - x] = rgb[y0:y1, x0:x1]
    return crop


def to_frame_pixels(faces: Detections, boxes: Sequence[Letterbox]) -> Detections:
    """Normalized model-input coordinates -> pixels of each face's own frame."""
    if len(faces) == 0:
        return faces
    sides = np.array([b.side for b in boxes], np.float32)[faces.frame_index]  # (K,)
    offsets = np.array([b.offset for b in boxes], np.float32)[faces.frame_index]  # (K, 2)
    corners = faces.boxes.reshape(-1, 2, 2) * sides[:, None, None] + offsets[:, None, :]
    keypoints = faces.keypoints * sides[:, None, None] + offsets[:, None, :]
    return faces.replace(boxes=corners.reshape(-1, 4), keypoints=keypoints)
