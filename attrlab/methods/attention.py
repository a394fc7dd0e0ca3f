"""Attention-family methods for transformers: raw attention of any layer and head, attention
rollout (Abnar & Zuidema, ACL 2020) and gradient-weighted attention rollout (Chefer, Gur & Wolf,
ICCV 2021). Each reads the classification token's row ([CLS], position 0): what the classifier
head sees.

They take any text model that offers ``attentions(ids)`` (every layer's attention probabilities,
``(N, heads, T, T)``, first layer first) and, for the gradient-weighted rollout, ``attend(ids)``
(the logits and those probabilities from one forward pass) — attrlab's
:class:`~attrlab.models.transformer.TransformerClassifier` offers both for any Hugging Face
sequence classifier. A model without them (the BiLSTM) is refused in one line, and a run picks
these methods by default only for models that offer them.

Hand-written: Captum has no attention rollout, and neither rollout is in a kept library; each is
a few tensor products, checked against a hand-computed two-layer case in the tests.
"""
from __future__ import annotations

import torch

from ..errors import AttrlabError
from .registry import register


def rollout(attentions: list[torch.Tensor] | tuple[torch.Tensor, ...], residual: float = 0.5) -> torch.Tensor:
    """Abnar & Zuidema's rollout: per layer the head-mean attention mixed with the identity
    (the residual connection), ``Â = (1 − r)·A + r·I`` with rows renormalised, multiplied from the
    first layer up, ``R = Â_L ⋯ Â_1``; returns ``R`` ``(N, T, T)``.

    Example (one head, two tokens; by hand: Â₁ = [[.5, .5], [0, 1]], Â₂ = [[1, 0], [.5, .5]]):
        >>> a1 = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
        >>> a2 = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
        >>> rollout([a1, a2])[0].tolist()
        [[0.5, 0.5], [0.25, 0.75]]
    """
    result = None
    for a in attentions:
        mixed = (1 - residual) * a.mean(1) + residual * torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
        mixed = mixed / mixed.sum(-1, keepdim=True)
        result = mixed if result is None else mixed @ result
    if result is None:
        raise AttrlabError("attention rollout needs at least one layer of attention")
    return result


def gradient_rollout(attentions, gradients) -> torch.Tensor:
    """Chefer et al.'s gradient-weighted rollout for self-attention (ICCV 2021, Eqs. 5–6):
    ``Ā = E_h[(∇A ⊙ A)⁺]`` per layer and ``R ← R + Ā·R`` from ``R = I``, first layer first;
    returns ``R`` ``(N, T, T)``.

    Example (the case above with every gradient 1: Ā₁ = a1, Ā₂ = a2):
        >>> a1 = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
        >>> a2 = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
        >>> gradient_rollout([a1, a2], [torch.ones_like(a1), torch.ones_like(a2)])[0].tolist()
        [[2.0, 2.0], [1.0, 3.0]]
    """
    result = None
    for a, g in zip(attentions, gradients):
        weighted = (g * a).clamp_min(0).mean(1)
        if result is None:
            result = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device).expand_as(weighted).clone()
        result = result + weighted @ result
    if result is None:
        raise AttrlabError("gradient-weighted rollout needs at least one layer of attention")
    return result


def _pick(text: str, size: int, what: str, allow_mean: bool) -> int | None:
    """``last``/``mean``/an index (negative from the end) → an index, or None for the mean."""
    if allow_mean and text == "mean":
        return None
    if text == "last":
        return size - 1
    try:
        index = int(text)
    except ValueError:
        raise AttrlabError(f"raw_attention:{what}={text} is not {'mean, ' if allow_mean else ''}last or a number") from None
    if not -size <= index < size:
        raise AttrlabError(f"raw_attention:{what}={text} is out of range: the model has {size} {what}s")
    return index % size


@register("raw_attention", "the [CLS] token's attention probabilities in one layer, one head or the mean over heads "
          "(layer=last|N, head=mean|N); needs a transformer", modality="text", requires=("attentions",),
          layer="last", head="mean")
def _raw_attention(layer: str, head: str):
    def fn(model, inputs, targets):
        with torch.no_grad():
            layers = model.attentions(inputs)
            a = layers[_pick(str(layer), len(layers), "layer", False)]
            h = _pick(str(head), a.shape[1], "head", True)
            a = a.mean(1) if h is None else a[:, h]
            return a[:, 0, :] * (inputs != 0)
    return fn


@register("attention_rollout", "attention rollout (Abnar & Zuidema 2020): head-mean attention with the residual "
          "identity, multiplied over layers; the [CLS] row; needs a transformer", modality="text",
          requires=("attentions",), residual=0.5)
def _attention_rollout(residual: float):
    if not 0 <= residual <= 1:
        raise AttrlabError(f"attention_rollout:residual={residual} must lie in [0, 1]")

    def fn(model, inputs, targets):
        with torch.no_grad():
            return rollout(model.attentions(inputs), residual)[:, 0, :] * (inputs != 0)
    return fn


@register("grad_attention_rollout", "gradient-weighted attention rollout (Chefer et al. 2021): positive "
          "gradient × attention, head mean, R += Ā·R over layers; the [CLS] row; needs a transformer",
          modality="text", requires=("attend", "attentions"))
def _grad_attention_rollout():
    def fn(model, inputs, targets):
        embedding = getattr(model, "embedding", None)
        # the model's weights are frozen: the graph starts at the embedding's output
        hook = embedding.register_forward_hook(lambda m, i, o: o.requires_grad_(True)) if embedding is not None else None
        try:
            with torch.enable_grad():
                logits, attentions = model.attend(inputs)
                picked = logits.gather(1, targets.view(-1, 1)).sum()  # samples are independent: one backward
                grads = torch.autograd.grad(picked, list(attentions))
        finally:
            if hook is not None:
                hook.remove()
        return gradient_rollout([a.detach() for a in attentions], grads)[:, 0, :] * (inputs != 0)
    return fn
