"""Reference inputs ("baselines") for IG, DeepLIFT, occlusion and LIME's hidden segments.

``zeros`` (black: what most code uses), ``blur`` (a Gaussian-blurred copy of the input), ``true``
(the environment's true baseline, e.g. AttributionLab's background image: IG*/Occlusion*, Zhang et
al. 2023 §5) and, for DeepSHAP/GradientSHAP, ``data`` (a reference distribution: black plus the
other inputs of the batch) or ``dataset`` (the environment's whole reference set, e.g. Zhou et
al.'s "entire test set as background").
"""
from __future__ import annotations

import contextlib
from typing import Mapping

import numpy as np
import torch

from ..errors import AttrlabError, MissingContext
from ..metrics.overlap import gaussian_blur

BASELINES = ("zeros", "blur", "true")


def reference(kind: str, inputs: torch.Tensor, context: Mapping[str, torch.Tensor], blur_sigma: float = 5.0) -> torch.Tensor:
    """One reference per input, of the input's shape.

    Example:
        >>> x = torch.ones(2, 3, 4, 4)
        >>> reference("zeros", x, {}).sum().item()
        0.0
    """
    if kind == "zeros":
        return torch.zeros_like(inputs)
    if kind == "blur":
        if inputs.dim() != 4:
            raise AttrlabError("the 'blur' baseline needs image inputs (N, C, H, W)")
        n, c, h, w = inputs.shape
        return gaussian_blur(inputs.reshape(n * c, h, w), blur_sigma).reshape(inputs.shape).to(inputs.dtype)
    if kind == "true":
        if "true_baseline" not in context:
            raise MissingContext("baseline=true needs an environment that knows its true baseline (e.g. attributionlab)")
        return context["true_baseline"].to(inputs.device, inputs.dtype)
    raise AttrlabError(f"unknown baseline '{kind}'; choose one of {', '.join(BASELINES)}")


def reference_distribution(kind: str, inputs: torch.Tensor, context: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """A set of references for the SHAP family: ``data`` gives black plus the batch's inputs,
    other kinds give their single reference per input (the mean over one reference is itself).

    Example:
        >>> reference_distribution("data", torch.ones(3, 1, 2, 2), {}).shape
        torch.Size([4, 1, 2, 2])
    """
    if kind == "data":
        return torch.cat([torch.zeros_like(inputs[:1]), inputs], 0)
    if kind == "dataset":
        if "reference_set" not in context:
            raise MissingContext("baseline=dataset needs an environment that lends a reference set (e.g. semi-natural-image)")
        return context["reference_set"].to(inputs.device, inputs.dtype)
    ref = reference(kind, inputs, context)
    # one reference shared by the batch: captum's SHAP methods draw from a distribution
    return ref[:1] if kind == "zeros" else ref.mean(0, keepdim=True)


@contextlib.contextmanager
def seeded(seed: int):
    """Seed torch and NumPy (captum samples with both) for one call, then restore both states, so
    a method's randomness is reproducible without disturbing the caller's.

    Example:
        >>> with seeded(3):
        ...     a = torch.rand(1)
        >>> with seeded(3):
        ...     b = torch.rand(1)
        >>> bool(a == b)
        True
    """
    state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            np.random.set_state(state)


# context keys that hold one row per sample (sliced with the batch); the rest (``reference_set``) is shared
ROW_CONTEXT = ("true_baseline", "true_segments", "sample_index")


def sample_seeds(seed: int, n: int, context: Mapping[str, torch.Tensor]) -> list[int]:
    """One seed per sample from the run's ``seed`` and the sample's index in its evaluation set
    (``sample_index``, lent by the runner; the position in the batch otherwise), so a sample's
    random draws are the same alone or in any batch.

    Example:
        >>> sample_seeds(1, 2, {"sample_index": torch.tensor([7, 3])}) == sample_seeds(1, 1, {"sample_index": torch.tensor([7])}) + [sample_seeds(1, 1, {"sample_index": torch.tensor([3])})[0]]
        True
    """
    index = context.get("sample_index")
    ids = index.tolist() if index is not None else list(range(n))
    return [int(np.random.SeedSequence([int(seed), int(i)]).generate_state(1)[0]) for i in ids]


def per_sample(fn, seed: int | None = None):
    """``fn`` applied to each sample alone (its per-row context sliced with it), under the
    sample's own seed when ``seed`` is given: what makes a sample's map independent of its batch
    for methods that draw noise or normalise over the batch.

    Example:
        >>> f = per_sample(lambda model, x, t, **c: torch.rand(x.shape), seed=0)
        >>> x = torch.zeros(3, 1, 2, 2)
        >>> whole = f(None, x, torch.zeros(3), sample_index=torch.arange(3))
        >>> alone = f(None, x[2:], torch.zeros(1), sample_index=torch.tensor([2]))
        >>> torch.equal(whole[2:], alone)
        True
    """
    def wrapped(model, inputs, targets, **context):
        seeds = sample_seeds(seed or 0, len(inputs), context)
        outs = []
        for i in range(len(inputs)):
            ctx = {k: (v[i:i + 1] if k in ROW_CONTEXT else v) for k, v in context.items()}
            if seed is None:
                outs.append(fn(model, inputs[i:i + 1], targets[i:i + 1], **ctx))
            else:
                with seeded(seeds[i]):
                    outs.append(fn(model, inputs[i:i + 1], targets[i:i + 1], **ctx))
        return torch.cat(outs)
    return wrapped
