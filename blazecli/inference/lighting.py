"""A second, brightened look at dark model inputs, for faces in low light (pure numpy).

BlazeFace scores a face in a dark theatre or a night street well under the same face lit.
Inputs (whole frames or tiles) whose lit pixels are dark on average get a copy with their
exposure raised, a gain that brings that average to :data:`LIFTED_LEVEL`, which runs beside
the input as decoded; both views' candidates merge by the same blending, so a face seen in
both gives one detection. A gain, not a gamma curve: it keeps a face's contrast as a longer
exposure would, where a gamma curve lifts the darkest levels most, and with them noise and
compression blocks. Bright inputs get no copy, so well-lit video costs nothing more.

Black pixels (the letterbox, a tile's part past the frame) are left out of the average and
stay black: they are padding, not scene.
"""

from __future__ import annotations

import numpy as np

DARK_LEVEL = 0.25
"""An input is dark when the mean of its lit pixels is under this share of full scale..."""
BLACK_LEVEL = 0.03
"""...and not black: under this share there is little but sensor noise and compression to
lift (on a photo of a man in a black suit, lifted tiles of the suit gave a dozen false faces)."""
LIFTED_LEVEL = 0.45
"""A dark input's copy is raised so that the mean of its lit pixels comes to this share
(less what clips at full scale)."""


def lit_means(samples: np.ndarray) -> np.ndarray:
    """``(N, S, S, 3)`` uint8 -> ``(N,)`` mean of each input's pixels that are not black, in
    shares of full scale (1.0 for an input that is all black: nothing to lift). Channels are
    added as planes: a reduction over a last axis of 3 is many times slower, on every batch."""
    totals = samples[..., 0].astype(np.uint16) + samples[..., 1] + samples[..., 2]
    totals = totals.reshape(len(samples), -1)  # a pixel is black where its total is 0
    counts = np.count_nonzero(totals, axis=1) * samples.shape[-1]
    sums = totals.sum(axis=1, dtype=np.int64)
    return np.where(counts > 0, sums / np.maximum(counts, 1) / 255.0, 1.0)


def brightened(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The dark inputs of ``samples`` ``(N, S, S, 3)`` uint8: ``(which, lifted)``, their
    positions ``(D,)`` and their copies with the exposure raised ``(D, S, S, 3)``."""
    means = lit_means(samples)
    which = np.flatnonzero((means < DARK_LEVEL) & (means >= BLACK_LEVEL))
    if not len(which):
        return which, samples[:0]
    gains = LIFTED_LEVEL / means[which]  # (D,) over 1
    tables = np.clip(np.round(np.arange(256)[None, :] * gains[:, None]), 0, 255).astype(np.uint8)
    dark = samples[which].reshape(len(which), -1)
    lifted = np.take_along_axis(tables, dark.astype(np.intp), axis=1)
    return which, lifted.reshape((len(which), *samples.shape[1:]))
