"""Channel reduction of image attributions: from (N, C, H, W) to one value per pixel, (N, H, W).

The papers differ here (Zhou's code: sum of |a| over RGB; SMERF's code: max over channels;
AttributionLab: signed maps), so the reduction is a named option that every metric records.
"""
from __future__ import annotations

import torch

from ..errors import AttrlabError

REDUCTIONS = ("sum_abs", "mean_abs", "sum", "mean", "max_abs")


def reduce_channels(attributions: torch.Tensor, how: str = "sum_abs", grid_dims: int = 2) -> torch.Tensor:
    """Collapse the channel axis of image attributions.

    Args:
        attributions: ``(N, C, H, W)``; a map already on the grid (``(N, H, W)``) is returned as is
            (with ``abs`` applied for the ``*_abs`` reductions).
        how: ``sum_abs`` (Σ_c |a|, Zhou et al. §5 / their code), ``mean_abs``, ``sum`` (signed Σ_c a,
            used for AttributionLab's signed ground truth), ``mean`` or ``max_abs``.
        grid_dims: number of trailing grid axes (2 for images, 1 for tokens).

    Example:
        >>> a = torch.tensor([[[[1.0]], [[-3.0]]]])  # N=1, C=2, H=W=1
        >>> reduce_channels(a, "sum_abs").item(), reduce_channels(a, "sum").item()
        (4.0, -2.0)
    """
    if how not in REDUCTIONS:
        raise AttrlabError(f"unknown channel reduction '{how}'; choose one of {', '.join(REDUCTIONS)}")
    if attributions.dim() == grid_dims + 1:
        return attributions.abs() if how.endswith("_abs") else attributions
    if attributions.dim() != grid_dims + 2:
        raise AttrlabError(f"attributions of shape {tuple(attributions.shape)} are neither (N, C, *grid) nor (N, *grid)")
    a = attributions.float()
    if how == "sum_abs":
        return a.abs().sum(1)
    if how == "mean_abs":
        return a.abs().mean(1)
    if how == "sum":
        return a.sum(1)
    if how == "mean":
        return a.mean(1)
    return a.abs().amax(1)
