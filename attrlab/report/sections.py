"""Report sections as a registry: each section declares the record columns it needs and renders
HTML from a run folder's records (and the saved maps) alone.

``report/`` registers only the generic sections (verification, scores per setting, method
variants, failures); an environment that records facts of its own registers the sections that
read them beside its code (``environments/<name>_report.py``), so the report knows no
environment by name. A section is drawn when every column it ``needs`` is in the records.

Example:
    >>> import pandas as pd
    >>> @register_section("demo", needs={"group_colour"}, order=99)
    ... def _demo(ctx):
    ...     return [f"<p>{ctx.records['group_colour'].nunique()} colours</p>"]
    >>> records = pd.DataFrame({"group_colour": ["red", "blue"]})
    >>> [s.name for s in sections_for(records) if s.name == "demo"]
    ['demo']
    >>> _ = _SECTIONS.pop("demo")
"""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from ..core import VerificationReport


@dataclass(frozen=True)
class SectionContext:
    """What a section may read: the run folder, its records and their summary table, the settings
    in order of appearance, its config and verification, and where figures go."""

    out: Path
    records: pd.DataFrame
    table: pd.DataFrame
    settings: list
    config: Mapping[str, Any]
    verification: VerificationReport
    fig_dir: Path

    @property
    def maps_dir(self) -> Path:
        return self.out / "maps"


@dataclass(frozen=True)
class Section:
    name: str
    needs: frozenset
    render: Callable[[SectionContext], list]
    order: int = 50
    css: str = ""
    metrics: frozenset = field(default_factory=frozenset)


_SECTIONS: dict[str, Section] = {}


def register_section(name: str, needs=(), order: int = 50, css: str = "", metrics=()):
    """Register ``render(ctx) -> [html parts]`` as a report section, drawn when the records have
    every column in ``needs`` (and, if given, at least one of ``metrics``). ``order`` places it
    (generic sections: 10 verification, 20 scores, 30 variants, 90 failures)."""
    def decorate(fn):
        _SECTIONS[name] = Section(name, frozenset(needs), fn, order, css, frozenset(metrics))
        return fn
    return decorate


def sections_for(records: pd.DataFrame) -> list[Section]:
    """The registered sections whose needs the records meet, in order."""
    cols = set(records.columns)
    present = set(records["metric"].unique()) if "metric" in cols and len(records) else set()
    return sorted((s for s in _SECTIONS.values() if s.needs <= cols and (not s.metrics or s.metrics & present)),
                  key=lambda s: (s.order, s.name))


def img(path: Path) -> str:
    """An ``<img>`` with the PNG embedded (the report is one self-contained file)."""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(Path(path).stem)}" src="data:image/png;base64,{data}">'


def table(df: pd.DataFrame | None, digits: int = 3) -> str:
    """A data frame as an escaped HTML table ('none' when empty)."""
    if df is None or df.empty:
        return "<p>none</p>"
    body = df.to_html(float_format=lambda v: f"{v:.{digits}f}", na_rep="–", border=0, escape=True)
    return f"<div style='overflow-x:auto'>{body}</div>"


def images(paths) -> list[str]:
    """``img`` of every path that is not ``None``."""
    return [img(p) for p in paths if p is not None]
