"""``attrlab check``'s page: ``check.html`` (the verdict matrix, then each method's checks with
their numbers or reasons) and ``check.csv``, from the results of :func:`attrlab.checks.check_method`."""
from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from ..checks import THRESHOLDS, CheckResult, results_table, verdict_matrix
from .sections import table
from .style import page_start


def write_check_report(results: dict[str, list[CheckResult]], out) -> Path:
    """``out/check.html`` (verdict matrix, then each method's checks with their numbers) and
    ``out/check.csv``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [{"method": m, **results_table([r]).iloc[0].to_dict()} for m, rs in results.items() for r in rs]
    pd.DataFrame(rows).to_csv(out / "check.csv", index=False)
    parts = [page_start("attrlab check"),
             "<p>Thresholds: " + html.escape(", ".join(f"{k} = {v}" for k, v in THRESHOLDS.items())) + "</p>",
             "<h2>Verdicts</h2>", table(verdict_matrix(results))]
    for m, rs in results.items():
        parts += [f"<h2>{html.escape(m)}</h2>", table(results_table(rs).set_index("check"))]
    parts.append("</body></html>")
    path = out / "check.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
