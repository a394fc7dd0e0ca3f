"""Dominant-colour images for AttributionLab (Zhang et al. 2023, §4).

Each image holds one rectangular patch of each of ``N_C`` target colours on a uniform background
colour; the label is the colour with the most pixels. Every pixel is exactly one palette colour
(no anti-aliasing), which the designed network's exact colour detectors need. Patches may overlap
(a later patch covers an earlier one); labels and ground truth come from the final pixels, and
images with a tie for the most pixels, or with a colour fully covered, are drawn again.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import AttrlabError

# Distinct, saturated colours (integers 0..255); the default background is a mid grey so that
# black (the usual "zeros" baseline) is an unseen colour, as in the paper's unseen-data discussion.
PALETTE = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (250, 190, 212), (0, 128, 128), (170, 110, 40),
)
BACKGROUND = (128, 128, 128)


@dataclass(frozen=True)
class ColourPatchBatch:
    """Images in [0, 1] ``(N, 3, H, W)``, labels ``(N,)``, and the colour index of every pixel
    ``(N, H, W)`` (−1 for background), plus per-colour pixel counts ``(N, N_C)``."""

    images: torch.Tensor
    labels: torch.Tensor
    colour_index: torch.Tensor
    counts: torch.Tensor


def paint(colour_index: np.ndarray, colours, background) -> np.ndarray:
    """Turn a colour-index map (−1 = background) into a uint8 RGB image ``(H, W, 3)``.

    Example:
        >>> paint(np.array([[0, -1]]), [(255, 0, 0)], (0, 0, 0)).tolist()
        [[[255, 0, 0], [0, 0, 0]]]
    """
    table = np.asarray(list(colours) + [background], dtype=np.uint8)
    return table[np.where(colour_index < 0, len(colours), colour_index)]


def generate_colour_patches(n: int, size: int = 64, n_colours: int = 4, seed: int = 0,
                            colours=None, background=BACKGROUND,
                            min_side: float = 0.125, max_side: float = 0.5) -> ColourPatchBatch:
    """Draw ``n`` dominant-colour images of ``size × size`` pixels.

    Args:
        n_colours: N_C, the number of target colours (= classes); one patch per colour.
        colours: RGB integer triples; the first ``n_colours`` of :data:`PALETTE` by default.
        min_side / max_side: patch side lengths as fractions of ``size``.

    Example:
        >>> b = generate_colour_patches(3, size=32, n_colours=3, seed=1)
        >>> b.images.shape, b.labels.tolist() == b.counts.argmax(1).tolist()
        (torch.Size([3, 3, 32, 32]), True)
    """
    colours = list(colours if colours is not None else PALETTE[:n_colours])
    if len(colours) < n_colours or n_colours < 2:
        raise AttrlabError(f"need at least 2 target colours and a colour for each; got n_colours={n_colours}, {len(colours)} colours")
    colours = colours[:n_colours]
    if tuple(background) in {tuple(c) for c in colours} or len({tuple(c) for c in colours}) != n_colours:
        raise AttrlabError("target colours must be distinct and differ from the background")
    if size < 8:
        raise AttrlabError(f"image size must be at least 8 pixels, got {size}")
    rng = np.random.default_rng(seed)
    lo, hi = max(2, int(round(min_side * size))), max(3, int(round(max_side * size)))
    index_maps = np.empty((n, size, size), dtype=np.int64)
    for i in range(n):
        while True:
            m = np.full((size, size), -1, dtype=np.int64)
            for c in rng.permutation(n_colours):
                h, w = rng.integers(lo, hi + 1, size=2)
                top, left = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
                m[top:top + h, left:left + w] = c
            counts = np.bincount(m[m >= 0], minlength=n_colours)
            top2 = np.sort(counts)[-2:]
            if counts.min() > 0 and top2[1] > top2[0]:
                break
        index_maps[i] = m
    rgb = np.stack([paint(m, colours, background) for m in index_maps])
    images = torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255.0
    idx = torch.from_numpy(index_maps)
    counts = torch.stack([(idx == c).flatten(1).sum(1) for c in range(n_colours)], 1)
    return ColourPatchBatch(images, counts.argmax(1), idx, counts)
