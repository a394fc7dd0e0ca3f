"""Environments: each builds a model (designed, or trained and verified), evaluation sets with
ground truth, and a verification report. ``ENVIRONMENTS`` maps CLI names to builders
``build(preset, seed, settings=None, **options) -> Environment``.

Example:
    >>> sorted(ENVIRONMENTS)
    ['attributionlab', 'semi-natural-image', 'smerf', 'text-attention', 'text-rationale']
"""
from __future__ import annotations

from typing import Any

from ..core import Environment
from ..errors import unknown_name
from . import attributionlab, semi_natural_image, semi_natural_text, smerf, text_rationale

ENVIRONMENTS: dict[str, Any] = {"attributionlab": attributionlab, "smerf": smerf,
                                "semi-natural-image": semi_natural_image, "text-attention": semi_natural_text,
                                "text-rationale": text_rationale}


def get_environment(name: str):
    """The environment module for ``name`` (it has ``build``, ``default_methods``, ``SETTINGS``)."""
    if name not in ENVIRONMENTS:
        raise unknown_name("environment", name, ENVIRONMENTS, f"Available: {', '.join(sorted(ENVIRONMENTS))}")
    return ENVIRONMENTS[name]


__all__ = ["ENVIRONMENTS", "get_environment", "Environment"]
