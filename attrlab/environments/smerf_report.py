"""SMERF's report views (Kim et al. 2021), drawn from records with the ``group_bucket`` fact and
the saved maps: per-bucket PAFL/SAFL, success/failure matrices (Fig. 7), worst-bucket PAFL
(Figs. 2/8b), PAFL/SAFL bars with the spread over buckets (Figs. 6a/8a), PAFL by number of
objects (6b), and each method on its worst bucket (Figs. 19–21). Registered as one report
section; :mod:`attrlab.report` itself knows nothing of buckets."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AttrlabError
from ..report.figures import finish, gt_panel, image_array, signed_panel, load_shown, plt
from ..report.sections import SectionContext, images, register_section, table
from ..report.spread import mean_ci
from .smerf_table import get_setting


@register_section("smerf-buckets", needs={"group_bucket"}, metrics={"mass_focus"}, order=40)
def _section(ctx: SectionContext) -> list[str]:
    bucket_figs = bucket_views(ctx.records, ctx.fig_dir / "buckets")
    if not bucket_figs:
        return []
    parts = ["<h2>Buckets</h2><p>Per-bucket attribution focus (Kim et al. 2021): PAFL = share of "
             "|attribution| on the objects to focus on, SAFL = on the objects to avoid.</p>"]
    parts += images((afl_bars(ctx.records, ctx.fig_dir / "afl_bars.png"),
                     pafl_by_objects(ctx.records, ctx.fig_dir / "pafl_by_objects.png")))
    parts += images(bucket_figs)
    worst = [worst_bucket_gallery(ctx.records, ctx.maps_dir, s, ctx.fig_dir / f"worst_bucket_{s}.png")
             for s in ctx.settings]
    if any(w is not None for w in worst):
        parts.append("<h3>Each method on its worst bucket</h3>")
        parts += images(worst)
    parts.append(table(bucket_table_ci(ctx.records)))
    return parts


def bucket_table_ci(records: pd.DataFrame) -> pd.DataFrame:
    """The bucket table as shown: ``mean [low, high] n=K`` per (setting, method, bucket) for PAFL
    and SAFL, the interval a 95% bootstrap over the bucket's test images."""
    ok = _bucket_records(records)
    if ok.empty:
        return pd.DataFrame()
    t = mean_ci(ok, ["setting", "method", "group_bucket", "metric"])
    t["shown"] = [f"{m:.3f} [{lo:.3f}, {hi:.3f}] n={n}"
                  for m, lo, hi, n in zip(t["mean"], t["ci_low"], t["ci_high"], t["n"])]
    wide = t.pivot(index=["setting", "method", "group_bucket"], columns="metric", values="shown")
    return wide.rename(columns={"mass_focus": "PAFL", "mass_avoid": "SAFL"})


def _bucket_records(records: pd.DataFrame) -> pd.DataFrame:
    """Successful PAFL/SAFL records with a ``group_bucket`` fact (empty when there are none)."""
    if "group_bucket" not in records.columns:
        return records.iloc[:0]
    return records[(records["status"] == "ok") & records["metric"].isin(["mass_focus", "mass_avoid"])]


def bucket_table(records: pd.DataFrame) -> pd.DataFrame:
    """Mean PAFL (``mass_focus``) and SAFL (``mass_avoid``) per (setting, method, bucket), from
    records that carry a ``group_bucket`` fact (SMERF)."""
    ok = _bucket_records(records)
    if ok.empty:
        return pd.DataFrame()
    return ok.pivot_table(index=["setting", "method", "group_bucket"], columns="metric", values="value", aggfunc="mean")


def bucket_views(records: pd.DataFrame, path_prefix: Path) -> list[Path]:
    """SMERF's summary views from per-bucket AFL (Kim et al. 2021): the fraction of buckets with
    both relevant and irrelevant objects where a method succeeds (PAFL > 0.5, Fig. 7 top), whether
    it fails (SAFL > PAFL) on more than half of them (Fig. 7 bottom), and its worst-bucket PAFL
    (Figs. 2 and 8b)."""
    t = bucket_table(records)
    if t.empty or not {"mass_focus", "mass_avoid"} <= set(t.columns):
        return []
    both = t.dropna(subset=["mass_focus", "mass_avoid"])
    views = {}
    if not both.empty:
        grouped = both.groupby(level=["setting", "method"])
        views["success"] = grouped.apply(lambda g: float((g["mass_focus"] > 0.5).mean())).unstack("method")
        views["failure"] = grouped.apply(lambda g: float(((g["mass_avoid"] > g["mass_focus"]).mean()) > 0.5)).unstack("method")
    views["worst_pafl"] = t["mass_focus"].dropna().groupby(level=["setting", "method"]).min().unstack("method")
    titles = {"success": "fraction of buckets with PAFL > 0.5 (success)",
              "failure": "SAFL > PAFL on more than half of the buckets (1 = failure)",
              "worst_pafl": "worst-bucket PAFL"}
    paths = []
    for key, matrix in views.items():
        fig, ax = plt.subplots(figsize=(0.45 * matrix.shape[1] + 2.5, 0.4 * matrix.shape[0] + 2.2))
        ax.imshow(matrix.values.astype(float), vmin=0, vmax=1, cmap="gray" if key != "worst_pafl" else "viridis",
                  aspect="auto")
        ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=70, ha="right", fontsize=7)
        ax.set_yticks(range(matrix.shape[0]), matrix.index, fontsize=8)
        for (i, j), v in np.ndenumerate(matrix.values.astype(float)):
            if not np.isnan(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="red")
        ax.set_title(titles[key], fontsize=9)
        paths.append(finish(fig, path_prefix.with_name(f"{path_prefix.name}_{key}.png")))
    return paths


def _reasoning(setting: str) -> str:
    """The reasoning family of a setting (Table 1's ``simple`` or ``complex``), from the table."""
    try:
        return get_setting(setting).kind
    except AttrlabError:
        return "other"


def afl_bars(records: pd.DataFrame, path: Path) -> Path | None:
    """PAFL and SAFL per method for each reasoning family (simple, complex), the bar the mean over
    buckets and the whisker the spread (min to max over buckets), like Kim et al. Figs. 6a and 8a."""
    t = bucket_table(records)
    if t.empty or "mass_focus" not in t.columns:
        return None
    t = t.reset_index()
    t["reasoning"] = t["setting"].map(_reasoning)
    families = sorted(dict.fromkeys(t["reasoning"]), key=lambda f: (f != "simple", f))
    methods = sorted(t["method"].unique())
    fig, axes = plt.subplots(len(families), 1, figsize=(max(7, 0.42 * len(methods) + 2), 3.2 * len(families)),
                             squeeze=False)
    for ax, fam in zip(axes[:, 0], families):
        part = t[t["reasoning"] == fam]
        for k, (metric, colour, name) in enumerate((("mass_focus", "#2a7ab0", "PAFL"), ("mass_avoid", "#d9822b", "SAFL"))):
            if metric not in part:
                continue
            g = part.groupby("method")[metric]
            mean, lo, hi = (g.mean().reindex(methods), g.min().reindex(methods), g.max().reindex(methods))
            x = np.arange(len(methods)) + (k - 0.5) * 0.4
            ax.bar(x, mean.values, 0.4, color=colour, label=name)
            ax.errorbar(x, mean.values, yerr=[mean.values - lo.values, hi.values - mean.values], fmt="none",
                        ecolor="black", elinewidth=0.8, capsize=2)
        ax.axhline(0.5, color="grey", ls=":", lw=0.8)
        ax.set_xticks(range(len(methods)), methods, rotation=70, ha="right", fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_ylabel("AFL")
        ax.set_title(f"{fam} reasoning: mean over buckets, whiskers min–max over buckets", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    return finish(fig, path)


def pafl_by_objects(records: pd.DataFrame, path: Path) -> Path | None:
    """Mean PAFL per method by the number of objects in the image (Kim et al. Fig. 6b), one panel
    per reasoning family: does a method lose the object to focus on as the image fills up?"""
    ok = records[(records["status"] == "ok") & (records["metric"] == "mass_focus")]
    if ok.empty or "group_n_objects" not in ok.columns:
        return None
    ok = ok.dropna(subset=["value"]).assign(reasoning=lambda d: d["setting"].map(_reasoning))
    families = sorted(dict.fromkeys(ok["reasoning"]), key=lambda f: (f != "simple", f))
    fig, axes = plt.subplots(1, len(families), figsize=(5.5 * len(families), 3.8), squeeze=False, sharey=True)
    for ax, fam in zip(axes[0], families):
        t = ok[ok["reasoning"] == fam].pivot_table(index="group_n_objects", columns="method", values="value",
                                                   aggfunc="mean")
        for method in t.columns:
            ax.plot(t.index, t[method].values, marker="o", ms=3, lw=1, label=method)
        ax.set_xticks(t.index)
        ax.set_xlabel("objects in the image")
        ax.set_ylim(0, 1)
        ax.set_title(f"{fam} reasoning: PAFL by number of objects", fontsize=9)
    axes[0][0].set_ylabel("mean PAFL")
    axes[0][-1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1), ncol=1)
    return finish(fig, path)


def worst_bucket_gallery(records: pd.DataFrame, maps_dir: Path, setting: str, path: Path, pairs: int = 4) -> Path | None:
    """For every method, a sample image from the bucket where its PAFL is lowest, with the focus
    (+)/avoid (−) ground truth and the method's signed map (Kim et al. Figs. 19–21)."""
    t = bucket_table(records)
    loaded = load_shown(maps_dir, setting)
    if t.empty or loaded is None or setting not in t.index.get_level_values("setting"):
        return None
    inputs, maps = loaded
    buckets = inputs.get("facts", {}).get("bucket")
    if buckets is None:
        return None
    row_of = {}
    for row, b in enumerate(buckets):
        row_of.setdefault(int(b), row)
    pafl = t.loc[setting]["mass_focus"].dropna()
    panels = []
    for method in sorted(pafl.index.get_level_values("method").unique()):
        if method not in maps:
            continue
        worst = int(pafl.loc[method].idxmin())
        row = row_of.get(worst)
        sample = inputs["samples"][row] if row is not None else None
        if sample is None or sample not in maps[method]:
            continue
        panels.append((method, worst, float(pafl.loc[(method, worst)]), row, maps[method][sample]))
    if not panels:
        return None
    ncols = 3 * pairs
    nrows = -(-len(panels) // pairs)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.9 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k, (method, bucket, value, row, amap) in enumerate(panels):
        a_in, a_gt, a_map = axes.flat[3 * k: 3 * k + 3]
        a_in.imshow(image_array(inputs["inputs"][row]), interpolation="nearest")
        a_in.set_title(f"bucket {bucket}", fontsize=7)
        title, gt = gt_panel(inputs, row)
        signed_panel(a_gt, title, gt, 1.0)
        signed_panel(a_map, f"{method}\nPAFL {value:.2f}", amap)
    fig.suptitle(f"{setting}: each method on its worst bucket (input, focus/avoid, map)", fontsize=10)
    return finish(fig, path, dpi=100)
