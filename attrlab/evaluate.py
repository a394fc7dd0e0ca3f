"""``attrlab evaluate``: the automatic metrics on a user's own trained model and images — no ground
truth — each printed beside how far it can be trusted: its agreement with the ground truth (τ
between its ranking of methods and the ground truth's, real methods only) as the meta-evaluation
measured it in attrlab's environments (the shipped table ``data/metaeval_quick.csv``, made by
``attrlab study meta-quick`` + ``attrlab meta``; or the user's own ``metaeval.csv``).

Each map explains the class the model predicts (there are no labels to trust). Images are read
from ``DIR/<class>/*`` (or any folder of images), centre-cropped to ``--side`` pixels, scaled to
[0, 1]; a model that expects other inputs normalises them itself (its first layer).

Example:
    >>> import tempfile, torch
    >>> from PIL import Image
    >>> d = Path(tempfile.mkdtemp())
    >>> for c in ("a", "b"):
    ...     (d / c).mkdir()
    ...     for k in range(2):
    ...         Image.new("RGB", (20, 20), (90 * k, 40, 0)).save(d / c / f"{k}.png")
    >>> x, labels, names = load_images(d, 16)
    >>> tuple(x.shape), names
    ((4, 3, 16, 16), ['a', 'b'])
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .errors import AttrlabError, one_line

SHIPPED = Path(__file__).parent / "data" / "metaeval_quick.csv"


def load_images(root: str | Path, side: int, limit: int | None = None) -> tuple[torch.Tensor, list, list]:
    """Every readable image under ``root/<class>/`` (or ``root`` itself), as ``(N, 3, side, side)``
    in [0, 1], with each image's class folder name index and the class names; at most ``limit``
    images a class."""
    from .data.natural import _files, _square_or_none

    root = Path(root)
    if not root.is_dir():
        raise AttrlabError(f"image folder {root} does not exist")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and _files(p)) or [root]
    images, labels, skipped = [], [], []
    for k, folder in enumerate(folders):
        for path in _files(folder)[:limit]:
            im = _square_or_none(path, side, skipped)
            if im is not None:
                images.append(im)
                labels.append(k)
    if not images:
        raise AttrlabError(f"no readable images under {root} (png, jpg, …)"
                           + (f"; {len(skipped)} unreadable files skipped" if skipped else ""))
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous().float()
    return x, labels, [f.name for f in folders]


def load_model(ref: str, input_shape: tuple, n_classes: int, weights: str | None = None) -> torch.nn.Module:
    """The user's model (``module:Class`` / ``file.py:factory`` / ``torchvision.models:resnet18``),
    with its state dict from ``weights`` (tensors only, ``weights_only=True``); a mismatch between
    the weights and the model is one line."""
    from .models.user import build_user_model, load_weights

    model = build_user_model(ref, input_shape, n_classes)
    if weights:
        load_weights(model, weights, ref)
    return model.eval()


def trust_table(path: str | Path | None = None) -> pd.DataFrame:
    """The meta-evaluation's agreement table: shipped, or the user's ``metaeval.csv``."""
    path = Path(path) if path else SHIPPED
    if not path.exists():
        raise AttrlabError(f"no meta-evaluation table at {path}; run `attrlab meta` and pass --trust its metaeval.csv")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise AttrlabError(f"{path} is not a metaeval.csv: {type(exc).__name__}") from None
    missing = {"environment", "metric", "tau_without_controls"} - set(table.columns)
    if missing:
        raise AttrlabError(f"{path} is not a metaeval.csv (no {', '.join(sorted(missing))} column)")
    return table


def trust_line(metric: str, table: pd.DataFrame) -> str:
    """How far ``metric`` agreed with the ground truth where it was measured, in one line."""
    base = metric.split(":")[0]
    from .metrics.registry import family

    if family(base) == "model":
        return "the model's probability for the predicted class: not a score of the map"
    rows = table[table["metric"].isin([metric, base])]
    if rows.empty:
        return "not meta-evaluated"
    parts = []
    for _, r in rows.drop_duplicates("environment").iterrows():
        tau, lo, hi = r.get("tau_without_controls"), r.get("tau_without_controls_low"), r.get("tau_without_controls_high")
        if pd.isna(tau):
            continue
        ci = f" [{lo:+.2f}, {hi:+.2f}]" if not pd.isna(lo) else ""
        parts.append(f"{r['environment']} τ {tau:+.2f}{ci}")
    return "; ".join(parts) if parts else "not meta-evaluated"


def evaluate(model_ref: str, images: str, methods: list[str], *, weights: str | None = None, side: int = 64,
             limit: int | None = 16, auto_metrics="default", batch_size: int = 8, seed: int = 0,
             device: str = "auto", out: str | Path | None = None, progress: bool = True,
             trust: str | Path | None = None, n_classes: int | None = None) -> pd.DataFrame:
    """Run ``methods`` on the user's model and images, score every map with the automatic metrics,
    write ``records.csv`` and ``evaluate.csv`` to ``out`` and return the table (method × metric
    means, with a ``trust`` row from the meta-evaluation)."""
    from tqdm.auto import tqdm

    from .evaluation import score_automatic
    from .methods import get_method
    from .metrics import Probe, automatic_specs, get_metric
    from .runner import resolve_device

    dev = resolve_device(device)
    if not methods:
        raise AttrlabError("name at least one method (--methods gradient,integrated_gradients,...)")
    shipped = trust_table(trust)  # a bad --trust fails before any work
    metrics = [get_metric(s) for s in automatic_specs(auto_metrics, "image")]  # bound once, not per job
    metrics = [m for m in metrics if m.info.needs != "annotation"]  # your images have no region to point at
    if "confidence" not in {m.label for m in metrics}:
        metrics.append(get_metric("confidence"))
    bound = [get_method(m, defaults={"seed": seed}) for m in methods]
    x, labels, names = load_images(images, side, limit)
    model = load_model(model_ref, tuple(x.shape[1:]), n_classes or max(2, len(names)), weights).to(dev)
    with torch.no_grad():
        predicted = torch.cat([model(x[i:i + 64].to(dev)).argmax(1).cpu() for i in range(0, len(x), 64)])
    rows = []
    jobs = [(m, s) for m in bound for s in range(0, len(x), batch_size)]
    for method, start in tqdm(jobs, desc="attrlab evaluate", unit="job", disable=not progress):
        xs, ts = x[start:start + batch_size].to(dev), predicted[start:start + batch_size].to(dev)
        context = {"sample_index": torch.arange(start, start + len(xs), device=dev)}
        try:
            maps = method(model, xs, ts, **context)
            measured = score_automatic(metrics, Probe(model, xs, ts, maps, context, seed, method))
            values, errors = measured.values, measured.errors
        except Exception as exc:  # a failing method is recorded, never fatal
            values, errors = {}, {"error": one_line(exc)}
        for i in range(len(xs)):
            base = {"method": method.label, "sample": start + i, "label": names[labels[start + i]],
                    "predicted": int(predicted[start + i])}
            rows += [{**base, "metric": k, "value": float(v[i]), "status": "ok", "error": ""} for k, v in values.items()]
            rows += [{**base, "metric": k, "value": float("nan"), "status": "failed", "error": e}
                     for k, e in errors.items()]
    records = pd.DataFrame(rows)
    ok = records[records["status"] == "ok"]
    if ok.empty:
        raise AttrlabError("every method failed: " + "; ".join(sorted(set(records["error"])))[:400])
    table = ok.pivot_table(index="method", columns="metric", values="value", aggfunc="mean")
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        records.to_csv(out / "records.csv", index=False)
        table.to_csv(out / "evaluate.csv")
        pd.DataFrame({"metric": table.columns, "trust": [trust_line(m, shipped) for m in table.columns]}).to_csv(
            out / "trust.csv", index=False)
    table.attrs["trust"] = {m: trust_line(m, shipped) for m in table.columns}
    table.attrs["failed"] = records[records["status"] != "ok"][["method", "metric", "error"]].drop_duplicates()
    return table
