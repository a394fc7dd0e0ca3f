"""Which metrics to compute for a piece of ground truth: the bridge from metrics to records.

The metrics themselves know nothing of environments; this module picks those the ground truth
supports: signed precision/recall/F1 when positive/negative sets exist (AttributionLab),
attribution mass (Attr%, AFL), MAFL and top-K IoU on ``focus`` and, when present, ``avoid``
(SMERF's primary/secondary objects).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .core import GroundTruth
from .errors import AttrlabError, one_line
from .metrics import (DEFAULT_READING, attribution_mass, box_blur, mean_attribution, positive_share, precision_recall_f1,
                      read_channels, reduce_channels, signed_precision_recall_f1, topk_iou)

PROTOCOLS = ("attrlab", "smerf")

EXTRA_METRICS = ("localisation",)


@dataclass(frozen=True)
class MetricConfig:
    """Options that change metric values; they are part of every job's cache key.

    Example:
        >>> MetricConfig().threshold
        0.01
    """

    magnitude_reduction: str = "sum_abs"   # for mass, MAFL, IoU (Zhou et al.'s code)
    signed_reduction: str = "sum"          # for signed P/R/F1 (AttributionLab)
    threshold: float = 0.01                # relative binarisation threshold for P/R/F1
    iou_blur_sigma: float = 0.0            # Gaussian blur before top-K (attrlab protocol); 0 = no blur
    protocol: str = "attrlab"              # "smerf": SMERF's code's AFL/MAFL/IoU, each map read as the
    #                                        method declares (see smerf_magnitude)
    box_blur: int = 7                      # the smerf protocol's box filter before AFL and top-K (0/1 = none)
    automatic: tuple = ("default",)        # automatic metrics: "default", "all", "none" or specs (+spec adds)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise AttrlabError(f"unknown metric protocol '{self.protocol}'; choose one of {', '.join(PROTOCOLS)}")
        auto = self.automatic
        if auto is None:
            auto = ("default",)
        elif isinstance(auto, str):
            auto = tuple(a.strip() for a in auto.split(",") if a.strip()) or ("none",)
        object.__setattr__(self, "automatic", tuple(auto))


def smerf_magnitude(attributions: torch.Tensor, blur: int = 7,
                    reading: str = DEFAULT_READING) -> tuple[torch.Tensor, torch.Tensor]:
    """SMERF's metric protocol (Kim et al. 2021, from the authors' code): the map read as the
    authors read the method's output (``reading``, declared by the method:
    :data:`attrlab.metrics.READINGS` — e.g. IG's magnitude of the channel sum, the gradient's sum of
    magnitudes, guided backprop's clipped signed maximum), a ``blur``×``blur`` box filter, then a
    min-max normalisation to [0, 1]. Returns ``(blurred, normalised)``; AFL, MAFL and top-K IoU
    read the normalised map (``attribution_mass`` divides it by its sum, as SMERF's eval.py does;
    its ranking of pixels is the blurred map's).

    Why the reading matters: min-max lifts the zero background of a signed map to the level of its
    most negative value, over thousands of pixels. Read signed, IG's PAFL on the quick simple
    settings was 0.11; read as the authors read it, 0.66.

    Example (App. A.4's toy case: object A at 1, B at 0.8, background 0.001; no blur):
        >>> a = torch.full((1, 1, 8, 8), 0.001); a[0, 0, :2, :2] = 1.0; a[0, 0, 4:6, 4:6] = 0.8
        >>> _, norm = smerf_magnitude(a, blur=0)
        >>> round(norm.min().item(), 3), round(norm.max().item(), 3)
        (0.0, 1.0)
        >>> a[0, 0, 6:, 6:] = -1.0                      # a negative lobe: signed, it becomes the zero
        >>> [round(smerf_magnitude(a, 0, r)[1][0, 0, 3].item(), 2) for r in ("signed", "magnitude")]
        [0.5, 0.0]
    """
    if attributions.dim() not in (3, 4):
        raise AttrlabError(f"the smerf metric protocol needs image maps, got shape {tuple(attributions.shape)}")
    reduced = read_channels(attributions, reading)
    blurred = box_blur(reduced, blur)
    flat = blurred.flatten(1)
    low, high = flat.amin(1).view(-1, 1, 1), flat.amax(1).view(-1, 1, 1)
    span = high - low
    norm = torch.where(span > 0, (blurred - low) / span.clamp_min(torch.finfo(blurred.dtype).tiny),
                       torch.zeros_like(blurred))
    return blurred, norm


def score(attributions: torch.Tensor, gt: GroundTruth, config: MetricConfig = MetricConfig(),
          chunk: int = 256, reading: str = DEFAULT_READING, extra: tuple = ()) -> dict[str, torch.Tensor]:
    """Every applicable metric, each a tensor of one value per sample. ``reading``: how the smerf
    protocol reads the method's channels (the method declares it: ``BoundMethod.reading``).
    ``extra``: ground-truth metrics an environment declares beyond these
    (:attr:`EnvironmentSpec.ground_truth_metrics`): ``localisation``, Rao et al.'s share of the
    positive channel-summed attribution on ``focus``.

    Large batches are scored ``chunk`` samples at a time: the metrics are memory-bound, and chunks
    that fit in the CPU cache run several times faster than one pass over 10,000 maps.

    Example:
        >>> gt = GroundTruth(focus=torch.tensor([[[True, False]]]))
        >>> out = score(torch.tensor([[[[3.0, 1.0]]]]), gt)
        >>> round(out["mass_focus"].item(), 2), out["iou_focus"].item()
        (0.75, 1.0)
    """
    if len(attributions) > chunk:
        parts = [score(attributions[i:i + chunk], gt.subset(slice(i, i + chunk)), config, chunk, reading, extra)
                 for i in range(0, len(attributions), chunk)]
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    grid_dims = len(gt.grid)
    magnitude = reduce_channels(attributions, config.magnitude_reduction, grid_dims)
    smerf = config.protocol == "smerf" and grid_dims == 2
    if smerf:
        _, magnitude = smerf_magnitude(attributions, config.box_blur, reading)
    out: dict[str, torch.Tensor] = {}
    regions = {"focus": gt.focus}
    if gt.avoid is not None:
        regions["avoid"] = gt.avoid
    for name, region in regions.items():
        region = region.to(magnitude.device)
        out[f"mass_{name}"] = attribution_mass(magnitude, region)
        out[f"mafl_{name}"] = mean_attribution(magnitude, region)
        # smerf: the normalised map ranks pixels as the raw blurred maximum does (a monotone map of it)
        out[f"iou_{name}"] = topk_iou(magnitude, region, 0.0 if smerf or grid_dims != 2 else config.iou_blur_sigma)
        if grid_dims == 1:  # token selections (rationales; attention binarised): Zhou et al. §3's precision/recall
            selected = magnitude > config.threshold * magnitude.amax(dim=1, keepdim=True).clamp_min(1e-30)
            prf = precision_recall_f1(selected, region)
            out[f"precision_{name}"], out[f"recall_{name}"] = prf["precision"], prf["recall"]
    unknown = set(extra) - set(EXTRA_METRICS)
    if unknown:
        raise AttrlabError(f"unknown ground-truth metric(s) {', '.join(sorted(unknown))}; an environment may "
                           f"declare {', '.join(EXTRA_METRICS)}")
    if "localisation" in extra:
        signed = reduce_channels(attributions, "sum", grid_dims)
        out["localisation"] = positive_share(signed, gt.focus.to(signed.device))
    if gt.positive is not None and gt.negative is not None:
        signed = reduce_channels(attributions, config.signed_reduction, grid_dims)
        out.update(signed_precision_recall_f1(signed, gt.positive.to(signed.device), gt.negative.to(signed.device),
                                              config.threshold))
    return {k: v.detach().cpu() for k, v in out.items()}


@dataclass(frozen=True)
class AutomaticResult:
    """What :func:`score_automatic` measured on one job: per metric, its values ``(N,)`` (or its
    one-line error), forward passes per sample and seconds."""

    values: dict
    errors: dict
    passes: dict
    seconds: dict


def score_automatic(specs, probe) -> AutomaticResult:
    """Every automatic metric in ``specs`` (names from :func:`attrlab.metrics.automatic_specs`, or
    metrics already bound with :func:`attrlab.metrics.get_metric`) on one
    job's :class:`~attrlab.metrics.Probe`. A metric that fails is recorded with its error and
    the others go on; a value must be one finite-or-NaN number per sample.

    Example:
        >>> from attrlab.metrics import Probe
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
        >>> x = torch.rand(2, 1, 4, 4)
        >>> res = score_automatic(["sparseness", "deletion:steps=4", "road_morf:noise=-1"],
        ...                       Probe(model, x, torch.tensor([0, 1]), torch.rand(2, 1, 4, 4)))
        >>> sorted(res.values), res.passes["deletion:steps=4"], list(res.errors)
        (['deletion:steps=4', 'sparseness'], 5.0, ['road_morf:noise=-1'])
    """
    import time

    from .metrics.registry import BoundMetric, get_metric

    values, errors, passes, seconds = {}, {}, {}, {}
    for spec in specs:  # specs, or metrics bound once per run (a user's file is then imported once)
        before, t0 = probe.passes, time.perf_counter()
        label = spec.label if isinstance(spec, BoundMetric) else spec
        try:
            metric = spec if isinstance(spec, BoundMetric) else get_metric(spec)
            label = metric.label  # a user's module:function is recorded by its function's name
            out = torch.as_tensor(metric(probe)).detach().float().cpu().reshape(-1)
            if out.shape != (probe.n,):
                raise AttrlabError(f"metric {label} returned {tuple(out.shape)} values for {probe.n} samples")
            if torch.isinf(out).any():
                raise AttrlabError(f"metric {label} returned infinite values")
            values[label] = out
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # a failing metric is recorded, never fatal to the job
            errors[label] = one_line(exc)
        passes[label] = round(probe.passes - before, 3)
        seconds[label] = round(time.perf_counter() - t0, 4)
    return AutomaticResult(values, errors, passes, seconds)
