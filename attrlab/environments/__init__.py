"""Environments: each builds a model (designed, or trained and verified), evaluation sets with
ground truth, and a verification report, behind one contract
(:mod:`attrlab.environments.contract`): a declared spec and
``build(preset, *, seed, settings, device, progress, **options)``, registered by decorator.

Environments are found through entry points (:mod:`attrlab.plugins`): a new built-in one is a
module and a line under ``[project.entry-points."attrlab.environments"]`` in pyproject.toml; its
report sections, if it has any, a ``*_report`` module under ``"attrlab.report_sections"``. Another
package adds its own the same way.

Example:
    >>> list_environments()
    ['attributionlab', 'grid', 'semi-natural-image', 'smerf', 'text-attention', 'text-rationale']
    >>> get_environment("smerf").spec.modality
    'image'
"""
from __future__ import annotations

from .contract import (EnvironmentSpec, Option, declare_environment, get_environment, list_environments,
                       register_environment)

__all__ = ["Environment", "EnvironmentSpec", "Option", "declare_environment", "get_environment", "list_environments",
           "register_environment"]


def __getattr__(name: str):
    if name == "Environment":  # attrlab.core imports torch: only when asked for
        from ..core import Environment

        return Environment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
