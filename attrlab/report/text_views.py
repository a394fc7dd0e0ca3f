"""Zhou et al.'s text views, from records with the text facts (``group_freq_correlating``, …) and
the saved maps of the shown documents: Table 1 (Attr% on correlating articles, non-correlating
articles and other words, beside their word frequencies) and highlighted documents (Figs. 10–11:
one bar per word, orange = correlating article, blue = non-correlating, green = other)."""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from .figures import load_shown

COLOURS = {"corr": "#e6862a", "non": "#3a78c2", "other": "#4aa564"}


def _family(setting: str) -> str:
    return setting.split("-s")[0]


def attention_table(records: pd.DataFrame) -> pd.DataFrame:
    """Per dataset (article, cn, nc) and method: mean ± std of Attr% on correlating articles,
    non-correlating articles and other words, and each one's word frequency. The spread is over
    training runs (seeds) when there are several, else over documents."""
    ok = records[(records["status"] == "ok") & records["metric"].isin(["mass_focus", "mass_avoid"])]
    if ok.empty or "group_freq_correlating" not in ok.columns:
        return pd.DataFrame()
    wide = ok.pivot_table(index=["setting", "method", "sample"], columns="metric", values="value", aggfunc="first")
    facts = ok.groupby(["setting", "method", "sample"])[["group_freq_correlating", "group_freq_non_correlating"]].first()
    wide = wide.join(facts).reset_index()
    if "mass_avoid" not in wide:
        wide["mass_avoid"] = np.nan
    wide["mass_other"] = 1 - wide["mass_focus"] - wide["mass_avoid"].fillna(0)
    wide["freq_other"] = 1 - wide["group_freq_correlating"] - wide["group_freq_non_correlating"]
    wide["dataset"] = wide["setting"].map(_family)
    rows = []
    for (dataset, method), g in wide.groupby(["dataset", "method"]):
        runs = g.groupby("setting")[["mass_focus", "mass_avoid", "mass_other"]].mean()
        spread = runs if len(runs) > 1 else g[["mass_focus", "mass_avoid", "mass_other"]]
        row = {"dataset": dataset, "method": method, "runs": len(runs),
               "spread over": "runs" if len(runs) > 1 else "documents"}
        for col, name, freq in (("mass_focus", "corr. articles", "group_freq_correlating"),
                                ("mass_avoid", "non-corr. articles", "group_freq_non_correlating"),
                                ("mass_other", "other words", "freq_other")):
            mean, std = runs[col].mean(), spread[col].std()
            row[f"{name} Attr%"] = "NA" if np.isnan(mean) else f"{100 * mean:.1f}% ± {100 * (std if std == std else 0):.1f}%"
            if dataset == "article" and col == "mass_avoid":
                row[f"{name} freq."] = "NA"
            else:
                row[f"{name} freq."] = f"{100 * g[freq].mean():.1f}%"
        rows.append(row)
    return pd.DataFrame(rows).set_index(["dataset", "method"])


def highlighted_documents(maps_dir: Path, setting: str, n_docs: int = 2) -> str:
    """HTML for the first ``n_docs`` shown documents of ``setting``: per method, one bar per word
    (height = |attribution| / max), coloured by the word's role; words are HTML-escaped."""
    loaded = load_shown(maps_dir, setting)
    if loaded is None:
        return ""
    inputs, maps = loaded
    tokens = inputs.get("display", {}).get("tokens")
    if not tokens:
        return ""
    masks = inputs["masks"]
    parts = []
    for row, sample in enumerate(inputs["samples"][:n_docs]):
        words = tokens[row]
        corr = masks["focus"][row].numpy()
        non = masks["avoid"][row].numpy() if "avoid" in masks else np.zeros_like(corr)
        role = ["corr" if corr[i] else "non" if non[i] else "other" for i in range(len(words))]
        parts.append(f"<h4>{html.escape(setting)}: document {sample} (label {int(inputs['targets'][row])})</h4>")
        for method in sorted(maps):
            if sample not in maps[method]:
                continue
            a = np.abs(maps[method][sample][:len(words)])
            peak = float(a.max()) or 1.0
            spans = "".join(
                f"<span class='tok' title='{v:.4f}'><span class='bar' style='height:{40 * v / peak:.1f}px;"
                f"background:{COLOURS[r]}'></span>{html.escape(w)}</span>" for w, v, r in zip(words, a, role))
            parts.append(f"<p><b>{html.escape(method)}</b></p><div class='doc'>{spans}</div>")
    return "\n".join(parts)


CSS = (".doc{line-height:1.2;margin:4px 0 12px}.tok{display:inline-flex;flex-direction:column;justify-content:flex-end;"
       "height:56px;margin:0 2px;font-size:11px;vertical-align:bottom}.bar{display:block;width:100%;min-height:1px}")


def rationale_curves(records: pd.DataFrame, path: Path) -> Path | None:
    """Precision and recall of rationales (against the correlating articles) vs the actual
    selection rate, per data set and model kind, with the two optima of Zhou et al. Figs. 12–13:
    solid = %Sel enforced over the whole test set, dashed = %Sel enforced per document."""
    import matplotlib.pyplot as plt

    from .figures import _finish

    ok = records[(records["status"] == "ok") & records["metric"].isin(["precision_focus", "recall_focus"])]
    if ok.empty or "group_selection" not in ok.columns:
        return None
    wide = ok.pivot_table(index=["setting", "sample"], columns="metric", values="value", aggfunc="first")
    facts = ok.groupby(["setting", "sample"])[["group_selection", "group_length", "group_freq_correlating",
                                               "group_model", "group_data"]].first()
    t = wide.join(facts).reset_index()
    datasets = sorted(t["group_data"].unique(), key=lambda d: ("article", "cn", "nc").index(d) if d in ("article", "cn", "nc") else 9)
    fig, axes = plt.subplots(len(datasets), 2, figsize=(9, 3.2 * len(datasets)), squeeze=False)
    style = {"rl": ("o", "#1f77b4", "RL (REINFORCE)"), "cr": ("s", "#ff7f0e", "CR (HardKuma)")}
    for row, data in zip(axes, datasets):
        part = t[t["group_data"] == data]
        docs = part.drop_duplicates("sample")
        f_doc = docs["group_freq_correlating"].to_numpy()
        f_all = float((docs["group_freq_correlating"] * docs["group_length"]).sum() / docs["group_length"].sum())
        s_grid = np.linspace(0.005, max(0.2, float(part["group_selection"].max()) + 0.02), 100)
        optimum = {"precision_focus": (np.minimum(1, f_all / s_grid), [np.minimum(1, f_doc / s).mean() for s in s_grid]),
                   "recall_focus": (np.minimum(1, s_grid / f_all), [np.minimum(1, s / np.maximum(f_doc, 1e-9)).mean()
                                                                   for s in s_grid])}
        for ax, metric in zip(row, ("precision_focus", "recall_focus")):
            ax.plot(s_grid, optimum[metric][0], color="green", lw=1)
            ax.plot(s_grid, optimum[metric][1], color="green", lw=1, ls="--")
            for setting, g in part.groupby("setting"):
                sel = float((g["group_selection"] * g["group_length"]).sum() / g["group_length"].sum())
                marker, colour, _ = style.get(g["group_model"].iloc[0], ("x", "k", "?"))
                ax.scatter([sel], [g[metric].mean()], marker=marker, color=colour, s=30, zorder=3)
            ax.set_ylim(0, 1.05)
            ax.set_xlabel("actual %Sel (test documents)", fontsize=8)
            ax.set_title(f"{data}: {metric.split('_')[0]} of correlating articles", fontsize=9)
    handles = [plt.Line2D([], [], marker=m, color=c, ls="", label=lab) for m, c, lab in style.values()]
    handles += [plt.Line2D([], [], color="green", label="optimum, %Sel over the data set"),
                plt.Line2D([], [], color="green", ls="--", label="optimum, %Sel per document")]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False)
    return _finish(fig, path, rect=(0, 0.06, 1, 1))
