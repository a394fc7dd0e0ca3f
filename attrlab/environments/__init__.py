"""Environments: each builds a model (designed, or trained and verified), evaluation sets with
ground truth, and a verification report, behind one contract
(:mod:`attrlab.environments.contract`): a declared spec and
``build(preset, *, seed, settings, device, progress, **options)``, registered by decorator.

A new built-in environment is one module plus one line in the import below (its report
sections, if it has any, register from its ``*_report`` module).

Example:
    >>> list_environments()
    ['attributionlab', 'grid', 'semi-natural-image', 'smerf', 'text-attention', 'text-rationale']
    >>> get_environment("smerf").spec.modality
    'image'
"""
from __future__ import annotations

from ..core import Environment
from .contract import EnvironmentSpec, Option, get_environment, list_environments, register_environment

# importing a module registers its environment (and its report sections)
from . import attributionlab, grid, semi_natural_image, semi_natural_text, smerf, text_rationale  # noqa: E402,F401

__all__ = ["Environment", "EnvironmentSpec", "Option", "get_environment", "list_environments", "register_environment"]
