"""Token maps read as word maps: a subword tokenizer splits one word into several tokens and adds
tokens that are no word at all ([CLS], [SEP]); the text environments' ground truth is about words.
Every method's token attributions are summed back to their words before a ground-truth metric
reads them, so Attr% stays a statement about words, whatever the tokenizer; the share of the
attribution that lands on tokens with no word is reported beside it.

``token_words`` ``(N, T)`` holds each token's word index (-1: a special token or padding).

Example (two documents; the first splits "sitting" into "sit" + "##ting"):
    >>> a = torch.tensor([[0.5, 1.0, 2.0, 3.0, -0.5], [0.0, 4.0, 1.0, 0.0, 0.0]])
    >>> w = torch.tensor([[-1, 0, 1, 1, -1], [-1, 0, -1, -1, -1]])
    >>> word_sums(a, w, 2).tolist()
    [[1.0, 5.0], [4.0, 0.0]]
    >>> share = special_share(a, w, torch.tensor([[True] * 5, [True, True, True, False, False]]))
    >>> [round(v, 4) for v in share.tolist()]   # 1/7 of the first map, 1/5 of the second
    [0.1429, 0.2]
"""
from __future__ import annotations

import torch


def word_sums(attributions: torch.Tensor, token_words: torch.Tensor, n_words: int) -> torch.Tensor:
    """``(N, T)`` token attributions → ``(N, n_words)``: each word the signed sum of its tokens'
    (tokens of no word, -1, and words beyond ``n_words`` are left out)."""
    if attributions.shape != token_words.shape:
        raise ValueError(f"token attributions {tuple(attributions.shape)} and word index "
                         f"{tuple(token_words.shape)} differ in shape")
    keep = (token_words >= 0) & (token_words < n_words)
    index = torch.where(keep, token_words, torch.zeros_like(token_words)).to(attributions.device)
    values = torch.where(keep.to(attributions.device), attributions, torch.zeros_like(attributions))
    out = torch.zeros(attributions.shape[0], n_words, dtype=attributions.dtype, device=attributions.device)
    return out.scatter_add_(1, index, values)


def special_share(attributions: torch.Tensor, token_words: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Share of each map's |attribution| over the ``valid`` (non-padding) tokens that falls on
    tokens of no word (special tokens); 0 for a map that is zero there."""
    mag = attributions.abs() * valid.to(attributions.device)
    special = (token_words < 0).to(attributions.device)
    total = mag.sum(1)
    return torch.where(total > 0, (mag * special).sum(1) / total.clamp_min(torch.finfo(mag.dtype).tiny),
                       torch.zeros_like(total))
