"""Rationale models on semi-natural text (Zhou et al. 2022 §7): the article, CN and NC data of
:mod:`attrlab.environments.text_attention`, and select-then-predict models
(:mod:`attrlab.models.rationale`: REINFORCE ``rl`` and HardKuma ``cr``) trained to a target
selection rate %Sel. The rationale (method ``rationale``) is scored by the precision and recall
of its selected words against the correlating articles (``precision_focus``, ``recall_focus``)
and by how much of it is non-correlating articles (``precision_avoid``).

Settings are ``<data>-<model>-sel<%Sel>``, e.g. ``article-rl-sel0.11``. A model is verified when
its test accuracy reaches ``threshold`` with a binomial tail ≤ ``alpha`` against p* = 0.5, and its
test selection rate is within ``sel_tolerance`` of the target; with ``sel_check=validation`` (set by
``recipe=paper``) the %Sel target and the accuracy are judged on validation, as the authors' stopping
rule does, and the test %Sel is only reported (the x coordinate of the paper's plots).

Why a %Sel above the articles' share is not reached here (issue 11 part 4, measured on quick,
seed 0, article-*-sel0.13, 8 epochs): the regulariser works on the *expected* selection — at
λ = 1 it is 0.131 (rl) and 0.126 (cr), at λ = 5 0.132 and 0.132 — but the evaluated rationale is
the deterministic one (``p ≥ 0.5``; HardKuma's likelier state), which keeps only the articles
(~8% of the words): 0.041 / 0.091 at λ = 1, 0.034 / 0.055 at λ = 5. The rest of the expected rate
is spread as gate probabilities of 0.2–0.5 over words that carry no signal; a stronger λ spreads
it thinner. Restarts (``restarts``) do not change that: all three attempts end between 0.06 and
0.10. A longer budget does, for REINFORCE: with ``--set max_epochs=40`` (restarts 0) its gates
polarise (expected 0.118, deterministic 0.106) and it verifies at epoch 19 (test selection
0.113, 100 s); HardKuma does not (40 epochs, 212 s: expected 0.127, deterministic 0.093, test
0.098). The quick cap stays at 8 epochs so that the quick run stays a few minutes.
"""
from __future__ import annotations

import torch

from ..core import Environment
from ..data.text import MANIPULATIONS, Vocabulary
from ..errors import AttrlabError
from ..models.rationale import KINDS, RationaleModel
from ..models.user import build_model
from .text_attention import _encode, _eval_set, documents, embeddings_for, fit_and_verify, make_dataset
from .text_rationale_spec import SELECTION, SPEC


def _parse(name: str) -> tuple[str, str, float]:
    try:
        data, kind, sel = name.split("-")
        assert data in MANIPULATIONS and kind in KINDS and sel.startswith("sel")
        rate = float(sel[3:])
        assert 0.0 < rate < 1.0
        return data, kind, rate
    except (ValueError, AssertionError):
        raise AttrlabError(f"text-rationale settings look like article-rl-sel0.11 (data: {', '.join(MANIPULATIONS)}; "
                           f"model: {', '.join(KINDS)}; 0 < %Sel < 1); got '{name}'") from None


def _rationale_model(config: dict, vocab_size: int, kind: str, sel: float) -> torch.nn.Module:
    cost = config["sel_cost"] if config["sel_cost"] != "authors" else {"rl": "document", "cr": "batch"}[kind]
    builtin = {"bilstm-selector": lambda: RationaleModel(vocab_size, kind, config["emb"], config["hidden"], sel,
                                                         config["strength"], sel_cost=cost,
                                                         dropout=config["dropout"])}
    return build_model(config["model"], builtin, (config["max_len"],), 2, needs=("rationale", "selection_rate"),
                       vocab_size=vocab_size, kind=kind, selection=sel, strength=config["strength"])


def build(preset: str, *, seed: int, settings, device: str, progress: bool, corpus: str, threshold: float,
          alpha: float, cache_dir: str, **config) -> Environment:
    """Build the text-rationale environment: one rationale model per (data, model kind, %Sel).

    Presets: ``quick`` (%Sel 0.07/0.13 on article data and 0.05 on CN/NC, both model kinds: 8
    models, 32-unit BiLSTMs, at most 8 epochs) or ``full`` (the paper's %Sel levels, 200 units).
    ``settings``: names like ``article-cr-sel0.09`` (any %Sel works, not only the preset's).
    """
    names = list(settings) if settings else [f"{d}-{k}-sel{s:g}" for d, levels in SELECTION[preset].items()
                                             for s in levels for k in KINDS]
    runs = [(name, *_parse(name)) for name in names]
    tokens, corpus_id = documents(corpus, config, seed)
    options = {"corpus": corpus, "threshold": threshold, "alpha": alpha, **config}
    dev = torch.device(device)
    eval_sets, data_cache = [], {}
    for name, data_kind, kind, sel in runs:
        if data_kind not in data_cache:
            data = make_dataset(tokens, data_kind, (config["train"], config["val"], config["test"]), seed)
            vocab = Vocabulary([m.tokens for m in data["train"]])
            data_cache[data_kind] = (data, vocab, {k: _encode(v, vocab, config["max_len"]) for k, v in data.items()},
                                     embeddings_for(config, tokens, vocab.itos, seed))
        data, vocab, enc, embed = data_cache[data_kind]
        val_x = enc["val"][0]
        tol = config["sel_tolerance"]

        def on_target(m, record, sel=sel, tol=tol, enc=enc):
            test_sel, val_sel = m.selection_rate(enc["test"][0]), m.selection_rate(enc["val"][0])
            record.update({"target_selection": sel, "test_selection": round(test_sel, 4),
                           "val_selection": round(val_sel, 4), "sel_tolerance": tol, "sel_check": config["sel_check"]})
            judged = val_sel if config["sel_check"] == "validation" else test_sel
            if config["sel_check"] == "validation":  # the authors' rule: validation accuracy too
                record["val_rule"] = bool(record.get("val_accuracy", 0.0) >= threshold)
                return abs(judged - sel) <= tol and record["val_rule"]
            return abs(judged - sel) <= tol

        model, verification = fit_and_verify(
            SPEC, name, lambda vocab=vocab, kind=kind, sel=sel, embed=embed: embed(
                _rationale_model(config, len(vocab), kind, sel)),
            enc, config, seed, options, corpus_id, cache_dir, threshold, alpha, dev, progress,
            {"vocabulary": len(vocab), "corpus": corpus_id},
            ready=lambda m, val_x=val_x, sel=sel: abs(m.selection_rate(val_x) - sel) <= tol, extra_check=on_target)
        n = min(config["eval_docs"], len(enc["test"][0]))
        ids = enc["test"][0][:n]
        with torch.no_grad():
            z = model.rationale(ids) > 0
        per_doc = (z.sum(1) / (ids != 0).sum(1).clamp_min(1)).tolist()
        facts = {"target_selection": [sel] * n, "selection": per_doc, "model": [kind] * n, "data": [data_kind] * n}
        eval_sets.append(_eval_set(name, model, data["test"], enc["test"], n, "text-rationale", facts,
                                   verification=verification))
    return Environment("text-rationale", {"preset": preset, "seed": seed, "settings": names,
                                          "corpus": corpus or "embedded", "corpus_id": corpus_id,
                                          "threshold": threshold, **config}, eval_sets)
