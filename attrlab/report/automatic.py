"""The report's automatic-metrics section: per setting, each method's ground-truth-free scores
beside the environment's headline ground-truth metric, with their declared directions, the share
of undefined values, and what each metric cost (forward passes and seconds per map, from
``jobs.csv``); a rank figure shows at a glance where the automatic metrics order the methods as
the ground truth does and where they do not. Rendered from records alone.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..metrics.registry import direction, family
from .sections import SectionContext, images, register_section, table


def automatic_metrics(records: pd.DataFrame) -> list[str]:
    """The automatic metrics in ``records`` (completeness, a check of one claim, left out)."""
    if "metric" not in records or records.empty:
        return []
    names = [m for m in dict.fromkeys(records["metric"]) if family(m) == "automatic" and m != "completeness_gap"]
    return names


def arrow(metric: str) -> str:
    """``metric ↑`` (higher is better) or ``metric ↓``."""
    return f"{metric} {'↓' if direction(metric) == 'lower' else '↑'}"


def metric_costs(out: Path) -> pd.DataFrame:
    """Forward passes and seconds per map of each automatic metric, over the run's jobs."""
    path = Path(out) / "jobs.csv"
    if not path.exists():
        return pd.DataFrame()
    jobs = pd.read_csv(path, keep_default_na=False)
    if jobs.empty or "forward_passes" not in jobs:
        return pd.DataFrame()
    rows = []
    for _, job in jobs.iterrows():
        try:
            passes = json.loads(job["forward_passes"] or "{}")
            seconds = json.loads(job.get("metric_seconds", "") or "{}")
        except (TypeError, ValueError):
            continue
        maps = max(int(job["stop"]) - int(job["start"]), 1)
        for metric, n in passes.items():
            rows.append({"metric": metric, "forward passes per map": float(n), "seconds": seconds.get(metric, np.nan),
                         "maps": maps})
    if not rows:
        return pd.DataFrame()
    t = pd.DataFrame(rows).groupby("metric").agg(**{"forward passes per map": ("forward passes per map", "mean"),
                                                    "seconds": ("seconds", "sum"), "maps": ("maps", "sum")})
    t["ms per map"] = 1000 * t["seconds"] / t["maps"]
    samples = max(int((jobs["stop"] - jobs["start"]).sum()), 1)
    t.loc["(the methods themselves)", ["seconds", "maps"]] = [jobs["seconds"].astype(float).sum(), samples]
    t.loc["(the methods themselves)", "ms per map"] = 1000 * jobs["seconds"].astype(float).sum() / samples
    return t[["forward passes per map", "ms per map", "seconds"]]


def rank_figure(means: pd.DataFrame, path: Path, title: str) -> Path | None:
    """Methods × metrics, each cell coloured by the method's rank in that column (1 = best, in the
    metric's direction) and labelled with its mean; the first column is the ground truth."""
    from .figures import finish, plt

    if means.empty or means.shape[1] < 2:
        return None
    ranks = pd.DataFrame({c: means[c].rank(ascending=direction(c) == "lower", method="min") for c in means.columns})
    fig, ax = plt.subplots(figsize=(1.0 * means.shape[1] + 3, 0.3 * len(means) + 1.8))
    ax.imshow(ranks.to_numpy(float), cmap="viridis_r", aspect="auto", vmin=1, vmax=max(2, len(means)))
    for (i, j), v in np.ndenumerate(means.to_numpy(float)):
        r = ranks.iloc[i, j]
        ax.text(j, i, "–" if np.isnan(v) else f"{v:.2f}\n#{int(r)}", ha="center", va="center", fontsize=6,
                color="black" if (np.isnan(r) or r <= len(means) / 2) else "white")
    ax.set_xticks(range(means.shape[1]), [arrow(c).replace("_", "\n", 1) for c in means.columns], fontsize=7,
                  rotation=30, ha="right")
    ax.set_yticks(range(len(means)), means.index, fontsize=7)
    ax.axvline(0.5, color="white", lw=3)
    ax.set_title(title, fontsize=9)
    return finish(fig, path)


@register_section("automatic", needs={"setting", "method", "metric", "value"}, order=22)
def _automatic(ctx: SectionContext) -> list[str]:
    autos = automatic_metrics(ctx.records)
    if not autos:
        return []
    head = ctx.config.get("headline", {}).get("metric", "mass_focus")
    ok = ctx.records[ctx.records["status"] == "ok"]
    parts = ["<h2>Automatic (ground-truth-free) metrics</h2>",
             "<p>What a practitioner would compute on a model with no ground truth, on the same maps, beside the "
             f"ground truth's <code>{html.escape(head)}</code> (first column). ↑: higher is better, ↓: lower. "
             "<i>undefined</i> is the share of NaN values (an all-zero map has no entropy and no correlation): counted, "
             "never dropped. The figure colours each method by its rank per column: where a column's colours differ "
             "from the first one's, that metric would have picked other methods than the ground truth does. "
             "Definitions and defaults: <code>attrlab list metrics -v</code>.</p>"]
    for setting in ctx.settings:
        mine = ok[ok["setting"] == setting]
        cols = [c for c in [head, *autos] if c in set(mine["metric"])]
        if len(cols) < 2:
            continue
        view = mine[mine["metric"].isin(cols)]
        means = view.pivot_table(index="method", columns="metric", values="value", aggfunc="mean").reindex(columns=cols)
        undefined = view.assign(nan=view["value"].isna()).pivot_table(index="method", columns="metric",
                                                                         values="nan", aggfunc="mean")
        if head in means:
            means = means.sort_values(head, ascending=direction(head) == "lower")
        shown = means.rename(columns=arrow)
        bad = undefined[[c for c in autos if c in undefined.columns]]
        bad = bad.loc[:, bad.max() > 0] if not bad.empty else bad
        parts.append(f"<h3>{html.escape(setting)}</h3>")
        parts.append(table(shown))
        if not bad.empty and bad.shape[1]:
            parts.append("<p>Share undefined (NaN):</p>" + table(bad.reindex(means.index).rename(columns=arrow), 2))
        safe = "".join(ch if ch.isalnum() else "_" for ch in setting)
        parts += images((rank_figure(means, ctx.fig_dir / f"automatic_{safe}.png",
                                     f"{setting}: rank per metric (1 = best), ground truth first"),))
    costs = metric_costs(ctx.out)
    if not costs.empty:
        parts += ["<p>Cost (forward passes of the model per map; milliseconds per map and seconds over the whole "
                  "run, beside the methods' own time):</p>", table(costs, 2)]
    return parts
