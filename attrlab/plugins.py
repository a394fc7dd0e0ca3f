"""Extensions found through entry points, the way pytest finds its plug-ins: attrlab's own
environments, methods, metrics and report sections are declared in its ``pyproject.toml`` exactly
as another package declares its own, so a separately installed package adds an environment or a
method that ``attrlab list`` shows, without editing attrlab.

Groups (each entry point names a module; importing it registers what it holds)::

    attrlab.environments     # modules that call attrlab.environments.declare_environment (or register_environment)
    attrlab.methods          # modules that call attrlab.methods.register
    attrlab.metrics          # modules that call attrlab.metrics.register_metric
    attrlab.report_sections  # modules that call attrlab.report.sections.register_section

A plug-in package declares, in its ``pyproject.toml``::

    [project.entry-points."attrlab.methods"]
    my_methods = "my_package.methods"

attrlab's own entry points load first; a plug-in that fails to import is skipped with a warning
that names it (attrlab's own failing is an error).

Example:
    >>> sorted(ep.name for ep in entry_points_of("methods") if ep.value.startswith("attrlab."))[:3]
    ['attention', 'gradients', 'lrp']
"""
from __future__ import annotations

import importlib.metadata
import warnings

from .errors import AttrlabError

GROUPS = {"environments": "attrlab.environments", "methods": "attrlab.methods", "metrics": "attrlab.metrics",
          "report_sections": "attrlab.report_sections"}

_LOADED: set[str] = set()


def entry_points_of(kind: str) -> list:
    """The entry points of ``kind`` (a key of :data:`GROUPS`), attrlab's own first."""
    if kind not in GROUPS:
        raise AttrlabError(f"unknown plug-in kind '{kind}'; one of {', '.join(GROUPS)}")
    found = list(importlib.metadata.entry_points(group=GROUPS[kind]))
    return sorted(found, key=lambda ep: (not _own(ep), ep.value))


def _own(ep) -> bool:
    return ep.value.split(":")[0].split(".")[0] == "attrlab"


def load(kind: str) -> None:
    """Import every module of ``kind`` once (they register themselves)."""
    if kind in _LOADED:
        return
    _LOADED.add(kind)
    points = entry_points_of(kind)
    if not any(_own(ep) for ep in points):
        _LOADED.discard(kind)
        raise AttrlabError(f"attrlab's built-in {kind} are found through its entry points, and none is installed: "
                           "install attrlab (pip install -e .), or reinstall it after pyproject.toml changed")
    for ep in points:
        try:
            ep.load()
        except Exception as exc:
            if _own(ep):
                raise
            warnings.warn(f"attrlab plug-in {ep.name} ({ep.value}) in {GROUPS[kind]} was not loaded: "
                          f"{type(exc).__name__}: {exc}", stacklevel=2)
