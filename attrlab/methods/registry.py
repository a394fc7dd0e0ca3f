"""The method registry: names → configured attribution methods, and the one way to call them.

A method spec is a registered name with optional parameters, ``name:key=value:key=value``, e.g.
``integrated_gradients:baseline=true:steps=32`` (IG*, the true-baseline variant) or
``lime:segmentation=felzenszwalb``. A user's own callable ``(model, inputs, targets)`` is a method
too; it may also accept any of the context keywords an environment lends (``true_baseline``,
``true_segments``) and receives only those it names.

Example:
    >>> m = get_method("integrated_gradients:steps=8")
    >>> m.label, m.params["steps"]
    ('integrated_gradients:steps=8', 8)
"""
from __future__ import annotations

import contextlib
import inspect
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .. import plugins
from ..errors import AttrlabError, unknown_name
from ..imports import is_reference
from ..specs import parse_params
from ..keys import callable_id
from ..metrics.reduce import DEFAULT_READING, check_reading


@dataclass(frozen=True)
class MethodInfo:
    name: str
    factory: Callable[..., Callable]
    description: str
    defaults: dict = field(default_factory=dict)
    modality: str = "image"  # what inputs it takes: image (N, C, H, W), text (token ids, N × L) or rationale
    complete: bool = False  # claims Σ attributions = f(x) − f(baseline) for the target (completeness)
    reading: str = DEFAULT_READING  # how SMERF's protocol reads its channels (attrlab.metrics.READINGS)
    oracle: bool = False  # a control that is lent the ground truth (``oracle_map``); no real method is
    requires: tuple = ()  # what the model must offer (e.g. ``attentions``: every layer's attention probabilities)


_REGISTRY: dict[str, MethodInfo] = {}


def register(name: str, description: str, modality: str = "image", complete: bool = False,
             reading: str = DEFAULT_READING, oracle: bool = False, requires: tuple = (), **defaults: Any):
    """Register ``factory(**params) -> fn(model, inputs, targets, **context)`` under ``name``;
    ``modality`` says which inputs it takes (``image``: N×C×H×W; ``text``: token ids;
    ``rationale``: token ids of a select-then-predict model). ``complete`` declares that its maps
    sum to f(x) − f(baseline) (its ``baseline`` parameter): every run then records the
    ``completeness_gap`` of each map (:func:`completeness_gap`, written once here). ``reading``
    declares how SMERF's metric protocol reads its channels, as the paper's authors read this
    method's maps (:data:`attrlab.metrics.READINGS`; a user's function sets ``fn.reading``).
    ``requires`` names what the model must offer (``attentions``: a transformer's attention
    probabilities); a run picks such a method by default only for models that offer it, and a
    model that lacks it is refused in one line.

    Example:
        >>> @register("ones_example", "all-ones map (documentation example)")
        ... def _ones():
        ...     return lambda model, inputs, targets: torch.ones_like(inputs)
        >>> "ones_example" in list_methods(); _ = _REGISTRY.pop("ones_example")
        True
    """
    def decorate(factory):
        if name in _REGISTRY:
            raise AttrlabError(f"method '{name}' is registered twice")
        _REGISTRY[name] = MethodInfo(name, factory, description, dict(defaults), modality, complete,
                                     check_reading(reading, f"method '{name}'"), oracle, tuple(requires))
        return factory
    return decorate


def list_methods(modality: str | None = None) -> list[str]:
    """Registered method names, sorted; only those for ``modality`` (image, text) when given.

    Example:
        >>> "gradient" in list_methods(), "attention" in list_methods("image")
        (True, False)
    """
    _load_builtin()
    return sorted(n for n, info in _REGISTRY.items() if modality is None or info.modality == modality)


def describe(name: str) -> MethodInfo:
    _load_builtin()
    if name not in _REGISTRY:
        raise unknown_name("method", name, _REGISTRY, "`attrlab list methods` shows all.")
    return _REGISTRY[name]


def parse_spec(spec: str) -> tuple[str, dict]:
    """Split ``name:key=value:...`` into the name and typed parameters (types from the defaults).

    Example:
        >>> parse_spec("occlusion:window=8:baseline=true")
        ('occlusion', {'window': 8, 'baseline': 'true'})
    """
    _load_builtin()
    parts = [p for p in spec.strip().split(":") if p]
    if not parts:
        raise AttrlabError("empty method name")
    name = parts[0]
    info = describe(name)
    params = {k: _check_param(name, k, v) for k, v in parse_params(spec, info.defaults, "method").items()}
    return name, params


# what a parameter may be, wherever a method declares it
COUNTS = ("steps", "samples")  # at least 1
CHOICES = {"baseline": ("zeros", "blur", "true", "data", "dataset"),
           "segmentation": ("quickshift", "felzenszwalb", "slic", "true"), "softmax_rule": ("gradient",)}


def _check_param(method: str, key: str, value: Any) -> Any:
    """Refuse a value no method can use: a negative, non-finite or (for counts) zero number, or a
    choice outside the known ones."""
    import math

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise AttrlabError(f"{method}:{key}={value} must be a finite number")
        low = 1 if key in COUNTS else 0
        if value < low:
            raise AttrlabError(f"{method}:{key}={value} must be at least {low}")
    if key in CHOICES and value not in CHOICES[key]:
        raise AttrlabError(f"{method}:{key}={value} is not one of {', '.join(CHOICES[key])}")
    return value


@dataclass
class BoundMethod:
    """A configured method with its label; call it like the function it wraps."""

    label: str
    fn: Callable
    params: dict = field(default_factory=dict)
    complete: bool = False
    reading: str = DEFAULT_READING  # how SMERF's metric protocol reads its maps (attrlab.metrics.READINGS)
    oracle: bool = False  # lent the ground truth as ``oracle_map`` (the meta-evaluation's oracle ladder)
    requires: tuple = ()  # what the model must offer (MethodInfo.requires)

    def applies_to(self, model: torch.nn.Module) -> bool:
        """Whether ``model`` offers everything this method requires."""
        return all(callable(getattr(model, r, None)) for r in self.requires)

    def __call__(self, model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, **context: Any) -> torch.Tensor:
        if not self.applies_to(model):
            missing = [r for r in self.requires if not callable(getattr(model, r, None))]
            hint = ": a transformer (--model bert-small or hf:DIR)" if "attentions" in missing else ""
            raise AttrlabError(f"method '{self.label}' needs a model with .{'(), .'.join(missing)}() "
                               f"({type(model).__name__} has none){hint}")
        return attribute(self.fn, model, inputs, targets, label=self.label, **context)

    def completeness_gap(self, model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                         attributions: torch.Tensor, **context: Any) -> torch.Tensor:
        """Per sample, how far the map misses completeness against the baseline it used."""
        from .references import reference

        return completeness_gap(model, inputs, targets, attributions,
                                reference(self.params.get("baseline", "zeros"), inputs, context))


def completeness_gap(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, attributions: torch.Tensor,
                     baseline: torch.Tensor) -> torch.Tensor:
    """``|Σ a − (f(x) − f(x₀))| / |f(x) − f(x₀)|`` per sample for the target's output: Captum's
    convergence delta relative to what should be explained (Sundararajan et al. 2017's
    completeness; DeepLIFT's summation-to-delta). Below 1e-6 the output difference counts as 1e-6.

    Example:
        >>> m = torch.nn.Linear(2, 2, bias=False)
        >>> x, t = torch.tensor([[1.0, 2.0]]), torch.tensor([0])
        >>> exact = x * m.weight[0].detach()            # input × gradient is complete for a linear map
        >>> completeness_gap(m, x, t, exact, torch.zeros_like(x)).item() < 1e-6
        True
    """
    with torch.no_grad():
        fx = model(inputs).gather(1, targets.view(-1, 1)).squeeze(1)
        f0 = model(baseline).gather(1, targets.view(-1, 1)).squeeze(1)
    gap = fx - f0
    delta = attributions.flatten(1).sum(1).to(gap.dtype) - gap
    return (delta.abs() / gap.abs().clamp_min(1e-6)).float()


def get_method(spec: str | Callable, label: str | None = None, defaults: dict | None = None) -> BoundMethod:
    """A configured method from a spec string, or a user's callable wrapped with a label.

    ``defaults`` fill parameters the spec does not set and the method has (the runner passes the
    run's ``seed`` this way, so ``--seed`` reaches LIME, SmoothGrad, ... without changing labels).

    Example:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> x = torch.ones(1, 1, 2, 2)
        >>> get_method("gradient")(model, x, torch.tensor([0])).shape
        torch.Size([1, 1, 2, 2])
    """
    if isinstance(spec, str) and is_reference(spec):
        _load_builtin()
        if spec.strip().split(":")[0] not in _REGISTRY:
            return _bind_reference(spec.strip(), label)
    if callable(spec) and not isinstance(spec, str):
        if _is_attribution_class(spec):
            return _bind_class(spec, label)
        # its source, closure, globals and `version` go into the runner's cache key, so an edited
        # (or re-parametrised) function is not served stale results
        # a function that sets `fn.claims = ("completeness",)` (against the zero baseline) is checked like IG
        return BoundMethod(label or getattr(spec, "__name__", type(spec).__name__), spec, {"code": callable_id(spec)},
                           "completeness" in getattr(spec, "claims", ()), _declared_reading(spec))
    name, params = parse_spec(spec)
    info = describe(name)
    extra = {k: v for k, v in (defaults or {}).items() if k in info.defaults}
    full = {**info.defaults, **extra, **params}
    fn = info.factory(**full)
    complete = info.complete and full.get("baseline", "zeros") in ("zeros", "blur", "true")
    if label is None:
        label = spec.strip()
        if full.get("baseline") == "data" and "baseline" not in params:
            label += ":baseline=data"  # its references are the batch: say so wherever its records go
    return BoundMethod(label, fn, full, complete, info.reading, info.oracle, info.requires)


def _declared_reading(obj: Any) -> str:
    """A user's function or class's ``reading`` attribute (how SMERF's protocol reads its maps),
    checked; :data:`~attrlab.metrics.DEFAULT_READING` when it declares none."""
    return check_reading(getattr(obj, "reading", DEFAULT_READING), f"method '{getattr(obj, '__name__', obj)}'")


def _is_attribution_class(obj: Any) -> bool:
    """A Captum-style attribution class: constructed with the model, ``attribute(inputs, target=)``."""
    return inspect.isclass(obj) and callable(getattr(obj, "attribute", None))


def _bind_class(cls: type, label: str | None) -> BoundMethod:
    """A Captum attribution class (``captum.attr:Saliency``, or any class built from the model
    whose ``attribute(inputs, target=...)`` returns maps) as a method."""
    def fn(model, inputs, targets):
        leaf = inputs.detach().clone().requires_grad_(inputs.is_floating_point())
        return cls(model).attribute(leaf, target=targets)

    return BoundMethod(label or cls.__name__, fn, {"code": callable_id(cls)}, reading=_declared_reading(cls))


def _bind_reference(ref: str, label: str | None) -> BoundMethod:
    """``module.path:name`` or ``file.py:name`` (a function or an attribution class) as a method,
    labelled by its name; the file's text enters the cache key beside the object's code."""
    from ..imports import load_object

    obj = load_object(ref)
    name = label or ref.split(":")[1]
    if _is_attribution_class(obj):
        bound = _bind_class(obj, name)
    elif callable(obj):
        bound = BoundMethod(name, obj, {"code": callable_id(obj)}, "completeness" in getattr(obj, "claims", ()),
                            _declared_reading(obj))
    else:
        raise AttrlabError(f"'{ref}' is a {type(obj).__name__}, not a function or an attribution class")
    head = ref.split(":")[0]
    if head.endswith(".py") or "/" in head:
        import hashlib
        from pathlib import Path

        bound.params["file"] = hashlib.sha1(Path(head).expanduser().read_bytes()).hexdigest()[:12]
    bound.params["reference"] = ref
    return bound


def attribute(fn: Callable, model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
              label: str = "method", **context: Any) -> torch.Tensor:
    """Call a method with the context it accepts, quietly, and check what comes back.

    Raises :class:`AttrlabError` for a result that is not a tensor of the input's shape or that
    holds NaN/inf values.
    """
    try:
        sig = inspect.signature(fn)
        accepts_all = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
        ctx = context if accepts_all else {k: v for k, v in context.items() if k in sig.parameters}
    except (TypeError, ValueError):
        ctx = {}
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")
        out = fn(model, inputs, targets, **ctx)
    if isinstance(out, tuple) and len(out) == 1:
        out = out[0]
    if not isinstance(out, torch.Tensor):
        try:
            out = torch.as_tensor(out)
        except Exception:
            raise AttrlabError(f"method '{label}' returned {type(out).__name__}, not a tensor") from None
    if tuple(out.shape) != tuple(inputs.shape):
        raise AttrlabError(f"method '{label}' returned shape {tuple(out.shape)}, expected the input's shape {tuple(inputs.shape)}")
    out = out.detach().float()
    if not torch.isfinite(out).all():
        raise AttrlabError(f"method '{label}' returned NaN or infinite attributions")
    return out


@contextlib.contextmanager
def _quiet():
    """Silence libraries that print from their inner loops (progress text, hook notices)."""
    import io
    import sys

    saved = sys.stdout
    sys.stdout = io.StringIO()
    try:
        yield
    finally:
        sys.stdout = saved


_loaded = False


def _load_builtin() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        plugins.load("methods")  # attrlab's method modules and any installed plug-in's (entry points)
