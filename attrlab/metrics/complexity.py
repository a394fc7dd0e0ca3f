"""Automatic metrics of the map alone — sparseness (Gini) and complexity (entropy) — and the
pointing game against a region a person would point to. Pure, batched tensor functions: no
forward pass, no loop over samples.

Example:
    >>> import torch
    >>> peaked, flat = torch.zeros(1, 16), torch.ones(1, 16)
    >>> peaked[0, 3] = 1.0
    >>> [round(v, 3) for v in gini(torch.cat([peaked, flat])).tolist()]
    [0.937, 0.0]
    >>> [round(v, 3) for v in entropy(torch.cat([peaked, flat])).tolist()]
    [0.0, 2.773]
"""
from __future__ import annotations

import torch

from ..errors import AttrlabError
from .probe import Probe
from .registry import register_metric
from .sorting import sort_rows


def _magnitude(probe: Probe) -> torch.Tensor:
    """|a| per feature, ``(N, d)``: Σ_c |a_c| per pixel for image maps, |a| per token (padding,
    id 0, and special tokens count as 0: a document's length must not change its sparseness)."""
    a = probe.attributions.float()
    if probe.is_image and a.dim() == 4:
        a = a.abs().sum(1)
    a = a.abs()
    if not probe.is_image and a.dim() == 2:
        a = a * probe.features
    return a.flatten(1)


def gini(magnitude: torch.Tensor) -> torch.Tensor:
    """Gini index of non-negative maps ``(N, d)``, each divided by its maximum and lifted by 1e-7
    (Chalasani et al. 2020; Quantus' Sparseness): Σ_k (2k − d − 1) a_(k) / (d Σ a), a sorted
    ascending. 0 for a flat map, → 1 when one feature holds everything. The rows are sorted in
    their own precision and scaled after (scaling and lifting keep the order), then summed in
    float64.

    Example:
        >>> round(gini(torch.tensor([[0.0, 0.0, 0.0, 1.0]])).item(), 3)
        0.75
    """
    a = sort_rows(magnitude).to(magnitude.device, torch.float64)
    top = a[:, -1:]
    a = torch.where(top > 0, a / top.clamp_min(1e-300), a) + 1e-7
    d = a.shape[1]
    k = torch.arange(1, d + 1, dtype=a.dtype, device=a.device)
    # ≥ 0 for non-negative maps; the clamp keeps a flat map's rounding (−1e-17) from reading as −0.0
    return ((a @ (2 * k - d - 1)) / (d * a.sum(1))).clamp_min(0.0).float()


def entropy(magnitude: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of p_i = a_i / Σ a for non-negative maps ``(N, d)`` (Bhatt et al.
    2020; Quantus' Complexity). An all-zero map has no distribution: NaN (counted as undefined).

    Example:
        >>> entropy(torch.tensor([[0.0, 0.0]])).isnan().item()
        True
    """
    a = magnitude.double()
    total = a.sum(1, keepdim=True)
    p = a / total.clamp_min(1e-300)
    h = (torch.where(p > 0, -p * p.log(), torch.zeros_like(p))).sum(1) + 0.0
    return torch.where(total[:, 0] > 0, h, torch.full_like(h, float("nan"))).float()


@register_metric("sparseness", "Gini index of |a| (Chalasani et al. 2020; Quantus' Sparseness): 1 when a few "
                 "features hold the map, 0 when it is flat", needs="map", inputs="any", direction="higher",
                 default=True)
def sparseness(probe: Probe) -> torch.Tensor:
    return gini(_magnitude(probe))


@register_metric("complexity", "entropy of |a| / Σ|a| (Bhatt et al. 2020; Quantus' Complexity); an all-zero map "
                 "is undefined (NaN, counted)", needs="map", inputs="any", direction="lower", default=True)
def complexity(probe: Probe) -> torch.Tensor:
    return entropy(_magnitude(probe))


def pointing_hits(relevance: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Pointing game (Zhang et al. 2018): whether the map's maximum lies in ``region``, per sample,
    with ties shared: the share of the pixels tied at the maximum that lie in the region (the
    chance of a hit when the tie is broken at random). Quantus scores a hit when *any* tied pixel
    lies in the region, so a constant or all-zero map always hits; here it scores |region| / d, the
    chance level. An empty region is NaN (nothing to point at).

    Example:
        >>> rel = torch.tensor([[0.1, 0.9, 0.2, 0.0], [0.0, 0.0, 0.0, 0.0]])
        >>> region = torch.tensor([[False, True, False, False], [True, False, False, False]])
        >>> pointing_hits(rel, region).tolist()
        [1.0, 0.25]
    """
    if relevance.shape != region.shape:
        raise AttrlabError(f"map shape {tuple(relevance.shape)} does not match region shape {tuple(region.shape)}")
    r = relevance.flatten(1).double()
    m = region.flatten(1).to(r.device)
    tied = (r >= r.amax(1, keepdim=True)) & torch.isfinite(r)
    share = (tied & m).sum(1).double() / tied.sum(1).double()
    return torch.where(m.any(1), share, torch.full_like(share, float("nan"))).float()


@register_metric("pointing_game", "pointing game (Zhang et al. 2018): is the map's maximum in the region a person "
                 "would point to (SMERF: every object; semi-natural images: the manipulated region; AttributionLab: "
                 "the relevant pixels)? Ties shared, so a flat map scores chance", needs="annotation", inputs="any",
                 direction="higher", default=True)
def pointing_game(probe: Probe) -> torch.Tensor:
    if probe.region is None:
        raise AttrlabError("pointing_game needs a region to point at; this environment declares none")
    relevance = probe.relevance()
    if not probe.is_image:  # padding and special tokens are never pointed at
        relevance = torch.where(probe.features, relevance, torch.full_like(relevance, -torch.inf))
    return pointing_hits(relevance, probe.region)
