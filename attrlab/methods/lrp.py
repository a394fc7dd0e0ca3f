"""Layer-wise relevance propagation through zennit (Bach et al. 2015; Montavon et al. 2019).

zennit rather than captum.LRP: captum's LRP raises on ``nn.Flatten`` in a plain Sequential CNN,
zennit's composites handle it (../shared/notes/method-libraries-measured.md). One rule is applied
to every convolution and linear layer; activations, pooling and the output softmax pass the
gradient unchanged.
"""
from __future__ import annotations

import torch
from zennit.attribution import Gradient
from zennit.composites import LayerMapComposite
from zennit.rules import AlphaBeta, Epsilon, ZPlus
from zennit.types import Convolution, Linear

from .registry import register


def _lrp(rule_factory):
    def fn(model, inputs, targets):
        composite = LayerMapComposite(layer_map=[(Convolution, rule_factory()), (Linear, rule_factory())])
        x = inputs.detach().clone().requires_grad_(True)
        with torch.enable_grad(), Gradient(model=model, composite=composite) as attributor:
            out = model(x)
            grad_out = torch.zeros_like(out)
            grad_out[torch.arange(len(out)), targets.to(out.device)] = 1.0
            _, relevance = attributor(x, grad_out)
        return relevance
    return fn


@register("lrp_epsilon", "LRP-ε on every layer; zennit Epsilon", epsilon=1e-6)
def _lrp_epsilon(epsilon: float):
    return _lrp(lambda: Epsilon(epsilon=epsilon))


@register("lrp_zplus", "LRP-z⁺ on every layer; zennit ZPlus")
def _lrp_zplus():
    return _lrp(ZPlus)


@register("lrp_alpha2beta1", "LRP-α2β1 on every layer; zennit AlphaBeta(2, 1)")
def _lrp_alpha2beta1():
    return _lrp(lambda: AlphaBeta(alpha=2.0, beta=1.0))
