"""One thread pool per process for the metrics' CPU work that runs outside torch's own threads
(numpy's sorts, per-sample noise drawn from per-sample generators): torch and numpy release the
GIL in these calls, so blocks of rows on torch's thread count run side by side.

Example:
    >>> import torch
    >>> out = torch.zeros(4)
    >>> def fill(k): out[k] = k
    >>> for_blocks(4, lambda lo, hi: [fill(k) for k in range(lo, hi)], cost=4)
    >>> out.tolist()
    [0.0, 1.0, 2.0, 3.0]
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import torch

PARALLEL_FROM = 1 << 18  # elements of work: below ~64 rows of 4,096 a thread hand-off costs more than it saves
_POOLS: dict = {}


def thread_pool(workers: int) -> ThreadPoolExecutor:
    """A thread pool per process and width (a pool made before a fork is dead in the child)."""
    key = (os.getpid(), workers)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(workers, thread_name_prefix="attrlab-metric")
    return _POOLS[key]


def for_blocks(n: int, work: Callable[[int, int], None], cost: int) -> None:
    """``work(lo, hi)`` over ``0 … n`` in one block per torch thread (one block when ``cost``,
    the elements the whole work touches, is below :data:`PARALLEL_FROM` or torch has one thread);
    errors raise here."""
    workers = min(torch.get_num_threads(), n)
    if workers < 2 or cost < PARALLEL_FROM:
        work(0, n)
        return
    edges = [round(k * n / workers) for k in range(workers + 1)]
    list(thread_pool(workers).map(lambda k: work(edges[k], edges[k + 1]), range(workers)))


def per_sample_normal(generators: list[torch.Generator], shape: tuple) -> torch.Tensor:
    """Standard-normal draws ``(len(generators), *shape)``, row k from ``generators[k]`` alone (a
    sample's noise never depends on its batch), drawn over torch's threads: one draw is
    single-threaded (64 × 10 × 3×64×64 draws take 47 ms on one thread, 24 ms on two).

    Example:
        >>> g = [torch.Generator().manual_seed(s) for s in (1, 2)]
        >>> rows = per_sample_normal(g, (3,))
        >>> torch.equal(rows[1], torch.randn(3, generator=torch.Generator().manual_seed(2)))
        True
    """
    out = torch.empty((len(generators), *shape))

    def draw(lo: int, hi: int) -> None:
        for k in range(lo, hi):
            torch.randn(shape, generator=generators[k], out=out[k])
    for_blocks(len(generators), draw, out.numel())
    return out
