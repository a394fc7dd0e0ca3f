"""Tables computed from records alone."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

PRF_COLUMNS = [f"{part}_{m}" for part in ("positive", "negative", "overall") for m in ("precision", "recall", "f1")]


REQUIRED = ("environment", "setting", "seed", "method", "sample", "metric", "value", "status")


def load_records(out: str | Path) -> pd.DataFrame:
    """Read ``records.csv`` (the one source every table and figure is computed from); an empty,
    binary, truncated or foreign file is refused with one line naming it."""
    from ..errors import AttrlabError

    path = Path(out) / "records.csv"
    try:
        records = pd.read_csv(path, keep_default_na=False, na_values=["nan", "NaN", ""], low_memory=False)
    except FileNotFoundError:
        raise AttrlabError(f"{Path(out)} holds no records.csv; run `attrlab run ... --out {Path(out)}` first") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise AttrlabError(f"{path} cannot be read as attrlab records ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:160] if str(exc) else 'empty'})") from None
    missing = [c for c in REQUIRED if c not in records.columns]
    if missing:
        raise AttrlabError(f"{path} is not an attrlab records file (no column {', '.join(missing)}); rerun the run")
    records["value"] = pd.to_numeric(records["value"], errors="coerce")
    _remember_directions(Path(out))
    return records


def _remember_directions(out: Path) -> None:
    """The directions a run declared for its metrics (config.json; a study's units'), so that a
    user's own metric is ranked the right way in reports made by another process."""
    import json

    from ..metrics.registry import remember

    for config in [out / "config.json", *sorted(out.glob("units/*/config.json"))]:
        try:
            remember(json.loads(config.read_text()).get("metric_directions", {}))
        except (OSError, ValueError, AttributeError):
            continue


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
