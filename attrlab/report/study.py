"""The study report: spread over models and the papers' numbers, from the study folder alone.

``OUT/summary.csv`` holds every cell (environment, setting, grid values, method, metric) with
mean, std, 95% bootstrap interval and model count (:mod:`attrlab.report.spread`);
``OUT/paper_vs_attrlab.csv`` every paper statement beside ours (:mod:`attrlab.report.paper`);
``OUT/report.html`` both, with error-bar figures of each environment's headline metric and a
table of the units (seed, grid point, verified, seconds). Each unit folder is an ordinary run
folder: ``attrlab report OUT/units/<unit>`` draws its maps.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .figures import finish, plt
from .automatic import arrow, automatic_metrics
from .style import page_start
from .paper import compare_to_papers
from .sections import images, table
from .spread import formatted, grid_columns, spread
from .tables import load_records

KEY_METRICS = ("mass_focus", "mass_avoid", "iou_focus", "positive_f1", "overall_f1", "negative_f1", "precision",
               "recall")


def is_study(folder: str | Path) -> bool:
    return (Path(folder) / "study.json").exists()


def _headlines(out: Path) -> dict[str, tuple[str, str]]:
    heads = {}
    for config in sorted((out / "units").glob("*/config.json")):
        c = json.loads(config.read_text())
        if c.get("headline") and c.get("environment") not in heads:
            heads[c["environment"]] = (c["headline"]["metric"], c["headline"]["name"])
    return heads


def build_study_report(out: str | Path) -> Path:
    """Write ``summary.csv``, ``paper_vs_attrlab.csv``, ``figures/`` and ``report.html`` for the
    study folder ``out``; returns the HTML's path."""
    out = Path(out)
    study = json.loads((out / "study.json").read_text())
    records = load_records(out)
    cells = spread(records)
    cells.to_csv(out / "summary.csv", index=False)
    papers = compare_to_papers(records)
    papers.to_csv(out / "paper_vs_attrlab.csv", index=False)
    fig_dir = out / "figures"
    fig_dir.mkdir(exist_ok=True)
    heads = _headlines(out)
    jobs = pd.read_csv(out / "study_jobs.csv", keep_default_na=False) if (out / "study_jobs.csv").exists() else pd.DataFrame()

    name = study.get("study", out.name)
    parts = [page_start(f"attrlab study: {name}", f"attrlab study — {html.escape(name)}")]
    if study.get("description"):
        parts.append(f"<p>{html.escape(study['description'])}</p>")
    n_units = len(study.get("units", []))
    parts.append(f"<p>{n_units} units (environment × grid point × seed), torch threads per job: "
                 f"{study.get('threads')}. Every value is a mean over models (one per seed and grid point) of each "
                 "model's mean over samples, shown as <code>mean ± std [95% bootstrap interval] n=models</code>; "
                 "where a cell has one model the spread is over its samples. Only verified models count; a cell "
                 "with none is marked UNVERIFIED.</p>")
    parts += paper_section(papers)
    for env in dict.fromkeys(records["environment"]) if len(records) else []:
        parts += _environment_section(env, records, cells, heads.get(env), fig_dir)
    parts += _units_section(out, study, jobs)
    parts.append(f"<details><summary>Study definition</summary><pre>{html.escape(json.dumps(study, indent=2))}</pre>"
                 f"</details><p>Rebuild this page with <code>attrlab report {html.escape(str(out))}</code>.</p>"
                 "</body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def paper_section(papers: pd.DataFrame) -> list[str]:
    parts = ["<h2>Paper vs attrlab</h2><p>Each number or statement a paper reports "
             "(<code>attrlab/data/paper_values.csv</code>) beside ours. Rules: <b>mean</b> — agree when our 95% "
             "interval overlaps the paper's interval of its mean (mean ± 1.96·sd/√runs); <b>above/below</b> — agree "
             "when our whole interval lies on the stated side, disagree when wholly on the other, else undecided; "
             "<b>greater</b> — the per-model difference's 95% interval lies above 0.</p>"]
    if papers.empty:
        return parts + ["<p>No paper statement concerns what this study ran.</p>"]
    shown = papers.copy()
    shown["ours"] = [f"{m:.3f} [{lo:.3f}, {hi:.3f}] n={int(n)} ({o})" if pd.notna(m) else "–"
                     for m, lo, hi, n, o in zip(shown["ours"], shown["ours_low"], shown["ours_high"],
                                                shown["models"].fillna(0), shown["interval_over"])]
    shown["verdict"] = [f"<span class='{'ok' if v == 'agree' else 'bad' if v == 'disagree' else ''}'>{v}</span>"
                        for v in shown["verdict"]]
    cols = ["paper", "source", "statement", "setting", "grid", "method", "metric", "paper_value", "ours", "verdict",
            "caveat"]
    counts = papers["verdict"].value_counts().to_dict()
    parts.append("<p>" + ", ".join(f"{k}: {v}" for k, v in counts.items()) + "</p>")
    parts.append(shown[cols].to_html(index=False, escape=False, na_rep="", classes="paper"))
    return parts


def _environment_section(env: str, records: pd.DataFrame, cells: pd.DataFrame, head, fig_dir: Path) -> list[str]:
    mine = cells[cells["environment"] == env]
    metric, label = head or ("mass_focus", "mass_focus")
    parts = [f"<h2>{html.escape(env)}</h2>"]
    metrics = [m for m in dict.fromkeys([metric, *KEY_METRICS]) if m in set(mine["metric"])]
    if not metrics:
        return parts + ["<p>No successful records.</p>"]
    grid = [c for c in grid_columns(records) if mine[c].notna().any()] if grid_columns(records) else []
    view = mine[mine["metric"].isin(metrics)].assign(shown=formatted(mine[mine["metric"].isin(metrics)]))
    pivot = view.pivot_table(index=["setting", *grid, "method"], columns="metric", values="shown", aggfunc="first")
    pivot = pivot[[m for m in metrics if m in pivot.columns]]
    parts.append(f"<p>Headline: <b>{html.escape(label)}</b> (<code>{html.escape(metric)}</code>).</p>")
    parts.append(table(pivot))
    autos = automatic_metrics(mine)
    if autos:  # the same maps scored without ground truth (↑ higher / ↓ lower is better)
        view = mine[mine["metric"].isin(autos)]
        view = view.assign(shown=formatted(view))
        auto_pivot = view.pivot_table(index=["setting", *grid, "method"], columns="metric", values="shown",
                                      aggfunc="first").reindex(columns=autos).rename(columns=arrow)
        parts.append("<p>Automatic (ground-truth-free) metrics on the same maps, with their spread:</p>")
        parts.append(table(auto_pivot))
    parts += images((_headline_figure(mine[mine["metric"] == metric], grid, label, fig_dir / f"study_{env}.png"),))
    return parts


def _headline_figure(cells: pd.DataFrame, grid: list[str], label: str, path: Path) -> Path | None:
    """Error bars (95% interval) of the headline per method, one panel per setting; a numeric
    one-option grid is drawn as lines over the option's values with a band."""
    if cells.empty:
        return None
    settings = list(dict.fromkeys(cells["setting"]))
    cols = min(4, len(settings))
    rows = -(-len(settings) // cols)
    fig, grid_axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 0.25 * cells["method"].nunique() * rows + 1.6 * rows),
                                  squeeze=False)
    for ax in grid_axes.flat[len(settings):]:
        ax.set_visible(False)
    axes = [list(grid_axes.flat)]
    numeric = len(grid) == 1 and pd.to_numeric(cells[grid[0]], errors="coerce").notna().all()
    for ax, setting in zip(axes[0], settings):
        c = cells[cells["setting"] == setting]
        if numeric:
            for method, m in c.groupby("method", sort=False):
                m = m.assign(x=pd.to_numeric(m[grid[0]])).sort_values("x")
                ax.plot(m["x"], m["mean"], marker="o", lw=1, label=method)
                ax.fill_between(m["x"], m["ci_low"], m["ci_high"], alpha=0.2)
            ax.set_xlabel(grid[0].removeprefix("opt_"))
        else:
            c = c.reset_index(drop=True)
            y = np.arange(len(c))
            err = [np.clip(c["mean"] - c["ci_low"], 0, None), np.clip(c["ci_high"] - c["mean"], 0, None)]
            ax.barh(y, c["mean"], color=["#3b75af" if e else "#bbbbbb" for e in c["evidence"]])
            ax.errorbar(c["mean"], y, xerr=err, fmt="none", ecolor="black", lw=0.8)
            labels = [f"{m}{' ' + str(g) if grid else ''} (n={n})" for m, g, n in
                      zip(c["method"], c[grid].astype(object).fillna("").astype(str).agg(",".join, axis=1) if grid else [""] * len(c), c["n_models"])]
            ax.set_yticks(y, labels, fontsize=7)
            ax.invert_yaxis()
        ax.set_title(setting, fontsize=9)
    axes[0][0].set_ylabel(label if numeric else "", fontsize=8)
    if numeric:
        axes[0][-1].legend(fontsize=6, loc="best")
    fig.suptitle(f"{label}: mean over models, 95% bootstrap interval", fontsize=9)
    return finish(fig, path)


def _units_section(out: Path, study: dict, jobs: pd.DataFrame) -> list[str]:
    rows = []
    for unit in study.get("units", []):
        folder = out / "units" / unit["name"]
        verification = {}
        if (folder / "verification.json").exists():
            verification = json.loads((folder / "verification.json").read_text())
        mine = jobs[jobs["unit"] == unit["name"]] if not jobs.empty else jobs
        rows.append({"unit": unit["name"], "seed": unit["seed"], **{f"opt_{k}": v for k, v in unit["grid"].items()},
                     "verified": verification.get("passed", "not run"),
                     "settings verified": sum(bool(s.get("passed")) for s in verification.get("settings", {}).values()),
                     "settings": len(verification.get("settings", {})),
                     "seconds": round(float(pd.to_numeric(mine["seconds"], errors="coerce").sum()), 1) if len(mine) else 0,
                     "failed jobs": int((mine["status"] != "ok").sum()) if len(mine) else 0})
    parts = ["<h2>Units</h2><p>One run folder each under <code>units/</code>; "
             "<code>attrlab report units/&lt;unit&gt;</code> draws its maps and per-sample views.</p>",
             table(pd.DataFrame(rows).set_index("unit") if rows else pd.DataFrame())]
    if not jobs.empty and (jobs["status"] != "ok").any():
        parts += ["<h3>Failed jobs</h3>", table(jobs[jobs["status"] != "ok"][["unit", "kind", "setting", "error"]])]
    return parts
