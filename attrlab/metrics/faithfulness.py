"""Automatic (ground-truth-free) faithfulness metrics for image maps: deletion, insertion, SRG,
ROAD, faithfulness correlation, infidelity and (opt-in) sensitivity-max.

Each is registered (:mod:`attrlab.metrics.registry`) and takes one
:class:`~attrlab.metrics.probe.Probe`, returning one value per sample. Shared conventions:

* **relevance** of a pixel is the signed sum of its channels (evidence for the target is
  positive), so removing the most relevant pixels first removes the evidence the map claims;
* **ties** (an all-zero map, LIME's flat segments) are ordered by noise seeded by the sample alone:
  a degenerate map gets a random order, its value is recorded, never dropped;
* the model's output is the target's **softmax probability** unless a metric says otherwise
  (``output=logit``), as in RISE and ROAD; faithfulness correlation and infidelity read logits, as
  Quantus and Captum do.

Defaults and costs (forward passes per sample) are the registry's declaration; ``attrlab list
metrics -v`` prints them. Facts behind each choice: ../shared/notes/automatic-metrics-reference-facts.md.
"""
from __future__ import annotations

import torch

from ..errors import AttrlabError
from .parallel import per_sample_normal
from .probe import OUTPUTS, SUBSTRATES, Probe, auc, chunk_size, perturbation_curve, step_counts
from .probe import substrate as make_substrate  # the metrics' parameter is called substrate
from .registry import register_metric
from .road import noisy_linear_impute
from .sorting import sort_rows


def _need_image(probe: Probe, name: str) -> None:
    if not probe.is_image:
        raise AttrlabError(f"{name} needs image inputs (N, C, H, W), got shape {tuple(probe.inputs.shape)}")


def _check(steps: int = 20, output: str = "probability", substrate: str = "zeros", **_) -> None:
    if steps < 1:
        raise AttrlabError(f"steps must be at least 1, got {steps}")
    if output not in OUTPUTS:
        raise AttrlabError(f"output must be one of {', '.join(OUTPUTS)}, got '{output}'")
    if substrate not in SUBSTRATES:
        raise AttrlabError(f"substrate must be one of {', '.join(SUBSTRATES)}, got '{substrate}'")


def deletion_curve(probe: Probe, *, most_relevant_first: bool = True, steps: int = 20, output: str = "probability",
                   substrate_kind: str = "zeros") -> torch.Tensor:
    """The target's score ``(N, steps + 1)`` while 0, 1/steps, …, all pixels are replaced by the
    substrate in the map's order (most relevant first, or least: the LeRF half of SRG)."""
    _need_image(probe, "deletion")
    key = ("deletion", most_relevant_first, steps, output, substrate_kind)
    x = probe.inputs.float()

    def make():
        d = probe.relevance()[0].numel()
        return perturbation_curve(probe, probe.order(most_relevant_first), x, make_substrate(probe, substrate_kind),
                                  step_counts(d, steps), output)
    return probe.memo(key, make)


@register_metric("confidence", "the model's probability for the target on the unperturbed input: not a score "
                 "of the map but the confound the meta-evaluation checks (Nourelahi et al. 2022: deletion and "
                 "insertion track it)", family="model", inputs="any", direction="higher", cost="1 (shared)",
                 default=True)
def confidence(probe: Probe) -> torch.Tensor:
    return probe.original("probability")


@register_metric("deletion", "area under the target's probability while the most relevant pixels are replaced "
                 "(Petsiuk et al. 2018, RISE); 20 steps of 5% of the pixels; substrate zeros (or the environment's "
                 "true baseline: substrate=true)", direction="lower", cost="steps + 1 = 21", default=True,
                 steps=20, output="probability", substrate="zeros")
def deletion(probe: Probe, steps: int = 20, output: str = "probability", substrate: str = "zeros") -> torch.Tensor:
    return auc(deletion_curve(probe, steps=steps, output=output, substrate_kind=substrate))


@register_metric("insertion", "area under the target's probability while the most relevant pixels are put back "
                 "into a blurred image (Petsiuk et al. 2018: Gaussian blur, kernel 11, σ 5); 20 steps",
                 direction="higher", cost="steps + 1 = 21", default=True, steps=20, output="probability",
                 substrate="blur")
def insertion(probe: Probe, steps: int = 20, output: str = "probability", substrate: str = "blur") -> torch.Tensor:
    _need_image(probe, "insertion")
    d = probe.relevance()[0].numel()
    start = make_substrate(probe, substrate)
    curve = probe.memo(("insertion", steps, output, substrate), lambda: perturbation_curve(
        probe, probe.order(True), start, probe.inputs.float(), step_counts(d, steps), output))
    return auc(curve)


@register_metric("srg", "symmetric relevance gain (Blücher et al. 2024): deletion's area least-relevant-first "
                 "minus most-relevant-first under the same substrate; the random-order part cancels, so rankings "
                 "barely depend on the substrate", direction="higher", cost="2 (steps + 1) = 42 (21 shared with "
                 "deletion)", default=True, steps=20, output="probability", substrate="zeros")
def srg(probe: Probe, steps: int = 20, output: str = "probability", substrate: str = "zeros") -> torch.Tensor:
    morf = deletion_curve(probe, most_relevant_first=True, steps=steps, output=output, substrate_kind=substrate)
    lerf = deletion_curve(probe, most_relevant_first=False, steps=steps, output=output, substrate_kind=substrate)
    return auc(lerf) - auc(morf)


for _fn in (deletion, insertion, srg):
    _fn.check_params = _check


ROAD_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def road_curve(probe: Probe, most_relevant_first: bool, noise: float = 0.01, output: str = "probability") -> torch.Tensor:
    """ROAD (Rong et al. 2022): the target's score ``(N, 9)`` after removing 10 … 90% of the pixels
    (most or least relevant first) and imputing them by noisy linear imputation
    (:func:`attrlab.metrics.road.noisy_linear_impute`, noise seeded per sample)."""
    _need_image(probe, "road")

    def make():
        x = probe.inputs.float()
        n, _, h, w = x.shape
        order = probe.order(most_relevant_first)
        ranks = torch.empty_like(order)
        ranks.scatter_(1, order, torch.arange(h * w, device=order.device).expand(n, h * w))
        imputed = []
        for k, level in enumerate(ROAD_LEVELS):
            keep = (ranks >= round(level * h * w)).view(n, h, w)
            gens = [probe.generator(int(i), 101 + 2 * k + int(most_relevant_first)) for i in probe.sample_index]
            imputed.append(noisy_linear_impute(x, keep, noise, gens))
        return probe.scores(torch.stack(imputed, 1), output)
    return probe.memo(("road", most_relevant_first, noise, output), make)


def _check_road(noise: float = 0.01, output: str = "probability") -> None:
    if noise < 0:
        raise AttrlabError(f"noise must be 0 or more, got {noise}")
    _check(output=output)


@register_metric("road_morf", "ROAD most-relevant-first (Rong et al. 2022): the target's mean probability after "
                 "removing 10, 20 … 90% of the pixels by noisy linear imputation (the imputation leaks no shape "
                 "of the removed region)", direction="lower", cost="9 forward passes + 9 batched solves",
                 default=False, noise=0.01, output="probability")
def road_morf(probe: Probe, noise: float = 0.01, output: str = "probability") -> torch.Tensor:
    return road_curve(probe, True, noise, output).mean(1)


@register_metric("road_lerf", "ROAD least-relevant-first (Rong et al. 2022): as road_morf, removing the least "
                 "relevant pixels first", direction="higher", cost="9 forward passes + 9 batched solves",
                 default=False, noise=0.01, output="probability")
def road_lerf(probe: Probe, noise: float = 0.01, output: str = "probability") -> torch.Tensor:
    return road_curve(probe, False, noise, output).mean(1)


road_morf.check_params = road_lerf.check_params = _check_road


def random_subsets(probe: Probe, runs: int, size: int, salt: int = 29) -> torch.Tensor:
    """``(N, runs, size)`` random pixel subsets, drawn without replacement from each sample's own
    generator (Bhatt et al.'s random subsets, batch-independent).

    A subset is the first ``size`` distinct pixels of a sequence of uniform draws — a uniformly
    random subset — with a few spare draws per subset for the repeats: one ``randint`` call per
    sample where ``runs`` permutations of every pixel took 36 µs each (100 subsets of 64 images at
    64²: 230 ms, ~25% of the metric). A subset that the spare draws do not complete (probability
    < 1e-9 a subset at the default 5%) and any subset of more than a quarter of the pixels come
    from whole permutations of the same generator.

    Example:
        >>> x = torch.zeros(2, 1, 8, 8)
        >>> p = Probe(torch.nn.Identity(), x, torch.zeros(2, dtype=torch.long), x)
        >>> s = random_subsets(p, runs=3, size=5)
        >>> s.shape, all(len(set(row.tolist())) == 5 for row in s.flatten(0, 1))
        (torch.Size([2, 3, 5]), True)
    """
    d = probe.relevance()[0].numel()
    if not 1 <= size <= d:
        raise AttrlabError(f"subset size {size} must lie in [1, {d}] (the number of pixels)")
    generators = [probe.generator(int(i), salt) for i in probe.sample_index]
    if 4 * size > d:
        return torch.stack([torch.stack([torch.randperm(d, generator=g)[:size] for _ in range(runs)])
                            for g in generators])
    # repeats among m draws from d: ~ m² / 2d; spare draws cover that 8 times over, and at least 32
    draws = size + max(32, int(8 * size * size / (2 * d)) + 1)
    seq = torch.stack([torch.randint(d, (runs, draws), generator=g) for g in generators])   # (N, runs, m)
    subsets, enough = _first_distinct(seq.view(-1, draws), d, size)
    if not bool(enough.all()):  # rare: complete the short subsets from permutations of their own generator
        for row in torch.nonzero(~enough).flatten().tolist():
            subsets[row] = torch.randperm(d, generator=generators[row // runs])[:size]
    return subsets.view(len(generators), runs, size)


def _first_distinct(seq: torch.Tensor, d: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For rows of draws ``(R, m)`` from ``0 … d − 1``: each row's first ``size`` distinct values in
    draw order ``(R, size)`` (rows with fewer are padded with −1) and whether the row had enough.
    Each row's (value, position) pairs are packed into one integer and sorted by numpy (torch's CPU
    sort of the same 1.5 M draws is ~8× slower): a value equal to the one before it in that order
    is a repeat."""
    rows, m = seq.shape
    pb = max(1, (m - 1).bit_length())
    dtype = torch.int32 if (d - 1).bit_length() + pb <= 31 else torch.int64
    packed = (seq.to(dtype) << pb) | torch.arange(m, dtype=dtype)
    packed = sort_rows(packed)
    value = packed >> pb
    first = torch.ones_like(packed, dtype=torch.bool)
    first[:, 1:] = value[:, 1:] != value[:, :-1]
    new = torch.empty_like(first).scatter_(1, (packed & ((1 << pb) - 1)).long(), first)
    rank = new.cumsum(1, dtype=torch.int32).long()  # a new draw's place in its subset, from 1
    slot = torch.where(new & (rank <= size), rank - 1, size)  # the rest go to a spare column
    out = torch.full((rows, size + 1), -1, dtype=torch.int64).scatter_(1, slot, seq)
    return out[:, :size].contiguous(), rank[:, -1] >= size


def faithfulness_correlation_of(probe: Probe, subsets: torch.Tensor, base: torch.Tensor,
                                output: str = "logit") -> torch.Tensor:
    """Pearson correlation, per sample, between Σ_{i∈S} a_i and f(x) − f(x with S set to ``base``)
    over the subsets ``(N, runs, k)`` of flat pixel indices (Bhatt et al. 2020, Eq. 3). A constant
    map, or an output that never moves, has no correlation: NaN (counted as undefined)."""
    x = probe.inputs.float()
    n, c, h, w = x.shape
    runs = subsets.shape[1]
    subsets = subsets.to(x.device)

    def build(lo: int, hi: int) -> torch.Tensor:  # (hi − lo, runs, C, H, W)
        mask = torch.zeros(hi - lo, runs, h * w, dtype=torch.bool, device=x.device)
        mask.scatter_(2, subsets[lo:hi], True)
        return torch.where(mask.view(hi - lo, runs, 1, h, w), base[lo:hi].unsqueeze(1), x[lo:hi].unsqueeze(1))
    delta = probe.original(output).unsqueeze(1) - probe.scores_of(build, runs, output)       # (N, runs)
    rel = probe.relevance().flatten(1).to(x.device)
    sums = rel.unsqueeze(1).expand(n, runs, -1).gather(2, subsets).sum(2)                     # (N, runs)
    a = sums.double() - sums.double().mean(1, keepdim=True)
    b = delta.double() - delta.double().mean(1, keepdim=True)
    denom = (a.pow(2).sum(1) * b.pow(2).sum(1)).sqrt()
    r = (a * b).sum(1) / denom
    return torch.where(denom > 0, r, torch.full_like(r, float("nan"))).float()


@register_metric("faithfulness_correlation", "Pearson correlation between the map's sum over a random pixel "
                 "subset and the logit's drop when that subset is set to the substrate (Bhatt et al. 2020); 100 "
                 "subsets of 5% of the pixels", direction="higher", cost="runs + 1 = 101", default=False, runs=100,
                 subset=0.05, substrate="zeros", output="logit")
def faithfulness_correlation(probe: Probe, runs: int = 100, subset: float = 0.05, substrate: str = "zeros",
                             output: str = "logit") -> torch.Tensor:
    _need_image(probe, "faithfulness_correlation")
    d = probe.relevance()[0].numel()
    subsets = random_subsets(probe, runs, max(1, round(subset * d)))
    return faithfulness_correlation_of(probe, subsets, make_substrate(probe, substrate), output)


def _check_fc(runs: int = 100, subset: float = 0.05, substrate: str = "zeros", output: str = "logit") -> None:
    if runs < 2:
        raise AttrlabError(f"runs must be at least 2 (a correlation), got {runs}")
    if not 0 < subset < 1:
        raise AttrlabError(f"subset is a fraction of the pixels in (0, 1), got {subset}")
    _check(output=output, substrate=substrate)


faithfulness_correlation.check_params = _check_fc


def _per_sample_noise(probe: Probe, shape: tuple, count: int, salt: int) -> torch.Tensor:
    """``count`` standard-normal draws of ``shape`` per sample, each sample's from its own
    generator (:meth:`Probe.generator`), stacked in ``repeat_interleave`` order (the order Captum
    expands inputs in)."""
    generators = [probe.generator(int(i), salt) for i in probe.sample_index]
    return per_sample_normal(generators, (count, *shape)).view(-1, *shape)


@register_metric("infidelity", "infidelity (Yeh et al. 2019): E[(Iᵀa − (f(x) − f(x − I)))²] over Gaussian "
                 "perturbations I ~ N(0, σ²), σ = 0.1, 10 draws; Captum's captum.metrics.infidelity with "
                 "normalize=True (the map rescaled by its optimal β, so the map's scale does not count)",
                 direction="lower", cost="samples + 1 = 11", default=True, samples=10, sigma=0.1)
def infidelity(probe: Probe, samples: int = 10, sigma: float = 0.1) -> torch.Tensor:
    from captum.metrics import infidelity as captum_infidelity

    _need_image(probe, "infidelity")
    x = probe.inputs.float()
    attributions = probe.attributions.float()
    if attributions.shape != x.shape:
        attributions = attributions.view(len(x), 1, *x.shape[-2:]).expand_as(x).contiguous() / x.shape[1]
    # Captum runs one forward pass on all the perturbed inputs of a call: a few samples per call
    # keep it at the probe's batch size (chunk_size) and the noise drawn for it small (its
    # normalisation, β, is per sample, so the values are the same)
    group = max(1, chunk_size(x) // samples)
    generators = [probe.generator(int(i), 43) for i in probe.sample_index]
    values = []
    for lo in range(0, len(x), group):
        hi = min(lo + group, len(x))
        mine = per_sample_normal(generators[lo:hi], (samples, *x.shape[1:])).view(-1, *x.shape[1:])
        mine = mine.mul_(sigma).to(x.device)

        def perturb(inputs, mine=mine):
            if len(inputs) != len(mine):
                raise AttrlabError("infidelity: Captum split the perturbations; attrlab passes them whole")
            return mine, inputs - mine
        with torch.no_grad():
            values.append(captum_infidelity(probe.model, perturb, x[lo:hi], attributions[lo:hi],
                                            target=probe.targets[lo:hi], n_perturb_samples=samples, normalize=True))
    probe.passes += samples + 1
    return torch.cat(values).float()


def _check_inf(samples: int = 10, sigma: float = 0.1) -> None:
    if samples < 1 or sigma <= 0:
        raise AttrlabError(f"infidelity needs samples ≥ 1 and sigma > 0, got {samples}, {sigma}")


infidelity.check_params = _check_inf


@register_metric("sensitivity_max", "max-sensitivity (Yeh et al. 2019): the largest relative change "
                 "‖a(x) − a(x + δ)‖ / ‖a(x)‖ over 10 perturbations δ uniform in an L∞ ball of radius 0.02; "
                 "Captum's captum.metrics.sensitivity_max. Opt-in: it explains each sample 10 more times",
                 needs="method", direction="lower", cost="samples × the method's cost", default=False,
                 samples=10, radius=0.02)
def sensitivity_max(probe: Probe, samples: int = 10, radius: float = 0.02) -> torch.Tensor:
    from captum.metrics import sensitivity_max as captum_sensitivity_max

    if probe.method is None:
        raise AttrlabError("sensitivity_max needs the method that made the maps")
    x = probe.inputs.float()
    n = len(x)
    delta = _per_sample_noise(probe, tuple(x.shape[1:]), samples, 59).to(x.device)
    delta = radius * (2 * torch.special.ndtr(delta) - 1)  # uniform in [−r, r], from the sample's own normals

    def perturb(inputs, perturb_radius):
        inputs = inputs[0] if isinstance(inputs, tuple) else inputs
        return inputs + delta if len(inputs) == len(delta) else inputs

    def explain(inputs, target=None):  # Captum calls it under no_grad; gradient methods need gradients
        if isinstance(inputs, tuple):  # Captum passes a tuple and expects one back
            return (explain(inputs[0]),)
        factor = len(inputs) // n
        context = {k: (v.repeat_interleave(factor, 0) if k not in probe.shared and torch.is_tensor(v) and v.dim()
                       and len(v) == n else v) for k, v in probe.context.items()}
        with torch.enable_grad():
            return probe.method(probe.model, inputs, probe.targets.repeat_interleave(factor), **context).detach()

    value = captum_sensitivity_max(explain, x, perturb_func=perturb, perturb_radius=radius, n_perturb_samples=samples)
    return value.float()
