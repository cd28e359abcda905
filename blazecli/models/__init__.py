"""The shipped BlazeFace models and the settings MediaPipe uses with each (see PROVENANCE.md)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import InvalidOptionError


@dataclass(frozen=True)
class AnchorOptions:
    """MediaPipe's SsdAnchorsCalculator options for a face detection model: those that place
    anchor centres (BlazeFace's anchors are all of size 1, so MediaPipe's scales play no part)."""

    num_layers: int
    strides: tuple[int, ...]
    anchor_offset: float = 0.5
    aspect_ratios: tuple[float, ...] = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0


@dataclass(frozen=True)
class ModelSpec:
    """One model: its ONNX file, input size, anchor layout and MediaPipe's decoding constants."""

    name: str
    filename: str
    input_size: int
    num_anchors: int
    anchors: AnchorOptions
    box_scale: float  # x_scale = y_scale = w_scale = h_scale in TensorsToDetectionsCalculator
    min_score: float  # MediaPipe's default min_score_thresh
    min_face_fraction: float  # smallest face found, as a share of the sampled square's side

    @property
    def path(self) -> Path:
        """The converted network as it is: for CUDA and for CPUs other than x86."""
        return Path(str(resources.files(__package__).joinpath(self.filename)))

    @property
    def nchwc_path(self) -> Path:
        """The same network shaped for ONNX Runtime's blocked (NCHWc) x86 CPU kernels."""
        return self.path.with_name(self.path.stem + "_nchwc.onnx")

    @property
    def cuda_path(self) -> Path:
        """The form for CUDA: uint8 pixels in, normalized inside the graph."""
        return self.path.with_name(self.path.stem + "_cuda.onnx")


MODELS: dict[str, ModelSpec] = {
    "short": ModelSpec(
        name="short",
        filename="face_detection_short_range.onnx",
        input_size=128,
        num_anchors=896,
        anchors=AnchorOptions(num_layers=4, strides=(8, 16, 16, 16)),
        box_scale=128.0,
        min_score=0.5,
        min_face_fraction=0.125,
    ),
    "full": ModelSpec(
        name="full",
        filename="face_detection_full_range.onnx",
        input_size=192,
        num_anchors=2304,
        anchors=AnchorOptions(num_layers=1, strides=(4,), interpolated_scale_aspect_ratio=0.0),
        box_scale=192.0,
        min_score=0.6,
        min_face_fraction=0.08,
    ),
}


def get_model(name: str) -> ModelSpec:
    """Look a model up by its short name (``short`` or ``full``)."""
    try:
        return MODELS[name]
    except KeyError:
        raise InvalidOptionError(
            f"unknown `model` {name!r}: choose one of {', '.join(MODELS)}") from None
