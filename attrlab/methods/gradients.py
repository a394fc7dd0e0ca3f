"""Gradient and reference-based methods, each a thin configuration of Captum.

All maps are signed (no ``abs``) so that signed ground truth can be scored; metrics that need
magnitudes take them.
"""
from __future__ import annotations

import copy
import weakref

import torch
from captum.attr import (DeepLift, DeepLiftShap, Deconvolution, GradientShap, GuidedBackprop,
                         GuidedGradCam, InputXGradient, IntegratedGradients, LayerActivation,
                         LayerAttribution, LayerGradCam, LayerGradientXActivation, NoiseTunnel, Saliency)

from ..errors import AttrlabError
from ..models.layers import ROLES, find_layer, probe_forward, spatial_layers
from .references import per_sample, reference, reference_distribution, seeded
from .registry import register


def gradcam_layer(model: torch.nn.Module, inputs: torch.Tensor, layer: str = "") -> torch.nn.Module:
    """The layer Grad-CAM reads: ``layer`` by name, else the model's ``gradcam_layer`` attribute
    (a module name), else the last ``Conv2d`` whose output still has a spatial map larger than 1×1.
    A role (``final``, ``middle``) or a model that builds its own layers (``attribution_layer``: the
    grid environment's) is resolved by :func:`attrlab.models.layers.find_layer`."""
    if layer in ROLES or callable(getattr(model, "attribution_layer", None)):
        return find_layer(model, inputs, layer or "final")
    name = layer or getattr(model, "gradcam_layer", "")
    if name:
        try:
            return model.get_submodule(name)
        except AttributeError:
            raise AttrlabError(f"model has no layer '{name}' for Grad-CAM") from None
    spatial = [n for n, (h, w) in spatial_layers(model, inputs)
               if h * w > 1 and isinstance(model.get_submodule(n), torch.nn.Conv2d)]
    if not spatial:
        raise AttrlabError("Grad-CAM needs a convolution with a spatial output; pass gradcam:layer=NAME")
    return model.get_submodule(spatial[-1])


def _spread(cam: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """A one-channel map at input resolution, spread evenly over the input's channels so that the
    channel sum is the map itself."""
    cam = LayerAttribution.interpolate(cam, tuple(inputs.shape[-2:]), interpolate_mode="bilinear")
    return (cam / inputs.shape[1]).expand_as(inputs).contiguous()


def _leaf(inputs: torch.Tensor) -> torch.Tensor:
    return inputs.detach().clone().requires_grad_(True)


class FunctionalSoftmax(torch.nn.Module):
    """``nn.Softmax`` applied as a function, so that captum's DeepLIFT differentiates it instead of
    applying its softmax rule. Workaround: captum 0.9.0's DeepLIFT rule for ``nn.Softmax``
    subtracts the mean multiplier over the whole batch (``grad_input_unnorm.sum() / numel`` in
    ``captum/attr/_core/deep_lift.py``; issue #1367, fixed upstream by PR #1849 after 0.9.0), so
    a sample's map depended on its batch. With this module the softmax's multiplier is its
    gradient (the records' rule, ``softmax_rule=gradient`` in the method's parameters). Drop it
    when a fixed captum is released."""

    def __init__(self, dim: int | None):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=self.dim if self.dim is not None else -1)


_SOFTMAX_FREE: "weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module]" = weakref.WeakKeyDictionary()


def without_softmax_modules(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` itself if it has no ``nn.Softmax``, else a copy (cached per model) in which each
    is a :class:`FunctionalSoftmax`.

    Example:
        >>> m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Softmax(dim=1))
        >>> type(without_softmax_modules(m)[1]).__name__
        'FunctionalSoftmax'
    """
    if not any(type(m) is torch.nn.Softmax for m in model.modules()):
        return model
    if model not in _SOFTMAX_FREE:
        clone = copy.deepcopy(model)
        for name, module in list(clone.named_modules()):
            for child_name, child in list(module.named_children()):
                if type(child) is torch.nn.Softmax:
                    setattr(module, child_name, FunctionalSoftmax(child.dim))
        _SOFTMAX_FREE[model] = clone
    return _SOFTMAX_FREE[model]


_UNIQUE: "weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module]" = weakref.WeakKeyDictionary()


def for_deeplift(model: torch.nn.Module, inputs: torch.Tensor) -> torch.nn.Module:
    """``model`` as Captum's DeepLIFT can take it: without ``nn.Softmax`` modules
    (:func:`without_softmax_modules`) and with no module called twice in one forward.

    Workaround: Captum's DeepLIFT hooks each module once and fails ("A Module ReLU ... is being
    used more than once", captum issues #378, #578, #1104) on models that call one module twice —
    torchvision's ResNet blocks call ``self.relu`` twice. Each parent of such a module is traced
    with ``torch.fx`` and every further call is given its own copy (same weights: the function is
    unchanged); a parent that cannot be traced is left as it is (Captum's error then names it).
    The copy is made once per model.

    Example:
        >>> class Twice(torch.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc, self.relu = torch.nn.Linear(2, 2), torch.nn.ReLU()
        ...     def forward(self, x):
        ...         return self.relu(self.fc(self.relu(x)))
        >>> m = Twice()
        >>> x = torch.randn(3, 2)
        >>> u = for_deeplift(m, x)
        >>> [n for n, _ in u.named_modules() if "relu" in n], bool(torch.equal(u(x), m(x)))
        (['relu', 'relu_call1'], True)
    """
    if model not in _UNIQUE:
        _UNIQUE[model] = without_softmax_modules(_unique_calls(model, inputs))
    return _UNIQUE[model]


def _unique_calls(model: torch.nn.Module, inputs: torch.Tensor) -> torch.nn.Module:
    names = {m: n for n, m in model.named_modules()}
    counts: dict[torch.nn.Module, int] = {}
    probe_forward(model, inputs, [m for m in names if not list(m.children())],
                  lambda mod, i, o: counts.__setitem__(mod, counts.get(mod, 0) + 1))
    reused = sorted({names[m] for m, c in counts.items() if c > 1 and names[m]})
    if not reused:
        return model
    from torch import fx

    clone = copy.deepcopy(model)
    for parent_name in sorted({n.rpartition(".")[0] for n in reused}, reverse=True):  # the model itself last
        parent = clone.get_submodule(parent_name)
        try:
            traced = fx.symbolic_trace(parent)
        except Exception:
            continue
        calls: dict[str, int] = {}
        for node in traced.graph.nodes:
            if node.op == "call_module":
                k = calls.get(node.target, 0)
                calls[node.target] = k + 1
                if k:
                    fresh = f"{node.target.replace('.', '_')}_call{k}"
                    traced.add_submodule(fresh, copy.deepcopy(traced.get_submodule(node.target)))
                    node.target = fresh
        traced.recompile()
        traced._forward_hooks.update(parent._forward_hooks)  # e.g. a grid model's layer view stays
        traced._forward_pre_hooks.update(parent._forward_pre_hooks)
        if not parent_name:
            return traced
        grand, _, leaf = parent_name.rpartition(".")
        setattr(clone.get_submodule(grand) if grand else clone, leaf, traced)
    return clone


@register("gradient", "∂output/∂input (Simonyan et al. 2014), signed (absolute=true: its magnitude, as Rao et al. "
          "2022 read it); captum Saliency", reading="absolute", absolute=False)
def _gradient(absolute: bool):
    return lambda model, inputs, targets: Saliency(model).attribute(_leaf(inputs), target=targets, abs=bool(absolute))


@register("input_x_gradient", "input × gradient; captum InputXGradient")
def _input_x_gradient():
    return lambda model, inputs, targets: InputXGradient(model).attribute(_leaf(inputs), target=targets)


@register("smoothgrad", "gradient averaged over noisy copies (Smilkov et al. 2017), σ = noise·(max−min) of each "
          "input, noise drawn per sample; square=true: the mean of squared gradients (SmoothGrad as SMERF ran "
          "it); captum NoiseTunnel", reading="absolute", samples=25, noise=0.15, seed=0, square=False)
def _smoothgrad(samples: int, noise: float, seed: int, square: bool):
    def one(model, inputs, targets, **context):
        sigma = float(noise * (inputs.max() - inputs.min()).clamp_min(1e-8))
        return NoiseTunnel(Saliency(model)).attribute(_leaf(inputs), nt_type="smoothgrad_sq" if square else "smoothgrad",
                                                      nt_samples=samples,
                                                      stdevs=sigma, nt_samples_batch_size=min(samples, 64),
                                                      target=targets, abs=False)
    return per_sample(one, seed)


@register("integrated_gradients", "path integral of gradients from a baseline (Sundararajan et al. 2017); "
          "baseline=zeros|blur|true (true = IG*); captum IntegratedGradients (Gauss-Legendre nodes); complete",
          complete=True, steps=50, baseline="zeros")
def _integrated_gradients(steps: int, baseline: str):
    def fn(model, inputs, targets, **context):
        ig = IntegratedGradients(model)
        return ig.attribute(_leaf(inputs), baselines=reference(baseline, inputs, context), target=targets,
                            n_steps=steps, internal_batch_size=max(len(inputs), 64))
    return fn


BATCH_REFERENCES = ("baseline=data: the references are black plus the other inputs of the batch, so a sample's "
                    "map depends on its batch (the one documented exception; the label says baseline=data)")


@register("deeplift", "DeepLIFT rescale rule (Shrikumar et al. 2017); baseline=zeros|blur|true; captum DeepLift "
          "(nn.Softmax by its gradient: captum 0.9.0's softmax rule mixes the batch); complete (summation-to-delta)",
          complete=True, baseline="zeros", softmax_rule="gradient")
def _deeplift(baseline: str, softmax_rule: str):
    def fn(model, inputs, targets, **context):
        return DeepLift(for_deeplift(model, inputs)).attribute(
            _leaf(inputs), baselines=reference(baseline, inputs, context), target=targets)
    return fn


def _shap_references(baseline: str, inputs: torch.Tensor, context) -> torch.Tensor:
    refs = reference_distribution(baseline, inputs, context)
    return torch.cat([refs, refs], 0) if refs.shape[0] < 2 else refs  # captum needs at least two references


@register("deeplift_shap", "DeepSHAP: DeepLIFT averaged over a reference distribution (Lundberg & Lee 2017); "
          "baseline=data|dataset|zeros|blur|true (blur/true: each input's own reference); captum DeepLiftShap; "
          + BATCH_REFERENCES, reading="signed", baseline="data", softmax_rule="gradient")
def _deeplift_shap(baseline: str, softmax_rule: str):
    def one(model, inputs, targets, **context):
        return DeepLiftShap(for_deeplift(model, inputs)).attribute(
            _leaf(inputs), baselines=_shap_references(baseline, inputs, context), target=targets)
    return one if baseline == "data" else per_sample(one)


@register("gradient_shap", "GradientSHAP: expected gradients over a reference distribution (Lundberg & Lee 2017); "
          "baseline=data|dataset|zeros|blur|true (blur/true: each input's own reference), noise drawn per sample; "
          "captum GradientShap; " + BATCH_REFERENCES, samples=20, baseline="data", seed=0)
def _gradient_shap(samples: int, baseline: str, seed: int):
    def one(model, inputs, targets, **context):
        refs = reference_distribution(baseline, inputs, context)
        return GradientShap(model).attribute(_leaf(inputs), baselines=refs, n_samples=samples, target=targets)

    if baseline != "data":
        return per_sample(one, seed)

    def batch(model, inputs, targets, **context):
        with seeded(seed):
            return one(model, inputs, targets, **context)
    return batch


@register("guided_backprop", "guided backpropagation (Springenberg et al. 2015), signed (absolute=true: its "
          "magnitude, as Rao et al. 2022 read it); captum GuidedBackprop", reading="clipped", absolute=False)
def _guided_backprop(absolute: bool):
    def fn(model, inputs, targets):
        maps = GuidedBackprop(model).attribute(_leaf(inputs), target=targets)
        return maps.abs() if absolute else maps
    return fn


@register("deconvnet", "deconvolution (Zeiler & Fergus 2014); captum Deconvolution", reading="clipped")
def _deconvnet():
    return lambda model, inputs, targets: Deconvolution(model).attribute(_leaf(inputs), target=targets)


@register("gradcam", "Grad-CAM (Selvaraju et al. 2017) at layer= (default: the model's gradcam_layer or last "
          "spatial conv), ReLU, bilinear upsampling; captum LayerGradCam", reading="positive", layer="")
def _gradcam(layer: str):
    def fn(model, inputs, targets):
        gc = LayerGradCam(model, gradcam_layer(model, inputs, layer))
        cam = gc.attribute(_leaf(inputs), target=targets, relu_attributions=True)
        return _spread(cam, inputs)
    return fn


@register("layercam", "LayerCAM (Jiang et al. 2021): ReLU(Σ_k ReLU(∂y/∂A_k)·A_k) at layer= (a name, middle or "
          "final; default the Grad-CAM layer), bilinear upsampling; captum LayerGradientXActivation + LayerActivation",
          reading="positive", layer="")
def _layercam(layer: str):
    def fn(model, inputs, targets):
        at = gradcam_layer(model, inputs, layer)
        grad = LayerGradientXActivation(model, at, multiply_by_inputs=False).attribute(_leaf(inputs), target=targets)
        act = LayerActivation(model, at).attribute(inputs)
        cam = torch.relu((torch.relu(grad) * act).sum(1, keepdim=True))
        return _spread(cam, inputs)
    return fn


@register("layer_gradient", "the gradient at a layer (Rao et al. 2022's ML-Att 'Grad' at layer= middle|final|a name): "
          "|∂y/∂A| summed over channels (absolute=false: signed), bilinear upsampling; captum "
          "LayerGradientXActivation(multiply_by_inputs=False)", layer="final", absolute=True)
def _layer_gradient(layer: str, absolute: bool):
    def fn(model, inputs, targets):
        at = gradcam_layer(model, inputs, layer)
        grad = LayerGradientXActivation(model, at, multiply_by_inputs=False).attribute(_leaf(inputs), target=targets)
        return _spread((grad.abs() if absolute else grad).sum(1, keepdim=True), inputs)
    return fn


@register("layer_input_x_gradient", "activation × gradient at a layer (ML-Att 'IxG' at layer= middle|final|a name), "
          "summed over channels, signed, bilinear upsampling; captum LayerGradientXActivation", layer="final")
def _layer_input_x_gradient(layer: str):
    def fn(model, inputs, targets):
        at = gradcam_layer(model, inputs, layer)
        ixg = LayerGradientXActivation(model, at).attribute(_leaf(inputs), target=targets)
        return _spread(ixg.sum(1, keepdim=True), inputs)
    return fn


@register("guided_gradcam", "guided backprop × Grad-CAM (Selvaraju et al. 2017); captum GuidedGradCam", layer="")
def _guided_gradcam(layer: str):
    def fn(model, inputs, targets):
        ggc = GuidedGradCam(model, gradcam_layer(model, inputs, layer))
        return ggc.attribute(_leaf(inputs), target=targets, interpolate_mode="bilinear")
    return fn
