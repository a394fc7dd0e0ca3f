"""Tables computed from records alone."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

PRF_COLUMNS = [f"{part}_{m}" for part in ("positive", "negative", "overall") for m in ("precision", "recall", "f1")]


def load_records(out: str | Path) -> pd.DataFrame:
    """Read ``records.csv`` (the one source every table and figure is computed from)."""
    return pd.read_csv(Path(out) / "records.csv", keep_default_na=False, na_values=["nan", "NaN", ""])


def summary(records: pd.DataFrame) -> pd.DataFrame:
    """Mean of each metric per (setting, method) over successful samples, methods as rows and
    metrics as columns; NaN values (undefined cases) are left out of the mean.

    Example:
        >>> df = pd.DataFrame({"setting": ["s"] * 2, "method": ["m"] * 2, "metric": ["f1"] * 2,
        ...                    "value": [0.5, 1.0], "status": ["ok"] * 2})
        >>> float(summary(df).loc[("s", "m"), "f1"])
        0.75
    """
    ok = records[records["status"] == "ok"]
    if ok.empty:
        return pd.DataFrame()
    table = ok.pivot_table(index=["setting", "method"], columns="metric", values="value", aggfunc="mean")
    cols = [c for c in PRF_COLUMNS if c in table.columns] + [c for c in table.columns if c not in PRF_COLUMNS]
    return table[cols]


def failures(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, method, error) with the number of samples that failed."""
    bad = records[records["status"] == "failed"]
    if bad.empty:
        return pd.DataFrame(columns=["setting", "method", "samples", "error"])
    return (bad.groupby(["setting", "method", "error"]).size().rename("samples").reset_index()
            [["setting", "method", "samples", "error"]])


def timings(out: str | Path) -> pd.DataFrame:
    """Seconds per sample for each (setting, method), from ``jobs.csv``."""
    path = Path(out) / "jobs.csv"
    if not path.exists():
        return pd.DataFrame()
    jobs = pd.read_csv(path, keep_default_na=False)
    if jobs.empty:
        return pd.DataFrame()
    jobs["samples"] = jobs["stop"] - jobs["start"]
    agg = jobs.groupby(["setting", "method"])[["seconds", "samples"]].sum()
    agg["seconds_per_sample"] = agg["seconds"] / agg["samples"]
    return agg[["seconds_per_sample"]]
