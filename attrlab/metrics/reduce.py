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


# How SMERF's authors read each method's map before their eval.py (Kim et al. 2021; their
# explanations.py post-processes per method: ../shared/notes/smerf-reference-facts.md). A method
# declares its reading (``register(..., reading=...)``, or ``fn.reading`` on a user's function);
# the smerf metric protocol applies it, then its box blur and min-max normalisation.
READINGS = {
    "magnitude": "|sum over channels|: the magnitude of the signed channel sum (the authors' 'heatmap' methods: IG, "
                 "DeepLIFT, Input x Gradient, LRP, Deep Taylor, the random and edge controls); the default for "
                 "methods outside the paper and users' methods",
    "absolute": "sum over channels of |a| (the authors' 'graymap' methods: gradient, SmoothGrad)",
    "signed": "the signed maximum over channels (DeepSHAP)",
    "clipped": "clipped at the sample's 1st and 99th percentiles, then the signed maximum over channels (DeconvNet, "
               "guided backprop; the authors clip at the batch's percentiles, which would make a sample's map "
               "depend on its batch)",
    "positive": "ReLU, then the maximum over channels (Grad-CAM)",
}
DEFAULT_READING = "magnitude"


def check_reading(reading: str, who: str = "method") -> str:
    """``reading`` if it is one of :data:`READINGS`, else an :class:`AttrlabError` naming them."""
    if reading not in READINGS:
        raise AttrlabError(f"{who}: unknown map reading '{reading}'; choose one of {', '.join(READINGS)}")
    return reading


def read_channels(attributions: torch.Tensor, reading: str = DEFAULT_READING) -> torch.Tensor:
    """One value per pixel, ``(N, C, H, W) -> (N, H, W)``, as SMERF's authors read a method's map
    (:data:`READINGS`); a map already ``(N, H, W)`` is read as one channel.

    The authors' heatmap reading is ``1 − mean(RGB)`` of a seismic colour image of the signed sum
    divided by its largest magnitude, an even function of that value (0 → 0.005, ±0.5 → 0.67,
    +1 → 0.83, −1 → 0.90); ``magnitude`` keeps its evenness and its order, not the colour map's
    curvature.

    Example:
        >>> a = torch.tensor([[[[2.0]], [[-3.0]], [[0.5]]]])  # N=1, C=3, H=W=1
        >>> [read_channels(a, r).item() for r in ("magnitude", "absolute", "signed", "positive")]
        [0.5, 5.5, 2.0, 2.0]
    """
    check_reading(reading)
    a = attributions.float()
    if a.dim() == 3:
        a = a.unsqueeze(1)
    if a.dim() != 4:
        raise AttrlabError(f"reading a map needs image maps (N, C, H, W), got shape {tuple(attributions.shape)}")
    if reading == "magnitude":
        return a.sum(1).abs()
    if reading == "absolute":
        return a.abs().sum(1)
    if reading == "clipped":
        flat = a.flatten(1)
        low, high = torch.quantile(flat, torch.tensor([0.01, 0.99], device=a.device), dim=1)
        a = torch.maximum(torch.minimum(a, high.view(-1, 1, 1, 1)), low.view(-1, 1, 1, 1))
    elif reading == "positive":
        a = a.clamp_min(0)
    return a.amax(1)
