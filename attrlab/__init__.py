"""attrlab: test feature-attribution methods against ground truth.

Example:
    >>> import attrlab
    >>> env = attrlab.build_environment("attributionlab", n_images=2, size=32)
    >>> ev = env.eval_sets[0]
    >>> method = attrlab.get_method("deeplift:baseline=true")   # DeepLIFT with the true baseline
    >>> maps = method(ev.model, ev.inputs, ev.targets, **ev.context)
    >>> scores = attrlab.score(maps, ev.ground_truth)
    >>> scores["overall_f1"].tolist(), scores["positive_f1"].tolist()
    ([1.0, 1.0], [1.0, 1.0])
"""
from __future__ import annotations

from .version import __version__  # noqa: E402

from typing import TYPE_CHECKING  # noqa: E402

from .errors import AttrlabError  # noqa: E402

if TYPE_CHECKING:
    from .core import Environment

# The rest is imported on first use (PEP 562): attrlab.core imports torch (seconds), and the command
# line's first screen (`attrlab --help`, `attrlab list environments`) needs none of it.
_LAZY = {"GroundTruth": "core", "EvalSet": "core", "Environment": "core", "Record": "core", "Method": "core",
         "MetricConfig": "evaluation", "score": "evaluation",
         "get_method": "methods", "list_methods": "methods", "register": "methods"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_environment(name: str, preset: str = "quick", seed: int = 0, settings=None, **options) -> Environment:
    """Build a registered environment by name (see ``attrlab list environments``)."""
    from .environments import get_environment

    return get_environment(name).build(preset, seed=seed, settings=settings, **options)


def check_method(method, **kwargs):
    """A method's verdict: contract, sanity and ground-truth checks (see :mod:`attrlab.checks`)."""
    from .checks import check_method as _check

    return _check(method, **kwargs)


def run(config):
    """Run one environment's methods and write records, verification and a report (see
    :class:`attrlab.runner.RunConfig`); returns the output directory. Many seeds or grids:
    :func:`attrlab.study.run_study`."""
    from .runner import run as _run

    return _run(config)


__all__ = ["GroundTruth", "EvalSet", "Environment", "Record", "Method", "AttrlabError", "MetricConfig", "score",
           "get_method", "list_methods", "register", "build_environment", "run", "check_method", "__version__"]
