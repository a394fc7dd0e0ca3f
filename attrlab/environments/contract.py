"""The environment contract: a declared :class:`EnvironmentSpec` and one ``build`` signature,
registered by decorator the way methods are.

Every environment declares what it is and implements

    build(preset, *, seed, settings, device, progress, **options) -> Environment

An environment whose build needs heavy imports (torch, its models) may declare itself in a light
module and name its build by reference, ``declare_environment(SPEC, "pkg.module:build")``: the
command line's help and ``attrlab list environments`` then read every declaration without
importing any build (attrlab's own environments do: ``<name>_spec.py`` beside ``<name>.py``).

where ``options`` are already resolved: every declared :class:`Option`, typed and validated, with
the preset's value unless the user set another. The CLI's flags and ``--set`` errors,
``attrlab list environments -v`` and the model cache keys are all generated from the declaration.

Example:
    >>> from attrlab.core import Environment
    >>> SPEC = EnvironmentSpec("demo-env", "a demonstration", modality="image", settings=("only",),
    ...                        presets={"quick": {"n": 2}}, options=(Option("n", int, 4, "images", minimum=1),))
    >>> @register_environment(SPEC)
    ... def build(preset, *, seed, settings, device, progress, n):
    ...     return Environment("demo-env", {"n": n}, [])
    >>> get_environment("demo-env").resolve("quick", {"n": "3"})
    {'n': 3}
    >>> get_environment("demo-env").resolve("quick", {"n": "0"})
    Traceback (most recent call last):
    attrlab.errors.AttrlabError: demo-env option n=0 is below its minimum 1 (images)
    >>> _ = _REGISTRY.pop("demo-env")
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence

from .. import plugins
from ..errors import AttrlabError, unknown_name
from ..imports import is_reference, load_object

if TYPE_CHECKING:  # attrlab.core imports torch; declarations must not
    from ..core import Environment

SMOKE = "ATTRLAB_SMOKE"  # set (not 0): every environment built at its test_options (EnvironmentSpec.resolve)

MODALITIES = ("image", "text", "rationale")


@dataclass(frozen=True)
class Option:
    """One declared environment option.

    Attributes:
        name: as typed after ``--set`` (and as the ``build`` keyword).
        type: ``int``, ``float``, ``str`` or ``bool``; CLI text is converted to it.
        default: the value when neither the preset nor the user sets one.
        help: one line, shown by ``attrlab list environments -v`` and in errors.
        choices: the allowed values, when the option is an enumeration.
        minimum / maximum: bounds for numbers (inclusive).
        shapes_model: whether the option shapes the trained model, so it enters the model's cache key
            (evaluation-only options such as the number of attributed test images do not).
        flag: also offered as its own CLI flag (``--images DIR``), not only ``--set``.
        references: besides ``choices``, a class or factory is accepted, as a Python object or
            by reference (``module:Name``, ``file.py:Name``): a user's own model.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple = ()
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    shapes_model: bool = True
    flag: bool = False
    references: bool = False

    def convert(self, value: Any, env: str = "") -> Any:
        """``value`` (CLI text or a Python value) as this option's type, validated."""
        where = f"{env} option {self.name}"
        if value is None and self.type is not str:
            return None
        if self.references and isinstance(value, str) and value.startswith("hf:"):
            from ..models.transformer import check_checkpoint

            check_checkpoint(value[3:])  # a folder that is no checkpoint is refused now, in one line
            return value
        if self.references and (callable(value) or (isinstance(value, str) and value not in self.choices
                                                    and is_reference(value))):
            if isinstance(value, str):
                load_object(value)  # a reference that does not resolve is refused now, in one line
            return value
        try:
            if self.type is bool and isinstance(value, str):
                low = value.strip().lower()
                if low not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(value)
                out: Any = low in ("1", "true", "yes")
            elif self.type is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            elif self.type is int and isinstance(value, str):
                out = int(value.strip())
            elif self.type is str:
                out = "" if value is None else str(value)
            else:
                out = self.type(value)
        except (TypeError, ValueError):
            raise AttrlabError(f"{where}={value!r} is not {_article(self.type)} ({self.help})") from None
        if isinstance(out, float) and not math.isfinite(out):
            raise AttrlabError(f"{where}={value} must be a finite number ({self.help})")
        if self.choices and out not in self.choices:
            more = " or your own class (module:Class, file.py:Class)" if self.references else ""
            raise AttrlabError(f"{where}={out!r} is not allowed; choose one of {', '.join(map(str, self.choices))}{more}")
        if self.minimum is not None and out < self.minimum:
            raise AttrlabError(f"{where}={out} is below its minimum {self.minimum:g} ({self.help})")
        if self.maximum is not None and out > self.maximum:
            raise AttrlabError(f"{where}={out} is above its maximum {self.maximum:g} ({self.help})")
        return out


def _article(t: type) -> str:
    return {int: "an integer", float: "a number", bool: "a boolean (true/false)", str: "text"}.get(t, t.__name__)


@dataclass(frozen=True)
class EnvironmentSpec:
    """What an environment declares about itself.

    Attributes:
        name: the CLI name.
        description: one line for ``attrlab list environments``.
        modality: the inputs its models take (``image``: N×C×H×W floats; ``text``: N×L token ids;
            ``rationale``: token ids of a select-then-predict model). The runner's default methods
            are every registered method of this modality.
        settings: the named settings (models / reasoning rules) it offers.
        presets: preset name → option values (``quick`` first: it is the default).
        options: the declared :class:`Option` s.
        in_default_run: whether a bare ``attrlab run`` runs it.
        paper_methods: the paper's method name → the registry spec that stands for it (``None``
            where no kept library offers it); these run first by default.
        extra_methods: method variants run beside the modality's methods by default (e.g. IG with
            the true baseline).
        open_settings: settings are checked by the environment itself (names that are planned
            from options, like ``article-rl-sel0.11``), not against ``settings``.
        test_options: options for a tiny build that the contract test runs (seconds on a CPU).
        reasons: why a paper method maps to ``None`` or to a stand-in.
        headline: ``(metric, name)``: the one metric ``attrlab compare`` ranks methods by in this
            environment, and what the paper calls it (PAFL, Attr%, positive F1, ...); its direction is
            the metric registry's (:func:`attrlab.metrics.direction`).
        pointing: the ground-truth masks whose union is the region a person would point to, for
            the automatic pointing game (SMERF: every object, ``("focus", "avoid")``).
        ground_truth_metrics: ground-truth metrics beyond the ones every environment gets, by
            registered name (the grid's ``localisation``: :func:`attrlab.evaluation.score`'s ``extra``).
        recipes: recipe name → option values, chosen with the declared option ``recipe``
            (``--set recipe=paper``): applied over the preset and under the user's own values, so
            ``--set recipe=paper --set embeddings=learned`` changes one piece of the recipe.
        model_defaults: a ``model`` option's value (or a prefix ending in ``:``, e.g. ``hf:``) →
            option values that suit that architecture (a transformer's learning rate), applied like
            a recipe: over the preset and the recipe, under the user's own values.
    """

    name: str
    description: str
    modality: str
    settings: tuple
    presets: Mapping[str, Mapping[str, Any]]
    options: tuple = ()
    in_default_run: bool = False
    paper_methods: Mapping[str, Optional[str]] = field(default_factory=dict)
    extra_methods: tuple = ()
    open_settings: bool = False
    test_options: Mapping[str, Any] = field(default_factory=dict)
    reasons: Mapping[str, str] = field(default_factory=dict)
    headline: tuple = ("mass_focus", "share of attribution on the ground truth")
    pointing: tuple = ("focus",)
    ground_truth_metrics: tuple = ()
    recipes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    model_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise AttrlabError(f"environment '{self.name}': modality must be one of {', '.join(MODALITIES)}")
        names = [o.name for o in self.options]
        if len(set(names)) != len(names):
            raise AttrlabError(f"environment '{self.name}' declares an option twice")
        for preset, values in self.presets.items():
            unknown = set(values) - set(names)
            if unknown:
                raise AttrlabError(f"environment '{self.name}' preset '{preset}' sets undeclared {', '.join(sorted(unknown))}")
        for model, values in self.model_defaults.items():
            unknown = set(values) - set(names)
            if unknown or "model" not in names:
                raise AttrlabError(f"environment '{self.name}' model_defaults '{model}' needs a declared 'model' option "
                                   f"and declared options only (undeclared: {', '.join(sorted(unknown)) or 'none'})")
        for recipe, values in self.recipes.items():
            unknown = set(values) - set(names)
            if unknown or "recipe" not in names:
                raise AttrlabError(f"environment '{self.name}' recipe '{recipe}' needs a declared 'recipe' option and "
                                   f"declared options only (undeclared: {', '.join(sorted(unknown)) or 'none'})")

    def option(self, name: str) -> Option:
        for o in self.options:
            if o.name == name:
                return o
        raise unknown_name(f"{self.name} option", name, [o.name for o in self.options],
                           f"It takes: {', '.join(o.name for o in self.options)}.")

    def resolve(self, preset: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every declared option's value: the user's (validated) over the preset's over the default.
        With the environment variable ``ATTRLAB_SMOKE=1`` the spec's ``test_options`` go over the
        preset (under the user's values): a command line runs end to end in seconds, at sizes where
        no trained model verifies — for trying a command, a plug-in or a study file."""
        if preset not in self.presets:
            raise AttrlabError(f"{self.name} has no preset '{preset}'; choose one of {', '.join(self.presets)}")
        values = {o.name: o.default for o in self.options}
        values.update(self.presets[preset])
        given = {key: self.option(key).convert(value, self.name) for key, value in (overrides or {}).items()}
        recipe = given.get("recipe", values.get("recipe"))
        if recipe is not None:
            values.update(self.recipes.get(recipe, {}))  # the recipe over the preset, under the user's values
        model = given.get("model", values.get("model"))
        if isinstance(model, str):
            for name, defaults in self.model_defaults.items():
                if model == name or (name.endswith(":") and model.startswith(name)):
                    values.update(defaults)
        if os.environ.get(SMOKE, "") not in ("", "0"):
            values.update(self.test_options)  # a smoke run: tiny sizes under the user's own values
        values.update(given)
        return values

    def model_key(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The options that shape a trained model (its cache key is derived from them)."""
        # a user's class or factory among them is keyed by its code (keys.content_hash)
        return {o.name: options[o.name] for o in self.options if o.shapes_model and o.name in options}


@dataclass(frozen=True)
class RegisteredEnvironment:
    """A spec with its build function; :meth:`build` resolves and validates the options first."""

    spec: EnvironmentSpec
    build_ref: Callable[..., "Environment"] | str  # the build function, or where it lives ("module:function")

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def build_fn(self) -> Callable[..., "Environment"]:
        """The build function (a reference is imported on first use)."""
        if isinstance(self.build_ref, str):
            fn = load_object(self.build_ref)
            if not callable(fn):
                raise AttrlabError(f"environment '{self.name}': {self.build_ref} is not a function")
            object.__setattr__(self, "build_ref", fn)
        return self.build_ref

    def resolve(self, preset: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.spec.resolve(preset, overrides)

    def check_settings(self, settings: Sequence[str] | None) -> list[str] | None:
        if settings is None:
            return None
        settings = list(settings)
        if not settings:
            raise AttrlabError(f"{self.name}: the list of settings is empty; choose from {', '.join(self.spec.settings)}")
        if not self.spec.open_settings:
            bad = [s for s in settings if s not in self.spec.settings]
            if bad:
                raise AttrlabError(f"unknown {self.name} setting(s) {', '.join(bad)}; choose from "
                                   f"{', '.join(self.spec.settings)}")
        return settings

    def build(self, preset: str = "quick", *, seed: int = 0, settings: Sequence[str] | None = None,
              device: str = "cpu", progress: bool = False, **overrides: Any) -> Environment:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise AttrlabError(f"seed must be a non-negative integer, got {seed!r}")
        from ..core import Environment  # here, not at the top: declarations stay importable without torch

        options = self.resolve(preset, overrides)
        env = self.build_fn(preset, seed=seed, settings=self.check_settings(settings), device=str(device),
                            progress=progress, **options)
        if not isinstance(env, Environment):
            raise AttrlabError(f"environment '{self.name}' built {type(env).__name__}, not an Environment")
        return env


_REGISTRY: dict[str, RegisteredEnvironment] = {}


def register_environment(spec: EnvironmentSpec):
    """Register ``build(preset, *, seed, settings, device, progress, **options)`` under ``spec.name``."""
    def decorate(fn):
        declare_environment(spec, fn)
        return fn
    return decorate


def declare_environment(spec: EnvironmentSpec, build: Callable[..., "Environment"] | str) -> None:
    """Register ``spec`` with its build function or a reference to it (``"module:function"``,
    imported on the first build), so a light module can declare an environment whose build needs
    torch."""
    if spec.name in _REGISTRY:
        raise AttrlabError(f"environment '{spec.name}' is registered twice")
    _REGISTRY[spec.name] = RegisteredEnvironment(spec, build)


def get_environment(name: str) -> RegisteredEnvironment:
    """The registered environment ``name``."""
    _load_builtin()
    if name not in _REGISTRY:
        raise unknown_name("environment", name, _REGISTRY, f"Available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def list_environments() -> list[str]:
    """Registered environment names, sorted."""
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    plugins.load("environments")  # attrlab's environments and any installed plug-in's (entry points)
