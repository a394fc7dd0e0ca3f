"""A method registered by a plug-in: the input times the first linear layer's weights for the
target class (exact for a linear model)."""
import torch

from attrlab.methods import register


@register("toy_input_x_weight", "input × the target's weights of a linear model (a plug-in's example)")
def _input_x_weight():
    def fn(model, inputs, targets):
        linear = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
        weights = linear.weight[targets].view(inputs.shape)
        return inputs * weights
    return fn
