"""Automatic faithfulness metrics for token maps: ERASER's comprehensiveness and sufficiency
(DeYoung et al., ACL 2020, §4: AOPC over 1, 5, 10, 20 and 50% of the tokens) and (opt-in) the
leave-one-out Kendall τ (ferret's τ-LOO).

Tokens are **deleted**, not masked, as ERASER does: the remaining tokens close up in their order
and padding (id 0) fills the end, so a model sees a shorter document, never a hole. The rationale
of a bin is the top ``max(1, ⌊f · L⌋)`` real tokens of the map (L: the sample's tokens, padding
and a subword model's special tokens excluded — those stay in every variant; ties in seeded random order), for the explained target class (ERASER takes the
predicted class; attrlab explains the label, which a verified model predicts).

Example (a model whose logit for class 0 counts token 7):
    >>> import torch
    >>> class Count(torch.nn.Module):
    ...     def forward(self, ids): return torch.stack([(ids == 7).sum(1).float(), torch.zeros(len(ids))], 1)
    >>> ids = torch.tensor([[7, 7, 3, 3, 0]])
    >>> keep = torch.tensor([[False, True, True, False, True]])
    >>> close_up(ids, keep).tolist()
    [[7, 3, 0, 0, 0]]
"""
from __future__ import annotations

import torch

from ..errors import AttrlabError
from .probe import Probe
from .registry import register_metric

ERASER_BINS = (0.01, 0.05, 0.1, 0.2, 0.5)


def close_up(ids: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Token ids ``(…, L)`` with only the ``keep`` positions, closed up in order, padded with 0."""
    length = ids.shape[-1]
    keep = keep & (ids != 0)
    pos = torch.arange(length, device=ids.device).expand_as(ids)
    order = torch.where(keep, pos, pos + length).argsort(-1)
    packed = ids.gather(-1, order)
    return torch.where(torch.arange(length, device=ids.device) < keep.sum(-1, keepdim=True), packed,
                       torch.zeros_like(packed))


def _need_tokens(probe: Probe, name: str) -> None:
    if probe.is_image or probe.inputs.is_floating_point() or probe.inputs.dim() != 2:
        raise AttrlabError(f"{name} needs token ids (N, L), got {tuple(probe.inputs.shape)} {probe.inputs.dtype}")


def _rationales(probe: Probe, bins: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """Per bin, the boolean top-k rationale ``(N, B, L)`` and each sample's real-token count."""
    ids = probe.inputs
    valid = probe.features
    order = probe.order(True, valid=valid)
    n, length = ids.shape
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(length, device=order.device).expand(n, length))
    real = valid.sum(1)
    ks = torch.stack([(f * real.double()).floor().long().clamp_min(1) for f in bins], 1)      # (N, B)
    chosen = ranks.unsqueeze(1) < ks.unsqueeze(2)
    return chosen & valid.unsqueeze(1), real


def eraser_aopc(probe: Probe, bins: tuple = ERASER_BINS) -> dict[str, torch.Tensor]:
    """Comprehensiveness and sufficiency, ``(N,)`` each: the mean over ``bins`` of
    p(y|x) − p(y|x ∖ r) and of p(y|x) − p(y|r) (DeYoung et al. 2020, Eq. 1-2 with AOPC)."""
    _need_tokens(probe, "comprehensiveness")

    def make():
        ids = probe.inputs
        rationale, real = _rationales(probe, bins)
        b = rationale.shape[1]
        # comprehensiveness never deletes every token (a document of one token keeps it)
        without = rationale & ~(rationale.sum(2, keepdim=True) >= real.view(-1, 1, 1))
        stacked = ids.unsqueeze(1).expand(-1, b, -1)
        removed = close_up(stacked, ~without)
        fixed = (ids != 0) & ~probe.features  # special tokens stay in every variant
        kept = close_up(stacked, rationale | fixed.unsqueeze(1))
        full = probe.original("probability").unsqueeze(1)
        scores = probe.scores(torch.cat([removed, kept], 1))
        return {"comprehensiveness": (full - scores[:, :b]).mean(1), "sufficiency": (full - scores[:, b:]).mean(1)}
    return probe.memo(("eraser", bins), make)


@register_metric("comprehensiveness", "ERASER comprehensiveness (DeYoung et al. 2020): the drop of the target's "
                 "probability when the top 1/5/10/20/50% tokens of the map are deleted, averaged (AOPC)",
                 inputs="tokens", direction="higher", cost="1 + 5 = 6 (11 with sufficiency)", default=True)
def comprehensiveness(probe: Probe) -> torch.Tensor:
    return eraser_aopc(probe)["comprehensiveness"]


@register_metric("sufficiency", "ERASER sufficiency (DeYoung et al. 2020): the drop of the target's probability "
                 "when only the top 1/5/10/20/50% tokens of the map are kept, averaged (AOPC)", inputs="tokens",
                 direction="lower", cost="1 + 5 = 6 (11 with comprehensiveness)", default=True)
def sufficiency(probe: Probe) -> torch.Tensor:
    return eraser_aopc(probe)["sufficiency"]


@register_metric("loo_tau", "Kendall τ_b between the map and leave-one-out occlusion (the drop of the target's "
                 "probability when each token alone is deleted; ferret's τ-LOO). Opt-in: one forward pass per "
                 "token", inputs="tokens", direction="higher", cost="L (the document's tokens)", default=False)
def loo_tau(probe: Probe) -> torch.Tensor:
    from scipy.stats import kendalltau

    _need_tokens(probe, "loo_tau")
    ids = probe.inputs
    n, length = ids.shape
    eye = torch.eye(length, dtype=torch.bool, device=ids.device)
    dropped = close_up(ids.unsqueeze(1).expand(-1, length, -1), ~eye.unsqueeze(0))            # (N, L, L)
    drops = (probe.original("probability").unsqueeze(1) - probe.scores(dropped)).cpu().double()
    rel = probe.relevance().cpu().double()
    valid = probe.features.cpu()
    out = []
    for i in range(n):
        v = valid[i]
        tau = kendalltau(rel[i][v].numpy(), drops[i][v].numpy()).statistic if int(v.sum()) > 1 else float("nan")
        out.append(float(tau))
    return torch.tensor(out, dtype=torch.float32)
