"""Zhou et al.'s rationale view (Figs. 12–13), from records with the rationale facts
(``group_selection``, ``group_model``, ``group_data``): precision and recall of the selected words
against the correlating articles by the actual %Sel, beside the data-set-level and document-level
optima. Registered as a report section."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..data.text import MANIPULATIONS
from ..report.sections import SectionContext, images, register_section


@register_section("text-rationale", needs={"group_selection", "group_model", "group_data"},
                  metrics={"precision_focus"}, order=45)
def _section(ctx: SectionContext) -> list[str]:
    curves = rationale_curves(ctx.records, ctx.fig_dir / "rationale_precision_recall.png")
    if curves is None:
        return []
    return ["<h2>Rationales</h2><p>Precision and recall of the selected words against the correlating "
            "articles, by the actual selection rate (Zhou et al. Figs. 12–13).</p>"] + images([curves])


def rationale_curves(records: pd.DataFrame, path: Path) -> Path | None:
    """Precision and recall of rationales (against the correlating articles) vs the actual
    selection rate, per data set and model kind, with the two optima of Zhou et al. Figs. 12–13:
    solid = %Sel enforced over the whole test set, dashed = %Sel enforced per document."""
    import matplotlib.pyplot as plt

    from ..report.figures import finish

    ok = records[(records["status"] == "ok") & records["metric"].isin(["precision_focus", "recall_focus"])]
    if ok.empty or "group_selection" not in ok.columns:
        return None
    wide = ok.pivot_table(index=["setting", "sample"], columns="metric", values="value", aggfunc="first")
    facts = ok.groupby(["setting", "sample"])[["group_selection", "group_length", "group_freq_correlating",
                                               "group_model", "group_data"]].first()
    t = wide.join(facts).reset_index()
    datasets = sorted(t["group_data"].unique(), key=lambda d: MANIPULATIONS.index(d) if d in MANIPULATIONS else 9)
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
    return finish(fig, path, rect=(0, 0.06, 1, 1))
