"""The grid environment's view (Rao et al. 2022, Figs. 4–5): each method's localisation score over
the explained cells, per setting (DiFull, DiPart, GridPG) and layer, as box plots, with how much
of each map falls where it cannot be right on DiFull. Registered as a report section."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..report.sections import SectionContext, images, register_section, table

ORDER = ("difull", "dipart", "gridpg")


def layer_of(method: str) -> str:
    """``input``, ``middle`` or ``final``: where a method's map is computed (ML-Att).

    Example:
        >>> layer_of("gradient"), layer_of("gradcam"), layer_of("layercam:layer=middle")
        ('input', 'final', 'middle')
    """
    base, _, params = method.partition(":")
    if "layer=middle" in params:
        return "middle"
    if base in ("gradcam", "layercam", "layer_gradient", "layer_input_x_gradient") or "layer=" in params:
        return "final"
    return "input"


@register_section("grid", needs={"group_cell", "group_exact"}, metrics={"localisation"}, order=40)
def _section(ctx: SectionContext) -> list[str]:
    loc = ctx.records[(ctx.records["metric"] == "localisation") & (ctx.records["status"] == "ok")]
    if loc.empty:
        return []
    figure = localisation_boxes(loc, ctx.fig_dir / "grid_localisation.png")
    means = loc.pivot_table(index="method", columns="setting", values="value", aggfunc="mean")
    means = means[[s for s in ORDER if s in means.columns]]
    outside = ctx.records[(ctx.records["metric"] == "mass_avoid") & (ctx.records["setting"] == "difull")
                          & (ctx.records["status"] == "ok")].groupby("method")["value"].mean()
    if not outside.empty:
        means["difull: |attribution| outside the cell (impossible)"] = outside
    means.insert(0, "layer", [layer_of(m) for m in means.index])
    means = means.sort_values(["layer", means.columns[1]], ascending=[True, False])
    ceilings = next((v.details.get("upsampling_ceiling") for v in ctx.verification.settings.values()
                     if v.details.get("upsampling_ceiling")), {})
    cap = (" A map computed at a layer and upsampled bilinearly (as the authors' code does) can score at most "
           + ", ".join(f"{v:.3f} at the {k} layer" for k, v in ceilings.items())
           + " here: part of the gap to 1 is the upsampling's, not the method's." if ceilings else "")
    return ["<h2>Grid localisation (Rao et al. 2022)</h2><p>Localisation = positive attribution in the explained "
            "cell / positive attribution in the grid (1 = all in the right cell; 1/cells = no better than even). "
            "On DiFull the cells are disconnected, so any attribution outside the cell is provably wrong; on "
            "DiPart the early layers see the whole grid; on GridPG the model sees every cell and the cell is only "
            "the plausible answer." + cap + "</p>", table(means.reset_index())] + images([figure] if figure else [])


def localisation_boxes(loc: pd.DataFrame, path: Path) -> Path | None:
    """One panel per setting: each method's localisation over the explained cells (box plot),
    methods grouped by the layer they read (input, middle, final)."""
    import matplotlib.pyplot as plt

    from ..report.figures import finish

    settings = [s for s in ORDER if s in set(loc["setting"])]
    if not settings:
        return None
    methods = sorted(loc["method"].unique(), key=lambda m: (("input", "middle", "final").index(layer_of(m)), m))
    fig, axes = plt.subplots(1, len(settings), figsize=(3.6 * len(settings), 0.32 * len(methods) + 1.4),
                             sharey=True, squeeze=False)
    colours = {"input": "#1f77b4", "middle": "#ff7f0e", "final": "#2ca02c"}
    for ax, setting in zip(axes[0], settings):
        part = loc[loc["setting"] == setting]
        data = [part.loc[part["method"] == m, "value"].dropna().to_numpy() for m in methods]
        box = ax.boxplot(data, vert=False, widths=0.6, patch_artist=True, showfliers=False)
        for patch, m in zip(box["boxes"], methods):
            patch.set_facecolor(colours[layer_of(m)])
            patch.set_alpha(0.6)
        ax.set_xlim(-0.02, 1.02)
        ax.set_title(setting, fontsize=9)
        ax.set_xlabel("localisation", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_yticks(range(1, len(methods) + 1), methods)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.6, label=f"{k} layer") for k, c in colours.items()]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=7, frameon=False)
    return finish(fig, path, rect=(0, 0.05, 1, 1))
