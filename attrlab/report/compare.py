"""``attrlab compare RUN...``: methods across environments, from run folders alone.

Each run folder's records are scored by its environment's headline metric (declared by the
environment and written to ``config.json``: PAFL for SMERF, Attr% for the semi-natural data,
positive F1 for AttributionLab, ...), averaged over its verified, successful samples. Methods
are ranked within each run (1 = best), and their mean rank is given with a 95% bootstrap
interval (samples resampled within each run, 1,000 draws, seeded), beside how many runs they
were in. Records of every run are merged on the core columns (group facts kept, missing ones
empty) into one ``records.csv``.

Example:
    >>> import tempfile
    >>> from attrlab.runner import RunConfig, run
    >>> root = tempfile.mkdtemp()
    >>> a = run(RunConfig(methods=["gradient", "random"], out_dir=f"{root}/a", options={"n_images": 2, "size": 32},
    ...                   progress=False, report=False))
    >>> table = compare([a], f"{root}/cmp")
    >>> list(table.columns[:2])
    ['attributionlab: positive F1 (signed ground truth)', 'rank in attributionlab']
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AttrlabError
from ..metrics.registry import direction
from .tables import load_records

N_BOOT = 1000


def run_folders(paths) -> list[Path]:
    """The run folders among ``paths`` (a folder holding several runs counts as each of them)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if (p / "records.csv").exists():
            found.append(p)
        elif p.is_dir():
            found += sorted(q.parent for q in p.glob("*/records.csv"))
        else:
            raise AttrlabError(f"{p} is not a run folder (no records.csv) nor a folder of runs")
    if not found:
        raise AttrlabError(f"no run folders (with records.csv) under {', '.join(map(str, paths))}")
    return found


def _headline(folder: Path, records: pd.DataFrame) -> tuple[str, str, str]:
    config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").exists() else {}
    if not config and (folder / "study.json").exists():  # a study: its units say the environment's headline
        units = sorted((folder / "units").glob("*/config.json"))
        config = json.loads(units[0].read_text()) if units else {}
    env = config.get("environment") or (str(records["environment"].iloc[0]) if len(records) else folder.name)
    head = config.get("headline") or {"metric": "mass_focus", "name": "share of attribution on the ground truth"}
    return env, head["metric"], head["name"]


def compare(paths, out: str | Path, metric: str | None = None, include_unverified: bool = False) -> pd.DataFrame:
    """Write ``out/compare.csv``, ``out/compare.png`` and ``out/records.csv`` (merged) for the
    run folders under ``paths``; returns the table (one row per method). Methods are scored by
    each run's headline metric, or by ``metric`` (any recorded metric, e.g. ``deletion``), and
    ranked in that metric's declared direction (:func:`attrlab.metrics.direction`). What is left
    out (a method of an unverified model, one whose records all failed, a run without the metric)
    is written to ``out/left_out.csv`` with the reason; ``include_unverified`` keeps unverified
    runs, their column marked ``(unverified)``."""
    folders = run_folders(paths)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    columns, ranks, samples, merged = {}, {}, {}, []
    names = []
    loaded = [(folder, load_records(folder)) for folder in folders]  # (and the directions the runs declared)
    if metric is not None and not any(metric in set(records["metric"]) for _, records in loaded):
        recorded = sorted(set().union(*(set(r["metric"]) for _, r in loaded)))
        raise AttrlabError(f"no run records metric '{metric}'; they record: {', '.join(recorded)}")
    heads = [_headline(folder, records) for folder, records in loaded]
    envs = [h[0] for h in heads]
    chosen = metric
    lower = {}
    dropped = []
    for (folder, records), (env, metric, name) in zip(loaded, heads):
        if chosen is not None:
            metric, name = chosen, chosen
        label = env if envs.count(env) == 1 else f"{env} ({folder.name})"
        verified = records["verified"].astype(bool)
        if include_unverified and not verified.all():
            label += " (unverified)"
        lower[label] = direction(metric) == "lower"
        names.append(label)
        merged.append(records.assign(run=str(folder)))
        ok = records[(records["status"] == "ok") & (records["metric"] == metric) & (verified | include_unverified)]
        ok = ok.dropna(subset=["value"])
        for method, g in records.groupby("method", sort=False):
            if method in set(ok["method"]):
                continue
            if not include_unverified and not g["verified"].astype(bool).all():
                why = "its model is not verified (--include-unverified shows it)"
            elif metric not in set(g["metric"]):
                why = f"no '{metric}' record"
            else:
                errors = g.loc[g["status"] != "ok", "error"].dropna()
                why = f"every record failed: {errors.iloc[0]}" if len(errors) else "no value"
            dropped.append({"run": str(folder), "environment": env, "method": method, "why": why})
        per = {m: g["value"].to_numpy(float) for m, g in ok.groupby("method")}
        samples[label] = per
        score = pd.Series({m: v.mean() for m, v in per.items()}, dtype=float)
        columns[f"{label}: {name}"] = score
        ranks[f"rank in {label}"] = score.rank(ascending=lower[label], method="min")
    if all(v.dropna().empty for v in columns.values()):
        raise AttrlabError(f"no run holds a value of {chosen or 'its headline metric'} for a verified model"
                           + ("; --include-unverified keeps unverified runs" if not include_unverified else ""))
    table = pd.DataFrame({**{k: v for pair in zip(columns.items(), ranks.items()) for k, v in pair}})
    rank_cols = [c for c in table.columns if c.startswith("rank in ")]
    table["runs"] = table[rank_cols].notna().sum(1)
    table["mean rank"] = table[rank_cols].mean(1)
    lo, hi = _rank_interval(samples, list(table.index), lower)
    table["mean rank 95% CI"] = [f"{a:.1f}–{b:.1f}" for a, b in zip(lo, hi)]
    table = table.sort_values(["mean rank", "runs"], ascending=[True, False])
    table.index.name = "method"
    table.to_csv(out / "compare.csv")
    pd.DataFrame(dropped, columns=["run", "environment", "method", "why"]).to_csv(out / "left_out.csv", index=False)
    pd.concat(merged, ignore_index=True).to_csv(out / "records.csv", index=False)
    _figure(table, names, out / "compare.png", dict(zip(names, columns)))
    return table


def _rank_interval(samples: dict, methods: list, lower: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """2.5% and 97.5% of the mean rank when each method's samples are resampled in every run
    (``lower[run]``: its metric is better lower)."""
    lower = lower or {}
    rng = np.random.default_rng(0)
    draws = np.full((N_BOOT, len(methods)), np.nan)
    for b in range(N_BOOT):
        total, count = np.zeros(len(methods)), np.zeros(len(methods))
        for run_name, per in samples.items():
            means = {m: rng.choice(v, len(v)).mean() for m, v in per.items() if len(v)}
            order = pd.Series(means, dtype=float).rank(ascending=lower.get(run_name, False), method="min")
            for k, m in enumerate(methods):
                if m in order:
                    total[k] += order[m]
                    count[k] += 1
        draws[b] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return np.nanpercentile(draws, 2.5, axis=0), np.nanpercentile(draws, 97.5, axis=0)


def _figure(table: pd.DataFrame, names: list, path: Path, score_cols: dict) -> Path:
    from .figures import finish, plt

    scores = table[[score_cols[n] for n in names]].to_numpy(float)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(4 + 1.6 * len(names), 0.3 * len(table) + 2),
                                 gridspec_kw={"width_ratios": [max(1, len(names)), 2]}, sharey=True)
    ax.imshow(scores, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for (i, j), v in np.ndenumerate(scores):
        if not np.isnan(v):
            rank = table[f"rank in {names[j]}"].iloc[i]
            ax.text(j, i, f"{v:.2f} (#{int(rank)})", ha="center", va="center", fontsize=7,
                    color="white" if v < 0.6 else "black")
    ax.set_xticks(range(len(names)), [n for n in names], rotation=20, ha="right", fontsize=8)
    ax.set_yticks(range(len(table)), [f"{m} ({n} run{'s' if n != 1 else ''})" for m, n in zip(table.index, table["runs"])],
                  fontsize=8)
    ax.set_title("headline metric per environment (rank)", fontsize=9)
    ci = table["mean rank 95% CI"].str.split("–", expand=True).astype(float).to_numpy()
    mean = table["mean rank"].to_numpy(float)
    bx.barh(range(len(table)), mean, color="#3b75af")
    err = [np.clip(mean - ci[:, 0], 0, None), np.clip(ci[:, 1] - mean, 0, None)]  # a percentile interval may sit off the mean
    bx.errorbar(mean, range(len(table)), xerr=err, fmt="none", ecolor="black", lw=0.8)
    bx.set_xlabel("mean rank (1 = best), 95% bootstrap interval", fontsize=8)
    return finish(fig, path)  # rows top to bottom: best mean rank first (imshow's axis is shared)
