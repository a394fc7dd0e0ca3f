"""Fixed pre-trained word embeddings for the text models (Zhou et al. 2022 §6 use fixed 200-d
pre-trained embeddings): skip-gram word2vec vectors trained with gensim on the corpus's own
documents, before any label manipulation, then frozen in the model.

gensim is an optional dependency (``pip install 'attrlab[text]'``). Training is made
reproducible: one worker thread, the run's seed, and a hash of the word's bytes (gensim seeds
each word's initial vector with Python's ``hash``, which changes between interpreter launches).

Example:
    >>> docs = [["the", "beer", "is", "good"], ["a", "beer", "is", "bad"]] * 20
    >>> vocab = ["<pad>", "<unk>", "beer", "is", "the", "a", "good", "bad", "never"]
    >>> w = word2vec_matrix(docs, vocab, dim=8, seed=0)
    >>> tuple(w.shape), float(w[0].abs().sum()), torch.equal(w, word2vec_matrix(docs, vocab, dim=8, seed=0))
    ((9, 8), 0.0, True)
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from ..errors import AttrlabError


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha1(str(text).encode()).digest()[:4], "little")


def word2vec_matrix(documents: list[list[str]], itos: list[str], dim: int, seed: int, epochs: int = 10,
                    window: int = 5) -> torch.Tensor:
    """A ``(len(itos), dim)`` embedding matrix: each word's skip-gram vector, a small seeded random
    vector for words word2vec did not keep, and zeros for the padding row (index 0)."""
    try:
        from gensim.models import Word2Vec
    except ImportError:
        raise AttrlabError("embeddings=word2vec needs gensim: pip install 'attrlab[text]'") from None
    model = Word2Vec(sentences=documents, vector_size=dim, window=window, min_count=1, sg=1, workers=1, seed=seed,
                     epochs=epochs, hashfxn=_stable_hash)
    rng = np.random.default_rng([seed, 31])
    matrix = rng.normal(0.0, 0.1, size=(len(itos), dim)).astype(np.float32)
    for i, word in enumerate(itos):
        if word in model.wv:
            matrix[i] = model.wv[word]
    matrix[0] = 0.0
    return torch.from_numpy(matrix)


def freeze_embeddings(model: torch.nn.Module, weights: torch.Tensor) -> torch.nn.Module:
    """Copy ``weights`` into ``model.embedding`` and stop its training (the paper's fixed
    embeddings); the model's embedding size must match."""
    emb = getattr(model, "embedding", None)
    if not isinstance(emb, torch.nn.Embedding):
        raise AttrlabError("embeddings=word2vec needs a model with an nn.Embedding named 'embedding'")
    if tuple(emb.weight.shape) != tuple(weights.shape):
        raise AttrlabError(f"word2vec vectors {tuple(weights.shape)} do not fit the model's embedding "
                           f"{tuple(emb.weight.shape)}")
    with torch.no_grad():
        emb.weight.copy_(weights)
    emb.weight.requires_grad_(False)
    return model
