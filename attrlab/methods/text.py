"""Methods for text models that take token ids ``(N, L)``: the model's own attention weights and
rationale selections (model-intrinsic), and gradient / integrated gradients through the embedding
layer (Captum's layer attributions), summed over the embedding dimension to one value per token.

A text model exposes ``embedding`` (an ``nn.Embedding``, id 0 = padding) — or holds exactly one
``nn.Embedding`` anywhere, which is then used — and, where it has them, ``attention(ids)`` and
``rationale(ids)``.
"""
from __future__ import annotations

import torch
from captum.attr import LayerGradientXActivation, LayerIntegratedGradients

from ..errors import AttrlabError
from .registry import register


def _embedding(model, what: str) -> torch.nn.Embedding:
    """``model.embedding``, else the model's only ``nn.Embedding`` (a user's model names it as it likes)."""
    if isinstance(getattr(model, "embedding", None), torch.nn.Module):
        return model.embedding
    found = [m for m in model.modules() if isinstance(m, torch.nn.Embedding)]
    if len(found) != 1:
        raise AttrlabError(f"{what} needs a text model with one nn.Embedding (or one named .embedding); "
                           f"{type(model).__name__} has {len(found)}")
    return found[0]


@register("attention", "the model's attention weights (Zhou et al. §6); model-intrinsic", modality="text",
          requires=("attention",))
def _attention():
    def fn(model, inputs, targets):
        with torch.no_grad():
            return model.attention(inputs)  # BoundMethod refused a model without it (requires=)
    return fn


@register("rationale", "the rationale selector's chosen tokens, 1 = selected (Zhou et al. §7); model-intrinsic",
          modality="rationale", requires=("rationale",))
def _rationale():
    def fn(model, inputs, targets):
        with torch.no_grad():
            return model.rationale(inputs).float()
    return fn


@register("embedding_gradient", "gradient of the target logit w.r.t. each token's embedding, summed over its "
          "dimensions; captum LayerGradientXActivation (multiply_by_inputs=False)", modality="text")
def _embedding_gradient():
    def fn(model, inputs, targets):
        layer = _embedding(model, "embedding_gradient")
        grads = LayerGradientXActivation(model, layer, multiply_by_inputs=False).attribute(inputs, target=targets)
        return grads.sum(-1) * (inputs != 0)
    return fn


@register("embedding_ig", "integrated gradients from the all-padding (zero-embedding) input through the embedding "
          "layer, summed over dimensions; captum LayerIntegratedGradients", modality="text", steps=50)
def _embedding_ig(steps: int):
    def fn(model, inputs, targets):
        layer = _embedding(model, "embedding_ig")
        lig = LayerIntegratedGradients(model, layer)
        attr = lig.attribute(inputs, baselines=torch.zeros_like(inputs), target=targets, n_steps=steps,
                             internal_batch_size=max(len(inputs), 64))
        return attr.sum(-1) * (inputs != 0)
    return fn
