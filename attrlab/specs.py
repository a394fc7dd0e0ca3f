"""Specs of the form ``name:key=value:key=value`` — how methods and metrics are named with their
parameters on the command line and in study files. One parser for both registries: a value takes
the type of the parameter's default.

Example:
    >>> parse_params("occlusion:window=8:baseline=true", {"window": 4, "baseline": "zeros"}, "method")
    {'window': 8, 'baseline': 'true'}
"""
from __future__ import annotations

from typing import Any, Mapping

from .errors import AttrlabError


def convert(value: str, default: Any) -> Any:
    """``value`` as the type of ``default`` (bool, int, float or str); ValueError when it is not."""
    if isinstance(default, bool):
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
        raise AttrlabError(f"'{value}' is not a boolean")
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value


def parse_params(spec: str, defaults: Mapping[str, Any], kind: str) -> dict:
    """The typed parameters of ``spec`` (its name is the part before the first ``:``), checked
    against the ``defaults`` of the ``kind`` ("method", "metric") it names; one-line errors."""
    parts = [p for p in spec.strip().split(":") if p]
    name, params = parts[0], {}
    for part in parts[1:]:
        key, eq, value = part.partition("=")
        if not eq:
            raise AttrlabError(f"{kind} parameter '{part}' in '{spec}' must look like key=value")
        if key not in defaults:
            raise AttrlabError(f"{kind} '{name}' has no parameter '{key}'; it takes: "
                               f"{', '.join(sorted(defaults)) or 'none'}")
        try:
            params[key] = convert(value, defaults[key])
        except ValueError as exc:
            raise AttrlabError(f"bad value for {name}:{key}: {exc}") from None
    return params
