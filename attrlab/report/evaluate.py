"""``attrlab evaluate``'s page: ``evaluate.html`` — each method's automatic metrics on the user's
own model (the best method per metric marked, in the metric's declared direction), beside how far
the meta-evaluation found each metric agrees with the ground truth, and for images a gallery of
every method's signed maps on a few of the user's images."""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from ..metrics import direction
from .sections import img, table
from .style import page_start

NOT_A_MAP_SCORE = {"confidence"}  # the model's probability: recorded beside the maps' scores, never ranked


def _marked(means: pd.DataFrame) -> str:
    """The metric × method table as HTML, each metric's best method in bold green."""
    rows = []
    methods = list(means.columns)
    head = "".join(f"<th>{html.escape(str(m))}</th>" for m in methods)
    for metric, values in means.iterrows():
        arrow = "" if metric in NOT_A_MAP_SCORE else (" ↓" if direction(metric) == "lower" else " ↑")
        finite = values.dropna()
        best: set = set()
        if metric not in NOT_A_MAP_SCORE and len(finite) > 1 and finite.max() - finite.min() > 1e-9:
            top = finite.min() if direction(metric) == "lower" else finite.max()
            best = set(finite.index[(finite - top).abs() <= 1e-9])  # ties share it; a metric all tie marks none
        cells = "".join(
            f"<td{' class=ok' if m in best else ''}>{'–' if pd.isna(v) else f'{v:.3f}'}</td>"
            for m, v in values.items())
        rows.append(f"<tr><td>{html.escape(str(metric))}{arrow}</td>{cells}</tr>")
    return f"<div style='overflow-x:auto'><table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table></div>"


def _gallery(images: np.ndarray, titles: list[str], maps: dict[str, dict[int, np.ndarray]], samples: list[int],
             path: Path) -> Path | None:
    """Rows: the shown images; columns: the image, then each method's signed map (red for the
    predicted class, blue against it, each map scaled to its own largest magnitude)."""
    from .figures import finish, plt, signed_panel

    methods = [m for m in maps if maps[m]]
    if not methods or not samples:
        return None
    ncols = 1 + len(methods)
    fig, axes = plt.subplots(len(samples), ncols, figsize=(1.7 * ncols, 1.9 * len(samples)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for r, sample in enumerate(samples):
        axes[r, 0].imshow(images[r], interpolation="nearest")
        axes[r, 0].set_title(titles[r], fontsize=7)
        for c, m in enumerate(methods, start=1):
            if sample in maps[m]:
                signed_panel(axes[r, c], m, maps[m][sample])
    fig.suptitle("each method's map of the predicted class (red = for it, blue = against it)", fontsize=9)
    return finish(fig, path, dpi=90)


def write_evaluate_report(means: pd.DataFrame, trust: dict[str, str], out: str | Path, *, model: str,
                          shown: dict | None = None, failed: pd.DataFrame | None = None,
                          left_out: dict | None = None) -> Path:
    """Write ``out/evaluate.html`` from the method × metric means (``means``: rows methods), each
    metric's trust line, and for images ``shown`` = ``{"images": (K, H, W, C) array, "titles": [...],
    "samples": [...], "maps": {method: {sample: (H, W) signed map}}}``."""
    out = Path(out)
    by_metric = means.T
    parts = [page_start(f"attrlab evaluate: {model}", f"attrlab evaluate: <code>{html.escape(model)}</code>"),
             "<p>Your model has no ground truth, so each method's maps are scored by automatic metrics; each "
             "metric stands beside how far the meta-evaluation found its ranking of methods to agree with the "
             "ground truth's (Kendall τ per environment, 95% interval). Believe a metric's ranking only where its τ "
             "is high; the best method per metric is in green.</p>",
             "<h2>Automatic metrics (mean per method)</h2>", _marked(by_metric),
             "<h2>How far to trust each metric</h2><ul>"]
    parts += [f"<li><b>{html.escape(m)}</b>: {html.escape(line)}</li>" for m, line in trust.items()]
    parts.append("</ul>")
    if shown:
        path = _gallery(shown["images"], shown["titles"], shown["maps"], shown["samples"], out / "evaluate_maps.png")
        if path is not None:
            parts += ["<h2>Maps</h2>", img(path)]
    if left_out:
        parts += ["<h2>Methods left out</h2><ul>"] + [f"<li>{html.escape(k)}: it {html.escape(v)}</li>"
                                                      for k, v in left_out.items()] + ["</ul>"]
    if failed is not None and not failed.empty:
        parts += ["<h2>Failures</h2>", table(failed.set_index("method"))]
    parts.append("</body></html>")
    page = out / "evaluate.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page
