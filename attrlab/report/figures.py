"""Figures (matplotlib, Agg) computed from the summary table and the saved sample maps."""
from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from ..errors import AttrlabError  # noqa: E402
from ..storage import load_tensors  # noqa: E402
from .tables import PRF_COLUMNS  # noqa: E402


def finish(fig, path: Path, dpi: int = 110, rect: tuple | None = None) -> Path:
    """Lay out (inside ``rect``, leaving room for a figure legend), write and close a figure."""
    fig.tight_layout(rect=rect) if rect else fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def prf_heatmap(table: pd.DataFrame, setting: str, path: Path) -> Path | None:
    """Methods × {positive, negative, overall} × {precision, recall, F1} against signed ground
    truth, as one annotated heat map so that every method fits on one page."""
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
    return finish(fig, path)


def metric_bars(table: pd.DataFrame, metric: str, setting: str, path: Path, title: str,
                spread: pd.DataFrame | None = None) -> Path | None:
    """One bar per method for ``metric`` (e.g. Attr% of the ground truth), sorted; with ``spread``
    (:func:`attrlab.report.spread.spread` of the records) each bar gets its 95% interval."""
    if metric not in table.columns:
        return None
    s = table.loc[setting, metric].sort_values()
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(s) + 1.2))
    ax.barh(range(len(s)), s.values, color="#3b75af")
    if spread is not None and not spread.empty:
        cells = spread[(spread["setting"] == setting) & (spread["metric"] == metric)].set_index("method")
        cells = cells[~cells.index.duplicated()].reindex(s.index)
        if cells["ci_low"].notna().any():
            err = [np.clip(s.values - cells["ci_low"].to_numpy(float), 0, None),
                   np.clip(cells["ci_high"].to_numpy(float) - s.values, 0, None)]
            ax.errorbar(s.values, range(len(s)), xerr=np.nan_to_num(err), fmt="none", ecolor="black", lw=0.7)
            over = "models" if (cells["ci_over"] == "models").any() else "samples"
            ax.set_xlabel(f"{metric} (95% bootstrap interval over {over})")
    ax.set_yticks(range(len(s)), s.index, fontsize=8)
    ax.set_xlim(0, 1)
    if not ax.get_xlabel():
        ax.set_xlabel(metric)
    ax.set_title(f"{title} — {setting}", fontsize=10)
    return finish(fig, path)


def variant_bars(table: pd.DataFrame, base: str, path: Path) -> Path | None:
    """Every variant of one method (e.g. IG vs IG*, LIME by segmentation) side by side: overall
    and positive precision/recall/F1, per setting."""
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
    return finish(fig, path)


def image_array(x: torch.Tensor) -> np.ndarray:
    return x.permute(1, 2, 0).clamp(0, 1).numpy() if x.dim() == 3 else x.numpy()


def load_shown(maps_dir: Path, setting: str) -> tuple[dict, dict[str, dict[int, np.ndarray]]] | None:
    """The saved inputs/ground truth of the shown samples of ``setting`` and every method's signed
    maps of them: ``(inputs, {method: {sample: map}})``; ``None`` when nothing was saved."""
    inp_path = maps_dir / f"{setting}__inputs.pt"
    if not inp_path.exists():
        return None
    try:
        inputs = load_tensors(inp_path)
    except AttrlabError as exc:
        warnings.warn(f"{exc}; its figures are left out", stacklevel=2)
        return None
    maps: dict[str, dict[int, np.ndarray]] = {}
    for p in sorted(maps_dir.glob(f"{setting}__*__*.pt")):
        try:
            d = load_tensors(p)
        except AttrlabError as exc:
            warnings.warn(f"{exc}; its maps are left out", stacklevel=2)
            continue
        for row, sample in enumerate(d["samples"]):
            maps.setdefault(d["method"], {})[int(sample)] = d["signed"][row].float().numpy()
    return inputs, maps


def gt_panel(inputs: dict, row: int) -> tuple[str, np.ndarray]:
    masks = inputs["masks"]
    if "positive" in masks and "negative" in masks:
        return "ground truth (±)", (masks["positive"][row].float() - masks["negative"][row].float()).numpy()
    gt = masks["focus"][row].float() - (masks["avoid"][row].float() if "avoid" in masks else 0)
    return "focus (+) / avoid (−)", gt.numpy()


def signed_panel(ax, title: str, img: np.ndarray, scale: float | None = None) -> None:
    peak = float(np.abs(img).max())
    v = scale or peak or 1.0
    ax.imshow(img, cmap="bwr", vmin=-v, vmax=v, interpolation="nearest")
    ax.set_title(title + ("\n(all zero)" if peak == 0.0 else ""), fontsize=7)


def map_gallery(maps_dir: Path, setting: str, path: Path, sample: int | None = None, ncols: int = 8) -> Path | None:
    """The input, its signed ground truth, and every method's signed map for one sample (red =
    positive, blue = negative, each map scaled to its own maximum). By default the shown sample with the most ground-truth pixels."""
    loaded = load_shown(maps_dir, setting)
    if loaded is None:
        return None
    inputs, maps = loaded
    if inputs["inputs"].dim() != 4:  # not images: an environment section draws them
        return None
    samples = list(inputs["samples"])
    masks = inputs["masks"]
    if sample is None:
        marked = masks["focus"] | masks["avoid"] if "avoid" in masks else masks["focus"]
        sample = samples[int(marked.flatten(1).sum(1).argmax())]
    row = samples.index(sample)
    entries = sorted((m, d[sample]) for m, d in maps.items() if sample in d)
    gt_title, gt = gt_panel(inputs, row)
    panels = [("input", image_array(inputs["inputs"][row]), None), (gt_title, gt, 1.0)] + [(m, a, None) for m, a in entries]
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.9 * ncols, 2.1 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, img, scale) in zip(axes.flat, panels):
        if title == "input":
            ax.imshow(img, interpolation="nearest")
            ax.set_title(title, fontsize=7)
        else:
            signed_panel(ax, title, img, scale)
    fig.suptitle(f"{setting}: sample {sample} (red = positive, blue = negative)", fontsize=10)
    return finish(fig, path, dpi=100)
