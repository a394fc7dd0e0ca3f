"""Studies: environments × settings × seeds × option grids as one plan of jobs.

A study is what the papers ran: Zhou et al.'s Table 1 is 3 data sets × 11 training runs, SMERF
trains a model per reasoning setting, AttributionLab varies its images. :class:`Study` says what
to run (from ``--seeds`` on ``attrlab run`` or a TOML study file, read with the standard
library); :func:`plan` turns it into *units* (one environment at one seed and one point of its
option grid) and two kinds of jobs:

- a **training job** per model (environment, setting, seed, options): it builds the environment
  for that one setting, which trains the model into the model cache (or finds it there) — see
  :func:`attrlab.environments.trained.train_or_load`. Environments whose settings are planned
  from their options (``open_settings``) get one training job per unit.
- an **attribution job** per unit, depending on the unit's training jobs: an ordinary
  :func:`attrlab.runner.run` into ``OUT/units/<unit>/`` that loads the trained models and runs
  every method; its records are content-keyed per batch, so a killed job loses at most a batch.

A finished job leaves a marker (``OUT/train/<key>.json``, ``OUT/units/<unit>/study-job.json``),
so a rerun of the same study skips it. The executors (:mod:`attrlab.executors`) run the same
jobs in this process, in N local processes or as Ray tasks; each job sets the same torch thread
count (``threads``, recorded in ``study.json``), because float results depend on it and a
study's records must not depend on where it ran.

Example:
    >>> study = Study.from_dict({"name": "demo", "seeds": "0-1", "run": [
    ...     {"environment": "attributionlab", "options": {"n_images": 2, "size": 32}, "grid": {"n_images": [2, 3]}}]})
    >>> [u.name for u in plan(study).units]
    ['attributionlab-n_images=2-s0', 'attributionlab-n_images=2-s1', 'attributionlab-n_images=3-s0', 'attributionlab-n_images=3-s1']
    >>> parse_seeds("0-2,7")
    [0, 1, 2, 7]
"""
from __future__ import annotations

import itertools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import AttrlabError

if TYPE_CHECKING:
    import pandas as pd
from .jobs import Job, Plan, Unit
from .keys import content_hash


def parse_seeds(text: str | int | list) -> list[int]:
    """Seeds from ``"0-10"``, ``"0,1,2"``, ``"0-4,7"``, an int or a list; sorted, no repeats."""
    if isinstance(text, bool):
        raise AttrlabError(f"seeds must be integers, got {text!r}")
    if isinstance(text, int):
        items = [text]
    elif isinstance(text, (list, tuple)):
        items = []
        for t in text:
            items += parse_seeds(t)
    else:
        items = []
        for part in str(text).split(","):
            part = part.strip()
            m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
            if m:
                lo, hi = int(m.group(1)), int(m.group(2))
                if hi < lo:
                    raise AttrlabError(f"seed range '{part}' runs backwards; write {hi}-{lo}")
                items += list(range(lo, hi + 1))
            elif part.isdigit():
                items.append(int(part))
            else:
                raise AttrlabError(f"seeds '{text}': '{part}' is not a seed (0 or more) nor a range like 0-10")
    if any(s < 0 for s in items):
        raise AttrlabError("seeds are 0 or more")
    if not items:
        raise AttrlabError(f"seeds '{text}' name no seed")
    return sorted(set(items))


@dataclass(frozen=True)
class Entry:
    """One ``[[run]]`` of a study: an environment, its settings, methods, fixed options and a grid
    of option values (every combination is run), over ``seeds``."""

    environment: str
    seeds: tuple[int, ...] = (0,)
    settings: tuple[str, ...] | None = None
    methods: tuple[str, ...] | None = None
    options: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    preset: str = "quick"
    auto_metrics: tuple | None = None  # this run's automatic metrics; None: the study's


@dataclass(frozen=True)
class Study:
    """What a study runs; :meth:`from_toml` reads a study file (see ``studies/``)."""

    name: str
    entries: tuple[Entry, ...]
    batch_size: int = 8
    threshold: float = 0.01
    description: str = ""
    auto_metrics: tuple = ("default",)  # automatic metrics, as `attrlab run --auto-metrics` takes them
    source: str = ""

    @classmethod
    def from_dict(cls, data: dict, source: str = "") -> "Study":
        known = {"name", "description", "seeds", "preset", "methods", "batch_size", "threshold", "run", "auto_metrics"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise AttrlabError(f"study {source or data.get('name', '')}: unknown key(s) {', '.join(unknown)}; "
                               f"a study has {', '.join(sorted(known))}")
        runs = data.get("run")
        if not runs or not isinstance(runs, list):
            raise AttrlabError(f"study {source or data.get('name', '')} has no [[run]] table")
        entries = []
        for k, r in enumerate(runs):
            known_r = {"environment", "seeds", "settings", "methods", "options", "grid", "preset", "auto_metrics"}
            bad = sorted(set(r) - known_r)
            if bad or "environment" not in r:
                raise AttrlabError(f"study {source}: run {k + 1} " + (f"has unknown key(s) {', '.join(bad)}" if bad else
                                   "names no environment") + f"; a run has {', '.join(sorted(known_r))}")
            grid = dict(r.get("grid", {}))
            for key, values in grid.items():
                if not isinstance(values, list) or not values:
                    raise AttrlabError(f"study {source}: grid {key} must be a non-empty list of values")
            settings, methods = r.get("settings"), r.get("methods", data.get("methods"))
            entries.append(Entry(
                environment=str(r["environment"]), seeds=tuple(parse_seeds(r.get("seeds", data.get("seeds", 0)))),
                settings=tuple(_as_list(settings)) if settings else None,
                methods=tuple(_as_list(methods)) if methods else None, options=dict(r.get("options", {})), grid=grid,
                preset=str(r.get("preset", data.get("preset", "quick"))),
                auto_metrics=tuple(_as_list(r["auto_metrics"])) if "auto_metrics" in r else None))
        return cls(name=str(data.get("name", Path(source).stem if source else "study")), entries=tuple(entries),
                   batch_size=int(data.get("batch_size", 8)), threshold=float(data.get("threshold", 0.01)),
                   auto_metrics=tuple(_as_list(data.get("auto_metrics", "default"))),
                   description=str(data.get("description", "")), source=source)

    @classmethod
    def from_toml(cls, path: str | Path) -> "Study":
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AttrlabError(f"study file {path} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise AttrlabError(f"study file {path} is not valid TOML: {exc}") from None
        return cls.from_dict(data, str(path))


def _as_list(value) -> list:
    """A comma-separated string or a list; a Python callable (a method given from Python) stays itself."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",")]
    return [v if callable(v) else str(v) for v in value]


def _slug(value: Any) -> str:
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", str(value)).strip("_")
    return text[:40] or "x"


def plan(study: Study) -> Plan:
    """Units (environment × grid point × seed) and their jobs; options are checked against each
    environment's declaration here, so a bad study fails before any work."""
    from .environments import get_environment
    from .methods import get_method
    from .metrics import automatic_specs

    units, jobs, names = [], [], set()
    for entry in study.entries:
        registered = get_environment(entry.environment)
        registered.check_settings(entry.settings)
        keys = list(entry.grid)
        for values in itertools.product(*(entry.grid[k] for k in keys)):
            point = dict(zip(keys, values))
            options = {**entry.options, **point}
            registered.resolve(entry.preset, options)  # unknown option or bad value: one line, now
            auto = entry.auto_metrics if entry.auto_metrics is not None else tuple(study.auto_metrics)
            automatic_specs(auto, registered.spec.modality)  # unknown or inapplicable metric: now
            for m in entry.methods or ():
                get_method(m)
            for seed in entry.seeds:
                name = "-".join([entry.environment] + [f"{_slug(k)}={_slug(v)}" for k, v in point.items()] + [f"s{seed}"])
                if name in names:  # the same environment twice with other fixed options
                    name = f"{name}-{content_hash(options)[:6]}"
                names.add(name)
                unit = Unit(name, entry.environment, entry.preset, seed, entry.settings, entry.methods, options, point,
                            auto)
                units.append(unit)
                # one training job per model; settings planned from options: one for the unit
                trains = [None] if registered.spec.open_settings else list(entry.settings or registered.spec.settings)
                train_jobs = [Job(content_hash({"train": unit.key, "setting": s}), "train", unit, s) for s in trains]
                jobs += train_jobs
                key = {"attribute": unit.key, "batch": study.batch_size, "threshold": study.threshold}
                if auto != ("default",):
                    key["auto_metrics"] = list(auto)
                jobs.append(Job(content_hash(key), "attribute", unit,
                                deps=tuple(j.id for j in train_jobs)))
    return Plan(study, units, jobs)


def run_study(study: Study, out: str | Path, *, workers: int = 1, backend: str = "local", address: str | None = None,
              device: str = "auto", threads: int = 1, env_files: tuple[str, ...] = (), progress: bool = True,
              report: bool = True) -> Path:
    """Plan ``study``, run what is not done yet, merge the units' records into ``out/records.csv``
    (grid values as ``opt_<name>`` columns, the unit as ``unit``), write ``study.json``,
    ``study_jobs.csv`` and, with ``report``, the study report. Returns ``out``.

    ``threads`` is torch's thread count in every job (the records depend on it, the executor must
    not); it is part of the study's identity in ``study.json``.
    """
    import json

    import pandas as pd

    from .version import __version__
    from .executors import execute_plan
    from .runner import prepare_out
    from .storage import write_atomic

    if not isinstance(threads, int) or threads < 1:
        raise AttrlabError(f"threads must be a positive integer, got {threads!r}")
    the_plan = plan(study)
    out = Path(out)
    if (out / "records.csv").exists() and not (out / "study.json").exists():
        raise AttrlabError(f"{out} holds a single run; give the study another --out folder")
    prepare_out(out, ("units", "train"))
    description = {
        "study": study.name, "description": study.description, "source": study.source, "threads": threads,
        "batch_size": study.batch_size, "threshold": study.threshold, "auto_metrics": list(study.auto_metrics),
        "attrlab_version": __version__,
        "entries": [{**e.__dict__, "seeds": list(e.seeds)} for e in study.entries],
        "units": [{"name": u.name, "environment": u.environment, "seed": u.seed, "grid": u.grid} for u in the_plan.units],
    }
    write_atomic(out / "study.json", lambda p: p.write_text(json.dumps(description, indent=2, default=str)))
    results = execute_plan(the_plan, out, workers=workers, backend=backend, address=address, device=device,
                           threads=threads, env_files=env_files, progress=progress)
    jobs = pd.DataFrame(results, columns=["id", "kind", "unit", "setting", "seed", "status", "verified", "seconds",
                                          "error"])
    write_atomic(out / "study_jobs.csv", lambda p: jobs.to_csv(p, index=False))
    collect(out, the_plan)
    if report:
        from .report.study import build_study_report

        build_study_report(out)
    return out


def collect(out: str | Path, the_plan: Plan) -> pd.DataFrame:
    """``out/records.csv``: every finished unit's records, in plan order, with ``unit`` and the
    grid values as ``opt_<name>`` columns."""
    import pandas as pd

    from .report.tables import load_records
    from .storage import write_atomic

    frames = []
    for unit in the_plan.units:
        folder = Path(out) / "units" / unit.name
        if not (folder / "records.csv").exists():
            continue
        records = load_records(folder)
        records.insert(0, "unit", unit.name)
        for key, value in unit.grid.items():
            records[f"opt_{key}"] = value
        frames.append(records)
    merged = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["unit", "environment", "setting", "seed", "model_id", "method", "sample", "metric", "value",
                 "verified", "status", "error"])
    write_atomic(Path(out) / "records.csv", lambda p: merged.to_csv(p, index=False))
    return merged
