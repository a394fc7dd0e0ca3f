"""Zhou et al.'s text views, from records with the text facts (``group_freq_correlating``, …) and
the saved maps of the shown documents: Table 1 (Attr% on correlating articles, non-correlating
articles and other words, beside their word frequencies) and highlighted documents (Figs. 10–11:
one bar per word, orange = correlating article, blue = non-correlating, green = other),
registered as one report section for records with those facts."""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.text import MANIPULATIONS
from ..report.figures import load_shown
from ..report.sections import SectionContext, images, register_section, table

COLOURS = {"corr": "#e6862a", "non": "#3a78c2", "other": "#4aa564"}


def _family(setting: str) -> str:
    """The data set of a setting: ``cn`` for ``cn`` and for its seeds' ``cn-s3``."""
    base = setting.split("-s")[0]
    return base if base in MANIPULATIONS else setting


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
            if dataset == MANIPULATIONS[0] and col == "mass_avoid":  # article: every article correlates
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


def length_histogram(records: pd.DataFrame, path: Path) -> Path | None:
    """The attributed documents' lengths (tokens) per data set: the paper's reviews are longer
    than our embedded prose, and attention's share on a few words depends on it."""
    if "group_length" not in records.columns:
        return None
    from ..report.figures import finish, plt

    docs = records.drop_duplicates(["setting", "sample"] + (["unit"] if "unit" in records.columns else []))
    fig, ax = plt.subplots(figsize=(5, 2.6))
    for setting, g in docs.groupby(docs["setting"].map(_family)):
        lengths = pd.to_numeric(g["group_length"], errors="coerce").dropna()
        ax.hist(lengths, bins=30, alpha=0.5, label=f"{setting} (median {lengths.median():.0f})")
    ax.set_xlabel("document length (tokens, after max_len)", fontsize=8)
    ax.set_ylabel("documents", fontsize=8)
    ax.legend(fontsize=7)
    return finish(fig, path)


@register_section("text-attention", needs={"group_freq_correlating"}, metrics={"mass_focus"}, order=40, css=CSS)
def _section(ctx: SectionContext) -> list[str]:
    text_table = attention_table(ctx.records)
    if text_table.empty:
        return []
    parts = ["<h2>Attr% on article words (Zhou et al. Table 1)</h2><p>Mean Attr% ± spread, beside each word "
             "class's frequency (what a uniform map would score). A model above p* = 0.5 must read the "
             "correlating articles; non-correlating ones carry nothing.</p>", table(text_table)]
    parts += images((length_histogram(ctx.records, ctx.fig_dir / "document_lengths.png"),))
    docs = "\n".join(highlighted_documents(ctx.maps_dir, s) for s in ctx.settings)
    if docs:
        parts.append("<h3>Example documents</h3><p>One bar per word, height = |attribution| relative to the "
                     "document's largest: <span style='color:#e6862a'>correlating article</span>, "
                     "<span style='color:#3a78c2'>non-correlating article</span>, "
                     "<span style='color:#4aa564'>other word</span>.</p>" + docs)
    return parts
