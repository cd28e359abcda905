"""SSD anchor centres, generated the way MediaPipe's SsdAnchorsCalculator does (pure numpy)."""

from __future__ import annotations

import numpy as np

from ..models import AnchorOptions


def anchors_per_location(options: AnchorOptions, layers: int) -> int:
    """Anchors at one grid cell for a group of ``layers`` layers sharing a stride."""
    per_layer = len(options.aspect_ratios) + (options.interpolated_scale_aspect_ratio > 0)
    return per_layer * layers


def generate_anchors(options: AnchorOptions, input_size: int) -> np.ndarray:
    """Anchor centres ``(A, 2)`` as normalized ``(x, y)``.

    BlazeFace uses fixed-size anchors (width = height = 1), so only the centres matter.
    Consecutive layers with the same stride share one grid, exactly as in MediaPipe; the
    order is grid row, grid column, then anchor within the cell.
    """
    centres = []
    strides = list(options.strides)
    layer = 0
    while layer < options.num_layers:
        stride = strides[layer]
        same = 1
        while layer + same < options.num_layers and strides[layer + same] == stride:
            same += 1
        cells = int(np.ceil(input_size / stride))
        grid = (np.arange(cells, dtype=np.float32) + options.anchor_offset) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")  # (cells, cells)
        per_cell = anchors_per_location(options, same)
        cell_centres = np.stack([xs, ys], axis=-1).reshape(-1, 1, 2)  # (cells*cells, 1, 2)
        centres.append(np.repeat(cell_centres, per_cell, axis=1).reshape(-1, 2))
        layer += same
    return np.concatenate(centres).astype(np.float32)
