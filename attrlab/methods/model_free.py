"""Model-free baselines every study needs beside the real methods: random and edge maps (SMERF's
Random and Edge controls, Kim et al. 2021 §4), and the oracle ladder of the meta-evaluation (the
ground truth itself, mixed with noise)."""
from __future__ import annotations

import numpy as np
import torch
from skimage.filters import sobel

from .references import sample_seeds
from .registry import register


@register("random", "uniform random map in [−1, 1] (control; ignores the model)", seed=0)
def _random(seed: int):
    def fn(model, inputs, targets, **context):
        maps = [torch.rand(inputs.shape[1:], generator=torch.Generator().manual_seed(s)) * 2 - 1
                for s in sample_seeds(seed, len(inputs), context)]  # each sample its own draw
        return torch.stack(maps).to(inputs.device)
    return fn


@register("edge", "Sobel edge magnitude of the grey image (control; ignores the model); scikit-image sobel")
def _edge():
    def fn(model, inputs, targets):
        x = inputs.detach().cpu().float()
        grey = x.mean(1).numpy() if x.dim() == 4 else x.numpy()
        edges = np.stack([sobel(g) for g in grey]).astype(np.float32)
        out = torch.from_numpy(edges)
        if x.dim() == 4:
            out = (out.unsqueeze(1) / x.shape[1]).expand_as(x).contiguous()
        return out.to(inputs.device)
    return fn


@register("oracle", "the ground-truth map mixed with seeded noise: (1 − noise)·GT + noise·N(0, 1) per feature, GT = "
          "positive − negative where signed ground truth exists, else the focus mask (control for the "
          "meta-evaluation's ladder: noise=0, 0.25, 0.5, 0.75, 1; lent the ground truth, so never a real method)",
          modality="any", oracle=True, noise=0.0, seed=0)
def _oracle(noise: float, seed: int):
    if not 0.0 <= noise <= 1.0:
        from ..errors import AttrlabError

        raise AttrlabError(f"oracle:noise={noise} must lie in [0, 1]")

    def fn(model, inputs, targets, oracle_map=None, sample_index=None):
        if oracle_map is None:
            from ..errors import AttrlabError

            raise AttrlabError("oracle needs an environment with ground truth (the runner lends it as oracle_map)")
        context = {} if sample_index is None else {"sample_index": sample_index}
        z = torch.stack([torch.randn(oracle_map.shape[1:], generator=torch.Generator().manual_seed(s))
                         for s in sample_seeds(seed + 7_777, len(inputs), context)]).to(oracle_map.device)
        grid = (1 - noise) * oracle_map.float() + noise * z
        if inputs.dim() == grid.dim() + 1:  # images: the pixel's value spread over its channels
            grid = (grid.unsqueeze(1) / inputs.shape[1]).expand_as(inputs).contiguous()
        return grid.to(inputs.device)
    return fn
