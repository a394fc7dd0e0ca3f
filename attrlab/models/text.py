"""Text classifiers of Zhou et al. 2022 §6–7, in PyTorch.

:class:`AttentionClassifier` (§6, after Wiegreffe & Pinter 2019): embedding → BiLSTM (packed, so
padding never reaches a real token) → additive attention with a learned query,
``k_i = tanh(W h_i)``, ``b_i = q·k_i``, ``a = softmax(b)`` over the real tokens, ``h = Σ a_i h_i``
(Eqs. 5–8) → linear. The paper's sizes are 200-d embeddings and 200 units per direction; the
pre-trained review embeddings are not available here, so embeddings are learned.

Every model takes token ids ``(N, L)`` (0 = padding) and returns logits; ``embedding`` is the
layer that gradient/IG methods attribute through, summed per token.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class BiLSTMEncoder(nn.Module):
    """Packed bidirectional LSTM over embedded tokens: ``(N, L, E)`` → ``(N, L, 2H)``, zeros at
    padding."""

    def __init__(self, emb: int, hidden: int):
        super().__init__()
        self.lstm = nn.LSTM(emb, hidden, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(x, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out


class AttentionClassifier(nn.Module):
    """Example:
        >>> m = AttentionClassifier(vocab_size=10, emb=8, hidden=6, attn=5)
        >>> ids = torch.tensor([[2, 3, 4, 0], [5, 6, 0, 0]])
        >>> m(ids).shape, [round(v, 5) for v in m.attention(ids).sum(1).tolist()]  # sums to 1 up to float32 rounding
        (torch.Size([2, 2]), [1.0, 1.0])
    """

    def __init__(self, vocab_size: int, emb: int = 200, hidden: int = 200, attn: int = 200, n_classes: int = 2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb, padding_idx=0)
        self.encoder = BiLSTMEncoder(emb, hidden)
        self.key = nn.Linear(2 * hidden, attn)
        self.query = nn.Parameter(torch.randn(attn) / attn ** 0.5)
        self.out = nn.Linear(2 * hidden, n_classes)

    def _attend(self, ids: torch.Tensor):
        mask = ids != 0
        h = self.encoder(self.embedding(ids), mask.sum(1))
        scores = torch.tanh(self.key(h)) @ self.query
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
        return weights, h

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        weights, h = self._attend(ids)
        return self.out((weights.unsqueeze(2) * h).sum(1))

    def attention(self, ids: torch.Tensor) -> torch.Tensor:
        """The attention weights ``a_1 … a_L`` (zero at padding)."""
        return self._attend(ids)[0]
