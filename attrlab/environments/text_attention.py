"""Semi-natural text (Zhou et al., AAAI 2022, §6): documents whose labels are drawn at random and
whose article words (a/an/the) are rewritten by the label, so a model more accurate than chance
must read the *correlating* articles; CN/NC add *non-correlating* articles that look the same but
carry nothing (:mod:`attrlab.data.text`).

Ground truth per document: ``focus`` = correlating articles, ``avoid`` = non-correlating ones, so
``mass_focus`` / ``mass_avoid`` are the paper's Attr% columns of Table 1 (other words get the
rest); facts give each document's word frequencies, the share a uniform map would score.

Settings: ``article``, ``cn``, ``nc`` (one attention model each, ``runs`` of them with seeds seed, seed + 1, …). A model is
verified when its test accuracy reaches ``threshold`` (the paper's 0.97) and the binomial tail
against p* = 0.5 is at most ``alpha``.
"""
from __future__ import annotations

import hashlib
import warnings

import numpy as np
import torch

from ..core import Environment, EvalSet, GroundTruth, Verification
from ..data.text import MANIPULATIONS, Vocabulary, embedded_corpus, load_corpus, manipulate, tokenize, usable
from ..errors import AttrlabError
from ..metrics.bounds import binomial_tail
from ..models.embeddings import freeze_embeddings, word2vec_matrix
from ..models.text import AttentionClassifier
from ..models.training import accuracy, predicted_classes, train_verified
from ..models.user import build_model
from .contract import EnvironmentSpec
from .trained import model_cache, train_or_load
from .text_attention_spec import CLASSES, SETTINGS, SPEC
def documents(corpus: str, config: dict, seed: int) -> tuple[list[list[str]], str]:
    """Tokenized documents (at most ``max_len`` tokens), shuffled by ``seed``, and a corpus id."""
    docs = load_corpus(corpus, fmt=config.get("corpus_format", "")) if corpus else embedded_corpus()
    tokens = [tokenize(d) for d in docs]
    tokens = [t[:config["max_len"]] for t in tokens if t and len(t) >= config.get("min_len", 1)]
    if not tokens:
        raise AttrlabError(f"no document has at least min_len={config.get('min_len')} tokens; lower min_len")
    order = np.random.default_rng([seed, 23]).permutation(len(tokens))
    ident = hashlib.sha1("\n".join(" ".join(t) for t in tokens).encode()).hexdigest()[:12]
    return [tokens[i] for i in order], ident


def make_dataset(tokens: list[list[str]], kind: str, sizes: tuple[int, int, int], seed: int) -> dict[str, list]:
    """Random labels and the manipulation, over the documents that can carry it; ``{split:
    [Manipulated, ...]}`` with disjoint train/val/test documents (the paper: 10k/1k/1k)."""
    rng = np.random.default_rng([seed, 29, MANIPULATIONS.index(kind)])
    pool = [t for t in tokens if usable(t, kind)]
    need = sum(sizes)
    if len(pool) < need:
        scale = len(pool) / need
        sizes = tuple(max(1, int(n * scale)) for n in sizes)
        if min(sizes) < 10:
            raise AttrlabError(f"only {len(pool)} documents can carry the '{kind}' manipulation; need more text")
        warnings.warn(f"only {len(pool)} documents can carry the '{kind}' manipulation: splits scaled down to "
                      f"{sizes} (bring a larger corpus with --corpus)", stacklevel=2)
    out, start = {}, 0
    for split, n in zip(("train", "val", "test"), sizes):
        out[split] = [manipulate(t, kind, int(rng.integers(2)), rng) for t in pool[start:start + n]]
        start += n
    return out


def build(preset: str, *, seed: int, settings, device: str, progress: bool, corpus: str, threshold: float,
          alpha: float, cache_dir: str, **config) -> Environment:
    """Build the text-attention environment: corpus → manipulated data sets → attention models
    (cached) → test documents with correlating / non-correlating article masks.

    Presets: ``quick`` (Python's own prose, 1800/300/300 documents, a 64-unit BiLSTM, one seed)
    or ``full`` (10k/1k/1k, the paper's 200-unit model, 11 runs as in Table 1). ``settings``: a
    subset of ``article``, ``cn``, ``nc``.
    """
    names = list(settings or SETTINGS)
    tokens, corpus_id = documents(corpus, config, seed)
    options = {"corpus": corpus, "threshold": threshold, "alpha": alpha, **config}
    dev = torch.device(device)
    eval_sets, actual_sizes = [], {}
    for kind in names:
        for s in range(config["runs"]):
            run_seed = seed + s
            data = make_dataset(tokens, kind, (config["train"], config["val"], config["test"]), run_seed)
            sizes = {split: len(docs) for split, docs in data.items()}
            if sizes != {"train": config["train"], "val": config["val"], "test": config["test"]}:
                actual_sizes[kind] = sizes
            name = kind if config["runs"] == 1 else f"{kind}-s{run_seed}"
            if is_transformer(config["model"]):
                make, enc, facts = _transformer(config, data, cache_dir)
                data_id = {"corpus": corpus_id, **facts}
            else:
                vocab = Vocabulary([m.tokens for m in data["train"]])
                enc = {k: _encode(v, vocab, config["max_len"]) for k, v in data.items()}
                embed = embeddings_for(config, tokens, vocab.itos, run_seed)
                make = lambda vocab=vocab, embed=embed: embed(_text_model(config, len(vocab)))  # noqa: E731
                data_id, facts = corpus_id, {"vocabulary": len(vocab)}
            model, verification = fit_and_verify(
                SPEC, name, make,
                enc, config, run_seed, options, data_id, cache_dir, threshold, alpha, dev, progress,
                {**facts, "corpus": corpus_id})
            n = min(config["eval_docs"], len(data["test"]))
            # a transformer's records say which model they are (the paper's rows judge the BiLSTM only)
            extra = {"model": [str(config["model"])] * n} if is_transformer(config["model"]) else None
            eval_sets.append(_eval_set(name, model, data["test"], enc["test"], config["eval_docs"], extra_facts=extra,
                                       verification=verification))
    return Environment("text-attention", {"preset": preset, "seed": seed, "settings": names, "corpus": corpus or "embedded",
                                          "corpus_id": corpus_id, "threshold": threshold, **config,
                                          **({"actual_sizes": actual_sizes} if actual_sizes else {})}, eval_sets)


def embeddings_for(config: dict, tokens: list[list[str]], itos: list[str], seed: int):
    """``embed(model) -> model`` for both text environments: with ``embeddings=word2vec``, the
    corpus's skip-gram vectors (trained once, on first use, by ``seed``) copied into the model's
    embedding and frozen (the paper's fixed pre-trained embeddings); with ``learned``, the model
    as it is. Restarts and other settings on the same vocabulary reuse the same vectors.

    Example:
        >>> embed = embeddings_for({"embeddings": "learned"}, [["a"]], ["<pad>", "a"], 0)
        >>> m = torch.nn.Linear(1, 1); embed(m) is m
        True
    """
    if config["embeddings"] != "word2vec":
        return lambda model: model
    vectors: list[torch.Tensor] = []

    def embed(model: torch.nn.Module) -> torch.nn.Module:
        if not vectors:
            vectors.append(word2vec_matrix(tokens, itos, config["emb"], seed))
        return freeze_embeddings(model, vectors[0])
    return embed


def is_transformer(model) -> bool:
    """Whether the ``model`` option names a Hugging Face transformer (bert-small or hf:DIR)."""
    return isinstance(model, str) and (model == "bert-small" or model.startswith("hf:"))


def _transformer(config: dict, data: dict, cache_dir: str) -> tuple:
    """``(make_model, encoded splits, facts)`` for a transformer: bert-small's WordPiece tokenizer
    is trained on the training documents once (its vocabulary id goes into the cache key);
    a checkpoint brings its own. Each split is encoded as ids, labels, word-level masks and the
    word of each token (:meth:`~attrlab.models.transformer.TransformerClassifier.encode`)."""
    from ..models.transformer import bert_small, load_checkpoint, train_wordpiece

    choice = config["model"]
    if choice == "bert-small":
        if config["embeddings"] != "learned":
            raise AttrlabError("embeddings=word2vec is for the BiLSTM: bert-small learns its embeddings")
        tokenizer = train_wordpiece([m.tokens for m in data["train"]], config["wordpiece_vocab"],
                                    model_cache(cache_dir or None))
        limit = min(512, 2 * config["max_len"] + 2)
        make = lambda: bert_small(None, 2, config["hidden"], config["layers"], config["heads"],  # noqa: E731
                                  max_tokens=limit, tokenizer=tokenizer)
        probe = make()
    else:
        path = choice[3:]
        probe = load_checkpoint(path, CLASSES)
        loaded = [probe]  # the weights come from disk, not the seed: the first model is the one loaded here

        def make():
            return loaded.pop() if loaded else load_checkpoint(path, CLASSES)
        limit = probe.max_positions
    enc = {k: _encode_subwords(v, probe, limit) for k, v in data.items()}
    import transformers

    return make, enc, {"vocabulary": len(probe.tokenizer), "tokenizer": probe.vocab_id,
                       "transformers": transformers.__version__}


def _encode_subwords(docs, model, limit: int) -> tuple:
    """Like :func:`_encode`, over subword tokens: ids ``(N, T)``, labels, ``(N, W)`` masks of
    correlating and non-correlating *words*, and each token's word ``(N, T)``."""
    ids, token_words = model.encode([m.tokens for m in docs], limit)
    width = max(len(m.tokens) for m in docs)
    labels = torch.tensor([m.label for m in docs])
    corr = torch.zeros(len(docs), width, dtype=torch.bool)
    non = torch.zeros(len(docs), width, dtype=torch.bool)
    for k, m in enumerate(docs):
        corr[k, m.correlating] = True
        non[k, m.non_correlating] = True
    return ids, labels, corr, non, token_words


def _text_model(config: dict, vocab_size: int) -> torch.nn.Module:
    builtin = {"bilstm-attention": lambda: AttentionClassifier(vocab_size, config["emb"], config["hidden"], config["attn"])}
    return build_model(config["model"], builtin, (config["max_len"],), 2, vocab_size=vocab_size)


def fit_and_verify(spec: EnvironmentSpec, name: str, make_model, enc: dict, config: dict, seed: int, options: dict,
                   corpus_id: str, cache_dir: str, threshold: float, alpha: float, device, progress: bool,
                   facts: dict, ready=None, extra_check=None) -> tuple[torch.nn.Module, Verification]:
    """Train (or load) a text model on ``enc["train"]`` until validation accuracy reaches
    ``threshold + train_margin`` (at most 1; and ``ready(model)``), then verify it on the test set:
    accuracy ≥ threshold and
    binomial tail against p* = 0.5 ≤ alpha (and ``extra_check(model, record)``, which may add to
    the record and returns whether the model passes it)."""
    def fit(model, checkpoint):
        (tx, ty), (vx, vy) = enc["train"][:2], enc["val"][:2]
        rec = train_verified(model, (tx, ty), (vx, vy), min(1.0, threshold + config["train_margin"]),
                             config["max_epochs"], lr=config["lr"], batch_size=config["batch"], seed=seed,
                             device=device, progress=progress, desc=f"{spec.name} {name}", ready=ready,
                             checkpoint=checkpoint, weight_decay=config.get("weight_decay", 0.0),
                             clip=config.get("clip") or None)
        return {"val_accuracy": rec["accuracy_by_group"][0], "epochs": rec["epochs"], "seconds": rec["seconds"],
                "train_size": rec["train_size"], "reached_target": rec["reached_target"], "ready": rec["ready"]}, {}

    trained = train_or_load(spec, name, make_model, fit, seed=seed, options=options, data_id=corpus_id,
                            cache_dir=cache_dir, restarts=config["restarts"])
    model = trained.model
    test_x, test_y = enc["test"][:2]
    p = accuracy(model, test_x, test_y)
    tail = binomial_tail(p, len(test_y), 0.5)
    record = {**trained.record, "test_accuracy": round(p, 4), "test_size": len(test_y), "p_star": 0.5,
              "binomial_tail": tail, "threshold": threshold, **facts}
    passed = bool(p >= threshold and tail <= alpha)
    record["predicted_classes"] = predicted_classes(model, test_x)
    if len(record["predicted_classes"]) < 2:
        passed, record["collapsed"], record["reason"] = False, True, "the model predicts one class for every document"
    if extra_check is not None:
        record["accurate"] = passed
        passed = bool(extra_check(model, record)) and passed
    return model, Verification(passed, record)


def _encode(docs, vocab: Vocabulary, max_len: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token ids, labels, and (N, L) masks of correlating and non-correlating positions."""
    length = max(len(m.tokens) for m in docs)
    ids = torch.from_numpy(vocab.encode([m.tokens for m in docs], min(length, max_len)))
    labels = torch.tensor([m.label for m in docs])
    corr = torch.zeros(ids.shape, dtype=torch.bool)
    non = torch.zeros(ids.shape, dtype=torch.bool)
    for k, m in enumerate(docs):
        corr[k, [i for i in m.correlating if i < ids.shape[1]]] = True
        non[k, [i for i in m.non_correlating if i < ids.shape[1]]] = True
    return ids, labels, corr, non


def _eval_set(name: str, model, docs, enc, n: int, env: str = "text-attention",
              extra_facts: dict | None = None, verification: Verification | None = None) -> EvalSet:
    ids, labels, corr, non = (t[:n] for t in enc[:4])
    token_words = enc[4][:n] if len(enc) > 4 else None  # a subword model: masks are over words
    if token_words is None:
        lengths = (ids != 0).sum(1).clamp_min(1).float()
    else:
        lengths = torch.tensor([max(1, len(m.tokens)) for m in docs[:n]], dtype=torch.float32)
    facts = {"freq_correlating": (corr.sum(1) / lengths).tolist(), "freq_non_correlating": (non.sum(1) / lengths).tolist(),
             "length": lengths.long().tolist(), **(extra_facts or {})}
    gt = GroundTruth(focus=corr, avoid=non if non.any() else None, facts=facts)
    return EvalSet(env, model, ids, labels, gt, name, display={"tokens": [m.tokens for m in docs[:n]]},
                   verification=verification, token_words=token_words)
