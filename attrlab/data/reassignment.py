"""Label reassignment (Zhou et al. 2022, §4): each original label ``y`` becomes ``ŷ`` with
probability ``R[y, ŷ]``, so the original features predict the new label with expected accuracy
at most ``p* = max R`` (:func:`attrlab.metrics.bounds.max_accuracy_without_manipulation`).
"""
from __future__ import annotations

import numpy as np

from ..errors import AttrlabError
from ..metrics.bounds import max_accuracy_without_manipulation


def reassignment_matrix(r: float, k: int = 2) -> np.ndarray:
    """The K×K matrix that keeps a label with probability ``r`` and moves it to each other label
    with probability ``(1 − r)/(K − 1)``; for K = 2 the paper's binary rate.

    Example:
        >>> reassignment_matrix(0.7).tolist()
        [[0.7, 0.30000000000000004], [0.30000000000000004, 0.7]]
    """
    if not 0 <= r <= 1:
        raise AttrlabError(f"the reassignment rate r must be in [0, 1], got {r}")
    if k < 2:
        raise AttrlabError(f"label reassignment needs at least two classes, got {k}")
    R = np.full((k, k), (1 - r) / (k - 1))
    np.fill_diagonal(R, r)
    return R


def reassign(labels: np.ndarray, R, rng: np.random.Generator) -> np.ndarray:
    """New labels drawn row by row from ``R`` (validated: square, row-stochastic).

    Example:
        >>> y = np.repeat([0, 1], 5000)
        >>> new = reassign(y, reassignment_matrix(0.8), np.random.default_rng(0))
        >>> round(float((new == y).mean()), 2)
        0.8
    """
    R = np.asarray(R, dtype=float)
    max_accuracy_without_manipulation(R)  # validates the matrix
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= len(R)):
        raise AttrlabError(f"labels must be in 0..{len(R) - 1} for a {len(R)}×{len(R)} matrix")
    cumulative = np.cumsum(R, axis=1)
    u = rng.random(len(labels))
    return np.minimum((u[:, None] > cumulative[labels]).sum(1), len(R) - 1).astype(np.int64)


def empirical_matrix(original: np.ndarray, new: np.ndarray, k: int = 2) -> np.ndarray:
    """The observed ``P(ŷ | y)``: row y is the share of label-y items given each new label.

    Example:
        >>> empirical_matrix(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])).tolist()
        [[0.5, 0.5], [0.0, 1.0]]
    """
    counts = np.zeros((k, k))
    np.add.at(counts, (np.asarray(original), np.asarray(new)), 1)
    return counts / np.maximum(counts.sum(1, keepdims=True), 1)
