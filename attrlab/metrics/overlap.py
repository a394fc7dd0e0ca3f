"""Overlap of selections with ground truth: top-K IoU, precision/recall/F1, signed P/R/F1.

All functions are vectorised over a batch ``(N, *grid)`` and return one value per sample.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import AttrlabError
from .mass import _check


def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a batch of 2-D maps ``(N, H, W)`` with reflect padding.

    Written here (ten lines of ``conv2d``) rather than taken from torchvision so that metrics work
    on token grids and without torchvision's image-tensor conventions.

    Example:
        >>> m = torch.zeros(1, 15, 15); m[0, 7, 7] = 1.0
        >>> round(gaussian_blur(m, 1.0).sum().item(), 4)
        1.0
    """
    if sigma <= 0:
        return maps
    if maps.dim() != 3:
        raise AttrlabError(f"blur needs (N, H, W) maps, got {tuple(maps.shape)}")
    radius = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=maps.device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    m = maps.float().unsqueeze(1)
    pad_h, pad_w = min(radius, maps.shape[1] - 1), min(radius, maps.shape[2] - 1)
    m = F.pad(m, (0, 0, pad_h, pad_h), mode="reflect" if pad_h else "constant")
    m = F.conv2d(m, k[radius - pad_h: radius + pad_h + 1].view(1, 1, -1, 1))
    m = F.pad(m, (pad_w, pad_w, 0, 0), mode="reflect" if pad_w else "constant")
    m = F.conv2d(m, k[radius - pad_w: radius + pad_w + 1].view(1, 1, 1, -1))
    return m.squeeze(1)


def box_blur(maps: torch.Tensor, size: int) -> torch.Tensor:
    """A ``size``×``size`` mean filter over (N, H, W) maps, borders reflected (OpenCV's ``cv2.blur``
    with its default BORDER_REFLECT_101, which SMERF's code applies with size 7).

    Example:
        >>> m = torch.zeros(1, 5, 5); m[0, 2, 2] = 9.0
        >>> box_blur(m, 3)[0, 1:4, 1:4].tolist() == [[1.0] * 3] * 3
        True
    """
    if size <= 1:
        return maps
    if maps.dim() != 3:
        raise AttrlabError("box_blur needs 2-D maps (N, H, W)")
    pad = size // 2
    x = F.pad(maps.unsqueeze(1).float(), (pad, pad, pad, pad), mode="reflect")
    return F.avg_pool2d(x, size, stride=1).squeeze(1)


def top_k_mask(maps: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Boolean mask of each sample's ``k[i]`` largest *positive* values; among values tied at the
    cut the lowest flat indices are chosen (a stable sort), so the choice is a property of the
    sample alone, never of the batch it is scored in (``torch.topk``'s order among ties depends on
    the batch's layout: LIME's piecewise-constant maps moved IoU by 0.0075 between batch sizes 1
    and 8).

    Pixels with zero attribution are never selected, so an all-zero map selects nothing.

    Example:
        >>> top_k_mask(torch.tensor([[0.1, 0.9, 0.5, 0.0]]), torch.tensor([2]))
        tensor([[False,  True,  True, False]])
        >>> top_k_mask(torch.tensor([[0.5, 0.5, 0.5, 0.5]]), torch.tensor([2]))  # ties: first indices
        tensor([[ True,  True, False, False]])
    """
    flat = maps.flatten(1)
    k = k.to(flat.device).view(-1, 1)
    k_max = int(k.max()) if k.numel() else 0
    chosen = torch.zeros_like(flat, dtype=torch.bool)
    if k_max > 0:
        idx = flat.sort(dim=1, descending=True, stable=True).indices[:, :min(k_max, flat.shape[1])]
        keep = torch.arange(idx.shape[1], device=flat.device).view(1, -1) < k
        chosen.scatter_(1, idx, keep)
    return (chosen & (flat > 0)).view_as(maps)


def topk_iou(maps: torch.Tensor, region: torch.Tensor, blur_sigma: float = 0.0) -> torch.Tensor:
    """IoU of the top-K pixels of the (optionally blurred) map with ``region``, K = |region|.

    SMERF (Kim et al. 2021, §4 'Evaluation Metrics' and App. A.4/B.1): the map averaged over colour
    channels is blurred, thresholded to its top-K pixels with K the number of object pixels, and
    compared with the object mask. SMERF's code approximates K with a 10-bin histogram; here K is
    exact. Maps are taken in magnitude. An empty region scores NaN (excluded from means).

    Example:
        >>> maps = torch.tensor([[[0.9, 0.8], [0.1, 0.0]]])
        >>> region = torch.tensor([[[True, False], [True, False]]])
        >>> topk_iou(maps, region)
        tensor([0.3333])
    """
    _check(maps, region)
    m = maps.abs().float()
    if blur_sigma > 0:
        if m.dim() != 3:
            raise AttrlabError("blur_sigma needs 2-D maps (N, H, W)")
        m = gaussian_blur(m, blur_sigma)
    k = region.flatten(1).sum(1)
    sel = top_k_mask(m, k).flatten(1)
    r = region.flatten(1)
    inter = (sel & r).sum(1).float()
    union = (sel | r).sum(1).float()
    iou = inter / union.clamp_min(1)
    return torch.where(k > 0, iou, torch.full_like(iou, float("nan")))


def precision_recall_f1(selected: torch.Tensor, truth: torch.Tensor) -> dict[str, torch.Tensor]:
    """Precision, recall and F1 of a boolean selection against boolean ground truth, per sample.

    Zhou et al. (AAAI 2022, §3 and §7) score rationale selections this way. Conventions: with
    nothing selected, precision is 0 (the method claims nothing); with empty ground truth, recall is
    NaN (nothing to find) and F1 is NaN; F1 is 0 when precision + recall = 0.

    Example:
        >>> sel = torch.tensor([[True, True, False, False]])
        >>> gt = torch.tensor([[True, False, True, False]])
        >>> {k: round(v.item(), 3) for k, v in precision_recall_f1(sel, gt).items()}
        {'precision': 0.5, 'recall': 0.5, 'f1': 0.5}
    """
    if selected.shape != truth.shape:
        raise AttrlabError(f"selection shape {tuple(selected.shape)} does not match ground truth {tuple(truth.shape)}")
    if selected.dtype != torch.bool or truth.dtype != torch.bool:
        raise AttrlabError("precision_recall_f1 takes boolean selections and ground truth")
    s, t = selected.flatten(1), truth.flatten(1)
    tp = (s & t).sum(1).float()
    n_sel, n_true = s.sum(1).float(), t.sum(1).float()
    precision = torch.where(n_sel > 0, tp / n_sel.clamp_min(1), torch.zeros_like(tp))
    recall = torch.where(n_true > 0, tp / n_true.clamp_min(1), torch.full_like(tp, float("nan")))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp_min(1e-12), torch.zeros_like(tp))
    f1 = torch.where(n_true > 0, f1, torch.full_like(f1, float("nan")))
    return {"precision": precision, "recall": recall, "f1": f1}


def binarize_signed(maps: torch.Tensor, threshold: float = 0.01) -> dict[str, torch.Tensor]:
    """Split a signed map into positive, negative and overall selections.

    The AttributionLab paper (Zhang et al. 2023, §5) does not state its binarisation. attrlab's
    rule: a pixel is attributed when ``|a| > threshold · max|a|`` of its sample (relative, so it is
    invariant to positive scaling; ``threshold=0`` means any non-zero value). Positive selection:
    ``a > τ``; negative: ``a < −τ``; overall: ``|a| > τ``. An all-zero map selects nothing.

    Example:
        >>> sel = binarize_signed(torch.tensor([[1.0, -0.5, 0.001]]))
        >>> sel["positive"].tolist(), sel["negative"].tolist(), sel["overall"].tolist()
        ([[True, False, False]], [[False, True, False]], [[True, True, False]])
    """
    if not 0 <= threshold < 1:
        raise AttrlabError(f"threshold must be in [0, 1), got {threshold}")
    if not torch.isfinite(maps).all():
        raise AttrlabError("attribution map contains NaN or infinite values")
    flat = maps.flatten(1).float()
    tau = (threshold * flat.abs().amax(1, keepdim=True)).expand_as(flat)
    pos = (flat > tau) & (flat > 0)
    neg = (flat < -tau) & (flat < 0)
    return {"positive": pos.view_as(maps), "negative": neg.view_as(maps), "overall": (pos | neg).view_as(maps)}


def signed_precision_recall_f1(maps: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                               threshold: float = 0.01) -> dict[str, torch.Tensor]:
    """Precision/recall/F1 of a signed map against positive, negative and overall ground truth.

    AttributionLab (Zhang et al. 2023, §5, Figs. 5–7): positive attribution vs positive ground
    truth, negative attribution vs negative ground truth, and the magnitude vs their union. The map
    is binarised with :func:`binarize_signed`. Keys: ``{positive,negative,overall}_{precision,recall,f1}``.

    Example:
        >>> maps = torch.tensor([[2.0, -1.0, 0.0, 1.0]])
        >>> pos = torch.tensor([[True, False, False, False]])
        >>> neg = torch.tensor([[False, True, False, False]])
        >>> out = signed_precision_recall_f1(maps, pos, neg)
        >>> round(out["positive_precision"].item(), 2), round(out["overall_recall"].item(), 2)
        (0.5, 1.0)
    """
    _check(maps, positive)
    _check(maps, negative)
    sel = binarize_signed(maps, threshold)
    truth = {"positive": positive, "negative": negative, "overall": positive | negative}
    out = {}
    for part in ("positive", "negative", "overall"):
        for key, value in precision_recall_f1(sel[part], truth[part]).items():
            out[f"{part}_{key}"] = value
    return out
