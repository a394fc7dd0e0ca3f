"""Which layer a layer-wise method reads: by name, or by role (``middle``, ``final``), for any model.

Rao et al. (CVPR 2022, "ML-Att") compare attribution methods at the same layers: the input, a
middle layer and the final spatial layer. A model may name its layers (``gradcam_layer`` for the
final one, ``attribution_layers = {"middle": ..., "final": ...}``); otherwise they are found by
running one sample through the model: the *final* layer is the last module (in the order modules
finish) whose output is still a spatial map (N×C×H×W), the *middle* one the last module at the
middle one of the spatial resolutions the model passes through (ResNet-18 at 224 px: 112, 56, 28,
14, 7 → 28, i.e. ``layer2``; our small CNN at 32 px: 32, 16, 8, 4 → 8, its third block).

A model that builds its layers itself (the grid environment's disconnected models, whose inner
layers see one cell at a time) offers ``attribution_layer(which, inputs)`` and is asked instead.

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    ...                           torch.nn.Conv2d(4, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    ...                           torch.nn.Conv2d(4, 4, 3, padding=1), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> x = torch.zeros(1, 3, 16, 16)
    >>> layer_name(net, x, "final"), layer_name(net, x, "middle")
    ('7', '4')
"""
from __future__ import annotations

import torch

from ..errors import AttrlabError

ROLES = ("middle", "final")
# an adaptive pooling resamples to a fixed size (not a map of the input's layout), and a pooling to 1×1 is
# a global one: neither is a layer whose map says where things are
_ADAPTIVE = (torch.nn.AdaptiveAvgPool2d, torch.nn.AdaptiveMaxPool2d)
_POOLS = _ADAPTIVE + (torch.nn.AvgPool2d, torch.nn.MaxPool2d)


def probe_forward(model: torch.nn.Module, inputs: torch.Tensor, modules, hook) -> None:
    """Run ``model`` once on the first sample of ``inputs`` (no gradients) with ``hook(module,
    input, output)`` on each of ``modules``, removed again afterwards: how attrlab looks at a
    model's structure (its layers' shapes, which modules run twice, their order)."""
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        with torch.no_grad():
            model(inputs[:1])
    finally:
        for h in handles:
            h.remove()


def spatial_layers(model: torch.nn.Module, inputs: torch.Tensor) -> list[tuple[str, tuple[int, int]]]:
    """``(name, (H, W))`` of every submodule whose output is a 4-D map, in the order they finish on
    one sample (a container finishes after its children, so a ResNet's ``layer4`` comes after
    ``layer4.1.relu``); adaptive and global (1×1) pooling layers are left out."""
    names = {m: n for n, m in model.named_modules() if n and not isinstance(m, _ADAPTIVE)}
    seen: list[tuple[str, tuple[int, int]]] = []

    def hook(module, _inp, out):
        if isinstance(out, torch.Tensor) and out.dim() == 4 and module in names and \
                not (isinstance(module, _POOLS) and out.shape[-2] * out.shape[-1] == 1):
            seen.append((names[module], (int(out.shape[-2]), int(out.shape[-1]))))

    probe_forward(model, inputs, names, hook)
    return seen


def layer_name(model: torch.nn.Module, inputs: torch.Tensor, which: str) -> str:
    """The name of the submodule ``which`` stands for: a role (``final``, ``middle``) or a name."""
    if which not in ROLES:
        try:
            model.get_submodule(which)
        except AttributeError:
            raise AttrlabError(f"model has no layer '{which}'; name a submodule or a role ({', '.join(ROLES)})") from None
        return which
    declared = dict(getattr(model, "attribution_layers", {}) or {})
    if which == "final" and getattr(model, "gradcam_layer", ""):
        declared.setdefault("final", model.gradcam_layer)
    if which in declared:
        return declared[which]
    seen = spatial_layers(model, inputs)
    if not seen:
        raise AttrlabError("the model has no layer with a spatial output (N×C×H×W); layer methods need one")
    if which == "final":
        return seen[-1][0]
    sizes = sorted({s for _, s in seen}, key=lambda s: -s[0] * s[1])
    middle = sizes[len(sizes) // 2]
    return [n for n, s in seen if s == middle][-1]


def find_layer(model: torch.nn.Module, inputs: torch.Tensor, which: str) -> torch.nn.Module:
    """The module a layer method hooks: the model's own answer where it offers
    ``attribution_layer``, else :func:`layer_name`'s."""
    own = getattr(model, "attribution_layer", None)
    if callable(own):
        return own(which, inputs)
    return model.get_submodule(layer_name(model, inputs, which))
