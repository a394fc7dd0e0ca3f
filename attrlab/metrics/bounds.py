"""Bounds from label reassignment (Zhou et al., AAAI 2022, §4 and §5.4)."""
from __future__ import annotations

import math

from scipy.stats import binom

from ..errors import AttrlabError


def shapley_bound(p: float, r: float) -> float:
    """Lower bound on the normalised Shapley value of the manipulated features, Zhou et al. Eq. (3):
    ``v̄(F_M) ≥ (2p − r − 0.5) / (2p − 1)`` for a classifier of accuracy ``p`` trained with
    label-preservation rate ``r`` (0.5 ≤ r ≤ 1, p > 0.5). Eq. (4)'s upper bound on the original
    features is ``1 −`` this value. At p = 1 it is ``1.5 − r`` (the green band of their Fig. 8).

    Example:
        >>> shapley_bound(1.0, 0.7)
        0.8
    """
    if not 0.5 <= r <= 1:
        raise AttrlabError(f"r must be in [0.5, 1] (use max(r, 1 - r)), got {r}")
    if not 0.5 < p <= 1:
        raise AttrlabError(f"accuracy p must be in (0.5, 1], got {p}")
    return round((2 * p - r - 0.5) / (2 * p - 1), 12)


def binomial_tail(p: float, n: int, p_star: float) -> float:
    """Probability that a classifier whose *expected* accuracy is at most ``p_star`` scores
    accuracy ``p`` or higher on ``n`` test samples: ``Σ_{k=⌊pN⌋}^{N} Binom(k; N, p*)``
    (Zhou et al. §4, the paragraph after the guarantee). A small value means the measured accuracy
    proves the model uses the manipulation.

    Example:
        >>> round(binomial_tail(0.6, 100, 0.5), 4)
        0.0284
    """
    if n <= 0:
        raise AttrlabError(f"test-set size must be positive, got {n}")
    if not 0 <= p <= 1 or not 0 <= p_star <= 1:
        raise AttrlabError("p and p_star must be probabilities")
    k = math.floor(p * n)
    return float(binom.sf(k - 1, n, p_star))


def max_accuracy_without_manipulation(R) -> float:
    """``p* = max_{i,j} R_ij`` for a K×K label-reassignment matrix (Zhou et al. §4). For the binary
    rate r this is ``max(r, 1 − r)``.

    Example:
        >>> max_accuracy_without_manipulation([[0.7, 0.3], [0.3, 0.7]])
        0.7
    """
    import numpy as np

    R = np.asarray(R, dtype=float)
    if R.ndim != 2 or R.shape[0] != R.shape[1]:
        raise AttrlabError(f"R must be a square matrix, got shape {R.shape}")
    if (R < 0).any() or not np.allclose(R.sum(1), 1):
        raise AttrlabError("R must be row-stochastic (non-negative rows that sum to 1)")
    return float(R.max())
