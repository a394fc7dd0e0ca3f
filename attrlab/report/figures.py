"""Figures (matplotlib, Agg) computed from the summary table and the saved sample maps."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from .tables import PRF_COLUMNS  # noqa: E402


def _finish(fig, path: Path, dpi: int = 110, rect: tuple | None = None) -> Path:
    """Lay out (inside ``rect``, leaving room for a figure legend), write and close a figure."""
    fig.tight_layout(rect=rect) if rect else fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def prf_heatmap(table: pd.DataFrame, setting: str, path: Path) -> Path | None:
    """Methods × {positive, negative, overall} × {precision, recall, F1}, like AttributionLab's
    Figs. 5–7 bars, as one annotated heat map so that every method fits on one page."""
    cols = [c for c in PRF_COLUMNS if c in table.columns]
    if not cols:
        return None
    t = table.loc[setting, cols]
    t = t.loc[t["overall_f1"].sort_values(ascending=False).index] if "overall_f1" in t else t
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(t) + 1.6))
    im = ax.imshow(t.values.astype(float), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cols)), [c.replace("_", "\n") for c in cols], fontsize=8)
    ax.set_yticks(range(len(t)), t.index, fontsize=8)
    for (i, j), v in np.ndenumerate(t.values.astype(float)):
        ax.text(j, i, "–" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=7,
                color="white" if (np.isnan(v) or v < 0.6) else "black")
    for x in (2.5, 5.5):
        ax.axvline(x, color="white", lw=2)
    ax.set_title(f"Precision / recall / F1 against signed ground truth — {setting}", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.03)
    return _finish(fig, path)


def metric_bars(table: pd.DataFrame, metric: str, setting: str, path: Path, title: str) -> Path | None:
    """One bar per method for ``metric`` (e.g. Attr% of the ground truth), sorted."""
    if metric not in table.columns:
        return None
    s = table.loc[setting, metric].sort_values()
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(s) + 1.2))
    ax.barh(range(len(s)), s.values, color="#3b75af")
    ax.set_yticks(range(len(s)), s.index, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel(metric)
    ax.set_title(f"{title} — {setting}", fontsize=10)
    return _finish(fig, path)


def variant_bars(table: pd.DataFrame, base: str, path: Path) -> Path | None:
    """Every variant of one method (e.g. IG vs IG*, LIME by segmentation) side by side: overall
    and positive precision/recall/F1, per setting (Zhang et al. Figs. 5c, 6a–b)."""
    methods = sorted({m for m in table.index.get_level_values("method") if m.split(":")[0] == base})
    cols = [c for c in ("overall_precision", "overall_recall", "overall_f1", "positive_precision", "positive_recall",
                        "positive_f1") if c in table.columns]
    if len(methods) < 2 or not cols:
        return None
    settings = list(dict.fromkeys(table.index.get_level_values("setting")))
    fig, axes = plt.subplots(1, len(settings), figsize=(5.5 * len(settings), 3.6), squeeze=False)
    width = 0.8 / len(methods)
    for ax, setting in zip(axes[0], settings):
        for k, m in enumerate(methods):
            if (setting, m) not in table.index:
                continue
            vals = table.loc[(setting, m), cols].astype(float).values
            ax.bar(np.arange(len(cols)) + k * width, vals, width, label=m)
        ax.set_xticks(np.arange(len(cols)) + 0.4 - width / 2, [c.replace("_", "\n") for c in cols], fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_title(setting, fontsize=9)
    axes[0][0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.25), ncol=2)
    fig.suptitle(f"{base}: variants", fontsize=10)
    return _finish(fig, path)


def _image(x: torch.Tensor) -> np.ndarray:
    return x.permute(1, 2, 0).clamp(0, 1).numpy() if x.dim() == 3 else x.numpy()


def load_shown(maps_dir: Path, setting: str) -> tuple[dict, dict[str, dict[int, np.ndarray]]] | None:
    """The saved inputs/ground truth of the shown samples of ``setting`` and every method's signed
    maps of them: ``(inputs, {method: {sample: map}})``; ``None`` when nothing was saved."""
    inp_path = maps_dir / f"{setting}__inputs.pt"
    if not inp_path.exists():
        return None
    inputs = torch.load(inp_path, weights_only=False)
    maps: dict[str, dict[int, np.ndarray]] = {}
    for p in sorted(maps_dir.glob(f"{setting}__*__*.pt")):
        d = torch.load(p, weights_only=False)
        for row, sample in enumerate(d["samples"]):
            maps.setdefault(d["method"], {})[int(sample)] = d["signed"][row].float().numpy()
    return inputs, maps


def _gt_panel(inputs: dict, row: int) -> tuple[str, np.ndarray]:
    masks = inputs["masks"]
    if "positive" in masks and "negative" in masks:
        return "ground truth (±)", (masks["positive"][row].float() - masks["negative"][row].float()).numpy()
    gt = masks["focus"][row].float() - (masks["avoid"][row].float() if "avoid" in masks else 0)
    return "focus (+) / avoid (−)", gt.numpy()


def _signed_panel(ax, title: str, img: np.ndarray, scale: float | None = None) -> None:
    peak = float(np.abs(img).max())
    v = scale or peak or 1.0
    ax.imshow(img, cmap="bwr", vmin=-v, vmax=v, interpolation="nearest")
    ax.set_title(title + ("\n(all zero)" if peak == 0.0 else ""), fontsize=7)


def map_gallery(maps_dir: Path, setting: str, path: Path, sample: int | None = None, ncols: int = 8) -> Path | None:
    """The input, its signed ground truth, and every method's signed map for one sample (red =
    positive, blue = negative, each map scaled to its own maximum), like Zhang et al. Fig. 4. By
    default the shown sample with the most ground-truth pixels."""
    loaded = load_shown(maps_dir, setting)
    if loaded is None:
        return None
    inputs, maps = loaded
    if inputs["inputs"].dim() != 4:  # not images (text: see report.text_views)
        return None
    samples = list(inputs["samples"])
    masks = inputs["masks"]
    if sample is None:
        marked = masks["focus"] | masks["avoid"] if "avoid" in masks else masks["focus"]
        sample = samples[int(marked.flatten(1).sum(1).argmax())]
    row = samples.index(sample)
    entries = sorted((m, d[sample]) for m, d in maps.items() if sample in d)
    gt_title, gt = _gt_panel(inputs, row)
    panels = [("input", _image(inputs["inputs"][row]), None), (gt_title, gt, 1.0)] + [(m, a, None) for m, a in entries]
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.9 * ncols, 2.1 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, img, scale) in zip(axes.flat, panels):
        if title == "input":
            ax.imshow(img, interpolation="nearest")
            ax.set_title(title, fontsize=7)
        else:
            _signed_panel(ax, title, img, scale)
    fig.suptitle(f"{setting}: sample {sample} (red = positive, blue = negative)", fontsize=10)
    return _finish(fig, path, dpi=100)


def bucket_table(records: pd.DataFrame) -> pd.DataFrame:
    """Mean PAFL (``mass_focus``) and SAFL (``mass_avoid``) per (setting, method, bucket), from
    records that carry a ``group_bucket`` fact (SMERF)."""
    ok = records[(records["status"] == "ok") & records["metric"].isin(["mass_focus", "mass_avoid"])]
    if ok.empty or "group_bucket" not in ok.columns:
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
    for key, table in views.items():
        fig, ax = plt.subplots(figsize=(0.45 * table.shape[1] + 2.5, 0.4 * table.shape[0] + 2.2))
        ax.imshow(table.values.astype(float), vmin=0, vmax=1, cmap="gray" if key != "worst_pafl" else "viridis",
                  aspect="auto")
        ax.set_xticks(range(table.shape[1]), table.columns, rotation=70, ha="right", fontsize=7)
        ax.set_yticks(range(table.shape[0]), table.index, fontsize=8)
        for (i, j), v in np.ndenumerate(table.values.astype(float)):
            if not np.isnan(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="red")
        ax.set_title(titles[key], fontsize=9)
        paths.append(_finish(fig, path_prefix.with_name(f"{path_prefix.name}_{key}.png")))
    return paths


def _reasoning(setting: str) -> str:
    """SMERF's reasoning family of a setting name: ``simple`` or ``complex``."""
    return setting.split("-")[0]


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
    return _finish(fig, path)


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
    return _finish(fig, path)


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
        a_in.imshow(_image(inputs["inputs"][row]), interpolation="nearest")
        a_in.set_title(f"bucket {bucket}", fontsize=7)
        title, gt = _gt_panel(inputs, row)
        _signed_panel(a_gt, title, gt, 1.0)
        _signed_panel(a_map, f"{method}\nPAFL {value:.2f}", amap)
    fig.suptitle(f"{setting}: each method on its worst bucket (input, focus/avoid, map)", fontsize=10)
    return _finish(fig, path, dpi=100)
