"""Your own architecture in a trained environment: a class or factory by import path
(``torchvision.models:resnet18``), by file (``./my_models.py:MyCNN``) or as a Python object.

The factory is called with the keywords it names, out of::

    input_shape: tuple   # one sample's shape: (3, H, W) for images, (L,) for token ids
    n_classes: int       # also accepted as num_classes (torchvision's builders take **kwargs)
    vocab_size: int      # text environments only: token ids run from 0 (padding) to vocab_size - 1

and must return an ``nn.Module`` that maps a batch ``(N, *input_shape)`` to logits ``(N, n_classes)``.
It is trained and verified exactly as the built-in models are; its source enters the model cache key.

Example:
    >>> import torch
    >>> class Tiny(torch.nn.Module):
    ...     def __init__(self, input_shape, n_classes):
    ...         super().__init__()
    ...         self.fc = torch.nn.Linear(int(torch.tensor(input_shape).prod()), n_classes)
    ...     def forward(self, x):
    ...         return self.fc(x.flatten(1))
    >>> build_user_model(Tiny, (3, 8, 8), 2)(torch.zeros(5, 3, 8, 8)).shape
    torch.Size([5, 2])
"""
from __future__ import annotations

import inspect
from typing import Any

import torch

from ..errors import AttrlabError


def resolve_factory(model: Any) -> Any:
    """A callable from a reference string or the callable itself."""
    if callable(model):
        return model
    from ..imports import is_reference, load_object

    if isinstance(model, str) and is_reference(model):
        obj = load_object(model)
        if not callable(obj):
            raise AttrlabError(f"model '{model}' is a {type(obj).__name__}, not a class or factory")
        return obj
    raise AttrlabError(f"model '{model}' is neither a built-in name nor a reference (module:Class or file.py:Class)")


def build_model(choice: Any, builtins: dict, input_shape: tuple, n_classes: int, needs: tuple = (),
                **extra: Any) -> torch.nn.Module:
    """The one way a trained environment gets its architecture: ``builtins[choice]()`` when
    ``choice`` names a built-in one, else the user's class or factory (:func:`build_user_model`),
    which must also offer the methods in ``needs`` (e.g. a rationale model's ``rationale``).

    Example:
        >>> build_model("tiny", {"tiny": lambda: torch.nn.Linear(4, 2)}, (4,), 2).out_features
        2
    """
    if isinstance(choice, str) and choice in builtins:
        return builtins[choice]()
    model = build_user_model(choice, input_shape, n_classes, **extra)
    missing = [m for m in needs if not callable(getattr(model, m, None))]
    if missing:
        raise AttrlabError(f"model {choice} lacks {', '.join(m + '(ids)' for m in missing)}, which this environment needs")
    return model


def build_user_model(model: Any, input_shape: tuple, n_classes: int, **extra: Any) -> torch.nn.Module:
    """Build a user's model (see the module doc for the call) and check it maps a batch of two
    samples to ``(2, n_classes)`` logits."""
    factory = resolve_factory(model)
    name = getattr(factory, "__qualname__", repr(factory))
    offered = {"input_shape": tuple(input_shape), "n_classes": n_classes, "num_classes": n_classes, **extra}
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    takes_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in offered.items() if k in params}
    if takes_any and not ({"n_classes", "num_classes"} & set(kwargs)):
        kwargs["num_classes"] = n_classes
    try:
        net = factory(**kwargs)
    except Exception as exc:
        raise AttrlabError(f"model {name}({', '.join(f'{k}=' for k in kwargs)}...) failed: {type(exc).__name__}: "
                           f"{exc}; a model takes input_shape and n_classes (see attrlab.models.user)") from None
    if not isinstance(net, torch.nn.Module):
        raise AttrlabError(f"model {name} returned {type(net).__name__}, not a torch.nn.Module")
    probe = (torch.ones((2, *input_shape), dtype=torch.long) if len(input_shape) == 1
             else torch.full((2, *input_shape), 0.5))
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):  # the probe leaves the training's random stream alone
            out = net.eval()(probe)
    except Exception as exc:
        raise AttrlabError(f"model {name} fails on a batch of shape {tuple(probe.shape)}: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, n_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise AttrlabError(f"model {name} gives {shape} for a batch of 2; it must give logits (2, {n_classes})")
    return net.train()


def load_weights(model: torch.nn.Module, weights, name: str = "the model") -> torch.nn.Module:
    """``model`` with the state dict of the file ``weights`` (tensors only, read with
    ``weights_only=True``, so a planted pickle cannot run code; a ``{"state_dict": ...}`` checkpoint
    is unwrapped); a file that does not fit the model is one line naming both.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.pt"
        >>> torch.save({"weight": torch.ones(2, 3), "bias": torch.zeros(2)}, path)
        >>> load_weights(torch.nn.Linear(3, 2), path).weight.sum().item()
        6.0
        >>> load_weights(torch.nn.Linear(4, 2), path)
        Traceback (most recent call last):
        attrlab.errors.AttrlabError: ...w.pt does not fit the model: size mismatch for weight: ...
    """
    from pathlib import Path

    from ..storage import load_tensors

    state = load_tensors(Path(weights))
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise AttrlabError(f"{weights} holds {type(state).__name__}, not a state dict")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        ours, theirs = set(model.state_dict()), set(state)
        hint = ""
        for prefix in sorted({k.split(".", 1)[0] + "." for k in ours if "." in k}):
            if {prefix + k for k in theirs} <= ours:
                hint = (f"; the file's names lack this model's prefix '{prefix}' (attrlab's own resnet18/34 put "
                        "ImageNet normalisation in front): a plain torchvision state dict fits "
                        "--model torchvision.models:resnet18")
                break
        raise AttrlabError(f"{weights} does not fit {name}: {' '.join(lines[1:3])[:300]}{hint}") from None
    return model
