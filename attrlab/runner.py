"""Plan → jobs → cache → records.

A study is a plan of independent jobs, one per (setting, method, batch of samples). Each job's
records are written to ``OUT/jobs/<hash>.csv`` as soon as it finishes (atomically), keyed by a hash
of everything that changes its values, so a rerun computes only what is missing and an interrupted
run resumes with at most one batch lost. ``records.csv`` is the union of the job files.

Example:
    >>> import tempfile
    >>> out = run(RunConfig(environment="attributionlab", methods=["gradient"], out_dir=tempfile.mkdtemp(),
    ...                     options={"n_images": 2, "size": 32}, progress=False, report=False))
    >>> sorted(p.name for p in out.iterdir() if p.suffix in (".csv", ".json"))
    ['config.json', 'jobs.csv', 'records.csv', 'verification.json']
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
import torch
from tqdm.auto import tqdm

from .version import __version__
from .core import EvalSet, Record
from .environments import get_environment
from .environments.contract import EnvironmentSpec
from .errors import AttrlabError, one_line
from .evaluation import MetricConfig, score, score_automatic
from .keys import callable_id
from .keys import content_hash as _hash
from .storage import write_atomic as _write_atomic
from .methods import get_method, list_methods
from .metrics import Probe, automatic_specs, reduce_channels
from .metrics.words import special_share

N_SHOWN = 4  # samples whose maps are kept for the report's figures
COMPLETENESS_TOLERANCE = 0.01  # a complete method's job is flagged when Σa misses f(x) − f(x0) by more than 1%


@dataclass
class RunConfig:
    """Everything a run needs. ``methods=None`` takes the environment's default list."""

    environment: str = "attributionlab"
    out_dir: str | os.PathLike = "runs/attributionlab"
    preset: str = "quick"
    seed: int = 0
    device: str = "auto"
    methods: Sequence[str | Callable] | None = None
    settings: Sequence[str] | None = None
    batch_size: int = 8
    metrics: MetricConfig = field(default_factory=MetricConfig)
    options: dict = field(default_factory=dict)
    progress: bool = True
    report: bool = True


def resolve_device(device: str) -> torch.device:
    """``auto`` is CUDA when present, else CPU; anything else must name an available device.

    Example:
        >>> resolve_device("cpu").type
        'cpu'
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise AttrlabError(f"unknown device '{device}'; use auto, cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise AttrlabError(f"device '{device}' requested but no CUDA GPU is available; use --device cpu")
    return dev


def default_methods(spec: EnvironmentSpec) -> list[str]:
    """The methods a run takes when none are named: the paper's methods (as the environment maps
    them), then every other registered method of the environment's modality, then its extra
    variants. The environment declares; the runner picks.

    Example:
        >>> default_methods(get_environment("text-attention").spec)  # fit_defaults then fits them to the model
        ['attention', 'attention_rollout', 'embedding_gradient', 'embedding_ig', 'grad_attention_rollout', 'raw_attention']
    """
    paper = [m for m in dict.fromkeys(spec.paper_methods.values()) if m]
    covered = {m.split(":")[0] for m in paper}
    rest = [m for m in list_methods(spec.modality) if m not in covered]
    return list(dict.fromkeys(paper + rest + list(spec.extra_methods)))


def fit_defaults(methods: list, models: list, seed: int = 0) -> list:
    """The default methods that every model offers what they require (a BiLSTM gets no attention
    rollout), with ``raw_attention`` spelled out for every layer (head mean) and every head of a
    transformer that says how many it has (``attention_heads``), so a user sees which one tracks
    the ground truth."""
    out = []
    shapes = {getattr(model, "attention_heads", None) for model in models}
    for m in methods:
        if not all(m.applies_to(model) for model in models):
            continue
        if m.label == "raw_attention" and len(shapes) == 1 and None not in shapes:
            layers, heads = next(iter(shapes))
            # the last layer's head mean is the model's own `attention` (when that runs too)
            shown = range(layers - 1) if any(o.label == "attention" for o in methods) else range(layers)
            specs = [f"raw_attention:layer={l}" for l in shown]
            specs += [f"raw_attention:layer={l}:head={h}" for l in range(layers) for h in range(heads)]
            out += [get_method(spec, defaults={"seed": seed}) for spec in specs]
        else:
            out.append(m)
    return out


def _records_for_batch(ev: EvalSet, start: int, method_label: str, values: dict[str, torch.Tensor] | None,
                       error: str, seed: int, model_id: str, verified: bool, protocol: str = "attrlab",
                       metric_errors: dict[str, str] | None = None) -> list[dict]:
    rows = []
    n = len(ev)
    facts = ev.ground_truth.facts
    for i in range(n):
        groups = {k: v[i] for k, v in facts.items()}
        if values is None:
            rec = Record(ev.environment, ev.setting, seed, model_id, method_label, start + i, "error", float("nan"),
                         verified, "failed", error, groups, protocol)
            rows.append(rec.as_row())
            continue
        for metric, tensor in values.items():
            rec = Record(ev.environment, ev.setting, seed, model_id, method_label, start + i, metric, float(tensor[i]),
                         verified, "ok", "", groups, protocol)
            rows.append(rec.as_row())
        for metric, why in (metric_errors or {}).items():  # a metric that failed on this job: its rows say why
            rec = Record(ev.environment, ev.setting, seed, model_id, method_label, start + i, metric, float("nan"),
                         verified, "failed", why, groups, protocol)
            rows.append(rec.as_row())
    return rows


def _bind(specs: list[str]) -> list:
    """Automatic metric specs as bound metrics; a spec that cannot be bound stays a string, so its
    jobs record the error."""
    from .metrics.registry import get_metric

    out = []
    for spec in specs:
        try:
            out.append(get_metric(spec))
        except AttrlabError:
            out.append(spec)
    return out


def _directions(specs: list[str]) -> dict[str, str]:
    """Each automatic metric's records name → its declared direction (a user's metric is known by
    its function's name), written to config.json for reports made later."""
    return {m.label: m.info.direction for m in _bind(specs) if not isinstance(m, str)}


def oracle_map(gt) -> torch.Tensor:
    """The ground truth as a map: positive − negative where signed ground truth exists, else the
    focus mask (what the ``oracle`` control mixes with noise)."""
    if gt.positive is not None and gt.negative is not None:
        return gt.positive.float() - gt.negative.float()
    return gt.focus.float()


def pointing_region(ev: EvalSet, masks: tuple) -> torch.Tensor | None:
    """The region a person would point to for the pointing game: the union of the ground-truth
    masks the environment names (``EnvironmentSpec.pointing``), or None when it names none."""
    gt = ev.ground_truth
    found = [getattr(gt, m) for m in masks if getattr(gt, m, None) is not None]
    if not found:
        return None
    region = found[0]
    for mask in found[1:]:
        region = region | mask
    if ev.token_words is not None:  # words → their tokens (special tokens are in no region)
        words = ev.token_words.to(region.device)
        region = torch.gather(region, 1, words.clamp(0, region.shape[1] - 1)) & (words >= 0) & (words < region.shape[1])
    return region


def prepare_out(out: Path, subfolders: tuple[str, ...] = ("jobs", "maps")) -> bool:
    """Check that ``out`` can hold a run (a folder, or nothing yet, somewhere writable) and make
    its ``subfolders``; returns whether it already existed. Raises :class:`AttrlabError` with one
    line otherwise."""
    if out.exists() and not out.is_dir():
        raise AttrlabError(f"--out {out} is a file; name a folder (new or a previous run's, to resume it)")
    existed = out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        for sub in subfolders:
            (out / sub).mkdir(exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        if not existed:
            shutil.rmtree(out, ignore_errors=True)
        raise AttrlabError(f"cannot write the run folder {out}: {exc.strerror or exc}") from None
    return existed


def run(config: RunConfig) -> Path:
    """Build the environment, run every job not already cached, write records and the report.

    Returns the output directory, which holds ``records.csv``, ``jobs.csv``, ``verification.json``,
    ``config.json``, ``maps/`` (a few samples' maps for figures) and, with ``report=True``,
    ``report.html`` and ``figures/``. A bad option, method or folder is refused before any work,
    and a run folder this call created is removed again when building fails.
    """
    if not isinstance(config.batch_size, int) or config.batch_size < 1:
        raise AttrlabError(f"batch size must be a positive integer, got {config.batch_size!r}")
    out = Path(config.out_dir)
    device = resolve_device(config.device)
    registered = get_environment(config.environment)
    specs = list(config.methods) if config.methods else default_methods(registered.spec)
    methods = [get_method(m, defaults={"seed": config.seed}) for m in specs]  # unknown names fail here
    labels = [m.label for m in methods]
    if len(set(labels)) != len(labels):
        raise AttrlabError(f"method labels repeat: {', '.join(sorted({l for l in labels if labels.count(l) > 1}))}")
    # one source: the environment's declared option (SMERF's default is its paper's protocol), or attrlab's
    protocol = registered.resolve(config.preset, config.options).get("metric_protocol", "attrlab")
    metrics = dataclasses.replace(config.metrics, protocol=protocol)  # the environment's protocol, or the user's
    automatic_specs(metrics.automatic, registered.spec.modality)  # unknown or inapplicable metrics fail here
    if (out / "study.json").exists():
        raise AttrlabError(f"{out} holds a study; give this run another --out folder (or rerun the study)")
    existed = prepare_out(out)
    try:
        torch.manual_seed(config.seed)
        env = registered.build(config.preset, seed=config.seed, settings=config.settings, device=str(device),
                               progress=config.progress, **config.options)
    except BaseException:
        if not existed:
            shutil.rmtree(out, ignore_errors=True)
        raise

    if not config.methods:  # the defaults, fitted to the models the environment built
        methods = fit_defaults(methods, [ev.model for ev in env.eval_sets], config.seed)
        labels = [m.label for m in methods]
    env_key = {"environment": env.name, "config": env.config, "version": __version__}
    model_id = f"{env.name}-{_hash(env_key)[:8]}"
    verification = env.verification
    (out / "verification.json").write_text(json.dumps(verification.as_json(), indent=2, default=str))
    (out / "config.json").write_text(json.dumps({
        "environment": env.name, "environment_config": env.config, "methods": labels,
        "method_parameters": {m.label: m.params for m in methods}, "device": str(device),
        "metrics": asdict(metrics), "batch_size": config.batch_size, "model_id": model_id,
        "attrlab_version": __version__,
        "headline": {"metric": registered.spec.headline[0], "name": registered.spec.headline[1]},
        "metric_directions": _directions(automatic_specs(metrics.automatic, registered.spec.modality)),
    }, indent=2, default=str))

    jobs = []
    auto = {ev.setting: _bind(automatic_specs(metrics.automatic, registered.spec.modality, set(ev.context)))
            for ev in env.eval_sets}  # bound once: no spec is parsed (nor a user's file imported) per job
    # each metric's code is part of its jobs' key: a metric edited (a user's, or attrlab's between
    # versions) is computed again rather than mixed with values its old code recorded
    metric_code = {setting: {m.label: callable_id(m.fn) for m in bound if not isinstance(m, str)}
                   for setting, bound in auto.items()}
    for ev in env.eval_sets:
        _save_samples(out, ev)
        for method in methods:
            for start in range(0, len(ev), config.batch_size):
                jobs.append((ev, method, start, min(start + config.batch_size, len(ev))))
    all_files = []
    bar = tqdm(jobs, desc="attrlab", unit="job", disable=not config.progress, dynamic_ncols=True)
    for ev, method, start, stop in bar:
        verified = verification.setting_passed(ev.setting)
        key = _hash({**env_key, "setting": ev.setting, "method": method.label, "params": method.params,
                     "reading": method.reading, "start": start, "stop": stop, "metrics": asdict(metrics),
                     "metric_code": metric_code[ev.setting], "seed": config.seed})
        path = out / "jobs" / f"{key}.csv"
        all_files.append(path)
        bar.set_postfix_str(f"{ev.setting} · {method.label}", refresh=False)
        if path.exists() and path.with_suffix(".json").exists():
            continue
        part = ev.batch(start, stop)
        model = part.model.to(device).eval()
        inputs, targets = part.inputs.to(device), part.targets.to(device)
        context = part.method_context(device)  # with sample_index: per-sample seeds (batch-independent)
        if method.oracle:  # the ladder's control, and only it, is lent the ground truth
            context["oracle_map"] = oracle_map(part.ground_truth).to(device)
        t0 = time.perf_counter()
        values, error, flag, measured = None, "", "", None
        try:
            attributions = method(model, inputs, targets, **context)
            scored = part.on_ground_truth_grid(attributions)  # subword maps summed back to words
            values = score(scored, part.ground_truth, metrics, reading=method.reading,
                           extra=registered.spec.ground_truth_metrics)
            if part.token_words is not None:
                values["special_share"] = special_share(attributions, part.token_words.to(device), inputs != 0)
            if method.complete and inputs.is_floating_point():  # the shared completeness check (Captum's delta)
                gap = method.completeness_gap(model, inputs, targets, attributions, **context).cpu()
                values["completeness_gap"] = gap
                if float(gap.max()) > COMPLETENESS_TOLERANCE:
                    flag = f"completeness gap up to {100 * float(gap.max()):.1f}% of f(x) - f(baseline)"
            _save_maps(out, ev, method.label, start, scored, metrics)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # a failing method is recorded, never fatal to the study
            error = one_line(exc)
        seconds = time.perf_counter() - t0
        if values is not None and auto[ev.setting]:  # ground-truth-free metrics, while the maps are in memory
            region = pointing_region(part, registered.spec.pointing)
            special = None if part.token_words is None else (part.token_words.to(device) < 0) & (inputs != 0)
            probe = Probe(model, inputs, targets, attributions, context, config.seed, method,
                          None if region is None else region.to(device), frozenset(part.shared), special)
            measured = score_automatic(auto[ev.setting], probe)
            values.update(measured.values)
        rows = _records_for_batch(part, start, method.label, values, error, config.seed, model_id, verified,
                                  metrics.protocol, measured.errors if measured else None)
        # the job's timing lives beside its records, so an interrupted run keeps both
        job = {"setting": ev.setting, "method": method.label, "start": start, "stop": stop, "seconds": seconds,
               "status": "failed" if error else "ok", "error": error, "flag": flag,
               "auto_seconds": round(sum(measured.seconds.values()), 4) if measured else 0.0,
               "forward_passes": json.dumps(measured.passes) if measured else "{}",
               "metric_seconds": json.dumps(measured.seconds) if measured else "{}"}
        _write_atomic(path.with_suffix(".json"), lambda p: p.write_text(json.dumps(job)))
        _write_atomic(path, lambda p: pd.DataFrame(rows).to_csv(p, index=False))
    bar.close()
    _write_jobs(out, all_files)
    records = pd.concat([pd.read_csv(p, keep_default_na=False, na_values=["nan", "NaN", ""]) for p in all_files],
                        ignore_index=True) if all_files else pd.DataFrame(columns=list(Record.__dataclass_fields__))
    _write_atomic(out / "records.csv", lambda p: records.to_csv(p, index=False))
    if config.report:
        from .report import build_report

        build_report(out)
    return out


def _write_jobs(out: Path, files: list[Path]) -> None:
    """``jobs.csv``: one row per job of this run (seconds, status, error), from the job files."""
    rows = [json.loads(p.with_suffix(".json").read_text()) for p in files if p.with_suffix(".json").exists()]
    _write_atomic(out / "jobs.csv", lambda p: pd.DataFrame(
        rows, columns=["setting", "method", "start", "stop", "seconds", "status", "error", "flag", "auto_seconds",
                       "forward_passes", "metric_seconds"]).to_csv(p, index=False))


def shown_samples(ev: EvalSet) -> list[int]:
    """Samples whose inputs and maps the report shows: the first ``N_SHOWN``, and the first of each
    bucket where the ground truth has a ``bucket`` fact (SMERF's worst-bucket views)."""
    shown = set(range(min(N_SHOWN, len(ev))))
    buckets = ev.ground_truth.facts.get("bucket")
    if buckets is not None:
        first: dict = {}
        for i, b in enumerate(buckets):
            first.setdefault(b, i)
        shown |= set(first.values())
    return sorted(shown)


def _save_maps(out: Path, ev: EvalSet, label: str, start: int, attributions: torch.Tensor, metrics: MetricConfig) -> None:
    rows = [i for i in shown_samples(ev) if start <= i < start + len(attributions)]
    if not rows:
        return
    keep = attributions[[i - start for i in rows]].detach().cpu()
    grid_dims = 2 if keep.dim() == 4 else 1
    signed = reduce_channels(keep, metrics.signed_reduction, grid_dims)
    name = f"{ev.setting}__{_hash(label)}__{start}.pt"
    _write_atomic(out / "maps" / name, lambda p: torch.save({"setting": ev.setting, "method": label, "samples": rows,
                                                             "signed": signed}, p))


def _save_samples(out: Path, ev: EvalSet) -> None:
    """Inputs and ground truth of the samples shown in the report, so figures need no rebuild."""
    rows = shown_samples(ev)
    gt = ev.ground_truth.subset(torch.tensor(rows))
    masks = {k: getattr(gt, k) for k in ("focus", "avoid", "positive", "negative") if getattr(gt, k) is not None}
    _write_atomic(out / "maps" / f"{ev.setting}__inputs.pt",
                  lambda p: torch.save({"setting": ev.setting, "samples": rows, "inputs": ev.inputs[rows].cpu(),
                                        "targets": ev.targets[rows].cpu(), "masks": masks, "facts": gt.facts,
                                        "display": {k: [list(v)[i] for i in rows] for k, v in ev.display.items()}}, p))
