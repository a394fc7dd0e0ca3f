"""The one path every trained environment takes to its model: seed → build the architecture →
load it from the cache or train it → freeze it.

The cache key is derived, never written by hand: the environment's name, the setting, the seed,
every declared option that shapes the model (:meth:`EnvironmentSpec.model_key`), the
architecture's source code and an optional data identity (e.g. a corpus's content hash). A model
is stored as tensors only (``<key>.pt``, read back with ``torch.load(weights_only=True)``, so a
planted pickle cannot run code) beside its training record as JSON (``<key>.json``); both are
written atomically. A cache file that cannot be read is moved aside with a warning that names it,
and the model is trained again.

The training record is not a verdict: each environment verifies the loaded model itself on its own
held-out data (the record only says how it was trained: epochs, seconds, sizes).

:func:`pinned_models` swaps the cache for a bundle file of given weights (keyed by environment,
setting and seed, whatever the code's cache key): the pinned-records test starts every trained
environment from committed weights, so it compares attribution and scoring, not a float32
training whose sums drift across CPU kinds.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from ..errors import AttrlabError
from ..keys import content_hash, source_id
from ..storage import load_tensors, write_atomic
from .contract import EnvironmentSpec

_PINNED: dict | None = None     # "environment/setting/seed" -> {"model", "extras", "record"}: models to use
_COLLECTED: dict | None = None  # the same, filled by train_or_load while pinned_models(..., write=True) is open


def _bundle_key(environment: str, setting: str, seed: int) -> str:
    return f"{environment}/{setting}/{seed}"


@contextlib.contextmanager
def pinned_models(path: str | os.PathLike, *, write: bool = False):
    """Within this block every :func:`train_or_load` takes its model from the bundle ``path`` (a
    tensors-only file, read with ``weights_only=True``) instead of the cache or a training; a model
    the bundle lacks is an error. With ``write=True`` models are trained (or loaded) as usual and
    every one made in the block is written to ``path`` when it closes.

    The bundle is keyed by environment, setting and seed only: unlike the cache key it survives a
    change of the architecture's source, and a state dict that no longer fits fails loudly.

    Example:
        >>> import tempfile
        >>> from attrlab.environments.contract import EnvironmentSpec
        >>> spec = EnvironmentSpec("doc", "doc", "image", ("s",), {"quick": {}}, ())
        >>> folder = Path(tempfile.mkdtemp())
        >>> fit = lambda m, ckpt: (torch.nn.init.ones_(m.weight), ({"epochs": 1}, {}))[1]
        >>> with pinned_models(folder / "w.pt", write=True):
        ...     _ = train_or_load(spec, "s", lambda: torch.nn.Linear(2, 2), fit, seed=0, options={},
        ...                       cache_dir=folder)
        >>> with pinned_models(folder / "w.pt"):
        ...     t = train_or_load(spec, "s", lambda: torch.nn.Linear(2, 2), lambda m, c: 1 / 0, seed=0, options={})
        >>> t.model.weight.tolist(), t.record["pinned"]
        ([[1.0, 1.0], [1.0, 1.0]], True)
    """
    global _PINNED, _COLLECTED
    previous = _PINNED, _COLLECTED
    if write:
        _PINNED, _COLLECTED = None, {}
    else:
        _PINNED, _COLLECTED = load_tensors(Path(path))["models"], None
    try:
        yield
        if write:
            collected = _COLLECTED
            write_atomic(Path(path), lambda p: torch.save({"models": collected}, p))
    finally:
        _PINNED, _COLLECTED = previous


def model_cache(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$ATTRLAB_CACHE/models``, else ``~/.cache/attrlab/models`` (created)."""
    path = Path(cache_dir) if cache_dir else Path(os.environ.get("ATTRLAB_CACHE", Path.home() / ".cache" / "attrlab")) / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def folder_id(folder: str | os.PathLike) -> list:
    """A folder's identity for a model cache key: its files' relative names, sizes and times."""
    root = Path(folder)
    return sorted((str(p.relative_to(root)), p.stat().st_size, int(p.stat().st_mtime))
                  for p in root.rglob("*") if p.is_file())


@dataclass
class Trained:
    """A frozen model (CPU, eval mode, no gradients for its parameters), its training record
    (``cached`` says whether it was loaded) and tensors kept beside it (e.g. per-epoch weights)."""

    model: torch.nn.Module
    record: dict
    extras: dict = field(default_factory=dict)
    path: Path | None = None


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    """Eval mode on the CPU with no parameter gradients: what attribution methods receive."""
    model.cpu().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def train_or_load(spec: EnvironmentSpec, setting: str, make_model: Callable[[], torch.nn.Module],
                  fit: Callable[[torch.nn.Module, Path], tuple[dict, dict]], *, seed: int, options: Mapping[str, Any],
                  data_id: Any = None, cache_dir: str | os.PathLike | None = None, restarts: int = 0) -> Trained:
    """The trained model of one setting of ``spec``'s environment.

    ``make_model()`` builds the architecture (called right after ``torch.manual_seed(seed)``, so
    its initial weights follow the seed); ``fit(model, checkpoint)`` trains it (writing its
    per-epoch state to ``checkpoint``, so a killed training resumes there: see
    :func:`attrlab.models.training.train_verified`) and returns ``(record, extras)``: a JSON-able
    training record and a dict of tensors (nested dicts/lists of tensors and numbers) worth keeping.

    ``restarts``: when a record says ``"reached_target": False`` (the training's own criterion on
    *validation* data was not met within its epoch budget), up to this many more trainings from a
    new initialisation (``torch.manual_seed`` of ``(seed, attempt)``); the attempt with the best
    validation score is kept (first one whose ``ready`` is not False — e.g. a rationale model's
    selection rate on target — then the best ``val_worst``, else ``val_accuracy``); the record lists them all
    (``attempts``, ``attempt_validation``). The test set never chooses. A cached model that missed
    its criterion with fewer attempts than now allowed is trained on from where it stopped; a passed
    one is never trained again. Measured (issue 11 part 5): semi-natural seed 2's blur model, which
    oscillated below its target for 30 epochs, is the case this is for.

    Example:
        >>> import tempfile
        >>> from attrlab.environments.contract import EnvironmentSpec, Option
        >>> spec = EnvironmentSpec("doc", "doc", "image", ("s",), {"quick": {}}, (Option("lr", float, 0.1, "lr"),))
        >>> cache = tempfile.mkdtemp()
        >>> t = train_or_load(spec, "s", lambda: torch.nn.Linear(2, 2), lambda m, ckpt: ({"epochs": 1}, {}), seed=0,
        ...                   options={"lr": 0.1}, cache_dir=cache)
        >>> t.record, t.model.weight.requires_grad
        ({'epochs': 1, 'cached': False}, False)
        >>> train_or_load(spec, "s", lambda: torch.nn.Linear(2, 2), lambda m, ckpt: 1 / 0, seed=0, options={"lr": 0.1},
        ...               cache_dir=cache).record["cached"]
        True
    """
    torch.manual_seed(seed)
    model = make_model()
    if _PINNED is not None:
        return _from_bundle(_PINNED, _bundle_key(spec.name, setting, seed), model)
    key = {"environment": spec.name, "setting": setting, "seed": seed, "options": spec.model_key(options),
           "architecture": source_id(model), "data": data_id}
    path = model_cache(cache_dir) / f"{spec.name}-{setting}-{content_hash(key)}.pt"
    meta = path.with_suffix(".json")
    loaded = _load(path, meta, model)
    if loaded is not None:
        record, extras = loaded
        if record.get("reached_target", True) or record.get("attempts", 1) > restarts:
            return _collected(spec, setting, seed, Trained(freeze(model), {**record, "cached": True}, extras, path))
        best = (model, record, extras)  # missed its criterion and more attempts are allowed now
        done = record.get("attempts", 1)
    else:
        best, done = None, 0
    scores = list(best[1].get("attempt_validation", [_validation(best[1])])) if best else []
    checkpoints = []
    for attempt in range(done, restarts + 1):
        if attempt:
            torch.manual_seed(int(np.random.SeedSequence([seed, attempt]).generate_state(1)[0]))
            model = make_model()
        checkpoints.append(path.with_name(path.stem + (f".attempt{attempt}" if attempt else "") + ".partial.pt"))
        record, extras = fit(model, checkpoints[-1])
        scores.append(_validation(record))
        if best is None or _rank(record) > _rank(best[1]):
            best = (model, record, extras)
        if record.get("reached_target", True):
            break
    model, record, extras = best
    if len(scores) > 1:
        record = {**record, "attempts": len(scores), "attempt_validation": scores}
    freeze(model)
    write_atomic(path, lambda p: torch.save({"model": model.state_dict(), "extras": extras}, p))
    write_atomic(meta, lambda p: p.write_text(json.dumps({"record": record, "key": key}, indent=1, default=str)))
    for checkpoint in checkpoints:
        checkpoint.unlink(missing_ok=True)
    return _collected(spec, setting, seed, Trained(model, {**record, "cached": False}, extras, path))


def _collected(spec: EnvironmentSpec, setting: str, seed: int, trained: Trained) -> Trained:
    """``trained``, kept for the bundle that an open ``pinned_models(..., write=True)`` writes."""
    if _COLLECTED is not None:
        _COLLECTED[_bundle_key(spec.name, setting, seed)] = {
            "model": trained.model.state_dict(), "extras": trained.extras,
            "record": json.dumps({k: v for k, v in trained.record.items() if k != "cached"}, default=str)}
    return trained


def _from_bundle(bundle: dict, key: str, model: torch.nn.Module) -> Trained:
    if key not in bundle:
        raise AttrlabError(f"the pinned model bundle has no model for {key} (it holds: {', '.join(sorted(bundle))}); "
                           "regenerate it (tests/pinned/pinned_runs.py)")
    entry = bundle[key]
    model.load_state_dict(entry["model"])
    return Trained(freeze(model), {**json.loads(entry["record"]), "cached": True, "pinned": True}, entry["extras"])


def _rank(record: dict) -> tuple[bool, float]:
    """How an attempt compares: a ready one before any other, then by validation score."""
    return record.get("ready") is not False, _validation(record)


def _validation(record: dict) -> float:
    """A training record's validation score: its worst group, else its accuracy (0 when absent)."""
    for name in ("val_worst", "val_accuracy"):
        if record.get(name) is not None:
            return float(record[name])
    groups = record.get("accuracy_by_group") or {}
    return float(min(groups.values())) if groups else 0.0


def _load(path: Path, meta: Path, model: torch.nn.Module) -> tuple[dict, dict] | None:
    """``(record, extras)`` from the cache with the weights loaded into ``model``; ``None`` when
    nothing usable is there (a damaged or unsafe file is moved aside with a warning)."""
    if not (path.exists() and meta.exists()):
        return None
    try:
        state = load_tensors(path)
        record = json.loads(meta.read_text())["record"]
        model.load_state_dict(state["model"])
        return record, state.get("extras", {})
    except Exception as exc:  # corrupt, truncated, a pickle that is not plain tensors, another architecture
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for p in (path, meta):
            if p.exists():
                os.replace(p, p.with_name(f"{p.name}.bad-{stamp}"))
        warnings.warn(f"cached model {path} could not be loaded safely ({type(exc).__name__}: "
                      f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); moved aside as {path.name}.bad-{stamp} "
                      "and training again", stacklevel=3)
        return None
