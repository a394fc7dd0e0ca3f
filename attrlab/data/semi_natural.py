"""The semi-natural data recipe (Zhou et al. 2022 §4): label reassignment with rate r, then a
label-dependent manipulation, so that the manipulated region is the only strong signal."""
from __future__ import annotations

import numpy as np

from .manipulations import Manipulation
from .reassignment import reassign, reassignment_matrix


def modify(images: np.ndarray, original: np.ndarray, manipulation: Manipulation, r: float,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reassign labels with rate ``r``, then manipulate every image of new label 1 (the authors'
    ``im_probs = [[1, 0], [0, 1]]``: label 0 untouched). Returns (images, new labels, ER).

    Example:
        >>> x = np.full((6, 16, 16, 3), 0.5, np.float32)
        >>> out, y, er = modify(x, np.array([0, 0, 0, 1, 1, 1]), Manipulation("noise", {"p": 1.0}), 1.0,
        ...                     np.random.default_rng(0))
        >>> y.tolist(), [bool((out[i] != x[i]).any()) for i in range(6)]
        ([0, 0, 0, 1, 1, 1], [False, False, False, True, True, True])
    """
    labels = reassign(original, reassignment_matrix(r), rng)
    out = images.copy()
    er = manipulation.region(images.shape[1])
    for i in np.flatnonzero(labels == 1):
        out[i], _ = manipulation.apply(images[i], rng)
    return out, labels, er
