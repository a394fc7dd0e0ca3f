"""How much of an attribution map lies in a region: Attr% / AFL, and MAFL.

All functions take a batch of maps ``(N, *grid)`` and boolean regions of the same shape and return
one value per sample, ``(N,)``, computed without Python loops over samples or pixels.
"""
from __future__ import annotations

import torch

from ..errors import AttrlabError


def _check(maps: torch.Tensor, region: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if maps.shape != region.shape:
        raise AttrlabError(f"map shape {tuple(maps.shape)} does not match region shape {tuple(region.shape)}")
    if region.dtype != torch.bool:
        raise AttrlabError("region must be a boolean mask")
    if not torch.isfinite(maps).all():
        raise AttrlabError("attribution map contains NaN or infinite values")
    return maps.flatten(1).float(), region.flatten(1)


def attribution_mass(maps: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Fraction of the total (absolute) attribution that falls inside ``region``.

    This is Zhou et al.'s Attr% of the joint effective region (AAAI 2022, §3:
    ``Attr% = Σ_{p∈ER} s_p / Σ_p s_p``) and SMERF's Attribution Focus Level (Kim et al. 2021, §4 and
    App. A.4; PAFL with the primary objects as region, SAFL with the secondary ones). Negative values
    are taken in magnitude. A map with no attribution anywhere scores 0 (it found nothing); an
    empty region scores NaN (nothing to measure: SMERF does not compute PAFL/SAFL for an absent
    object), which means leave it out. For any non-zero map, the masses of disjoint non-empty
    regions add up and a partition of the grid sums to 1.

    Example:
        >>> maps = torch.tensor([[1.0, 3.0, 0.0, 0.0]])
        >>> attribution_mass(maps, torch.tensor([[False, True, False, False]]))
        tensor([0.7500])
    """
    m, r = _check(maps, region)
    m = m.abs()
    total = m.sum(1)
    inside = (m * r).sum(1)
    mass = torch.where(total > 0, inside / total.clamp_min(torch.finfo(m.dtype).tiny), torch.zeros_like(total))
    return torch.where(r.any(1), mass, torch.full_like(mass, float("nan")))


def mean_attribution(maps: torch.Tensor, region: torch.Tensor, normalize: str = "sum") -> torch.Tensor:
    """Mean attribution inside ``region``: SMERF's MAFL (Kim et al. 2021, App. A.4 / B.3).

    The map is taken in magnitude and normalised per sample first: ``"sum"`` divides by the total
    (SMERF's normalised map, so MAFL = AFL / |region|), ``"max"`` divides by the maximum, ``"none"``
    keeps raw values. An empty region scores NaN (no object to measure; excluded from means, as
    SMERF's −1 convention), an all-zero map scores 0.

    Example:
        >>> maps = torch.tensor([[2.0, 2.0, 4.0, 0.0]])
        >>> region = torch.tensor([[True, True, False, False]])
        >>> mean_attribution(maps, region, "max")
        tensor([0.5000])
    """
    if normalize not in ("sum", "max", "none"):
        raise AttrlabError(f"normalize must be 'sum', 'max' or 'none', got '{normalize}'")
    m, r = _check(maps, region)
    m = m.abs()
    if normalize != "none":
        scale = m.sum(1, keepdim=True) if normalize == "sum" else m.amax(1, keepdim=True)
        m = torch.where(scale > 0, m / scale.clamp_min(torch.finfo(m.dtype).tiny), torch.zeros_like(m))
    count = r.sum(1)
    mean = (m * r).sum(1) / count.clamp_min(1)
    return torch.where(count > 0, mean, torch.full_like(mean, float("nan")))


def positive_share(maps: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Fraction of the *positive* attribution that falls inside ``region``: Rao et al.'s grid
    localisation score (CVPR 2022, §3.1: the positive attribution in the target's cell over the
    positive attribution in the whole grid). ``maps`` are signed (channels already summed);
    negative values count for nothing. A map whose positive attribution totals at most ``1e-7``
    scores 0 (the authors' ``evaluation/localization.py``), an empty region NaN.

    Example:
        >>> maps = torch.tensor([[1.0, -5.0, 3.0, 0.0]])
        >>> positive_share(maps, torch.tensor([[False, True, True, False]]))
        tensor([0.7500])
    """
    m, r = _check(maps, region)
    pos = m.clamp_min(0)
    total = pos.sum(1)
    share = torch.where(total > 1e-7, (pos * r).sum(1) / total.clamp_min(1e-7), torch.zeros_like(total))
    return torch.where(r.any(1), share, torch.full_like(share, float("nan")))
