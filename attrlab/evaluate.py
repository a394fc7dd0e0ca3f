"""``attrlab evaluate``: the automatic metrics on a user's own trained model and images or
documents — no ground truth — each printed beside how far it can be trusted: its agreement with
the ground truth (τ between its ranking of methods and the ground truth's, real methods only) as
the meta-evaluation measured it in attrlab's environments (the shipped table
``data/metaeval_quick.csv``, made by ``attrlab study meta-quick`` + ``attrlab meta``; or the
user's own ``metaeval.csv``).

Each map explains the class the model predicts (there are no labels to trust).

- Images are read from ``DIR/<class>/*`` (or any folder of images), centre-cropped to ``--side``
  pixels, scaled to [0, 1]; a model that expects other inputs normalises them itself (its first
  layer).
- Documents (``--corpus``: .txt one per line, .csv/.jsonl column ``text``) are split into words by
  :func:`attrlab.data.text.tokenize`. A Hugging Face checkpoint (``--model hf:DIR``) brings its
  own tokenizer: its special tokens ([CLS], [SEP]) are never deleted or ranked by the metrics. Any
  other text model takes token ids through the user's vocabulary (``--vocab``: a .txt with one
  token per line, the line's index its id, or a .json ``{token: id}``); id 0 is padding, as
  everywhere in attrlab, and a word outside the vocabulary takes the id of ``<unk>``/``[UNK]``.

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


def load_model(ref: str, input_shape: tuple, n_classes: int, weights: str | None = None,
               **extra) -> torch.nn.Module:
    """The user's model (``module:Class`` / ``file.py:factory`` / ``torchvision.models:resnet18``),
    with its state dict from ``weights`` (tensors only, ``weights_only=True``); a mismatch between
    the weights and the model is one line. ``extra``: further keywords a factory may take
    (``vocab_size`` for a text model)."""
    from .models.user import build_user_model, load_weights

    model = build_user_model(ref, input_shape, n_classes, **extra)
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


def _modality(environment: str) -> str | None:
    from .environments import get_environment, list_environments

    return get_environment(environment).spec.modality if environment in list_environments() else None


def trust_line(metric: str, table: pd.DataFrame, modality: str | None = None) -> str:
    """How far ``metric`` agreed with the ground truth where it was measured (in environments of
    ``modality`` when given: a text metric's trust is not read off images), in one line."""
    base = metric.split(":")[0]
    from .metrics.registry import family

    if family(base) == "model":
        return "the model's probability for the predicted class: not a score of the map"
    rows = table[table["metric"].isin([metric, base])]
    if modality is not None:
        rows = rows[[_modality(e) in (modality, None) for e in rows["environment"]]]
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


def load_documents(corpus: str, limit: int | None = None, fmt: str = "") -> list[list[str]]:
    """The first ``limit`` non-empty documents of ``corpus``, as word lists.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "c.txt")
        >>> _ = open(path, "w").write("A fine beer.\\n\\nThe head is thin.\\n")
        >>> load_documents(path)
        [['a', 'fine', 'beer', '.'], ['the', 'head', 'is', 'thin', '.']]
    """
    from .data.text import load_corpus, tokenize

    docs = [t for t in (tokenize(d) for d in load_corpus(corpus, fmt=fmt)) if t]
    if not docs:
        raise AttrlabError(f"corpus {corpus} has no document with a word in it")
    return docs[:limit]


UNKNOWN = ("<unk>", "[UNK]", "<UNK>", "UNK")


def load_vocabulary(path: str | Path) -> dict[str, int]:
    """A text model's vocabulary, token → id: a ``.json`` object ``{token: id}`` or a text file
    with one token per line (its line index is its id). Id 0 is padding; the ids must be distinct.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "vocab.txt")
        >>> _ = open(path, "w").write("<pad>\\n<unk>\\nthe\\nbeer\\n")
        >>> load_vocabulary(path)["beer"]
        3
    """
    import json

    path = Path(path)
    if not path.is_file():
        raise AttrlabError(f"vocabulary file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise AttrlabError(f"vocabulary file {path} is not UTF-8 text") from None
    if path.suffix.lower() == ".json":
        try:
            stoi = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AttrlabError(f"vocabulary file {path} is not JSON: {exc.msg} (line {exc.lineno})") from None
        if not isinstance(stoi, dict) or not all(isinstance(v, int) and v >= 0 for v in stoi.values()):
            raise AttrlabError(f"vocabulary file {path} must hold one object {{token: id}} with ids >= 0")
    else:
        stoi = {}
        for i, token in enumerate(text.splitlines()):
            stoi.setdefault(token.strip(), i)
    if len(set(stoi.values())) != len(stoi):
        raise AttrlabError(f"vocabulary file {path} gives two tokens the same id")
    if len(stoi) < 2:
        raise AttrlabError(f"vocabulary file {path} holds {len(stoi)} token(s)")
    return stoi


def encode_words(documents: list[list[str]], stoi: dict[str, int], max_len: int) -> torch.Tensor:
    """Ids ``(N, T)`` of word lists through a vocabulary (0 = padding; unknown words → ``<unk>``),
    at most ``max_len`` per document; a vocabulary without an unknown token and a document whose
    words it all lacks are refused in one line.

    Example:
        >>> encode_words([["the", "owl"], ["beer"]], {"<pad>": 0, "<unk>": 1, "the": 2, "beer": 3}, 4).tolist()
        [[2, 1], [3, 0]]
    """
    from .data.text import Vocabulary

    unk = next((stoi[u] for u in UNKNOWN if u in stoi), None)
    width = min(max_len, max(len(d) for d in documents))
    for doc in documents:
        missing = sorted({w for w in doc[:width] if w not in stoi})
        if missing and unk is None:
            raise AttrlabError(f"the vocabulary has no unknown token ({', '.join(UNKNOWN)}) and lacks "
                               f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        if doc and len(missing) == len(set(doc[:width])):
            raise AttrlabError(f"the vocabulary knows no word of a document ({' '.join(doc[:6])} ...): is it the "
                               "model's, and are its tokens lower-case words as attrlab splits them?")
    return torch.from_numpy(Vocabulary.from_mapping(stoi, -1 if unk is None else unk).encode(documents, width))


def load_text(model_ref: str, corpus: str, *, weights: str | None = None, vocab: str | None = None,
              max_len: int = 150, limit: int | None = None, n_classes: int | None = None,
              corpus_format: str = "") -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor | None, list[str]]:
    """The user's text model, the documents' ids ``(N, T)``, the tokens that are no feature
    (special tokens; None for a word-level vocabulary) and each document's first words."""
    docs = load_documents(corpus, limit, corpus_format)
    if model_ref.startswith("hf:"):
        from .models.transformer import load_checkpoint

        if vocab:
            raise AttrlabError("--vocab is for your own text model; an hf: checkpoint brings its tokenizer")
        model = load_checkpoint(model_ref[3:])
        if n_classes is not None and model.hf.config.num_labels != n_classes:
            raise AttrlabError(f"{model_ref} has {model.hf.config.num_labels} labels, --classes says {n_classes}")
        if weights:
            from .models.user import load_weights

            load_weights(model.hf, weights, model_ref)  # the checkpoint's own state dict, not the adapter's
        ids, words = model.encode(docs, max_len)
        special = (words < 0) & (ids != 0)
    else:
        if not vocab:
            raise AttrlabError("a text model takes token ids: give its vocabulary with --vocab FILE "
                               "(one token per line, or a .json {token: id}), or use an hf:DIR checkpoint")
        stoi = load_vocabulary(vocab)
        ids = encode_words(docs, stoi, max_len)
        model = load_model(model_ref, (ids.shape[1],), n_classes or 2, weights, vocab_size=max(stoi.values()) + 1)
        special = None
    return model.eval(), ids, special, [" ".join(d[:8]) for d in docs]


def shown_samples(labels: list[int], k: int = 6) -> list[int]:
    """Up to ``k`` samples for the report's gallery, taking each class in turn.

    Example:
        >>> shown_samples([0, 0, 0, 1, 1, 2], k=4)
        [0, 3, 5, 1]
    """
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(i)
    queues, out = list(by_class.values()), []
    while len(out) < k and any(queues):
        for q in queues:
            if q and len(out) < k:
                out.append(q.pop(0))
    return out


def _score(model, x, predicted, bound, metrics, *, fixed, batch_size, seed, dev, progress, describe,
           shown=(), gallery=None):
    """Per-sample records of every method's maps under every metric (a failing method is recorded);
    the channel-summed maps of the ``shown`` samples go to ``gallery[method][sample]``."""
    from tqdm.auto import tqdm

    from .evaluation import score_automatic
    from .metrics import Probe

    rows = []
    jobs = [(m, s) for m in bound for s in range(0, len(x), batch_size)]
    for method, start in tqdm(jobs, desc="attrlab evaluate", unit="job", disable=not progress):
        xs, ts = x[start:start + batch_size].to(dev), predicted[start:start + batch_size].to(dev)
        fx = None if fixed is None else fixed[start:start + batch_size].to(dev)
        context = {"sample_index": torch.arange(start, start + len(xs), device=dev)}
        try:
            maps = method(model, xs, ts, **context)
            if gallery is not None:
                for i in (i for i in shown if start <= i < start + len(xs)):
                    a = maps[i - start].detach().float().cpu()
                    gallery.setdefault(method.label, {})[i] = (a.sum(0) if a.dim() == 3 else a).numpy()
            measured = score_automatic(metrics, Probe(model, xs, ts, maps, context, seed, method, fixed=fx))
            values, errors = measured.values, measured.errors
        except Exception as exc:  # a failing method is recorded, never fatal
            values, errors = {}, {"error": one_line(exc)}
        for i in range(len(xs)):
            base = {"method": method.label, "sample": start + i, "label": describe(start + i),
                    "predicted": int(predicted[start + i])}
            rows += [{**base, "metric": k, "value": float(v[i]), "status": "ok", "error": ""} for k, v in values.items()]
            rows += [{**base, "metric": k, "value": float("nan"), "status": "failed", "error": e}
                     for k, e in errors.items()]
    return pd.DataFrame(rows)


def evaluate(model_ref: str, images: str | None = None, methods: list[str] | None = None, *,
             corpus: str | None = None, weights: str | None = None, vocab: str | None = None,
             side: int = 64, max_len: int = 150, limit: int | None = 16, auto_metrics="default",
             batch_size: int = 8, seed: int = 0, device: str = "auto", out: str | Path | None = None,
             progress: bool = True, trust: str | Path | None = None, n_classes: int | None = None,
             corpus_format: str = "") -> pd.DataFrame:
    """Run ``methods`` on the user's model and its ``images`` (a folder) or ``corpus`` (a file),
    score every map with the automatic metrics, write ``records.csv``, ``evaluate.csv``,
    ``trust.csv`` and ``evaluate.html`` (the table, the trust lines and, for images, every
    method's maps of a few images a class) to ``out`` and return the table (method × metric
    means; ``attrs["trust"]``: each metric's trust line from the meta-evaluation,
    ``attrs["left_out"]``: methods the model cannot run, and why; ``attrs["report"]``: the page). ``limit``: images a class, or documents."""
    from .methods import get_method
    from .metrics import automatic_specs, get_metric
    from .runner import resolve_device

    if (images is None) == (corpus is None):
        raise AttrlabError("give either --images DIR (an image model) or --corpus FILE (a text model)")
    modality = "image" if images is not None else "text"
    dev = resolve_device(device)
    if not methods:
        raise AttrlabError("name at least one method (--methods gradient,integrated_gradients,...)")
    shipped = trust_table(trust)  # a bad --trust fails before any work
    metrics = [get_metric(s) for s in automatic_specs(auto_metrics, modality)]  # bound once, not per job
    metrics = [m for m in metrics if m.info.needs != "annotation"]  # your data has no region to point at
    if "confidence" not in {m.label for m in metrics}:
        metrics.append(get_metric("confidence"))
    bound = [get_method(m, defaults={"seed": seed}) for m in methods]
    if modality == "image":
        x, labels, names = load_images(images, side, limit)
        model = load_model(model_ref, tuple(x.shape[1:]), n_classes or max(2, len(names)), weights).to(dev)
        fixed = None

        def describe(i):
            return names[labels[i]]
    else:
        model, x, fixed, firsts = load_text(model_ref, corpus, weights=weights, vocab=vocab, max_len=max_len,
                                            limit=limit, n_classes=n_classes, corpus_format=corpus_format)
        model = model.to(dev)

        def describe(i):
            return firsts[i]
    left_out = {m.label: f"needs a model with .{'(), .'.join(m.requires)}()" for m in bound if not m.applies_to(model)}
    bound = [m for m in bound if m.label not in left_out]
    if not bound:
        raise AttrlabError("no method applies to this model: " + "; ".join(f"{k} {v}" for k, v in left_out.items()))
    with torch.no_grad():
        predicted = torch.cat([model(x[i:i + 64].to(dev)).argmax(1).cpu() for i in range(0, len(x), 64)])
    shown = shown_samples(labels) if modality == "image" else []
    gallery: dict = {}
    records = _score(model, x, predicted, bound, metrics, fixed=fixed, batch_size=batch_size, seed=seed, dev=dev,
                     progress=progress, describe=describe, shown=shown, gallery=gallery)
    ok = records[records["status"] == "ok"]
    if ok.empty:
        raise AttrlabError("every method failed: " + "; ".join(sorted(set(records["error"])))[:400])
    table = ok.pivot_table(index="method", columns="metric", values="value", aggfunc="mean")
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        records.to_csv(out / "records.csv", index=False)
        table.to_csv(out / "evaluate.csv")
    table.attrs["trust"] = {m: trust_line(m, shipped, modality) for m in table.columns}
    if out is not None:
        pd.DataFrame({"metric": list(table.attrs["trust"]), "trust": list(table.attrs["trust"].values())}).to_csv(
            out / "trust.csv", index=False)
    table.attrs["failed"] = records[records["status"] != "ok"][["method", "metric", "error"]].drop_duplicates()
    table.attrs["left_out"] = left_out
    if out is not None:
        from .report.evaluate import write_evaluate_report
        from .report.figures import image_array

        pictures = None
        if shown:
            def title(i: int) -> str:
                p = int(predicted[i])
                return f"{describe(i)} → {names[p] if p < len(names) else f'class {p}'}"
            pictures = {"images": np.stack([image_array(x[i]) for i in shown]), "samples": shown,
                        "titles": [title(i) for i in shown], "maps": gallery}
        table.attrs["report"] = write_evaluate_report(table, table.attrs["trust"], out, model=model_ref,
                                                      shown=pictures, failed=table.attrs["failed"], left_out=left_out)
    return table
