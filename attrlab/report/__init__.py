"""Reports: tables, figures and the HTML page, all computed from a run folder's records."""
from . import automatic  # noqa: F401  (registers the automatic-metrics section)
from .html import build_report
from .tables import failures, load_records, summary, timings

__all__ = ["build_report", "summary", "failures", "timings", "load_records"]
