"""Checks for environments and methods, for attrlab's tests and for your own repository's CI.

Methods: :func:`parametrize_with_checks` turns :mod:`attrlab.checks` into pytest cases, one per
(method, check), so a method's repository runs attrlab's verdict in its CI::

    from attrlab.testing import parametrize_with_checks

    @parametrize_with_checks(["mypkg.attr:vargrad"], groups=("contract", "sanity"))
    def test_attrlab_checks(method, check, lab):
        check(method, lab)   # passes, or fails with the check's reason; skips say why

Environments: checks of the environment contract, in the manner of scikit-learn's ``check_estimator``: each
check is a plain function that passes or raises ``AssertionError`` with the reason, and
:func:`check_environment` runs them all on a tiny build of a registered environment (its spec's
``test_options``), so a new environment — ours or a user's — is tested the same way.

Example:
    >>> import tempfile
    >>> check_environment("attributionlab", cache_dir=tempfile.mkdtemp())  # doctest: +ELLIPSIS
    ['check_spec_declares_valid_presets', ...]
"""
from __future__ import annotations

import json
import os
from typing import Callable

import torch

from .core import Environment, Verification
from .environments import get_environment
from .environments.contract import RegisteredEnvironment


def check_spec_declares_valid_presets(reg: RegisteredEnvironment, env: Environment) -> None:
    """Every preset resolves, every option's preset value passes its own validation, and the
    quick preset exists (it is the default)."""
    spec = reg.spec
    assert "quick" in spec.presets, f"{spec.name}: no 'quick' preset"
    for preset in spec.presets:
        values = spec.resolve(preset)
        for opt in spec.options:
            if values[opt.name] is not None:
                opt.convert(values[opt.name], spec.name)


def check_eval_sets_match_the_spec(reg: RegisteredEnvironment, env: Environment) -> None:
    """The environment names itself, builds at least one evaluation set, and each setting is a
    declared one (or the spec says settings are planned from options)."""
    assert env.name == reg.spec.name, f"built '{env.name}', registered as '{reg.spec.name}'"
    assert len(env.eval_sets) > 0, "no evaluation sets"
    names = [ev.setting for ev in env.eval_sets]
    assert len(set(names)) == len(names), f"settings repeat: {names}"
    if not reg.spec.open_settings:
        assert set(names) <= set(reg.spec.settings), f"undeclared settings {set(names) - set(reg.spec.settings)}"


def check_inputs_fit_the_modality(reg: RegisteredEnvironment, env: Environment) -> None:
    """Images are float N×C×H×W; text and rationale inputs are integer token ids N×L; targets are
    integer class indices the model can output."""
    for ev in env.eval_sets:
        if reg.spec.modality == "image":
            assert ev.inputs.dim() == 4 and ev.inputs.is_floating_point(), f"{ev.setting}: images must be float NCHW"
        else:
            assert ev.inputs.dim() == 2 and not ev.inputs.is_floating_point(), f"{ev.setting}: token ids must be N×L ints"
        assert ev.targets.dtype == torch.long, f"{ev.setting}: targets must be long"
        with torch.no_grad():
            out = ev.model(ev.inputs[:2])
        assert out.dim() == 2 and out.shape[0] == min(2, len(ev)), f"{ev.setting}: model output {tuple(out.shape)}"
        assert int(ev.targets.max()) < out.shape[1], f"{ev.setting}: a target exceeds the model's {out.shape[1]} classes"


def check_models_are_frozen(reg: RegisteredEnvironment, env: Environment) -> None:
    """Methods receive models in eval mode whose parameters need no gradient."""
    for ev in env.eval_sets:
        assert not ev.model.training, f"{ev.setting}: model in training mode"
        assert not any(p.requires_grad for p in ev.model.parameters()), f"{ev.setting}: parameters require grad"


def check_verification_is_typed_and_serialisable(reg: RegisteredEnvironment, env: Environment) -> None:
    """Every evaluation set carries a :class:`Verification`; the report is JSON."""
    for ev in env.eval_sets:
        assert isinstance(ev.verification, Verification), f"{ev.setting}: no Verification"
    json.dumps(env.verification.as_json(), default=str)
    json.dumps(dict(env.config), default=str)


def check_facts_are_per_sample_scalars(reg: RegisteredEnvironment, env: Environment) -> None:
    """Ground-truth facts (the records' ``group_*`` columns) hold one plain value per sample."""
    for ev in env.eval_sets:
        for key, values in ev.ground_truth.facts.items():
            assert len(values) == len(ev), f"{ev.setting}: fact {key} has {len(values)} values"
            assert all(isinstance(v, (int, float, str, bool)) for v in values), f"{ev.setting}: fact {key} not scalar"


def check_default_methods_run(reg: RegisteredEnvironment, env: Environment) -> None:
    """The runner's default methods resolve, and the first one gives maps of the input's shape."""
    from .methods import get_method
    from .runner import default_methods

    names = default_methods(reg.spec)
    assert names, f"no default methods for modality {reg.spec.modality}"
    methods = [get_method(n) for n in names]
    ev = env.eval_sets[0]
    part = ev.batch(0, min(2, len(ev)))
    maps = methods[0](part.model, part.inputs, part.targets, **part.method_context())
    assert maps.shape == part.inputs.shape


def check_a_setting_is_the_same_alone_or_with_others(reg: RegisteredEnvironment, env: Environment) -> None:
    """A setting built alone has the same evaluation data and model as built beside another one:
    a study trains each model in its own job (settings=[one]) and attributes with all of them, and
    a model cache keyed by setting must not meet other data (seeds by the setting's identity, never
    its place in the list)."""
    if len(reg.spec.settings) < 2:
        return
    first, second = reg.spec.settings[:2]
    options = dict(reg.spec.test_options)
    together = {ev.setting: ev for ev in reg.build("quick", seed=0, settings=[first, second], **options).eval_sets}
    alone = {ev.setting: ev for ev in reg.build("quick", seed=0, settings=[second], **options).eval_sets}
    for name, ev in alone.items():
        assert name in together, f"{name} built alone but not beside {first}"
        other = together[name]
        assert torch.equal(ev.inputs, other.inputs) and torch.equal(ev.targets, other.targets), \
            f"{name}: other evaluation data alone than beside {first}"
        for (k, a), (_, b) in zip(ev.model.state_dict().items(), other.model.state_dict().items()):
            assert torch.equal(a, b), f"{name}: another model alone than beside {first} ({k})"


CHECKS: tuple[Callable[[RegisteredEnvironment, Environment], None], ...] = (
    check_spec_declares_valid_presets, check_eval_sets_match_the_spec, check_inputs_fit_the_modality,
    check_models_are_frozen, check_verification_is_typed_and_serialisable, check_facts_are_per_sample_scalars,
    check_default_methods_run, check_a_setting_is_the_same_alone_or_with_others,
)


def build_tiny(name: str, cache_dir: str | os.PathLike | None = None, seed: int = 0) -> Environment:
    """The environment built with its spec's ``test_options`` (and ``cache_dir`` where declared)."""
    reg = get_environment(name)
    options = dict(reg.spec.test_options)
    if cache_dir is not None and any(o.name == "cache_dir" for o in reg.spec.options):
        options["cache_dir"] = str(cache_dir)
    return reg.build("quick", seed=seed, settings=[reg.spec.settings[0]], **options)


def check_environment(name: str, cache_dir: str | os.PathLike | None = None) -> list[str]:
    """Run every contract check on a tiny build of ``name``; returns the names of the checks
    (all passed), or raises ``AssertionError`` naming the first that failed and why."""
    reg = get_environment(name)
    env = build_tiny(name, cache_dir)
    passed = []
    for check in CHECKS:
        try:
            check(reg, env)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {check.__name__} failed: {exc}") from None
        passed.append(check.__name__)
    return passed


def parametrize_with_checks(methods, groups=("contract", "sanity", "ground truth"), cache_dir: str | None = None):
    """A pytest decorator: one case per (method, check) with ids like ``vargrad-check_same_seed_same_map``;
    the test receives ``method`` (bound), ``check`` (a function that raises on failure and calls
    ``pytest.skip`` for a check that does not apply) and ``lab`` (shared fixtures, built once)."""
    import pytest

    from .checks import CHECKS, CheckSkipped, Lab
    from .methods import get_method

    bound = [get_method(m, defaults={"seed": 0}) for m in methods]
    lab = Lab(cache_dir)

    def skipping(check):
        def run(method, lab):
            try:
                return check(method, lab)
            except CheckSkipped as exc:
                pytest.skip(str(exc))
        run.__name__ = check.__name__
        return run

    cases = [(m, skipping(c), lab) for m in bound for g in groups for c in CHECKS[g]]
    ids = [f"{m.label}-{c.__name__}" for m, c, _ in cases]
    return pytest.mark.parametrize("method, check, lab", cases, ids=ids)
