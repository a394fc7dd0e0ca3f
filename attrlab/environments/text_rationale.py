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
from ..models.rationale import KINDS, SEL_COSTS, RationaleModel
from ..models.user import build_model
from .contract import EnvironmentSpec, Option, register_environment
from .text_attention import (CORPUS_OPTIONS, _encode, _eval_set, documents, embeddings_for, fit_and_verify,
                                make_dataset)

SELECTION = {  # %Sel levels of §7.1 (article) and §7.2 (CN, NC)
    "full": {"article": (0.07, 0.09, 0.11, 0.13, 0.15), "cn": (0.03, 0.05, 0.07, 0.09), "nc": (0.03, 0.05, 0.07, 0.09)},
    "quick": {"article": (0.07, 0.13), "cn": (0.05,), "nc": (0.05,)},
}
SETTINGS = tuple(f"{d}-{k}-sel{s:g}" for d in MANIPULATIONS for k in KINDS for s in SELECTION["full"][d])

# Zhou et al.'s rationale training as their rationale_model.py runs it
# (../shared/notes/zhou-attributionlab-reference-facts.md §1.8): frozen 200-d embeddings (ours:
# skip-gram on the corpus), 200 hidden units, dropout 0.2, Adam lr 4e-4 with weight decay 2e-6,
# gradient-norm clip 5, batch 256, at most 100 epochs, the %Sel cost per document for REINFORCE and
# over the batch for HardKuma ("authors"), and their stopping rule as the verdict: validation
# accuracy >= 0.97 and validation %Sel within 0.01 of the target; the test %Sel is reported as the
# model's x coordinate, not judged. Our selectors stay BiLSTMs (theirs: bi-RCNN).
PAPER_RECIPE = {"emb": 200, "hidden": 200, "embeddings": "word2vec", "dropout": 0.2, "lr": 4e-4,
                "weight_decay": 2e-6, "clip": 5.0, "batch": 256, "max_epochs": 100, "sel_cost": "authors",
                "sel_tolerance": 0.01, "sel_check": "validation", "threshold": 0.97, "train_margin": 0.0}

SPEC = EnvironmentSpec(
    name="text-rationale",
    description="Zhou et al. 2022 §7: select-then-predict rationale models (REINFORCE, HardKuma) at a target %Sel",
    modality="rationale",
    settings=SETTINGS,
    open_settings=True,  # any %Sel works: <data>-<rl|cr>-sel<rate>
    presets={
        "quick": {"train": 1500, "val": 300, "test": 300, "eval_docs": 40, "max_len": 150, "emb": 32, "hidden": 32,
                  "max_epochs": 8, "lr": 3e-3, "batch": 50, "strength": 1.0, "sel_tolerance": 0.02},
        "full": {"train": 10000, "val": 1000, "test": 1000, "eval_docs": 1000, "max_len": 256, "emb": 200,
                 "hidden": 200, "max_epochs": 100, "lr": 4e-4, "batch": 256, "strength": 1.0, "sel_tolerance": 0.01},
    },
    options=CORPUS_OPTIONS + (
        Option("strength", float, 1.0, "lambda, the weight of the %Sel regulariser", minimum=0.0, maximum=1e6),
        Option("sel_tolerance", float, 0.02, "largest |test %Sel - target| that verifies", minimum=0.0, maximum=1.0),
        # default document: measured on quick, seeds 0 and 1, 8 models each: document verified 4 and 2,
        # the paper's batch cost 2 and 0 (its REINFORCE selection drifts to 0.84-0.94 of the words)
        Option("sel_cost", str, "document", "the %Sel regulariser: document (per document, as the authors' RL code; "
               "verifies more models here), batch (the paper's §7 cost over the mini-batch) or authors (document "
               "for rl, batch for cr, as the authors' code)", choices=SEL_COSTS + ("authors",)),
        Option("sel_check", str, "test", "where the %Sel target is judged for the verdict: test (|test %Sel - "
               "target| <= sel_tolerance) or validation (the authors' stopping rule; the test %Sel is then only "
               "reported)", choices=("test", "validation"), model=False),
        Option("dropout", float, 0.0, "dropout before the classifier's output layer", minimum=0.0, maximum=0.9),
        Option("embeddings", str, "learned", "learned with the model, or word2vec: skip-gram vectors of size emb "
               "pre-trained on the corpus with gensim and frozen (pip install 'attrlab[text]')",
               choices=("learned", "word2vec")),
        Option("recipe", str, "attrlab", "attrlab: the options as given; paper: the authors' rationale training "
               "and stopping rule, every piece at once (text_rationale.PAPER_RECIPE), over the preset; an option "
               "you set yourself wins over it", choices=("attrlab", "paper")),
        Option("model", str, "bilstm-selector", "the paper's BiLSTM select-then-predict model (rl/cr from the setting), "
               "or your own (module:Class, file.py:Class): called with the keywords it names among vocab_size, "
               "n_classes, input_shape, kind, selection, strength; it must offer rationale(ids) -> (N, L) in [0, 1] "
               "and selection_rate(ids), and may offer training_loss(ids, labels)",
               choices=("bilstm-selector",), references=True, flag=True),
    ),
    headline=("precision_focus", "rationale precision on correlating articles"),
    recipes={"attrlab": {}, "paper": PAPER_RECIPE},
    test_options={"train": 40, "val": 10, "test": 10, "eval_docs": 2, "emb": 4, "hidden": 4, "max_epochs": 1,
                  "restarts": 0},
)


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


@register_environment(SPEC)
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
