"""Gradient and reference-based methods, each a thin configuration of Captum.

All maps are signed (no ``abs``) so that signed ground truth can be scored; metrics that need
magnitudes take them.
"""
from __future__ import annotations

import torch
from captum.attr import (DeepLift, DeepLiftShap, Deconvolution, GradientShap, GuidedBackprop,
                         GuidedGradCam, InputXGradient, IntegratedGradients, LayerAttribution,
                         LayerGradCam, NoiseTunnel, Saliency)

from ..errors import AttrlabError
from .references import reference, reference_distribution, seeded
from .registry import register


def gradcam_layer(model: torch.nn.Module, inputs: torch.Tensor, layer: str = "") -> torch.nn.Module:
    """The layer Grad-CAM reads: ``layer`` by name, else the model's ``gradcam_layer`` attribute
    (a module name), else the last ``Conv2d`` whose output still has a spatial map larger than 1×1."""
    name = layer or getattr(model, "gradcam_layer", "")
    if name:
        try:
            return model.get_submodule(name)
        except AttributeError:
            raise AttrlabError(f"model has no layer '{name}' for Grad-CAM") from None
    sizes: dict[torch.nn.Module, int] = {}
    hooks = [m.register_forward_hook(lambda mod, i, o: sizes.__setitem__(mod, o.shape[-1] * o.shape[-2]))
             for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        with torch.no_grad():
            model(inputs[:1])
    finally:
        for h in hooks:
            h.remove()
    spatial = [m for m, s in sizes.items() if s > 1]
    if not spatial:
        raise AttrlabError("Grad-CAM needs a convolution with a spatial output; pass gradcam:layer=NAME")
    return spatial[-1]


def _spread(cam: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """A one-channel map at input resolution, spread evenly over the input's channels so that the
    channel sum is the map itself."""
    cam = LayerAttribution.interpolate(cam, tuple(inputs.shape[-2:]), interpolate_mode="bilinear")
    return (cam / inputs.shape[1]).expand_as(inputs).contiguous()


def _leaf(inputs: torch.Tensor) -> torch.Tensor:
    return inputs.detach().clone().requires_grad_(True)


@register("gradient", "∂output/∂input (Simonyan et al. 2014), signed; captum Saliency")
def _gradient():
    return lambda model, inputs, targets: Saliency(model).attribute(_leaf(inputs), target=targets, abs=False)


@register("input_x_gradient", "input × gradient; captum InputXGradient")
def _input_x_gradient():
    return lambda model, inputs, targets: InputXGradient(model).attribute(_leaf(inputs), target=targets)


@register("smoothgrad", "gradient averaged over noisy copies (Smilkov et al. 2017), σ = noise·(max−min); captum NoiseTunnel",
          samples=25, noise=0.15, seed=0)
def _smoothgrad(samples: int, noise: float, seed: int):
    def fn(model, inputs, targets):
        sigma = float(noise * (inputs.max() - inputs.min()).clamp_min(1e-8))
        nt = NoiseTunnel(Saliency(model))
        with seeded(seed):
            return nt.attribute(_leaf(inputs), nt_type="smoothgrad", nt_samples=samples, stdevs=sigma,
                                nt_samples_batch_size=max(1, min(samples, 64 // max(1, len(inputs)) or 1)),
                                target=targets, abs=False)
    return fn


@register("integrated_gradients", "path integral of gradients from a baseline (Sundararajan et al. 2017); "
          "baseline=zeros|blur|true (true = IG*); captum IntegratedGradients (Gauss-Legendre nodes)", steps=50,
          baseline="zeros")
def _integrated_gradients(steps: int, baseline: str):
    def fn(model, inputs, targets, **context):
        ig = IntegratedGradients(model)
        return ig.attribute(_leaf(inputs), baselines=reference(baseline, inputs, context), target=targets,
                            n_steps=steps, internal_batch_size=max(len(inputs), 64))
    return fn


@register("deeplift", "DeepLIFT rescale rule (Shrikumar et al. 2017); baseline=zeros|blur|true; captum DeepLift",
          baseline="zeros")
def _deeplift(baseline: str):
    def fn(model, inputs, targets, **context):
        return DeepLift(model).attribute(_leaf(inputs), baselines=reference(baseline, inputs, context), target=targets)
    return fn


@register("deeplift_shap", "DeepSHAP: DeepLIFT averaged over a reference distribution (Lundberg & Lee 2017); "
          "baseline=data|dataset|zeros|blur|true; captum DeepLiftShap", baseline="data")
def _deeplift_shap(baseline: str):
    def fn(model, inputs, targets, **context):
        refs = reference_distribution(baseline, inputs, context)
        if refs.shape[0] < 2:
            refs = torch.cat([refs, refs], 0)  # captum needs at least two references
        return DeepLiftShap(model).attribute(_leaf(inputs), baselines=refs, target=targets)
    return fn


@register("gradient_shap", "GradientSHAP: expected gradients over a reference distribution (Lundberg & Lee 2017); "
          "baseline=data|dataset|zeros|blur|true; captum GradientShap", samples=20, baseline="data", seed=0)
def _gradient_shap(samples: int, baseline: str, seed: int):
    def fn(model, inputs, targets, **context):
        refs = reference_distribution(baseline, inputs, context)
        with seeded(seed):
            return GradientShap(model).attribute(_leaf(inputs), baselines=refs, n_samples=samples, target=targets)
    return fn


@register("guided_backprop", "guided backpropagation (Springenberg et al. 2015); captum GuidedBackprop")
def _guided_backprop():
    return lambda model, inputs, targets: GuidedBackprop(model).attribute(_leaf(inputs), target=targets)


@register("deconvnet", "deconvolution (Zeiler & Fergus 2014); captum Deconvolution")
def _deconvnet():
    return lambda model, inputs, targets: Deconvolution(model).attribute(_leaf(inputs), target=targets)


@register("gradcam", "Grad-CAM (Selvaraju et al. 2017) at layer= (default: the model's gradcam_layer or last "
          "spatial conv), ReLU, bilinear upsampling; captum LayerGradCam", layer="")
def _gradcam(layer: str):
    def fn(model, inputs, targets):
        gc = LayerGradCam(model, gradcam_layer(model, inputs, layer))
        cam = gc.attribute(_leaf(inputs), target=targets, relu_attributions=True)
        return _spread(cam, inputs)
    return fn


@register("guided_gradcam", "guided backprop × Grad-CAM (Selvaraju et al. 2017); captum GuidedGradCam", layer="")
def _guided_gradcam(layer: str):
    def fn(model, inputs, targets):
        ggc = GuidedGradCam(model, gradcam_layer(model, inputs, layer))
        return ggc.attribute(_leaf(inputs), target=targets, interpolate_mode="bilinear")
    return fn
