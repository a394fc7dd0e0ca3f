"""Spread over models: a finding must be told apart from seed noise.

Every value a study reports is a mean over *models* (one model per unit, i.e. per seed and grid
point, and setting), each model's value being the mean over its samples. Beside it: the standard
deviation over models, a 95% bootstrap interval of the mean (models resampled, 1,000 draws,
seeded) and the model count. Where a cell has one model, the interval and deviation are over its
samples instead (``ci_over`` says which). Only verified models are evidence: unverified ones
are counted (``n_unverified``) and used only where a cell has no verified model
(``evidence=False``).

Example:
    >>> import pandas as pd
    >>> rec = pd.DataFrame({"environment": "e", "setting": "s", "method": "m", "metric": "f1", "status": "ok",
    ...                     "verified": True, "unit": ["u0", "u0", "u1", "u1"], "seed": [0, 0, 1, 1],
    ...                     "value": [0.2, 0.4, 0.6, 0.8]})
    >>> row = spread(rec).iloc[0]
    >>> float(round(row["mean"], 3)), int(row["n_models"]), row["ci_over"]
    (0.5, 2, 'models')
"""
from __future__ import annotations

import numpy as np
import pandas as pd

N_BOOT = 1000


def grid_columns(records: pd.DataFrame) -> list[str]:
    """The option-grid columns a study added (``opt_<name>``)."""
    return [c for c in records.columns if c.startswith("opt_")]


def cell_keys(records: pd.DataFrame) -> list[str]:
    return ["environment", "setting", *grid_columns(records), "method", "metric"]


def model_means(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell, model): the mean over the model's successful samples, its sample count
    and whether it was verified."""
    ok = records[(records["status"] == "ok")].dropna(subset=["value"])
    model = ["unit"] if "unit" in ok.columns else ["seed"]
    if ok.empty:
        return pd.DataFrame(columns=[*cell_keys(records), *model, "value", "samples", "verified"])
    ok = ok.assign(verified=ok["verified"].astype(str).str.lower().isin(["true", "1"]))
    return (ok.groupby(cell_keys(ok) + model, dropna=False)
            .agg(value=("value", "mean"), samples=("value", "size"), verified=("verified", "all")).reset_index())


def _plain(key: tuple) -> tuple:
    """A group key usable as a dict key: NaN (a grid option a unit lacks) never equals itself."""
    return tuple("<none>" if not isinstance(v, str) and pd.isna(v) else v for v in key)


def bootstrap_ci(values: np.ndarray, seed: int = 0, n_boot: int = N_BOOT) -> tuple[float, float]:
    """2.5% and 97.5% of the mean over ``n_boot`` resamples (one value: that value twice).

    Example:
        >>> bootstrap_ci(np.array([1.0]))
        (1.0, 1.0)
    """
    values = np.asarray(values, float)
    if len(values) < 2:
        v = float(values[0]) if len(values) else float("nan")
        return v, v
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (n_boot, len(values)))].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def mean_ci(frame: pd.DataFrame, keys: list[str], value: str = "value") -> pd.DataFrame:
    """Per group of ``keys``: ``mean``, ``ci_low``, ``ci_high`` (95% bootstrap of the mean over the
    group's rows) and ``n`` — what an environment's own report views draw beside their means.

    Example:
        >>> t = pd.DataFrame({"m": ["a", "a", "b"], "value": [0.0, 1.0, 0.5]})
        >>> mean_ci(t, ["m"])[["m", "mean", "n"]].values.tolist()
        [['a', 0.5, 2], ['b', 0.5, 1]]
    """
    rows = []
    for key, g in frame.groupby(keys, dropna=False, sort=True)[value]:
        values = g.dropna().to_numpy(float)
        low, high = bootstrap_ci(values)
        rows.append({**dict(zip(keys, key if isinstance(key, tuple) else (key,))),
                     "mean": float(values.mean()) if len(values) else float("nan"),
                     "ci_low": low, "ci_high": high, "n": len(values)})
    return pd.DataFrame(rows, columns=[*keys, "mean", "ci_low", "ci_high", "n"])


def spread(records: pd.DataFrame) -> pd.DataFrame:
    """Per cell (environment, setting, grid values, method, metric): ``mean``, ``std``, ``ci_low``,
    ``ci_high``, ``n_models``, ``n_unverified``, ``ci_over`` and ``evidence``."""
    per_model = model_means(records)
    keys = cell_keys(records)
    model = "unit" if "unit" in records.columns else "seed"
    rows = []
    ok = records[(records["status"] == "ok")].dropna(subset=["value"])
    # every (cell, model)'s sample values, grouped once (not filtered again for each cell)
    samples_of = {_plain(k): g.to_numpy(float) for k, g in ok.groupby(keys + [model], dropna=False, sort=False)["value"]}
    for key, cell in per_model.groupby(keys, dropna=False, sort=False):
        verified = cell[cell["verified"]]
        evidence = len(verified) > 0
        use = verified if evidence else cell
        values = use["value"].to_numpy(float)
        if len(use) >= 2:
            low, high = bootstrap_ci(values)
            std, over = float(values.std(ddof=1)), "models"
        else:  # one model: the spread over its samples
            samples = samples_of[_plain((*key, use[model].iloc[0]))]
            low, high = bootstrap_ci(samples)
            std, over = (float(samples.std(ddof=1)) if len(samples) > 1 else 0.0), "samples"
        rows.append({**dict(zip(keys, key)), "mean": float(values.mean()), "std": std, "ci_low": low, "ci_high": high,
                     "n_models": len(use), "n_unverified": int((~cell["verified"]).sum()), "ci_over": over,
                     "evidence": evidence})
    return pd.DataFrame(rows, columns=[*keys, "mean", "std", "ci_low", "ci_high", "n_models", "n_unverified",
                                       "ci_over", "evidence"])


def formatted(table: pd.DataFrame, digits: int = 3) -> pd.Series:
    """``mean ± std [low, high] n=K`` per row, for HTML and terminal tables."""
    f = f"{{:.{digits}f}}"
    return table.apply(lambda r: f"{f.format(r['mean'])} ± {f.format(r['std'])} [{f.format(r['ci_low'])}, "
                                 f"{f.format(r['ci_high'])}] n={int(r['n_models'])}"
                                 + ("" if r["ci_over"] == "models" else " (over samples)")
                                 + ("" if r["evidence"] else " UNVERIFIED"), axis=1)
