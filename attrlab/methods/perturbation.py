"""Perturbation methods: occlusion, LIME and KernelSHAP over scikit-image superpixels (Captum).

LIME's result depends on its segmentation (Zhang et al. 2023, §5, Fig. 5c–d), so the
segmentation is a parameter: ``quickshift`` (the ``lime`` package's default:
kernel_size=4, max_dist=200, ratio=0.2), ``felzenszwalb``, ``slic``, or ``true`` (a segmentation
aligned with the designed objects, lent by the environment as ``true_segments``).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import KernelShap, Lime, Occlusion
from skimage.segmentation import felzenszwalb, quickshift, slic

from ..errors import AttrlabError, MissingContext
from .references import per_sample, reference
from .registry import register

SEGMENTATIONS = ("quickshift", "felzenszwalb", "slic", "true")


def segment(images: torch.Tensor, how: str, context=None) -> torch.Tensor:
    """Superpixel labels ``(N, H, W)`` (int64, from 0) for images in [0, 1] of shape ``(N, 3, H, W)``.

    Example:
        >>> segment(torch.rand(1, 3, 16, 16), "slic").shape
        torch.Size([1, 16, 16])
    """
    if how == "true":
        if not context or "true_segments" not in context:
            raise MissingContext("segmentation=true needs an environment that lends true_segments (e.g. attributionlab)")
        return context["true_segments"].long()
    if images.dim() != 4 or images.shape[1] != 3:
        raise AttrlabError(f"superpixel segmentation needs RGB images (N, 3, H, W), got {tuple(images.shape)}")
    out = []
    for img in images.detach().cpu().permute(0, 2, 3, 1).double().numpy():
        if how == "quickshift":
            seg = quickshift(img, kernel_size=4, max_dist=200, ratio=0.2, convert2lab=True)
        elif how == "felzenszwalb":
            seg = felzenszwalb(img, scale=100, sigma=0.5, min_size=max(4, img.shape[0] * img.shape[1] // 400))
        elif how == "slic":
            seg = slic(img, n_segments=50, compactness=10, start_label=0)
        else:
            raise AttrlabError(f"unknown segmentation '{how}'; choose one of {', '.join(SEGMENTATIONS)}")
        _, seg = np.unique(seg, return_inverse=True)
        out.append(torch.from_numpy(seg.reshape(img.shape[:2]).astype(np.int64)))
    return torch.stack(out)


def _lime_kernel(width: float):
    """LIME's exponential kernel on the cosine distance between the all-on vector and the
    interpretable sample (the ``lime`` package's default, kernel width 0.25)."""
    def similarity(original, perturbed, interpretable_sample, **kwargs):
        z = interpretable_sample.float().flatten()
        d = 1.0 - z.sum() / (math.sqrt(z.numel()) * z.norm().clamp_min(1e-12))
        return torch.exp(-(d ** 2) / width ** 2)
    return similarity


def _surrogate(make_explainer, samples: int, segmentation: str, baseline: str, seed: int):
    """A superpixel surrogate method (LIME, KernelSHAP): one image at a time, each under its own
    seed (:func:`per_sample`), so its perturbations do not depend on the batch."""
    def one(model, inputs, targets, **context):
        explainer = make_explainer(model)
        ref = reference(baseline, inputs, context)
        mask = segment(inputs, segmentation, context).unsqueeze(1).to(inputs.device)
        if int(mask.max()) == 0:
            # one superpixel: a surrogate with one feature is the output difference itself (the
            # exact Shapley value of a single player); captum's samplers fail on this case
            with torch.no_grad():
                diff = model(inputs)[0, int(targets[0])] - model(ref)[0, int(targets[0])]
            return torch.full_like(inputs, float(diff))
        return explainer.attribute(inputs, baselines=ref, target=int(targets[0]), feature_mask=mask,
                                   n_samples=samples, perturbations_per_eval=min(samples, 64))
    return per_sample(one, seed)


@register("occlusion", "sliding-window occlusion (Zeiler & Fergus 2014), window/stride in pixels (0 = auto: window "
          "an eighth of the image side, stride half the window); baseline=zeros|blur|true (true = Occlusion*); captum Occlusion",
          window=0, stride=0, baseline="zeros")
def _occlusion(window: int, stride: int, baseline: str):
    def fn(model, inputs, targets, **context):
        if inputs.dim() != 4:
            raise AttrlabError("occlusion needs image inputs (N, C, H, W)")
        c, side = inputs.shape[1], min(inputs.shape[-2:])
        win = window or max(2, side // 8)
        step = stride or max(1, win // 2)
        return Occlusion(model).attribute(inputs, sliding_window_shapes=(c, win, win), strides=(c, step, step),
                                          baselines=reference(baseline, inputs, context), target=targets,
                                          perturbations_per_eval=32)
    return fn


@register("lime", "LIME (Ribeiro et al. 2016) on superpixels, segmentation=quickshift|felzenszwalb|slic|true, "
          "ridge surrogate, cosine kernel 0.25; captum Lime", samples=200, segmentation="quickshift",
          baseline="zeros", seed=0)
def _lime(samples: int, segmentation: str, baseline: str, seed: int):
    return _surrogate(lambda model: Lime(model, interpretable_model=SkLearnRidge(alpha=1.0),
                                         similarity_func=_lime_kernel(0.25)), samples, segmentation, baseline, seed)


@register("kernel_shap", "KernelSHAP (Lundberg & Lee 2017) on superpixels, segmentation as for lime; captum KernelShap",
          samples=200, segmentation="quickshift", baseline="zeros", seed=0)
def _kernel_shap(samples: int, segmentation: str, baseline: str, seed: int):
    return _surrogate(KernelShap, samples, segmentation, baseline, seed)
