"""The papers' numbers beside ours: ``attrlab/data/paper_values.csv`` and the rule that judges them.

Each row of the data file is one value or statement a paper reports, with its source (table,
section, figure) and its words, the cell of records it speaks of (environment, setting, grid
point, method, metric; ``*`` = each one present, ``a|b`` = each of these, ``ALL`` = the mean over
methods) and a rule:

- ``mean``: the paper's mean (± ``stdev`` over ``runs`` models). **agree** when our 95% interval
  and the paper's interval of its mean (mean ± 1.96·stdev/√runs; the value itself without a
  stdev) overlap, **disagree** otherwise.
- ``above`` / ``below``: a bound. **agree** when our whole 95% interval lies on the stated side
  (≥ / ≤), **disagree** when it lies wholly on the other, **undecided** when it straddles it.
- ``constant``: every sample of a model has the same value: **agree** when the largest spread
  within one model (max − min over its samples) is at most ``value``, **disagree** otherwise (Rao et al.: a gradient
  read just before global average pooling gives every image the same localisation).
- ``greater``: the cell exceeds another (``other``: ``method=…``, ``setting=…``, ``metric=…``,
  ``fact=<group column>``, or ``fewer=<group column>``: the cell's samples with the fewest of that
  fact — e.g. SMERF's objects in the image — exceed those with the most). The difference is taken
  per model (paired by unit) and its 95% interval judged as ``above 0``.

A grid point written ``key=value?`` also holds for records that do not name ``key`` (their
model is the environment's default): Zhou et al.'s Table 1 rows read ``model=bilstm-attention?``,
so they judge the paper's BiLSTM and never a transformer run beside it.

A metric written ``mass_focus@worst=group_bucket`` is each model's worst group: the lowest of its
per-bucket means (SMERF's worst-case PAFL, Fig. 8b), then averaged over methods for ``ALL``.

A row names the setting the paper measured: Zhang et al.'s network always has redundant channels,
so its Fig. 6 baseline comparisons are read on ``redundant`` only (on ``no-redundant`` IG, IG*,
Occlusion and Occlusion* all reach positive precision 1.0 and no method can be "greater").

Our interval is over models (seeds) when there are several, over samples when there is one
(:mod:`attrlab.report.spread`); only verified models count.

Example:
    >>> values = paper_values()
    >>> sorted(set(values["paper"]))
    ['kim2021', 'rao2022', 'zhang2023', 'zhou2022']
    >>> _judge_interval(0.12, 0.30, 0.1, above=True), _judge_interval(0.05, 0.30, 0.1, above=True)
    ('agree', 'undecided')
"""
from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

from .spread import bootstrap_ci, model_means, spread

RULES = ("mean", "above", "below", "greater", "constant")


def paper_values() -> pd.DataFrame:
    """The data file as a table (``grid`` and ``other`` empty where they do not apply)."""
    with resources.files("attrlab.data").joinpath("paper_values.csv").open(encoding="utf-8") as f:
        table = pd.read_csv(f, keep_default_na=False, na_values=[""])
    bad = sorted(set(table["rule"]) - set(RULES))
    if bad:
        raise ValueError(f"paper_values.csv: unknown rule(s) {bad}")
    return table


def _grid_match(frame: pd.DataFrame, grid, facts: bool = True) -> pd.DataFrame:
    """Rows at the grid point ``grid`` (``"r=0.7"``): a study's grid value (``opt_r``), else the
    environment's own fact (``group_r``, the correlation experiment's settings). Without
    ``facts`` (a table of cells, where the setting already fixes its facts) only grid columns count."""
    if not isinstance(grid, str) or not grid:
        return frame
    for part in grid.split(";"):
        key, value = part.split("=", 1)
        value, default = value.strip().removesuffix("?"), value.strip().endswith("?")
        names = (f"opt_{key.strip()}", f"group_{key.strip()}") if facts else (f"opt_{key.strip()}",)
        col = next((c for c in names if c in frame.columns), None)
        if col is None:
            if not facts or default:  # value?: records that do not say are at the default value
                continue
            return frame.iloc[0:0]
        held = frame[col].astype(str).map(_num)
        frame = frame[(held == _num(value)) | (default & frame[col].isna())]
    return frame


def _num(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def _expand(row: pd.Series, records: pd.DataFrame) -> list[dict]:
    """The concrete cells a row names (``*`` expanded over what the records hold)."""
    rec = _grid_match(records[records["environment"] == row["environment"]], row.get("grid"))
    if rec.empty:
        return []
    settings = sorted(rec["setting"].unique()) if row["setting"] == "*" else str(row["setting"]).split("|")
    methods = sorted(rec["method"].unique()) if row["method"] == "*" else str(row["method"]).split("|")
    return [{"setting": s, "method": m} for s in settings for m in methods
            if (rec["setting"] == s).any() and (m == "ALL" or ((rec["setting"] == s) & (rec["method"] == m)).any())]


def _cell(records: pd.DataFrame, setting: str, method: str, metric: str, grid) -> pd.DataFrame:
    """The successful records of one cell (``ALL``: every method)."""
    metric = metric.split("@", 1)[0]
    rec = _grid_match(records[(records["setting"] == setting) & (records["metric"] == metric)
                              & (records["status"] == "ok")], grid)
    return rec if method == "ALL" else rec[rec["method"] == method]


def _worst_group(frame: pd.DataFrame, fact: str) -> pd.DataFrame:
    """One row per (method, model) of ``frame``: the lowest of its per-``fact`` means, as value."""
    model = _model_key(frame)
    if fact not in frame.columns or frame.empty:
        return frame.iloc[0:0]
    ok = frame.dropna(subset=["value"]).assign(
        verified=frame["verified"].astype(str).str.lower().isin(["true", "1"]))
    by = ok.groupby(["method", model, fact], dropna=False).agg(value=("value", "mean"), verified=("verified", "all"))
    return by.groupby(["method", model]).agg(value=("value", "min"), verified=("verified", "all")).reset_index()


def _extreme(frame: pd.DataFrame, fact: str, fewest: bool) -> pd.DataFrame:
    """The rows of ``frame`` whose ``fact`` is its smallest (``fewest``) or largest value among the
    rows that have a value (SMERF's empty bucket has no object to focus on, so no PAFL)."""
    if fact not in frame.columns or frame.empty:
        return frame.iloc[0:0]
    frame = frame.dropna(subset=["value"])
    values = pd.to_numeric(frame[fact], errors="coerce")
    return frame[values == (values.min() if fewest else values.max())]


def _model_key(frame: pd.DataFrame) -> str:
    return "unit" if "unit" in frame.columns else "seed"


def _per_model(records: pd.DataFrame, setting: str, method: str, metric: str, grid, where=None) -> pd.Series:
    """Each verified model's mean of ``metric`` (``ALL``: averaged over methods), by unit;
    ``metric@worst=<fact>``: its worst group's mean; ``where`` narrows the cell's records first."""
    cell = _cell(records, setting, method, metric, grid)
    cell = where(cell) if where is not None else cell
    means = (_worst_group(cell, metric.split("@worst=", 1)[1]) if "@worst=" in metric else model_means(cell))
    if means.empty:
        return pd.Series(dtype=float)
    use = means[means["verified"]] if means["verified"].any() else means
    return use.groupby(_model_key(means))["value"].mean()


def _fact_per_model(records: pd.DataFrame, setting: str, method: str, metric: str, fact: str, grid) -> pd.Series:
    rec = _cell(records, setting, method, metric, grid)
    if fact not in rec.columns or rec.empty:
        return pd.Series(dtype=float)
    return pd.to_numeric(rec[fact], errors="coerce").groupby(rec[_model_key(rec)]).mean()


def _samples(records, setting, method, metric, grid) -> np.ndarray:
    return _cell(records, setting, method, metric, grid)["value"].dropna().to_numpy(float)


def _judge_interval(low: float, high: float, bound: float, above: bool) -> str:
    if np.isnan(low):
        return "not run"
    if above:
        return "agree" if low >= bound else "disagree" if high < bound else "undecided"
    return "agree" if high <= bound else "disagree" if low > bound else "undecided"


def compare_to_papers(records: pd.DataFrame, values: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per paper statement and matching cell of ``records``: ours (mean, 95% interval,
    models), the paper's, and the verdict. Statements whose environment was not run are left out."""
    values = paper_values() if values is None else values
    out = []
    cells = spread(records) if len(records) else pd.DataFrame()
    for _, row in values.iterrows():
        for cell in _expand(row, records):
            setting, method, metric, grid = cell["setting"], cell["method"], row["metric"], row.get("grid")
            base = {"paper": row["paper"], "source": row["source"], "statement": row["statement"],
                    "environment": row["environment"], "setting": setting, "grid": grid if isinstance(grid, str) else "",
                    "method": method, "metric": metric, "rule": row["rule"]}
            if row["rule"] == "greater":
                kind, other = str(row["other"]).split("=", 1)
                ours = _per_model(records, setting, method, metric, grid)
                if kind == "fewer":
                    ours = _per_model(records, setting, method, metric, grid, lambda f: _extreme(f, other, True))
                    theirs = _per_model(records, setting, method, metric, grid, lambda f: _extreme(f, other, False))
                elif kind == "fact":
                    theirs = _fact_per_model(records, setting, method, metric, other, grid)
                else:
                    alt = {"setting": setting, "method": method, "metric": metric, **{kind: other}}
                    theirs = _per_model(records, alt["setting"], alt["method"], alt["metric"], grid)
                diff = (ours - theirs).dropna()
                if len(diff) >= 2:
                    low, high = bootstrap_ci(diff.to_numpy())
                    n, over = len(diff), "models"
                elif len(diff) == 1 and kind != "fact" and "@" not in metric:
                    if kind == "fewer":
                        cell = _cell(records, setting, method, metric, grid)
                        a, b = (_extreme(cell, other, fewest)["value"].dropna().to_numpy(float) for fewest in (True, False))
                    else:
                        a = _samples(records, setting, method, metric, grid)
                        alt = {"setting": setting, "method": method, "metric": metric, **{kind: other}}
                        b = _samples(records, alt["setting"], alt["method"], alt["metric"], grid)
                    rng = np.random.default_rng(0)
                    draws = [rng.choice(a, len(a)).mean() - rng.choice(b, len(b)).mean() for _ in range(1000)]
                    low, high = float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))
                    n, over = 1, "samples"
                elif len(diff) == 1:
                    low = high = float(diff.iloc[0])
                    n, over = 1, "one model"
                else:
                    out.append({**base, "verdict": "not run"})
                    continue
                out.append({**base, "ours": float(diff.mean()), "ours_low": low, "ours_high": high, "models": n,
                            "interval_over": over,
                            "paper_value": f"fewest {other} > most" if kind == "fewer" else f"> {other}",
                            "verdict": "agree" if low > 0 else "disagree" if high <= 0 else "undecided"})
                continue
            if row["rule"] == "constant":  # judged within each model: models may differ from each other
                cell_ = _cell(records, setting, method, metric, grid).dropna(subset=["value"])
                values_ = cell_["value"].to_numpy(float)
                if not len(values_):
                    out.append({**base, "verdict": "not run"})
                    continue
                keys = [c for c in ("unit", "seed", "model_id") if c in cell_.columns]
                width = float(cell_.groupby(keys)["value"].agg(lambda v: v.max() - v.min()).max())
                out.append({**base, "ours": float(values_.mean()), "ours_low": float(values_.min()),
                            "ours_high": float(values_.max()), "models": 1, "interval_over": "samples (min-max)",
                            "paper_value": f"constant (spread <= {float(row['value']):g})",
                            "verdict": "agree" if width <= float(row["value"]) else "disagree"})
                continue
            if cells.empty:
                continue
            if method == "ALL":
                vals = _per_model(records, setting, "ALL", metric, grid)
                if vals.empty:
                    continue
                mean = float(vals.mean())
                low, high = bootstrap_ci(vals.to_numpy())
                n, over = len(vals), "models"
            else:
                match = cells[(cells["environment"] == row["environment"]) & (cells["setting"] == setting)
                              & (cells["method"] == method) & (cells["metric"] == metric)]
                match = _grid_match(match, grid, facts=False)
                if match.empty:
                    out.append({**base, "verdict": "not run"})
                    continue
                c = match.iloc[0]
                mean, low, high, n, over = c["mean"], c["ci_low"], c["ci_high"], int(c["n_models"]), c["ci_over"]
            value = float(row["value"])
            if row["rule"] == "mean":
                sd, runs = row.get("stdev"), row.get("runs")
                half = 1.96 * float(sd) / np.sqrt(float(runs)) if pd.notna(sd) and pd.notna(runs) else 0.0
                verdict = "agree" if (low <= value + half and high >= value - half) else "disagree"
                shown = f"{value:.3f}" + (f" ± {float(sd):.3f} ({int(runs)} runs)" if pd.notna(sd) else "")
            else:
                verdict = _judge_interval(low, high, value, row["rule"] == "above")
                shown = f"{'≥' if row['rule'] == 'above' else '≤'} {value:.3f}"
            out.append({**base, "ours": mean, "ours_low": low, "ours_high": high, "models": n, "interval_over": over,
                        "paper_value": shown, "verdict": verdict})
    table = pd.DataFrame(out, columns=["paper", "source", "statement", "environment", "setting", "grid", "method",
                                       "metric", "rule", "paper_value", "ours", "ours_low", "ours_high", "models",
                                       "interval_over", "verdict"])
    table["caveat"] = [_caveat(records, r) for _, r in table.iterrows()]
    return table


def _caveat(records: pd.DataFrame, row: pd.Series) -> str:
    """Why a verdict may not be about the method: a method that claims completeness (IG, DeepLIFT)
    whose maps miss Σa = f(x) − f(x₀) by more than 1% on average (too few steps; a rule that breaks
    it) — on either side of the comparison."""
    gaps = records[(records["metric"] == "completeness_gap") & (records["setting"] == row["setting"])
                   & (records["status"] == "ok")]
    methods = [row["method"]]
    if row["rule"] == "greater" and str(row["paper_value"]).startswith("> "):
        methods.append(str(row["paper_value"])[2:])
    notes = []
    for m in methods:
        mean = gaps.loc[gaps["method"] == m, "value"].mean()
        if pd.notna(mean) and mean > 0.01:
            notes.append(f"{m}: completeness gap {100 * mean:.0f}% (not converged)")
    return "; ".join(notes)
