"""AttributionLab's designed network (Zhang et al. 2023, §4, Fig. 3): weights set by hand, no training.

colour detector (1×1 convs of integer-detecting ReLU units) → accumulating CNN with non-uniform
kernels → identity MLP → logits equal to the per-colour pixel counts; a temperature softmax makes
the probabilities the explained output, so the other colours' pixels are negative evidence.

This is hand-written because no library builds it: it *is* the environment. Choices the paper
leaves open, and ours:

* Integer detection. The paper's ``I_N(x) = ReLU(I_{>N-1}(x) − I_{>N}(x))`` is exact on integer
  inputs with ramps one grey level wide. attrlab models take images in [0, 1] and are explained by
  path methods, so each channel detects value ``v`` with two clamped ramps,
  ``min(ReLU((y + p + w)/w), 1) − min(ReLU((y − p)/w), 1)`` with ``y = 255x − v``: exactly 1 on the
  plateau ``[v − p, v + p]`` (``p = 0.01``: ``255·(k/255)`` misses ``k`` by ~1e-5 in float32; a
  wider plateau puts a kink of the path integrand just before the image, measured to cost IG),
  exactly 0 outside ``(v − p − w, v + p + w)``. The ramp width ``w`` is as wide as the colours
  allow (:func:`widest_ramp`): a colour detector ``C_k = ReLU(e_R + e_G + e_B − 2)`` stays exactly 0
  on every other palette or background colour as long as one channel of the pair is at least
  ``p + w`` apart, so ``w`` = (smallest Chebyshev distance between two of the colours) − p − 1
  (one grey level of float margin), checked when the network is built. Why wide: a path integral
  (IG) sees a detector only through quadrature nodes on its ramps; with half-grey-level ramps IG at
  50 steps missed most switches (completeness gaps of 57–185%, issue 11); with the default palette's
  67-level ramps the gaps at 50 steps are 0.4–2.7% on the redundant network and < 1% at 512 steps
  on both (``benchmarks/bench_ig_convergence.py``). The clamp ``min(u, 1)`` is written
  ``ReLU(1 − ReLU(1 − u))`` so that on the plateau the gradient is stopped by inactive ReLUs rather
  than by a cancellation that float32 convolution backward leaves at ~1e-8: the gradient at every
  dataset image is exactly zero, as the design intends (one more 1×1 layer than the reference
  prototype's 9n/6n/3n/n stack).
* Accumulation. Stride-3 convolutions whose windows tile the map exactly (padding chosen per
  stage), so every pixel is counted once, down to 1×1 for any image size (224 gives
  224→75→25→9→3→1 like the reference prototype's layer table). Each stage expands to ``E·C``
  channels with random non-negative kernels that are multiples of 1/8 and sum to 1 over the
  expansion at every kernel position, then reduces with a 1×1 sum: the kernels look non-uniform
  (paper Fig. 3, right) and the counts stay exact in float32.
* Redundant channels (the "unseen data effect"): ``R = ReLU(1 − Σ_i C_i)`` over target and
  background detectors, so R is 1 exactly on pixels of a colour the dataset never shows; each feeds
  the first accumulating convolution with random N(0, 1) weights into every class.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from ..errors import AttrlabError


class Temperature(nn.Module):
    """Divides logits by a fixed temperature (a linear map, so every attribution rule passes it)."""

    def __init__(self, temperature: float):
        super().__init__()
        self.temperature = float(temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.temperature


def _tiling_padding(size: int) -> int:
    """Smallest symmetric padding for which a k=3, s=3 convolution's windows cover every pixel."""
    for pad in (0, 1, 2):
        out = (size + 2 * pad - 3) // 3 + 1
        if out >= 1 and 3 * out >= size + pad:
            return pad
    raise AttrlabError(f"no exact tiling for size {size}")


PLATEAU = 0.01  # half-width, in grey levels, of the interval on which a channel detector is exactly 1


def widest_ramp(colours) -> float:
    """The widest ramp (grey levels) for which every colour detector is exactly 0 on every other
    colour in ``colours``: (smallest Chebyshev distance between two colours) − plateau − 1.

    Raises :class:`AttrlabError` naming the closest pair when no ramp fits (colours closer than 2
    grey levels in every channel).

    Example:
        >>> widest_ramp([(60, 180, 75), (128, 128, 128), (0, 0, 0)])
        66.99
    """
    colours = [tuple(int(v) for v in c) for c in colours]
    best = None
    for i, a in enumerate(colours):
        for b in colours[i + 1:]:
            d = max(abs(x - y) for x, y in zip(a, b))
            if best is None or d < best[0]:
                best = (d, a, b)
    if best is None:
        return 254.0
    width = best[0] - PLATEAU - 1.0
    if width < 0.5:
        raise AttrlabError(f"colours {best[1]} and {best[2]} are {best[0]} grey level(s) apart in every channel: "
                           "the designed network needs at least 2 to detect each exactly")
    return width


def _colour_detector(targets: list, background: tuple, n_redundant: int, width: float) -> nn.Sequential:
    all_colours = [tuple(c) for c in targets] + [tuple(background)]
    n, n_c = len(all_colours), len(targets)
    ramp, flip1, flip2 = nn.Conv2d(3, 6 * n, 1), nn.Conv2d(6 * n, 6 * n, 1), nn.Conv2d(6 * n, 6 * n, 1)
    equal, colour = nn.Conv2d(6 * n, 3 * n, 1), nn.Conv2d(3 * n, n, 1)
    keep = nn.Conv2d(n, n_c + n_redundant, 1)
    layers = (ramp, flip1, flip2, equal, colour, keep)
    for layer in layers:
        layer.weight.data.zero_()
        layer.bias.data.zero_()
    for k, rgb in enumerate(all_colours):
        for c, v in enumerate(rgb):
            lo, hi = 2 * (3 * k + c), 2 * (3 * k + c) + 1
            # y = 255x − v; u_lo = ReLU((y + p + w)/w), u_hi = ReLU((y − p)/w)
            ramp.weight.data[lo, c] = ramp.weight.data[hi, c] = 255.0 / width
            ramp.bias.data[lo] = (-v + PLATEAU + width) / width
            ramp.bias.data[hi] = (-v - PLATEAU) / width
            for unit in (lo, hi):  # s = ReLU(1 − ReLU(1 − u)) = min(u, 1)
                flip1.weight.data[unit, unit], flip1.bias.data[unit] = -1.0, 1.0
                flip2.weight.data[unit, unit], flip2.bias.data[unit] = -1.0, 1.0
            equal.weight.data[3 * k + c, lo], equal.weight.data[3 * k + c, hi] = 1.0, -1.0  # 1[channel == v]
            colour.weight.data[k, 3 * k + c] = 1.0
        colour.bias.data[k] = -2.0  # C_k = ReLU(e_R + e_G + e_B − 2)
    for k in range(n_c):
        keep.weight.data[k, k] = 1.0  # keep target detectors, drop the background one
    for r in range(n_redundant):
        keep.weight.data[n_c + r, :] = -1.0  # R = ReLU(1 − Σ_i C_i)
        keep.bias.data[n_c + r] = 1.0
    out = []
    for layer in layers:
        out += [layer, nn.ReLU()]
    return nn.Sequential(*out)


def _accumulator(n_c: int, n_redundant: int, size: int, expand: int, rng: np.random.Generator) -> nn.Sequential:
    layers: list[nn.Module] = []
    pad = _tiling_padding(size)
    first = nn.Conv2d(n_c + n_redundant, n_c, 3, stride=3, padding=pad)
    first.weight.data.zero_()
    first.bias.data.zero_()
    for k in range(n_c):
        first.weight.data[k, k] = 1.0
    if n_redundant:
        first.weight.data[:, n_c:] = torch.from_numpy(rng.normal(size=(n_c, n_redundant, 3, 3))).float()
    layers += [first, nn.ReLU()]
    size = (size + 2 * pad - 3) // 3 + 1
    while size > 1:
        pad = _tiling_padding(size)
        grow = nn.Conv2d(n_c, expand * n_c, 3, stride=3, padding=pad)
        shrink = nn.Conv2d(expand * n_c, n_c, 1)
        for layer in (grow, shrink):
            layer.weight.data.zero_()
            layer.bias.data.zero_()
        for k in range(n_c):
            # per kernel position, split 8/8 into `expand` non-negative eighths at random cut points
            cuts = np.sort(rng.integers(0, 9, size=(expand - 1, 3, 3)), axis=0)
            bounds = np.concatenate([np.zeros((1, 3, 3)), cuts, np.full((1, 3, 3), 8)], 0)
            parts = np.diff(bounds, axis=0) / 8.0
            for j in range(expand):
                grow.weight.data[expand * k + j, k] = torch.from_numpy(parts[j]).float()
                shrink.weight.data[k, expand * k + j] = 1.0
        layers += [grow, nn.ReLU(), shrink, nn.ReLU()]
        size = (size + 2 * pad - 3) // 3 + 1
    return nn.Sequential(*layers)


class DesignedColourCounter(nn.Sequential):
    """The designed dominant-colour classifier.

    ``model(x)`` returns softmax probabilities of ``logits / temperature`` for images ``x`` in
    [0, 1] of shape ``(N, 3, size, size)``; :meth:`logits` returns the per-colour pixel counts.

    Example:
        >>> from attrlab.data import generate_colour_patches
        >>> b = generate_colour_patches(2, size=32, n_colours=3, seed=0)
        >>> net = DesignedColourCounter(colours=[(230, 25, 75), (60, 180, 75), (0, 130, 200)], size=32)
        >>> torch.equal(net.logits(b.images), b.counts.float())
        True
    """

    def __init__(self, colours, background=(128, 128, 128), size: int = 64, n_redundant: int = 2,
                 expand: int = 3, temperature: float | None = None, seed: int = 0, ramp: float | None = None):
        colours = [tuple(int(v) for v in c) for c in colours]
        if any(not 0 <= v <= 255 for c in colours + [tuple(background)] for v in c):
            raise AttrlabError("colours must be integer RGB triples in 0..255")
        widest = widest_ramp(colours + [tuple(background)])
        ramp = widest if ramp is None else float(ramp)
        if not 0 < ramp <= widest:
            raise AttrlabError(f"ramp {ramp} grey levels: these colours allow 0 < ramp <= {widest}")
        n_c = len(colours)
        rng = np.random.default_rng(seed)
        temperature = float(temperature if temperature is not None else size * size / 40.0)
        mlp = nn.Linear(n_c, n_c)
        mlp.weight.data.copy_(torch.eye(n_c))
        mlp.bias.data.zero_()
        super().__init__(OrderedDict([
            ("detector", _colour_detector(colours, tuple(background), n_redundant, ramp)),
            ("accumulator", _accumulator(n_c, n_redundant, size, expand, rng)),
            ("flatten", nn.Flatten()),
            ("mlp", mlp),
            ("temperature", Temperature(temperature)),
            ("softmax", nn.Softmax(dim=1)),
        ]))
        self.colours, self.background, self.size = colours, tuple(background), size
        self.n_redundant, self.softmax_temperature, self.ramp = n_redundant, temperature, ramp
        for p in self.parameters():
            p.requires_grad_(False)
        # Grad-CAM's layer: the first accumulating convolution (1/3 resolution), the last layer
        # with a spatial map before the counts collapse to 1×1.
        self.gradcam_layer = "accumulator.0"  # a name: a module attribute would join the Sequential

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[2:] != (self.size, self.size):
            raise AttrlabError(f"designed network expects (N, 3, {self.size}, {self.size}) images, got {tuple(x.shape)}")
        return super().forward(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Per-colour pixel counts (the network before its temperature softmax)."""
        h = x
        for name, module in self.named_children():
            if name == "temperature":
                break
            h = module(h)
        return h

    def redundant_activation(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, H, W)`` of the first redundant unit: 1 where a pixel has an unseen colour."""
        if not self.n_redundant:
            return torch.zeros(x.shape[0], *x.shape[2:])
        return self.detector(x)[:, len(self.colours)]
