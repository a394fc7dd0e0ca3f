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


def _finish(fig, path: Path, dpi: int = 110) -> Path:
    """Lay out, write and close a figure."""
    fig.tight_layout()
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


def map_gallery(maps_dir: Path, setting: str, path: Path, sample: int | None = None, ncols: int = 8) -> Path | None:
    """The input, its signed ground truth, and every method's signed map for one sample (red =
    positive, blue = negative, each map scaled to its own maximum), like Zhang et al. Fig. 4. By
    default the saved sample with the most ground-truth pixels."""
    inp_path = maps_dir / f"{setting}__inputs.pt"
    if not inp_path.exists():
        return None
    inputs = torch.load(inp_path, weights_only=False)
    if sample is None:
        masks = inputs["masks"]
        marked = masks["focus"] | masks["avoid"] if "avoid" in masks else masks["focus"]
        sample = int(marked.flatten(1).sum(1).argmax())
    entries = []
    for p in sorted(maps_dir.glob(f"{setting}__*.pt")):
        if p == inp_path:
            continue
        d = torch.load(p, weights_only=False)
        if d["start"] == 0 and d["signed"].shape[0] > sample:
            entries.append((d["method"], d["signed"][sample].float().numpy()))
    entries.sort()
    masks = inputs["masks"]
    if "positive" in masks and "negative" in masks:
        gt = masks["positive"][sample].float() - masks["negative"][sample].float()
        gt_title = "ground truth (±)"
    else:
        gt = masks["focus"][sample].float() - (masks["avoid"][sample].float() if "avoid" in masks else 0)
        gt_title = "focus (+) / avoid (−)"
    panels = [("input", _image(inputs["inputs"][sample]), None), (gt_title, gt.numpy(), 1.0)]
    panels += [(m, a, None) for m, a in entries]
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.9 * ncols, 2.1 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, img, scale) in zip(axes.flat, panels):
        if title == "input":
            ax.imshow(img, interpolation="nearest")
        else:
            peak = float(np.abs(img).max())
            v = scale or peak or 1.0
            ax.imshow(img, cmap="bwr", vmin=-v, vmax=v, interpolation="nearest")
            if peak == 0.0:
                title += "\n(all zero)"
        ax.set_title(title, fontsize=7)
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
