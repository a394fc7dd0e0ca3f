"""What an automatic metric sees of one attribution job, and the perturbation engine they share.

A :class:`Probe` holds the model, inputs, targets and maps of one job (with the context the
environment lends: ``sample_index``, ``true_baseline`` …) while they are in memory. Metrics ask it
for the target's score on perturbed inputs (:meth:`Probe.scores`, batched and counted in forward
passes per sample), for each sample's removal order (:meth:`Probe.order`: most relevant first, ties
broken by noise seeded by the sample alone, so an all-zero map gets a random order and a sample's
value never depends on its batch) and for curves other metrics already computed (:meth:`memo`).

Example:
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> x = torch.rand(2, 1, 2, 2)
    >>> probe = Probe(model, x, torch.tensor([0, 1]), torch.rand(2, 1, 2, 2))
    >>> probe.scores(x.unsqueeze(1)).shape, probe.passes
    (torch.Size([2, 1]), 1.0)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from ..errors import AttrlabError
from .sorting import stable_order

OUTPUTS = ("probability", "logit")
CHUNK = 256  # perturbed inputs per forward pass at most (on a GPU: always)
CPU_CHUNK_ELEMENTS = 1 << 20  # on a CPU, input elements per forward pass (see chunk_size)
BUILD_ELEMENTS = 1 << 24  # input elements a perturbation metric builds at a time (64 MB of float32)


def chunk_size(x: torch.Tensor) -> int:
    """Perturbed inputs per forward pass for inputs like ``x`` ``(M, …)``: :data:`CHUNK` on a GPU;
    on a CPU the largest power of two whose inputs hold at most :data:`CPU_CHUNK_ELEMENTS` elements
    (8 to CHUNK), since a CPU's caches, not its cores, set the best batch there (SMERF's CNN on
    3×64×64, one thread: 0.57 s at batches of 64, 0.83 s at 256; benchmarks/bench_auto_metrics.py
    measures the floor at the best batch).

    Example:
        >>> [chunk_size(torch.zeros(1, *shape)) for shape in ((3, 64, 64), (3, 224, 224), (150,))]
        [64, 8, 256]
    """
    if x.device.type != "cpu":
        return CHUNK
    fits = max(8, min(CHUNK, CPU_CHUNK_ELEMENTS // max(1, x[0].numel())))
    return 1 << (fits.bit_length() - 1)  # a power of two: oneDNN's kernels block batches by 8 and 16


@dataclass
class Probe:
    """One job's model, inputs ``(N, …)``, targets ``(N,)`` and maps (the method's output, the
    input's shape, or ``(N, *grid)``), with the environment's per-sample ``context``, the run's
    ``seed``, the ``method`` that made the maps (for metrics that explain again, e.g.
    sensitivity-max) and ``region`` (a region a person would point to, for the pointing game).

    ``passes`` counts forward passes per sample since the probe was made."""

    model: torch.nn.Module
    inputs: torch.Tensor
    targets: torch.Tensor
    attributions: torch.Tensor
    context: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    method: Callable | None = None
    region: torch.Tensor | None = None
    shared: frozenset = frozenset()  # context keys that are whole sets, not one row per sample (reference_set)
    fixed: torch.Tensor | None = None  # tokens that are no feature ([CLS], [SEP]): never deleted, ranked or pointed at
    passes: float = 0.0
    _memo: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.attributions.shape[0] != self.inputs.shape[0]:
            raise AttrlabError(f"{self.attributions.shape[0]} maps for {self.inputs.shape[0]} inputs")
        if not torch.isfinite(self.attributions).all():
            raise AttrlabError("attribution map contains NaN or infinite values")
        self.attributions = self.attributions.detach()

    @property
    def n(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def is_image(self) -> bool:
        return self.inputs.dim() == 4

    @property
    def features(self) -> torch.Tensor:
        """For token ids, the tokens that are features: not padding (id 0), not ``fixed``.

        Example:
            >>> p = Probe(torch.nn.Identity(), torch.tensor([[2, 5, 3, 0]]), torch.tensor([0]), torch.zeros(1, 4),
            ...           fixed=torch.tensor([[True, False, True, False]]))
            >>> p.features.tolist()
            [[False, True, False, False]]
        """
        valid = self.inputs != 0
        return valid if self.fixed is None else valid & ~self.fixed.to(valid.device)

    @property
    def sample_index(self) -> torch.Tensor:
        idx = self.context.get("sample_index")
        return torch.arange(self.n) if idx is None else torch.as_tensor(idx).cpu()

    def generator(self, sample: int, salt: int) -> torch.Generator:
        """A CPU generator seeded by the run's seed, the sample's index in its evaluation set and
        a per-metric ``salt``: the noise a metric draws for a sample is the sample's own."""
        return torch.Generator().manual_seed(int(self.seed) * 1_000_003 + int(sample) * 7_919 + int(salt))

    def memo(self, key: Any, make: Callable[[], Any]) -> Any:
        """``make()`` once per key for this job (curves shared between metrics, e.g. SRG reuses
        deletion's most-relevant-first curve)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    # --- the model ---------------------------------------------------------------------------
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of ``x`` ``(M, …)``, in chunks, without gradients; counts ``M / N`` passes."""
        self.passes += len(x) / self.n
        with torch.no_grad():
            size = chunk_size(x)
            return torch.cat([self.model(x[i:i + size]) for i in range(0, len(x), size)]).float()

    def scores(self, x: torch.Tensor, output: str = "probability", targets: torch.Tensor | None = None) -> torch.Tensor:
        """The target's ``output`` (softmax probability or logit) for perturbed inputs ``x`` of
        shape ``(N, S, …)`` (S versions of each sample): ``(N, S)``."""
        if output not in OUTPUTS:
            raise AttrlabError(f"output must be one of {', '.join(OUTPUTS)}, got '{output}'")
        n, s = x.shape[:2]
        t = (self.targets if targets is None else targets).to(x.device).repeat_interleave(s)
        logits = self.logits(x.reshape(n * s, *x.shape[2:]))
        values = logits.softmax(1) if output == "probability" else logits
        return values.gather(1, t.view(-1, 1)).view(n, s)

    def scores_of(self, build: Callable[[int, int], torch.Tensor], versions: int,
                  output: str = "probability") -> torch.Tensor:
        """:meth:`scores` of ``build(lo, hi)`` — the ``versions`` perturbed copies ``(hi − lo,
        versions, …)`` of samples ``lo … hi − 1`` — built a few samples at a time, so that a metric
        never holds all N · versions inputs at once (100 subsets of 32 images at 224² would be
        1.9 GB): ~64 MB of inputs at a time (at least one forward batch, :func:`chunk_size`)."""
        per_input = max(1, self.inputs[0].numel())
        size = chunk_size(self.inputs)
        inputs = max(size, (BUILD_ELEMENTS // per_input) // size * size)
        step = max(1, inputs // max(1, versions))
        return torch.cat([self.scores(build(lo, min(lo + step, self.n)), output, self.targets[lo:lo + step])
                          for lo in range(0, self.n, step)])

    def original(self, output: str = "probability") -> torch.Tensor:
        """The target's ``output`` on the unperturbed inputs, ``(N,)`` (computed once per job)."""
        return self.memo(("original", output), lambda: self.scores(self.inputs.unsqueeze(1), output)[:, 0])

    # --- the map -----------------------------------------------------------------------------
    def relevance(self) -> torch.Tensor:
        """One signed value per feature: ``(N, H, W)`` for images (the channels' sum: evidence for
        the target is positive, against it negative), ``(N, L)`` for tokens."""
        def make():
            a = self.attributions.float()
            grid = self.inputs.shape[-2:] if self.is_image else self.inputs.shape[1:]
            if tuple(a.shape[1:]) == tuple(grid):
                return a
            if self.is_image and a.dim() == 4 and tuple(a.shape[-2:]) == tuple(grid):
                return a.sum(1)
            if not self.is_image and a.dim() == 3 and tuple(a.shape[1:2]) == tuple(grid):
                return a.sum(-1)
            raise AttrlabError(f"maps of shape {tuple(a.shape)} do not fit inputs of shape {tuple(self.inputs.shape)}")
        return self.memo("relevance", make)

    def tie_ranks(self, salt: int = 0) -> torch.Tensor:
        """A seeded random permutation per sample, ``(N, d)`` int64: the rank of each feature among
        tied values (each sample's own, whatever its batch)."""
        def make():
            d = self.relevance()[0].numel()
            return torch.stack([torch.randperm(d, generator=self.generator(int(i), 17 + salt))
                                for i in self.sample_index])
        return self.memo(("ties", salt), make)

    def order(self, most_relevant_first: bool = True, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Each sample's features ``(N, d)`` (flat indices), most relevant first (or least), ties in
        seeded random order; features outside ``valid`` (e.g. padding) go last in either order."""
        def make():
            rel = self.relevance().flatten(1)
            ties = self.tie_ranks().to(rel.device)
            # the sample's random permutation first, then a stable sort by value: ties stay in it
            by_noise = torch.empty_like(ties).scatter_(1, ties, torch.arange(ties.shape[1], device=rel.device)
                                                       .expand_as(ties))
            v = None if valid is None else valid.flatten(1).to(rel.device).gather(1, by_noise)
            return by_noise.gather(1, stable_order(rel.gather(1, by_noise), most_relevant_first, v))
        return self.memo(("order", most_relevant_first, valid is not None), make)


def gaussian_blurred(images: torch.Tensor, kernel: int = 11, sigma: float = 5.0) -> torch.Tensor:
    """The insertion substrate of Petsiuk et al. 2018 (RISE's evaluation: kernel 11, σ 5),
    torchvision's ``gaussian_blur`` (reflect padding)."""
    from torchvision.transforms.functional import gaussian_blur

    k = min(kernel, 2 * (min(images.shape[-2:]) // 2) - 1) if min(images.shape[-2:]) < kernel else kernel
    return gaussian_blur(images, [k, k], [sigma, sigma]) if k >= 3 else images.clone()


def substrate(probe: Probe, kind: str) -> torch.Tensor:
    """What removed pixels become: ``zeros``, ``blur`` (the image blurred, RISE's insertion start),
    ``mean`` (each channel's mean of the sample) or ``true`` (the environment's ``true_baseline``,
    e.g. AttributionLab's background: the one input that is neutral by design)."""
    x = probe.inputs.float()
    if kind == "zeros":
        return torch.zeros_like(x)
    if kind == "blur":
        return probe.memo("blurred", lambda: gaussian_blurred(x))
    if kind == "mean":
        return x.mean(dim=(-2, -1), keepdim=True).expand_as(x).contiguous()
    if kind == "true":
        base = probe.context.get("true_baseline")
        if base is None:
            raise AttrlabError("substrate=true needs an environment that declares a true baseline (AttributionLab)")
        return torch.as_tensor(base).to(x.device, x.dtype).expand_as(x)
    raise AttrlabError(f"unknown substrate '{kind}'; choose zeros, blur, mean or true")


SUBSTRATES = ("zeros", "blur", "mean", "true")


def step_counts(d: int, steps: int) -> torch.Tensor:
    """How many features are perturbed at each of ``steps + 1`` points (0 … d): Petsiuk et al.'s
    equal steps, rounded to whole features."""
    return torch.round(torch.linspace(0, d, steps + 1)).long()


def perturbation_curve(probe: Probe, order: torch.Tensor, start: torch.Tensor, end: torch.Tensor, counts: torch.Tensor,
                       output: str = "probability") -> torch.Tensor:
    """The target's score ``(N, len(counts))`` while the first ``counts[s]`` pixels of ``order``
    ``(N, H·W)`` are taken from ``end`` and the others from ``start`` (both ``(N, C, H, W)``):
    deletion is start = the image, end = a substrate; insertion the reverse. One batched forward
    pass per point and sample; no Python loop over samples or pixels.

    Example (a model that sums the first channel; deleting pixel by pixel to zeros):
        >>> import torch
        >>> class Sum(torch.nn.Module):
        ...     def forward(self, x): return torch.stack([x.flatten(1).sum(1), torch.zeros(len(x))], 1)
        >>> x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
        >>> p = Probe(Sum(), x, torch.tensor([0]), x)
        >>> perturbation_curve(p, p.order(), x, torch.zeros_like(x), step_counts(4, 4), "logit").tolist()
        [[10.0, 6.0, 3.0, 1.0, 0.0]]
    """
    n, d = order.shape
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(d, device=order.device).expand(n, d))
    grid = start.shape[-2:]
    counts = counts.to(order.device).view(1, -1, 1, 1, 1)

    def build(lo: int, hi: int) -> torch.Tensor:  # (hi − lo, S, C, H, W)
        taken = ranks[lo:hi].view(hi - lo, 1, 1, *grid) < counts
        return torch.where(taken, end[lo:hi].unsqueeze(1), start[lo:hi].unsqueeze(1))
    return probe.scores_of(build, counts.shape[1], output)


def auc(curve: torch.Tensor) -> torch.Tensor:
    """Trapezoid area under curves ``(N, S)`` on [0, 1] with equal steps (RISE's ``auc``)."""
    s = curve.shape[1]
    return (curve.sum(1) - curve[:, 0] / 2 - curve[:, -1] / 2) / (s - 1)
