"""Zhou et al.'s Attr% views (Figs. 5–8, 15–18), drawn from records that carry the semi-natural
facts (``group_er_fraction``, ``group_manipulated``, …): Attr% = ``mass_focus``, the share of
|attribution| on the joint effective region, averaged separately over the test images with and
without the manipulation. Registered as a report section for records with those facts."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..report.figures import finish  # noqa: E402
from ..report.sections import SectionContext, images, register_section, table  # noqa: E402
from ..report.spread import mean_ci  # noqa: E402

COLOURS = {"blur": "#1f77b4", "brightness": "#ff7f0e", "hue": "#2ca02c", "noise": "#d62728", "watermark": "#9467bd"}
WITH = {1: ("o", "with manipulation"), 0: ("x", "without")}


def attr_table(records: pd.DataFrame) -> pd.DataFrame:
    """Mean Attr% per (setting, method, manipulated) with its 95% bootstrap interval over the
    samples (``attr_low``, ``attr_high``), and the run's facts as columns."""
    need = {"group_er_fraction", "group_manipulated", "group_manipulation"}
    ok = records[(records["status"] == "ok") & (records["metric"] == "mass_focus")]
    if ok.empty or not need <= set(ok.columns):
        return pd.DataFrame()
    facts = [c for c in ("group_manipulation", "group_er_fraction", "group_r", "group_visibility", "group_pair",
                         "group_epoch", "group_test_accuracy") if c in ok.columns]
    t = mean_ci(ok, ["setting", "method", "group_manipulated"] + facts)
    t = t.rename(columns={"mean": "attr", "ci_low": "attr_low", "ci_high": "attr_high"}).drop(columns="n")
    return t.rename(columns=lambda c: c.removeprefix("group_"))


def _panels(methods: list[str], ncols: int = 4):
    nrows = -(-len(methods) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 2.9 * nrows + 0.5), squeeze=False, sharey=True)
    for ax in axes.flat[len(methods):]:
        ax.axis("off")
    return fig, axes.flat


def _legend(fig, with_pairs: bool = False) -> None:
    handles = [plt.Line2D([], [], color=c, lw=2, label=m) for m, c in COLOURS.items()]
    handles += [plt.Line2D([], [], color="grey", marker=mk, ls="", label=lab) for mk, lab in WITH.values()]
    if with_pairs:
        handles += [plt.Line2D([], [], color="grey", ls="-", label="similar pair"),
                    plt.Line2D([], [], color="grey", ls="--", label="distinct pair")]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)


def attr_vs_er(records: pd.DataFrame, path: Path) -> Path | None:
    """Attr% against %ER per method (Figs. 5/15): the diagonal is a random map, the top line a
    perfect one."""
    t = attr_table(records)
    if t.empty:
        return None
    t = t[t["epoch"] < 0] if "epoch" in t else t
    methods = sorted(t["method"].unique())
    fig, axes = _panels(methods)
    for ax, method in zip(axes, methods):
        part = t[t["method"] == method]
        for (manip, flag), g in part.groupby(["manipulation", "manipulated"]):
            ax.errorbar(g["er_fraction"], g["attr"], yerr=[g["attr"] - g["attr_low"], g["attr_high"] - g["attr"]],
                        fmt=WITH[int(flag)][0], color=COLOURS.get(manip, "k"), ms=4, lw=0.7, capsize=1.5)
        ax.plot([0, 1], [0, 1], color="red", lw=0.8)
        ax.axhline(1.0, color="green", lw=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.05)
        ax.set_title(method, fontsize=8)
        ax.set_xlabel("%ER", fontsize=7)
    _legend(fig)
    fig.suptitle("Attr% of the joint effective region vs its size, 95% intervals over samples "
                 "(red: random map, green: Attr% = 1)", fontsize=10)
    return finish(fig, path, rect=(0, 0.4 / fig.get_figheight(), 1, 0.96))


def _lines(records: pd.DataFrame, path: Path, x: str, xlabel: str, title: str, select, shade=None) -> Path | None:
    t = attr_table(records)
    if t.empty:
        return None
    t = select(t)
    if t.empty or x not in t or t[x].nunique() < 2:
        return None
    methods = sorted(t["method"].unique())
    fig, axes = _panels(methods)
    pairs = "pair" in t and t["pair"].nunique() > 1
    for ax, method in zip(axes, methods):
        part = t[t["method"] == method]
        keys = ["manipulation", "manipulated"] + (["pair"] if pairs else [])
        for key, g in part.groupby(keys):
            manip, flag = key[0], int(key[1])
            ls = "--" if pairs and key[2] == "distinct" else "-"
            g = g.sort_values(x)
            ax.plot(g[x], g["attr"], ls=ls, marker=WITH[flag][0], ms=4, lw=1, color=COLOURS.get(manip, "k"),
                    alpha=1.0 if flag else 0.6)
            ax.fill_between(g[x], g["attr_low"], g["attr_high"], color=COLOURS.get(manip, "k"), alpha=0.12, lw=0)
        if shade is not None:
            shade(ax)
        ax.set_ylim(0, 1.05)
        ax.set_title(method, fontsize=8)
        ax.set_xlabel(xlabel, fontsize=7)
    _legend(fig, with_pairs=pairs)
    fig.suptitle(title, fontsize=10)
    return finish(fig, path, rect=(0, 0.4 / fig.get_figheight(), 1, 0.96))


def attr_vs_accuracy(records: pd.DataFrame, path: Path) -> Path | None:
    """Attr% against test accuracy over the training epochs (Figs. 6/16)."""
    return _lines(records, path, "test_accuracy", "test accuracy", "Attr% as training goes on (one point per epoch)",
                  lambda t: t[t["epoch"] >= 0] if "epoch" in t else t.iloc[:0])


def attr_vs_visibility(records: pd.DataFrame, path: Path) -> Path | None:
    """Attr% against the manipulation's visibility level 1–5 (Figs. 7/17); the ER is fixed."""
    def select(t):
        t = t[t["epoch"] < 0].copy() if "epoch" in t else t.copy()
        t["level"] = t.groupby("manipulation")["visibility"].rank(method="dense")
        return t
    return _lines(records, path, "level", "visibility level (App. B.5)", "Attr% vs visibility (same ER at every level)",
                  select)


def attr_vs_r(records: pd.DataFrame, path: Path) -> Path | None:
    """Attr% against the reassignment rate r (Figs. 8/18), with the Shapley range Attr% ≥ 1.5 − r
    (the bound at accuracy 1) shaded."""
    def shade(ax):
        r = np.linspace(0.5, 1.0, 50)
        ax.fill_between(r, 1.5 - r, 1.05, color="green", alpha=0.12, lw=0)
    return _lines(records, path, "r", "label-preservation rate r", "Attr% vs r (green: Shapley range Attr% ≥ 1.5 − r)",
                  lambda t: t[t["epoch"] < 0] if "epoch" in t else t, shade)


def attr_summary(records: pd.DataFrame) -> pd.DataFrame:
    """Method × manipulation mean Attr% on images with (and without) the manipulation, and %ER."""
    t = attr_table(records)
    if t.empty:
        return t
    t = t[t["epoch"] < 0] if "epoch" in t else t
    wide = t.pivot_table(index="method", columns=["manipulation", "manipulated"], values="attr", aggfunc="mean")
    wide.columns = [f"{m} ({'with' if f else 'without'})" for m, f in wide.columns]
    er = t.groupby("manipulation")["er_fraction"].mean()
    wide.loc["%ER (random map)"] = [er[c.split(" ")[0]] for c in wide.columns]
    return wide


def views(records: pd.DataFrame, fig_dir: Path) -> list[Path]:
    """Every Attr% figure the records support."""
    makers = {"attr_vs_er": attr_vs_er, "attr_vs_accuracy": attr_vs_accuracy, "attr_vs_visibility": attr_vs_visibility,
              "attr_vs_r": attr_vs_r}
    return [p for name, make in makers.items() if (p := make(records, fig_dir / f"{name}.png")) is not None]


@register_section("attr-percent", needs={"group_er_fraction", "group_manipulated", "group_manipulation"},
                  metrics={"mass_focus"}, order=40)
def _section(ctx: SectionContext) -> list[str]:
    figs = views(ctx.records, ctx.fig_dir)
    if not figs:
        return []
    return ["<h2>Attr% of the joint effective region</h2><p>Zhou et al. 2022: a model more accurate than "
            "p* = max(r, 1 − r) must use the manipulation, which lies inside the effective region (ER); a "
            "method should give it Attr% ≈ 1 at r = 0.5 (at least the Shapley bound (2p − r − 0.5)/(2p − 1) "
            "in general, see Verification). Means over test images with and without the manipulation.</p>",
            table(attr_summary(ctx.records))] + images(figs)
