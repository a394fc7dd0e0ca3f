"""``attrlab meta``'s outputs: the terminal table, ``metaeval.csv`` (and the per-cell, ladder and
order-consistency tables beside it), the figures and ``meta.html`` — from records alone.
"""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from .. import meta
from ..metrics.registry import direction
from .sections import images, table

PAPERS = (
    ("Nguyen, Kim & Nguyen 2021", "automatic evaluation scores correlate poorly with how much attribution maps help "
     "people", "τ between the automatic metric's and the ground truth's ranking of methods, without controls: "
     "'agree' where its 95% interval lies below 0.5 (poor), 'disagree' where it lies above 0.5"),
    ("Nourelahi et al. 2022", "insertion/deletion track the model's confidence", "Spearman ρ between the metric and "
     "the model's probability for the target: 'agree' where |ρ|'s interval lies above 0.3"),
    ("Rong et al. 2022", "ROAD's most- and least-relevant-first orders rank methods alike", "Kendall τ between the "
     "two orders' rankings: 'agree' where its interval lies above 0.5"),
)


def _verdict(low: float, high: float, above: float) -> str:
    if np.isnan(low) or np.isnan(high):
        return "too few cells"
    if low > above:
        return "above"
    if high < above:
        return "below"
    return "inconclusive"


def paper_rows(summary: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    """The papers' statements beside what attrlab measured, one row per environment."""
    rows = []
    for env, g in summary.groupby("environment", sort=False):
        poor = g.dropna(subset=["tau_without_controls"])
        if len(poor):
            below = [f"{m} {t:.2f}" for m, t, hi in zip(poor["metric"], poor["tau_without_controls"],
                                                        poor["tau_without_controls_high"]) if hi < 0.5]
            above = [f"{m} {t:.2f}" for m, t, lo in zip(poor["metric"], poor["tau_without_controls"],
                                                        poor["tau_without_controls_low"]) if lo > 0.5]
            rows.append({"paper": PAPERS[0][0], "statement": PAPERS[0][1], "environment": env,
                         "attrlab": f"poor (interval below 0.5): {', '.join(below) or 'none'}; good (above 0.5): "
                                    f"{', '.join(above) or 'none'}",
                         "verdict": "agree" if below and not above else ("disagree" if above and not below else
                                                                         "mixed")})
        conf = g[g["metric"].str.startswith(("deletion", "insertion"))]
        conf = conf.dropna(subset=["confidence_rho"]) if "confidence_rho" in conf else conf.iloc[:0]
        if len(conf):
            strong = [f"{m} ρ={r:.2f}" for m, r, lo, hi in zip(conf["metric"], conf["confidence_rho"],
                                                               conf["confidence_rho_low"], conf["confidence_rho_high"])
                      if (lo > 0.3) or (hi < -0.3)]
            rows.append({"paper": PAPERS[1][0], "statement": PAPERS[1][1], "environment": env,
                         "attrlab": "; ".join(f"{m} ρ={r:.2f}" for m, r in zip(conf["metric"], conf["confidence_rho"])),
                         "verdict": "agree" if len(strong) == len(conf) else ("mixed" if strong else "disagree")})
    if not orders.empty:
        road = orders[orders["first"] == "road_morf"].dropna(subset=["tau"])
        for env, g in road.groupby("environment", sort=False):
            mean, low, high = meta.bootstrap_mean(g["tau"])
            rows.append({"paper": PAPERS[2][0], "statement": PAPERS[2][1], "environment": env,
                         "attrlab": f"τ(MoRF, LeRF) = {mean:.2f} [{low:.2f}, {high:.2f}] over {len(g)} cells",
                         "verdict": {"above": "agree", "below": "disagree"}.get(_verdict(low, high, 0.5),
                                                                                "inconclusive")})
    return pd.DataFrame(rows)


def terminal_table(summary: pd.DataFrame) -> str:
    """Automatic metric × environment: τ [95% CI] (without controls), regret, pairwise accuracy."""
    if summary.empty:
        return "no cell had three methods with both a ground-truth and an automatic score"
    def cell(r, stat):
        v, lo, hi = r.get(stat, np.nan), r.get(f"{stat}_low", np.nan), r.get(f"{stat}_high", np.nan)
        if np.isnan(v):
            return "–"
        return f"{v:+.2f} [{lo:+.2f},{hi:+.2f}]" if not np.isnan(lo) else f"{v:+.2f}"
    out = summary.assign(**{
        "τ (real methods)": [cell(r, "tau_without_controls") for _, r in summary.iterrows()],
        "τ (with controls)": [cell(r, "tau") for _, r in summary.iterrows()],
        "regret": [f"{r['regret']:.3f}" for _, r in summary.iterrows()],
        "pairs agree": ["–" if np.isnan(r["pairwise_accuracy"]) else f"{r['pairwise_accuracy']:.2f}"
                        for _, r in summary.iterrows()],
        "cells": summary["cells"]})
    cols = ["environment", "metric", "τ (real methods)", "τ (with controls)", "regret", "pairs agree", "cells"]
    if "forward passes per map" in summary:
        out["fwd/map"] = summary["forward passes per map"].map(lambda v: "–" if pd.isna(v) else f"{v:.0f}")
        out["ms/map"] = summary["ms per map"].map(lambda v: "–" if pd.isna(v) else f"{v:.1f}")
        cols += ["fwd/map", "ms/map"]
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 40):
        return out[cols].to_string(index=False)


def tau_heatmap(summary: pd.DataFrame, path: Path) -> Path | None:
    """τ (real methods) per automatic metric × environment; cells whose interval spans 0 hatched."""
    from .figures import finish, plt

    if summary.empty:
        return None
    def wide(stat):
        return summary.pivot_table(index="metric", columns="environment", values=stat, dropna=False)
    piv = wide("tau_without_controls")
    if piv.empty or piv.isna().all().all():
        return None
    low = wide("tau_without_controls_low").reindex(index=piv.index, columns=piv.columns)
    high = wide("tau_without_controls_high").reindex(index=piv.index, columns=piv.columns)
    fig, ax = plt.subplots(figsize=(1.6 * piv.shape[1] + 3, 0.35 * piv.shape[0] + 1.6))
    im = ax.imshow(piv.to_numpy(float), vmin=-1, vmax=1, cmap="RdBu", aspect="auto")
    for (i, j), v in np.ndenumerate(piv.to_numpy(float)):
        lo, hi = low.iloc[i, j], high.iloc[i, j]
        sig = not (np.isnan(lo) or np.isnan(hi)) and (lo > 0 or hi < 0)
        ax.text(j, i, "–" if np.isnan(v) else f"{v:.2f}" + ("" if sig else " (ns)"), ha="center", va="center",
                fontsize=7)
    ax.set_xticks(range(piv.shape[1]), piv.columns, fontsize=8, rotation=15)
    ax.set_yticks(range(piv.shape[0]), [f"{m} {'↓' if direction(m) == 'lower' else '↑'}" for m in piv.index],
                  fontsize=8)
    ax.set_title("Kendall τ: automatic metric vs ground truth, ranking real methods\n(ns: 95% interval spans 0)",
                 fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.04)
    return finish(fig, path)


def scatter(records: pd.DataFrame, env: str, head: str, path: Path, metrics: list[str], per_row: int = 6
            ) -> Path | None:
    """One environment: each method's mean ground-truth score (x) against its mean automatic score
    (y), one panel per metric, for the first setting's first verified model (controls as red crosses)."""
    from .figures import finish, plt

    ok = records[(records["status"] == "ok") & records["verified"].astype(bool) & (records["environment"] == env)]
    if ok.empty or not metrics:
        return None
    first = ok[(ok["model_id"] == ok["model_id"].iloc[0]) & (ok["setting"] == ok["setting"].iloc[0])]
    means = first.groupby(["metric", "method"])["value"].mean()
    present = set(means.index.get_level_values(0))
    metrics = [m for m in metrics if m in present]
    if head not in present or not metrics:
        return None
    rows = -(-len(metrics) // per_row)
    cols = min(per_row, len(metrics))
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.3 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= len(metrics):
            ax.axis("off")
            continue
        metric = metrics[k]
        both = pd.DataFrame({"x": means[head], "y": means[metric]}).dropna()
        ctrl = np.array([meta._is_control(m) for m in both.index], dtype=bool)
        ax.scatter(both["x"][~ctrl], both["y"][~ctrl], s=12, color="#3b75af")
        ax.scatter(both["x"][ctrl], both["y"][ctrl], s=14, color="#c44e52", marker="x")
        ax.set_xlabel(head, fontsize=7)
        ax.set_title(f"{metric} {'↓' if direction(metric) == 'lower' else '↑'}", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.suptitle(f"{env} ({first['setting'].iloc[0]}, one model): method means, ground truth (x) vs automatic metric "
                 "(y); × = controls and oracle ladder",
                 fontsize=9)
    return finish(fig, path)


def ladder_curves(ladder: pd.DataFrame, heads: dict, path: Path) -> Path | None:
    """Per environment, the headline ground-truth metric (black) and each automatic metric's mean
    score along the oracle ladder (noise 0 → 1), turned so higher is better and scaled to [0, 1]
    per metric: a sound metric falls from left to right."""
    from .figures import finish, plt

    if ladder.empty:
        return None
    noise_cols = sorted([c for c in ladder.columns if c.startswith("noise=")], key=lambda c: float(c.split("=")[1]))
    envs = list(dict.fromkeys(ladder["environment"]))
    fig, axes = plt.subplots(1, len(envs), figsize=(4.2 * len(envs), 3.2), squeeze=False)
    levels = [float(c.split("=")[1]) for c in noise_cols]
    for ax, env in zip(axes[0], envs):
        mine = ladder[ladder["environment"] == env].groupby("metric")[noise_cols].mean()
        keep = [m for m in mine.index if m == heads.get(env) or m in meta.automatic_in(pd.DataFrame({"metric": [m]}))]
        for metric, row in mine.loc[keep].iterrows():
            v = meta._aligned(metric, row.to_numpy(float))
            span = np.nanmax(v) - np.nanmin(v)
            v = (v - np.nanmin(v)) / span if span > 0 else v * 0
            style = dict(lw=2.2, color="black") if meta.family(metric) == "ground truth" else dict(lw=1)
            ax.plot(levels, v, marker="o", ms=3, label=metric, **style)
        ax.set_xlabel("oracle noise", fontsize=8)
        ax.set_ylabel("score, better ↑ (scaled per metric)", fontsize=8)
        ax.set_title(env, fontsize=9)
        ax.legend(fontsize=5, ncol=2, loc="lower left")
    return finish(fig, path)


def confidence_panel(summary: pd.DataFrame, path: Path) -> Path | None:
    """Spearman ρ between each automatic metric and the model's confidence, per environment (with
    its 95% interval): the confound Nourelahi et al. 2022 found for deletion and insertion."""
    from .figures import finish, plt

    if summary.empty or "confidence_rho" not in summary or summary["confidence_rho"].isna().all():
        return None
    envs = list(dict.fromkeys(summary["environment"]))
    fig, axes = plt.subplots(1, len(envs), figsize=(3.6 * len(envs), 0.28 * summary["metric"].nunique() + 1.5),
                             squeeze=False)
    for ax, env in zip(axes[0], envs):
        g = summary[summary["environment"] == env].dropna(subset=["confidence_rho"])
        y = np.arange(len(g))
        ax.barh(y, g["confidence_rho"], color="#8172b2")
        lo, hi = g["confidence_rho_low"].to_numpy(float), g["confidence_rho_high"].to_numpy(float)
        mid = g["confidence_rho"].to_numpy(float)
        ax.errorbar(mid, y, xerr=[np.nan_to_num(mid - lo), np.nan_to_num(hi - mid)], fmt="none", ecolor="black", lw=0.8)
        ax.set_yticks(y, g["metric"], fontsize=7)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_xlim(-1, 1)
        ax.set_title(f"{env}: ρ with the model's confidence", fontsize=8)
    return finish(fig, path)


def write(records: pd.DataFrame, heads: dict, out: Path, include_unverified: bool = False
          ) -> tuple[pd.DataFrame, Path, pd.DataFrame]:
    """Compute everything, write the CSVs, the figures and ``meta.html``; return the summary, the
    page and what was left out (and why)."""
    from .style import page_start

    out.mkdir(parents=True, exist_ok=True)
    cells = meta.agreement(records, heads, include_unverified)
    costs = meta.costs_of(records.attrs.get("folders", []))
    dropped = meta.left_out(records, heads, include_unverified)
    dropped.to_csv(out / "metaeval_left_out.csv", index=False)
    summary = meta.summarise(cells)
    if summary.empty:
        from ..errors import AttrlabError

        why = "; ".join(sorted(set(dropped["why"]))) if not dropped.empty else "fewer than three methods with both scores"
        raise AttrlabError(f"no environment × setting × model has three methods with a ground-truth and an automatic "
                           f"score to compare ({why})")
    if not costs.empty:
        summary = summary.merge(costs, on=["environment", "metric"], how="left")
    ladder = meta.ladder(records)
    orders = meta.order_consistency(records)
    papers = paper_rows(summary, orders) if not summary.empty else pd.DataFrame()
    summary.to_csv(out / "metaeval.csv", index=False)
    cells.to_csv(out / "metaeval_cells.csv", index=False)
    ladder.to_csv(out / "metaeval_ladder.csv", index=False)
    orders.to_csv(out / "metaeval_orders.csv", index=False)
    papers.to_csv(out / "paper_vs_attrlab_meta.csv", index=False)
    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    autos = meta.automatic_in(records)
    parts = [page_start("attrlab meta-evaluation"),
             "<p>Does each automatic (ground-truth-free) metric rank methods as the ground truth does? Within each "
             "environment, setting and model, Kendall's τ between the methods' mean automatic score and their mean "
             "ground-truth score (each environment's headline metric; both turned so higher is better); then the "
             "mean over cells with a 95% bootstrap interval. Raw automatic values are never pooled across models. "
             "<b>regret</b>: ground truth lost by picking the method the automatic metric ranks first; <b>pairs "
             "agree</b>: share of method pairs with a significant ground-truth difference (paired Wilcoxon, p &lt; "
             "0.05) ordered alike; <b>per-sample ρ</b>: within one method, do the metric's values follow the "
             "ground truth's across samples; <b>confidence ρ</b>: the metric against the model's probability for "
             "the target. Left out: methods of unverified models, and cells with fewer than three methods.</p>"]
    parts.append("<h2>Agreement with the ground truth</h2>")
    show = summary.copy()
    parts.append(table(show.set_index(["environment", "metric"]).drop(columns=["direction"], errors="ignore"), 3))
    parts += images((tau_heatmap(summary, figs / "tau_heatmap.png"),
                     *(scatter(records, env, head, figs / f"scatter_{env}.png", autos) for env, head in heads.items())))
    if not ladder.empty:
        lad = ladder.groupby(["environment", "metric"])["rho"].agg(["mean", "min", "max", "size"])
        parts += ["<h2>Oracle ladder</h2><p>The ground-truth map mixed with 0, 25, 50, 75 and 100% noise "
                  "(<code>oracle:noise=…</code>): a sound metric ranks the five in that order, ρ(noise, score) = "
                  "−1.</p>", table(lad, 2)] + images((ladder_curves(ladder, heads, figs / "ladder.png"),))
    parts += ["<h2>Confidence</h2>"] + (images((confidence_panel(summary, figs / "confidence.png"),)) or ["<p>none</p>"])
    if not orders.empty:
        parts += ["<h2>Consistency of one metric's versions</h2><p>τ between the rankings of real methods under "
                  "ROAD's two orders (Rong et al. 2022) and deletion to zeros vs to the environment's true "
                  "baseline.</p>", table(orders.groupby(["environment", "first", "second"])["tau"].agg(
                      ["mean", "min", "max", "size"]), 2)]
    if not papers.empty:
        parts += ["<h2>Paper vs attrlab</h2>", papers.to_html(index=False, escape=True, classes="paper")]
    parts += ["<h2>Left out</h2>", table(dropped.set_index(meta.CELL + ["method"]) if not dropped.empty else dropped)]
    parts.append("</body></html>")
    path = out / "meta.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return summary, path, dropped


def describe_papers() -> str:
    return "\n".join(f"{p}: {s} ({how})" for p, s, how in PAPERS)


__all__ = ["write", "terminal_table", "paper_rows", "describe_papers", "html"]
