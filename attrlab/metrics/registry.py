"""The metric registry: every metric declared once — its name, family, what it needs, the inputs it
applies to, its direction and its cost in forward passes — and read by scoring, reports, compare,
check and the CLI (in the manner of Quantus' declared ``score_direction`` and ``data_applicability``).

Two families of the same kind:

* **ground truth** metrics compare a map with the environment's known reasoning (Attr%, PAFL,
  IoU, signed F1 …); :func:`attrlab.evaluation.score` computes them, all at once, from the map
  and the masks, so they cost no forward pass.
* **automatic** (ground-truth-free) metrics are what practitioners compute on models without
  ground truth: deletion, insertion, ROAD, faithfulness correlation, infidelity, sparseness …
  Each is a function of one :class:`~attrlab.metrics.probe.Probe` (the model, inputs, targets and
  maps of one attribution job) returning one value per sample; the runner calls the ones a run
  asks for (:func:`automatic_specs`) while the maps are in memory.

A metric spec is a name with optional parameters, ``name:key=value`` (``deletion:substrate=true``,
``faithfulness_correlation:runs=50``), as method specs are; a user's own metric is
``module:function`` or ``file.py:function``, a function ``(model, inputs, targets, attributions,
**context) -> (N,)`` that declares ``fn.direction = "higher" | "lower"``.

Example:
    >>> describe_metric("mass_avoid").direction, describe_metric("deletion").direction
    ('lower', 'lower')
    >>> better("mass_avoid", 0.1, 0.3), better("mass_focus", 0.1, 0.3)
    (True, False)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .. import plugins
from ..errors import AttrlabError, unknown_name
from ..imports import is_reference
from ..specs import parse_params

FAMILIES = ("ground truth", "automatic", "model")  # model: a fact about the model's output, not a map's score
# annotation: a region a person would point to; method: the method itself (the metric explains again)
NEEDS = ("ground truth", "annotation", "model", "method", "map")
INPUTS = ("image", "tokens", "any")
DIRECTIONS = ("higher", "lower")
# an environment's modality → the inputs its models take
INPUTS_OF_MODALITY = {"image": "image", "text": "tokens", "rationale": "tokens"}


@dataclass(frozen=True)
class MetricInfo:
    """One metric's declaration.

    Attributes:
        name: the record's ``metric`` value (parameters appended as ``name:key=value``).
        description: one line, with the paper it comes from.
        family: ``ground truth`` or ``automatic``.
        needs: ``ground truth`` (the environment's masks), ``annotation`` (a region a person would
            point to), ``model`` (forward passes on perturbed inputs) or ``map`` (the map alone).
        inputs: ``image`` (N×C×H×W), ``tokens`` (N×L ids) or ``any``.
        direction: ``higher`` or ``lower`` is better.
        cost: forward passes per sample at the defaults, in words (``"21"``, ``"runs + 1"``).
        fn: for automatic metrics, ``fn(probe, **params) -> (N,)``; None for ground-truth ones.
        defaults: parameters and their defaults (their types convert ``key=value``).
        default: computed when a run does not say which automatic metrics it wants.
    """

    name: str
    description: str
    family: str
    needs: str
    inputs: str
    direction: str
    cost: str = "0"
    fn: Callable | None = None
    defaults: dict = field(default_factory=dict)
    default: bool = False

    def __post_init__(self) -> None:
        for attr, allowed in (("family", FAMILIES), ("needs", NEEDS), ("inputs", INPUTS), ("direction", DIRECTIONS)):
            if getattr(self, attr) not in allowed:
                raise AttrlabError(f"metric '{self.name}': {attr} must be one of {', '.join(allowed)}, "
                                   f"got '{getattr(self, attr)}'")

    def applies_to(self, modality: str) -> bool:
        """Whether the metric can score an environment of ``modality`` (image, text, rationale)."""
        return self.inputs == "any" or INPUTS_OF_MODALITY.get(modality, modality) == self.inputs


_REGISTRY: dict[str, MetricInfo] = {}


def register_metric(name: str, description: str, *, family: str = "automatic", needs: str = "model",
                    inputs: str = "image", direction: str, cost: str = "0", default: bool = False, **defaults: Any):
    """Declare an automatic metric ``fn(probe, **params) -> (N,)`` under ``name`` (a decorator).

    Example:
        >>> import torch
        >>> @register_metric("map_mean_example", "mean of the map (documentation example)", needs="map",
        ...                  inputs="any", direction="higher")
        ... def _mean(probe):
        ...     return probe.attributions.flatten(1).mean(1)
        >>> describe_metric("map_mean_example").needs; _ = _REGISTRY.pop("map_mean_example")
        'map'
    """
    def decorate(fn):
        if name in _REGISTRY:
            raise AttrlabError(f"metric '{name}' is registered twice")
        _REGISTRY[name] = MetricInfo(name, description, family, needs, inputs, direction, cost, fn, dict(defaults),
                                     default)
        return fn
    return decorate


def _declare_ground_truth() -> None:
    """The ground-truth metrics :func:`attrlab.evaluation.score` writes, declared once here."""
    gt = []
    for region, good in (("focus", "higher"), ("avoid", "lower")):
        what = "the features the model must use" if region == "focus" else "the features it must not use"
        gt += [
            (f"mass_{region}", f"share of |attribution| on {what}: Zhou et al.'s Attr%, SMERF's "
             f"{'PAFL' if region == 'focus' else 'SAFL'} (Kim et al. 2021, App. A.4)", good, "image/text"),
            (f"mafl_{region}", f"mean normalised attribution on {what}: SMERF's MAFL (App. B.3)", good, "image/text"),
            (f"iou_{region}", f"IoU of the top-K pixels (K = |region|) with {what}: SMERF's IoU (§4)", good,
             "image/text"),
            (f"precision_{region}", f"share of the selected tokens that are {what} (Zhou et al. §7)", good, "tokens"),
            (f"recall_{region}", f"share of {what} that is selected (Zhou et al. §7)", good, "tokens"),
        ]
    for part in ("positive", "negative", "overall"):
        for stat in ("precision", "recall", "f1"):
            gt.append((f"{part}_{stat}", f"{stat} of the {part} attribution against the {part} ground truth "
                       "(AttributionLab, Zhang et al. 2023, §5)", "higher", "image"))
    for name, description, direction, inputs in gt:
        _REGISTRY[name] = MetricInfo(name, description, "ground truth", "ground truth",
                                     "any" if inputs == "image/text" else inputs, direction)
    _REGISTRY["localisation"] = MetricInfo(
        "localisation", "share of the positive (channel-summed) attribution on the target's cell: Rao et al.'s grid "
        "localisation score (CVPR 2022, §3.1); environments that declare it", "ground truth", "ground truth", "image",
        "higher")
    _REGISTRY["completeness_gap"] = MetricInfo(
        "completeness_gap", "|Σa − (f(x) − f(x0))| / |f(x) − f(x0)| of a method that claims completeness "
        "(Sundararajan et al. 2017); recorded beside the ground-truth metrics", "automatic", "model", "any", "lower",
        "2")
    _REGISTRY["special_share"] = MetricInfo(
        "special_share", "share of |attribution| on tokens that are no word ([CLS], [SEP]), which hold no ground "
        "truth; recorded for models that read subword tokens (attrlab.metrics.words)", "ground truth",
        "ground truth", "tokens", "lower")


_declare_ground_truth()
_BUILTIN_LOADED = False


def _load_builtin() -> None:
    global _BUILTIN_LOADED
    if not _BUILTIN_LOADED:
        _BUILTIN_LOADED = True
        plugins.load("metrics")  # attrlab's automatic metrics and any installed plug-in's (entry points)


def list_metrics(family: str | None = None, modality: str | None = None) -> list[str]:
    """Registered metric names: ground-truth ones first (in their declared order), then automatic
    ones sorted; only those of ``family`` / applying to ``modality`` when given.

    Example:
        >>> "deletion" in list_metrics("automatic", "image"), "deletion" in list_metrics("automatic", "text")
        (True, False)
    """
    _load_builtin()
    names = [n for n, m in _REGISTRY.items() if (family is None or m.family == family)
             and (modality is None or m.applies_to(modality))]
    return [n for n in names if _REGISTRY[n].family == "ground truth"] + sorted(
        n for n in names if _REGISTRY[n].family != "ground truth")


def describe_metric(name: str) -> MetricInfo:
    """The declaration of ``name`` (a spec's parameters are ignored: ``deletion:substrate=true``
    is declared by ``deletion``)."""
    _load_builtin()
    base = name.split(":")[0].split("@")[0]
    if base not in _REGISTRY:
        raise unknown_name("metric", base, _REGISTRY, "`attrlab list metrics` shows all.")
    return _REGISTRY[base]


def direction(name: str, default: str = "higher") -> str:
    """``higher`` or ``lower``: which way ``name`` is better. A metric attrlab does not know (a
    user's metric in older records) takes ``default``.

    Example:
        >>> direction("road_morf"), direction("someone_elses_metric")
        ('lower', 'higher')
    """
    _load_builtin()
    base = name.split(":")[0].split("@")[0]
    return _REGISTRY[base].direction if base in _REGISTRY else default


def better(name: str, a: float, b: float) -> bool:
    """Whether value ``a`` of metric ``name`` is strictly better than ``b``."""
    return a < b if direction(name) == "lower" else a > b


def family(name: str) -> str:
    """``ground truth`` or ``automatic``; a metric attrlab does not know counts as ``automatic``
    (a user's metric is ground-truth-free unless it says otherwise)."""
    _load_builtin()
    base = name.split(":")[0].split("@")[0]
    return _REGISTRY[base].family if base in _REGISTRY else "automatic"


@dataclass(frozen=True)
class BoundMetric:
    """An automatic metric with its parameters: ``label`` is the records' ``metric`` value."""

    label: str
    info: MetricInfo
    params: dict
    fn: Callable

    def __call__(self, probe) -> Any:
        return self.fn(probe, **self.params)


def get_metric(spec: str) -> BoundMetric:
    """An automatic metric from a spec (``name`` or ``name:key=value:...``) or a user's reference
    (``module:function`` / ``file.py:function`` declaring ``fn.direction``).

    Example:
        >>> m = get_metric("deletion:steps=10")
        >>> m.label, m.params["steps"], m.info.direction
        ('deletion:steps=10', 10, 'lower')
    """
    _load_builtin()
    spec = spec.strip()
    head = spec.split(":")[0]
    if head not in _REGISTRY and is_reference(spec):
        return _user_metric(spec)
    info = describe_metric(head)
    if info.fn is None:
        chosen = ", ".join(n for n in list_metrics("automatic") if _REGISTRY[n].fn is not None)
        what = "a ground-truth metric" if info.family == "ground truth" else "recorded by the run itself"
        raise AttrlabError(f"'{head}' is {what}: every run computes it where it applies; name automatic metrics "
                           f"here ({chosen})")
    params = parse_params(spec, info.defaults, "metric")
    full = {**info.defaults, **params}
    check = getattr(info.fn, "check_params", None)
    if check is not None:
        check(**full)
    return BoundMetric(spec, info, full, info.fn)


def _user_metric(ref: str) -> BoundMetric:
    """A user's function ``(model, inputs, targets, attributions, **context) -> (N,)`` as a metric;
    it receives only the context keywords it names, and must declare ``direction``."""
    import inspect

    from ..imports import load_object

    fn = load_object(ref)
    if not callable(fn):
        raise AttrlabError(f"metric '{ref}' is not callable")
    declared = getattr(fn, "direction", None)
    if declared not in DIRECTIONS:
        raise AttrlabError(f"metric '{ref}' must declare its direction: set {ref.split(':')[-1]}.direction = "
                           "'higher' or 'lower'")
    params = inspect.signature(fn).parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())

    def call(probe):
        context = {k: v for k, v in probe.context.items() if takes_all or k in params}
        return fn(probe.model, probe.inputs, probe.targets, probe.attributions, **context)

    name = ref.split(":")[-1]
    info = MetricInfo(name, getattr(fn, "__doc__", None) or f"the user's metric {ref}", "automatic", "model",
                      getattr(fn, "inputs", "any"), declared, getattr(fn, "cost", "?"), call)
    if name not in _REGISTRY:  # its records carry its name: reports in this process read its direction
        _REGISTRY[name] = info
    return BoundMetric(name, info, {}, call)


def remember(directions: dict) -> None:
    """Declare the metrics a run folder recorded but this process does not know (a user's
    ``module:function``, by name) with the directions the run wrote to ``config.json``, so a later
    ``attrlab report`` / ``compare`` / ``meta`` ranks them the right way."""
    _load_builtin()
    for name, way in (directions or {}).items():
        base = name.split(":")[0]
        if base not in _REGISTRY and way in DIRECTIONS:
            _REGISTRY[base] = MetricInfo(base, "a metric recorded by a run (declared in its config.json)",
                                         "automatic", "model", "any", way)


DEFAULT = "default"


def automatic_specs(requested: str | list[str] | tuple | None, modality: str,
                    context_keys: frozenset | set = frozenset()) -> list[str]:
    """The automatic metric specs a run computes: ``None``/``"default"`` — the metrics declared
    ``default`` that apply to ``modality`` (plus ``deletion:substrate=true`` where the environment
    lends a ``true_baseline``); ``"all"`` — every built-in one that applies, but those that explain
    each map again (``needs="method"``: sensitivity-max, 10× the method's cost), which run only by
    name; ``"none"`` — none; or
    the names given (an unknown name, or one that does not apply to ``modality``, is an error).
    ``+name`` entries add to the defaults.

    Example:
        >>> automatic_specs("none", "image"), automatic_specs(["sparseness"], "image")
        ([], ['sparseness'])
        >>> "comprehensiveness" in automatic_specs(None, "text")
        True
    """
    _load_builtin()
    if requested is None:
        requested = [DEFAULT]
    if isinstance(requested, str):
        requested = [r.strip() for r in requested.split(",") if r.strip()]
    requested = list(requested)
    if any(r.startswith("+") for r in requested) and not {DEFAULT, "all", "none"} & set(requested):
        requested = [DEFAULT] + requested  # +name adds to the defaults
    out: list[str] = []
    for item in requested:
        if item == "none":
            continue
        if item in (DEFAULT, "all"):
            for name in list_metrics(None, modality):
                info = _REGISTRY[name]
                if info.fn is None or (item == DEFAULT and not info.default) or info.needs == "method":
                    continue  # a metric that explains every map again (sensitivity-max) is only run by name
                out.append(name)
                if name == "deletion" and "true_baseline" in context_keys:
                    out.append("deletion:substrate=true")
            continue
        spec = item[1:] if item.startswith("+") else item
        bound = get_metric(spec)
        if not bound.info.applies_to(modality):
            raise AttrlabError(f"metric '{bound.info.name}' takes {bound.info.inputs} inputs; this environment's "
                               f"models take {INPUTS_OF_MODALITY.get(modality, modality)}")
        out.append(spec if bound.label != spec and is_reference(spec) else bound.label)
    return list(dict.fromkeys(out))
