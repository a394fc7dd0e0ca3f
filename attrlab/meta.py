"""Meta-evaluation: does each automatic (ground-truth-free) metric rank methods as the ground truth
does? Read from records alone, like ``attrlab compare``.

Nguyen, Kim & Nguyen (2021; ../shared/papers/related-work-list.txt, first entry) asked whether the
automatic scores people use track how much attribution maps really help, with 320 people, and
found they "correlate poorly". attrlab asks the same of ground truth, on verified models.

Within each cell — one environment, setting and model (a seed) — the methods' mean ground-truth
score (the environment's headline metric) and their mean automatic score are compared, each turned
so that higher is better (the registry's declared direction):

* **τ** — Kendall's τ_b between the two rankings of methods, with and without the ``random`` /
  ``edge`` / ``oracle`` controls (controls are easy to rank; the question is the real methods);
* **regret** — the ground-truth score lost by choosing the real method the automatic metric ranks
  first instead of the best real one;
* **pairwise accuracy** — over pairs of real methods whose ground-truth difference is significant
  (a paired Wilcoxon test over the cell's samples, p < 0.05), the share that the automatic metric
  orders the same way;
* **per-sample ρ** — Spearman's correlation between the ground-truth and automatic values of one
  method's samples, averaged over methods (does the metric tell good maps from bad ones of the
  same method?);
* **confidence ρ** — Spearman's correlation between the automatic value and the model's
  probability for the target (Nourelahi et al. 2022: insertion/deletion track confidence).

Raw automatic values are never pooled across models (they track each model's confidence): the
statistics are computed within cells, then averaged over cells with a 95% bootstrap interval over
cells (seeded). A method of an unverified model is left out, and so is a cell with fewer than
three methods.

Example:
    >>> import pandas as pd
    >>> rows = [dict(environment="e", setting="s", model_id="m", method=m, sample=i, metric=k, value=v,
    ...              status="ok", verified=True)
    ...         for m, g in (("a", 0.9), ("b", 0.5), ("c", 0.1)) for i in range(4)
    ...         for k, v in (("mass_focus", g + 0.01 * i), ("deletion", 1 - g), ("sparseness", g))]
    >>> cells = agreement(pd.DataFrame(rows), {"e": "mass_focus"})
    >>> cells.set_index("metric")["tau"].to_dict()
    {'deletion': 1.0, 'sparseness': 1.0}
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import AttrlabError
from .metrics.registry import direction, family

CONTROLS = ("random", "edge", "oracle")
CELL = ["environment", "setting", "model_id"]
N_BOOT = 2000
ALPHA = 0.05


def _aligned(metric: str, values):
    """Values turned so that higher is better."""
    return -np.asarray(values, float) if direction(metric) == "lower" else np.asarray(values, float)


def _is_control(method: str) -> bool:
    return method.split(":")[0] in CONTROLS


def _tau(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import kendalltau

    ok = ~(np.isnan(x) | np.isnan(y))
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(kendalltau(x[ok], y[ok]).statistic)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    ok = ~(np.isnan(x) | np.isnan(y))
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(spearmanr(x[ok], y[ok]).statistic)


def automatic_in(records: pd.DataFrame) -> list[str]:
    """The automatic metrics recorded (not the confidence, not completeness)."""
    return [m for m in dict.fromkeys(records["metric"])
            if family(m) == "automatic" and m not in ("completeness_gap", "confidence")]


def _plausible(records: pd.DataFrame) -> pd.Series:
    """Rows whose ground truth the environment marks as only plausible (fact ``plausible``: the
    grid pointing game, where the model sees every cell)."""
    if "group_plausible" not in records.columns:
        return pd.Series(False, index=records.index)
    return pd.to_numeric(records["group_plausible"], errors="coerce").fillna(0).astype(bool)


def left_out(records: pd.DataFrame, headlines: dict[str, str], include_unverified: bool = False) -> pd.DataFrame:
    """What the meta-evaluation (and ``compare``) leaves out, and why: one row per environment,
    setting, model and method whose model is not verified, or whose environment declares no
    headline, or whose every record failed."""
    rows = []
    for (env, setting, model, method), g in records.groupby(CELL + ["method"], sort=False):
        why = ""
        if env not in headlines:
            why = "its environment declares no headline ground-truth metric (config.json)"
        elif not include_unverified and not g["verified"].astype(bool).all():
            why = "its model is not verified: its scores are not ground-truth evidence (--include-unverified shows it)"
        elif not include_unverified and _plausible(g).any():
            why = ("its ground truth is only plausible (the model sees every cell: GridPG), not evidence "
                   "(--include-unverified shows it)")
        elif (g["status"] != "ok").all():
            errors = g.loc[g["status"] != "ok", "error"].dropna()
            why = f"every record failed: {errors.iloc[0] if len(errors) else ''}"
        if why:
            rows.append({"environment": env, "setting": setting, "model_id": model, "method": method, "why": why})
    return pd.DataFrame(rows, columns=CELL + ["method", "why"])


def agreement(records: pd.DataFrame, headlines: dict[str, str], include_unverified: bool = False) -> pd.DataFrame:
    """One row per cell (environment, setting, model) and automatic metric: τ (all methods and
    without controls), regret, pairwise accuracy, per-sample ρ, confidence ρ, the share of
    undefined values and the number of methods. ``headlines``: environment → ground-truth metric.
    ``include_unverified`` keeps unverified models (marked ``verified = False`` in the rows) and
    ground truth that is only plausible (GridPG)."""
    ok = records[(records["status"] == "ok") & ((records["verified"].astype(bool) & ~_plausible(records))
                                                | include_unverified)]
    rows = []
    for (env, setting, model), cell in ok.groupby(CELL, sort=False):
        head = headlines.get(env)
        if head is None or head not in set(cell["metric"]):
            continue
        wide = cell.pivot_table(index=["method", "sample"], columns="metric", values="value", aggfunc="first",
                                dropna=False)
        gt = wide[head]
        for metric in automatic_in(cell):
            auto = wide[metric]
            means = pd.DataFrame({"gt": gt.groupby(level="method").mean(),
                                  "auto": auto.groupby(level="method").mean()}).dropna()
            if len(means) < 3:
                continue
            g, a = _aligned(head, means["gt"]), _aligned(metric, means["auto"])
            real = ~np.array([_is_control(m) for m in means.index], dtype=bool)
            # regret among the real methods: the controls and the oracle are not a user's choice
            regret = float(g[real].max() - g[real][int(np.nanargmax(a[real]))]) if real.any() else float("nan")
            real_names = set(means.index[real])
            row = {"environment": env, "setting": setting, "model_id": model, "metric": metric, "ground_truth": head,
                   "verified": bool(cell["verified"].astype(bool).all()),
                   "methods": int(len(means)), "tau": _tau(g, a),
                   "tau_without_controls": _tau(g[real], a[real]) if real.sum() >= 3 else float("nan"),
                   "regret": regret,
                   "pairwise_accuracy": _pairwise(_only(gt, real_names), _only(auto, real_names), head, metric),
                   "per_sample_rho": _per_sample(_only(gt, real_names), _only(auto, real_names), head, metric),
                   "undefined": float(auto.isna().mean())}
            if "confidence" in wide:  # raw, not aligned: does the value move with the model's confidence?
                row["confidence_rho"] = _spearman(wide["confidence"].to_numpy(float), auto.to_numpy(float))
            rows.append(row)
    return pd.DataFrame(rows)


def _pairwise(gt: pd.Series, auto: pd.Series, head: str, metric: str) -> float:
    """Share of method pairs with a significant ground-truth difference (paired Wilcoxon over the
    shared samples, p < 0.05) that the automatic metric orders the same way."""
    from scipy.stats import wilcoxon

    methods = list(dict.fromkeys(gt.index.get_level_values("method")))
    agree = total = 0
    for i, m in enumerate(methods):
        for n in methods[i + 1:]:
            pair = pd.DataFrame({"g1": gt.xs(m, level="method"), "g2": gt.xs(n, level="method"),
                                 "a1": auto.xs(m, level="method"), "a2": auto.xs(n, level="method")}).dropna()
            diff = (pair["g1"] - pair["g2"]).to_numpy(float)
            if len(pair) < 5 or not np.any(diff):
                continue
            if wilcoxon(diff).pvalue >= ALPHA:
                continue
            total += 1
            g_sign = np.sign(_aligned(head, [pair["g1"].mean()])[0] - _aligned(head, [pair["g2"].mean()])[0])
            a_sign = np.sign(_aligned(metric, [pair["a1"].mean()])[0] - _aligned(metric, [pair["a2"].mean()])[0])
            agree += int(g_sign == a_sign)
    return agree / total if total else float("nan")


def _only(values: pd.Series, methods: set) -> pd.Series:
    return values[values.index.get_level_values("method").isin(methods)]


def _per_sample(gt: pd.Series, auto: pd.Series, head: str, metric: str) -> float:
    """Mean over methods of Spearman's ρ between the aligned ground-truth and automatic values of
    one method's samples."""
    rhos = [_spearman(_aligned(head, gt.xs(m, level="method")), _aligned(metric, auto.xs(m, level="method")))
            for m in dict.fromkeys(gt.index.get_level_values("method"))]
    rhos = [r for r in rhos if not np.isnan(r)]
    return float(np.mean(rhos)) if rhos else float("nan")


def bootstrap_mean(values, seed: int = 0) -> tuple[float, float, float]:
    """Mean and 95% percentile bootstrap interval of ``values`` (NaN left out)."""
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    if len(v) == 1:
        return float(v[0]), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = rng.choice(v, (N_BOOT, len(v))).mean(1)
    return float(v.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


STATS = ("tau", "tau_without_controls", "regret", "pairwise_accuracy", "per_sample_rho", "confidence_rho", "undefined")


def summarise(cells: pd.DataFrame) -> pd.DataFrame:
    """Per environment and automatic metric: each statistic's mean over cells with its 95%
    bootstrap interval (``<stat>``, ``<stat>_low``, ``<stat>_high``) and the number of cells."""
    rows = []
    if cells.empty:
        return pd.DataFrame()
    for (env, metric), g in cells.groupby(["environment", "metric"], sort=False):
        row = {"environment": env, "metric": metric, "ground_truth": g["ground_truth"].iloc[0], "cells": len(g),
               "direction": direction(metric)}
        for stat in STATS:
            if stat in g:
                row[stat], row[f"{stat}_low"], row[f"{stat}_high"] = bootstrap_mean(g[stat])
        rows.append(row)
    return pd.DataFrame(rows)


def ladder(records: pd.DataFrame) -> pd.DataFrame:
    """The oracle ladder (``oracle:noise=…`` methods): per cell and metric, Spearman's ρ between the
    noise level and the metric's mean (higher-is-better aligned). A sound metric gives −1: the more
    noise in the ground-truth map, the worse it scores. The ground truth's own row says how the
    ladder reads on the headline."""
    ok = records[(records["status"] == "ok") & records["method"].str.startswith("oracle")
                 & records["metric"].map(lambda m: family(m) != "model")]
    if ok.empty:
        return pd.DataFrame()
    ok = ok.assign(noise=ok["method"].map(_noise_of))
    rows = []
    for (env, setting, model, metric), g in ok.groupby(CELL + ["metric"], sort=False):
        means = g.groupby("noise")["value"].mean()
        if len(means) < 3:
            continue
        rows.append({"environment": env, "setting": setting, "model_id": model, "metric": metric,
                     "rho": _spearman(means.index.to_numpy(float), _aligned(metric, means.to_numpy(float))),
                     **{f"noise={k:g}": v for k, v in means.items()}})
    return pd.DataFrame(rows)


def _noise_of(method: str) -> float:
    for part in method.split(":")[1:]:
        if part.startswith("noise="):
            return float(part.split("=", 1)[1])
    return 0.0


def order_consistency(records: pd.DataFrame, pairs=(("road_morf", "road_lerf"), ("deletion", "deletion:substrate=true"))
                      ) -> pd.DataFrame:
    """Rank agreement between two versions of one metric over methods, per cell (Rong et al. 2022:
    ROAD's most- and least-relevant-first orders should rank methods alike; deletion to zeros vs
    to the true baseline): Kendall τ of the aligned method means."""
    ok = records[(records["status"] == "ok") & records["verified"].astype(bool)]
    rows = []
    for key, cell in ok.groupby(CELL, sort=False):
        means = cell.groupby(["metric", "method"])["value"].mean()
        for a, b in pairs:
            if a in means.index.get_level_values(0) and b in means.index.get_level_values(0):
                both = pd.DataFrame({"a": means[a], "b": means[b]}).dropna()
                both = both[[not _is_control(m) for m in both.index]]
                rows.append(dict(zip(CELL, key), first=a, second=b,
                                 tau=_tau(_aligned(a, both["a"]), _aligned(b, both["b"]))))
    return pd.DataFrame(rows)


def headlines_of(folders) -> dict[str, str]:
    """Environment → its headline metric, from the run folders' (or study units') config.json."""
    out = {}
    for folder in folders:
        folder = Path(folder)
        configs = [folder / "config.json"] if (folder / "config.json").exists() else sorted(
            (folder / "units").glob("*/config.json"))
        for path in configs:
            c = json.loads(path.read_text())
            if c.get("headline") and c.get("environment"):
                out.setdefault(c["environment"], c["headline"]["metric"])
    return out


def costs_of(folders) -> pd.DataFrame:
    """Forward passes and milliseconds per map of each automatic metric, per environment, from the
    run folders' (or study units') ``jobs.csv``."""
    from .report.automatic import metric_costs

    rows = []
    for folder in map(Path, folders):
        runs = [folder] if (folder / "jobs.csv").exists() else sorted(p.parent for p in folder.glob("units/*/jobs.csv"))
        for run_dir in runs:
            config = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").exists() else {}
            costs = metric_costs(run_dir)
            if costs.empty:
                continue
            costs = costs.drop(index="(the methods themselves)", errors="ignore").reset_index()
            rows.append(costs.assign(environment=config.get("environment", "?")))
    if not rows:
        return pd.DataFrame(columns=["environment", "metric", "forward passes per map", "ms per map"])
    t = pd.concat(rows, ignore_index=True)
    return t.groupby(["environment", "metric"], as_index=False).agg(
        **{"forward passes per map": ("forward passes per map", "mean"), "ms per map": ("ms per map", "mean")})


def load(paths) -> tuple[pd.DataFrame, dict[str, str]]:
    """The records of every run or study folder under ``paths`` and their headline metrics."""
    from .report.tables import load_records

    folders = []
    for p in map(Path, paths):
        if (p / "records.csv").exists():
            folders.append(p)
        elif p.is_dir() and any(p.glob("*/records.csv")):
            folders += sorted(q.parent for q in p.glob("*/records.csv"))
        else:
            raise AttrlabError(f"{p} is not a run or study folder (no records.csv)")
    frames = []
    for f in folders:
        r = load_records(f)
        frames.append(r)
    records = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if records.empty:
        raise AttrlabError(f"no records under {', '.join(map(str, paths))}")
    heads = headlines_of(folders)
    if not automatic_in(records):
        raise AttrlabError("these runs hold no automatic metrics; run them with --auto-metrics default (or all)")
    records.attrs["folders"] = [str(f) for f in folders]
    return records, heads
