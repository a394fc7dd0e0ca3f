"""Model-free baselines every study needs beside the real methods: random and edge maps (SMERF's
Random and Edge controls, Kim et al. 2021 §4)."""
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
