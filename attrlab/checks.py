"""``attrlab check``: a method's verdict, in the manner of scikit-learn's ``check_estimator``.

Each check is a plain function ``check(method, lab) -> dict`` that returns the numbers behind a
pass, raises :class:`CheckFailed` with the reason, or :class:`CheckSkipped` when it does not apply.
``lab`` holds the shared fixtures, built once and cached like any run (trained models in the model
cache), so a check of a second method reuses them. The thresholds are stated once, in
:data:`THRESHOLDS`, and printed beside every verdict.

Groups:
- **contract**: maps of the input's shape with finite values; the same map twice under the same
  seed; a sample's map the same alone and in a batch of 8.
- **sanity**: model randomisation (Adebayo et al. 2018: a trained and a randomised model must give
  different maps); the designed network's exact signed ground truth (Zhang et al. 2023);
  completeness for methods that claim it (Σ attributions = f(x) − f(baseline)).
- **ground truth**: on SMERF's Simple-FR (Kim et al. 2021) PAFL above 0.5 in every bucket, and
  above the ``random`` and ``edge`` controls by a margin with a 95% bootstrap interval; on a
  semi-natural watermark model (Zhou et al. 2022) Attr% of the joint ER at least the lower end of
  the Shapley bound.

Example:
    >>> import tempfile
    >>> results = check_method("deeplift:baseline=true", groups=("contract",), cache_dir=tempfile.mkdtemp())
    >>> [(r.name, r.status) for r in results]  # doctest: +NORMALIZE_WHITESPACE
    [('check_maps_have_the_input_shape_and_finite_values', 'pass'),
     ('check_same_seed_same_map', 'pass'),
     ('check_map_does_not_depend_on_the_batch', 'pass')]
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from .errors import AttrlabError, MissingContext
from .evaluation import MetricConfig, score
from .methods import describe, get_method
from .methods.registry import BoundMethod

THRESHOLDS = {
    "rel_tolerance": 1e-5,          # maps compared across calls / batches, relative to the map's scale
    "randomisation_max_rank_corr": 0.5,  # mean Spearman of |maps|, trained vs randomised model
    "designed_min_f1": 0.8,         # AttributionLab no-redundant: mean positive and negative F1
    "completeness_rel_error": 0.05,  # |Σ a − (f(x) − f(x0))| / |f(x) − f(x0)|, mean over 8 samples
    "simple_min_bucket_pafl": 0.5,  # SMERF Simple-FR: mean PAFL in every bucket with an object to focus on
    "control_margin": 0.05,         # PAFL above max(random, edge), and the 95% interval's low end above 0
}


class CheckFailed(AssertionError):
    """A check's verdict: the method does not meet the stated threshold (a finding, not a bug)."""


class CheckSkipped(Exception):
    """The check does not apply to this method (the reason says why)."""


@dataclass
class CheckResult:
    name: str
    group: str
    status: str  # pass, fail, skip
    reason: str = ""
    numbers: dict = field(default_factory=dict)
    seconds: float = 0.0


class Lab:
    """The shared fixtures of every check, built on first use (trained models are cached)."""

    def __init__(self, cache_dir: str | None = None, quick: bool = True, progress: bool = False):
        self.cache_dir, self.quick, self.progress = cache_dir, quick, progress
        self._built: dict[str, Any] = {}

    def _get(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._built:
            self._built[key] = make()
        return self._built[key]

    def _env(self, name: str, **options):
        from .environments import get_environment

        if self.cache_dir and name != "attributionlab":
            options["cache_dir"] = str(self.cache_dir)
        return get_environment(name).build("quick", progress=self.progress, **options)

    @property
    def designed(self):
        """AttributionLab's no-redundant setting: 8 images of 32×32 (exact signed ground truth)."""
        return self._get("designed", lambda: self._env("attributionlab", settings=["no-redundant"], n_images=8,
                                                        size=32).eval_sets[0])

    @property
    def smerf(self):
        """SMERF Simple-FR (compact CNN; quick: 200 training images a bucket, 2 test images a bucket)."""
        opts = {"test_per_bucket": 2} if self.quick else {"test_per_bucket": 10}
        return self._get("smerf", lambda: self._env("smerf", settings=["simple-fr"], **opts).eval_sets[0])

    @property
    def semi_natural(self):
        """A semi-natural watermark model at r = 0.5 (quick preset, 8 test images a class)."""
        opts = {"manipulation": "watermark", "eval_per_class": 8 if self.quick else 50}
        return self._get("semi", lambda: self._env("semi-natural-image", **opts).eval_sets[0])

    @property
    def text(self):
        """Text-attention's article data set (quick preset)."""
        return self._get("text", lambda: self._env("text-attention", settings=["article"], eval_docs=16).eval_sets[0])

    @property
    def transformer(self):
        """Text-attention's article data set with bert-small (quick preset; pip install 'attrlab[hf]')."""
        return self._get("transformer", lambda: self._env("text-attention", settings=["article"], eval_docs=16,
                                                           model="bert-small").eval_sets[0])

    def text_for(self, method: BoundMethod):
        """The text fixture for ``method``: the BiLSTM, or bert-small for a method the BiLSTM does
        not serve (one that requires attention probabilities)."""
        from .models.text import AttentionClassifier  # the BiLSTM's class: no model is built to ask

        serves = all(callable(getattr(AttentionClassifier, r, None)) for r in method.requires)
        return self.text if serves else self.transformer

    def image_or_text(self, method: BoundMethod):
        """The fixture a contract check uses: text-attention for text methods (:meth:`text_for`); for
        images SMERF, or the designed network where the method asks for a true baseline or
        segmentation, or the semi-natural model where it asks for a reference set."""
        if _modality(method) == "text":
            return self.text_for(method)
        if "true" in (method.params.get("baseline"), method.params.get("segmentation")):
            return self.designed
        if method.params.get("baseline") == "dataset":
            return self.semi_natural
        return self.smerf


def _modality(method: BoundMethod) -> str:
    base = method.label.split(":")[0]
    try:
        return describe(base).modality
    except AttrlabError:
        return getattr(method.fn, "modality", "image")


def _maps(method: BoundMethod, ev, start: int = 0, stop: int | None = None) -> torch.Tensor:
    part = ev.batch(start, stop if stop is not None else len(ev))
    return method(part.model, part.inputs, part.targets, **part.method_context())


def _close(a: torch.Tensor, b: torch.Tensor) -> tuple[bool, float]:
    scale = float(a.abs().max()) or 1.0
    diff = float((a - b).abs().max()) / scale
    return diff <= THRESHOLDS["rel_tolerance"], diff


# --- contract ---------------------------------------------------------------------------------

def check_maps_have_the_input_shape_and_finite_values(method: BoundMethod, lab: Lab) -> dict:
    ev = lab.image_or_text(method)
    maps = _maps(method, ev, 0, min(8, len(ev)))  # attribute() raises for a wrong shape or NaN
    return {"shape": list(maps.shape), "max_abs": float(maps.abs().max())}


def check_same_seed_same_map(method: BoundMethod, lab: Lab) -> dict:
    ev = lab.image_or_text(method)
    a, b = _maps(method, ev, 0, 4), _maps(method, ev, 0, 4)
    ok, diff = _close(a, b)
    if not ok:
        raise CheckFailed(f"two calls with the same seed differ by {diff:.2e} of the map's scale: the method draws "
                          "unseeded noise (e.g. Captum's NoiseTunnel, torch.randn). Seed it from what attrlab lends: wrap "
                          "it as attrlab.methods.references.per_sample(fn, seed), which calls fn on each sample "
                          "under a seed drawn from the run's seed and the sample's `sample_index`, so a sample's "
                          "map depends on neither the call nor its batch")
    return {"relative_difference": diff}


def check_map_does_not_depend_on_the_batch(method: BoundMethod, lab: Lab) -> dict:
    if method.label.endswith("baseline=data"):
        raise CheckSkipped("baseline=data: its references are the batch by definition")
    ev = lab.image_or_text(method)
    n = min(8, len(ev))
    whole = _maps(method, ev, 0, n)
    alone = torch.cat([_maps(method, ev, i, i + 1) for i in range(n)])
    ok, diff = _close(whole, alone)
    if not ok:
        raise CheckFailed(f"a sample's map alone and in a batch of {n} differ by {diff:.2e} of the map's scale")
    return {"relative_difference": diff}


# --- sanity -----------------------------------------------------------------------------------

def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if a.std() == 0 or b.std() == 0:
        return 1.0 if np.allclose(a, b) else 0.0
    return float(spearmanr(a, b).statistic)


def check_model_randomisation(method: BoundMethod, lab: Lab) -> dict:
    """Adebayo et al. 2018: re-initialise every weight; the maps must change (mean Spearman rank
    correlation of |map| per sample below the threshold). On natural images (the semi-natural
    model): on SMERF's black backgrounds any map proportional to the input would agree trivially.
    Text maps are compared per word, over each document's own words: zeros at padding would agree
    trivially too."""
    import copy

    ev = lab.text_for(method) if _modality(method) == "text" else lab.semi_natural
    n = min(8, len(ev))
    trained = _maps(method, ev, 0, n)
    random_model = copy.deepcopy(ev.model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        for m in random_model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    part = ev.batch(0, n)
    randomised = method(random_model.eval(), part.inputs, part.targets, **part.method_context())
    if trained.dim() == 4:  # images: one value per pixel
        a, b = trained.abs().sum(1).flatten(1), randomised.abs().sum(1).flatten(1)
        keep = torch.ones_like(a, dtype=torch.bool)
    else:  # text: per word, over the document's own words (padding would agree trivially)
        a, b = part.on_ground_truth_grid(trained).abs(), part.on_ground_truth_grid(randomised).abs()
        keep = part.on_ground_truth_grid((part.inputs != 0).float()) > 0
    rho = float(np.mean([_spearman(a[i][keep[i]].numpy(), b[i][keep[i]].numpy()) for i in range(n)]))
    if rho >= THRESHOLDS["randomisation_max_rank_corr"]:
        raise CheckFailed(f"maps of the trained and the randomised model agree (mean Spearman {rho:.2f} ≥ "
                          f"{THRESHOLDS['randomisation_max_rank_corr']}): the map does not reflect what the model learned")
    return {"mean_spearman": rho}


def check_designed_signed_ground_truth(method: BoundMethod, lab: Lab) -> dict:
    """Zhang et al. 2023: on the hand-set network (no redundant channels) positive pixels raise
    the target, negative ones lower it; both F1 must reach the threshold."""
    if _modality(method) != "image":
        raise CheckSkipped("the designed network takes images")
    ev = lab.designed
    values = score(_maps(method, ev), ev.ground_truth)
    pos, neg = float(values["positive_f1"].mean()), float(values["negative_f1"].mean())
    numbers = {"positive_f1": pos, "negative_f1": neg, "overall_f1": float(values["overall_f1"].mean())}
    if min(pos, neg) < THRESHOLDS["designed_min_f1"]:
        raise CheckFailed(f"positive F1 {pos:.2f}, negative F1 {neg:.2f} (< {THRESHOLDS['designed_min_f1']})")
    return numbers


def check_completeness(method: BoundMethod, lab: Lab) -> dict:
    """Σ attributions = f(x) − f(baseline) within the threshold, for methods that claim it (the
    registry's ``complete`` flag, or ``fn.claims = ("completeness",)``): the same gap every run
    records (:func:`attrlab.methods.registry.completeness_gap`)."""
    if not method.complete:
        raise CheckSkipped("the method does not claim completeness")
    if _modality(method) == "text":
        raise CheckSkipped("text maps are summed over the embedding: completeness is checked on images")
    ev = lab.image_or_text(method)
    n = min(8, len(ev))
    part = ev.batch(0, n)
    gap = method.completeness_gap(part.model, part.inputs, part.targets, _maps(method, ev, 0, n),
                                  **part.method_context())
    err = float(gap.mean())
    if err > THRESHOLDS["completeness_rel_error"]:
        raise CheckFailed(f"Σ attributions misses f(x) − f(baseline) by {100 * err:.1f}% on average "
                          f"(> {100 * THRESHOLDS['completeness_rel_error']:.0f}%)")
    return {"mean_relative_error": err, "max_relative_error": float(gap.max())}


# --- ground truth -----------------------------------------------------------------------------

# PAFL as the paper computes it, each map read as the method declares (its 0.5 threshold is on that scale)
SMERF_PROTOCOL = MetricConfig(protocol="smerf")


def _pafl(method: BoundMethod, ev) -> tuple[np.ndarray, np.ndarray]:
    values = score(_maps(method, ev), ev.ground_truth, SMERF_PROTOCOL, reading=method.reading)
    return values["mass_focus"].numpy(), np.array(ev.ground_truth.facts["bucket"])


def check_smerf_simple_reasoning_pafl(method: BoundMethod, lab: Lab) -> dict:
    if _modality(method) != "image":
        raise CheckSkipped("SMERF takes images")
    pafl, buckets = _pafl(method, lab.smerf)
    per = {int(b): float(np.nanmean(pafl[buckets == b])) for b in np.unique(buckets) if not np.isnan(pafl[buckets == b]).all()}
    worst = min(per, key=per.get)
    if per[worst] <= THRESHOLDS["simple_min_bucket_pafl"]:
        raise CheckFailed(f"PAFL {per[worst]:.2f} in bucket {worst} (≤ {THRESHOLDS['simple_min_bucket_pafl']})")
    return {"worst_bucket": worst, "worst_bucket_pafl": per[worst], "mean_pafl": float(np.mean(list(per.values())))}


def check_beats_random_and_edge(method: BoundMethod, lab: Lab) -> dict:
    text = _modality(method) == "text"
    ev = lab.text_for(method) if text else lab.smerf
    controls = ["random"] if text else ["random", "edge"]
    metrics = MetricConfig() if text else SMERF_PROTOCOL
    mine = score(ev.on_ground_truth_grid(_maps(method, ev)), ev.ground_truth, metrics,
                 reading=method.reading)["mass_focus"].numpy()
    best = None
    for name in controls:
        control = get_method(name, defaults={"seed": 0})
        values = score(ev.on_ground_truth_grid(_maps(control, ev)), ev.ground_truth, metrics,
                       reading=control.reading)["mass_focus"].numpy()
        if best is None or np.nanmean(values) > np.nanmean(best[1]):
            best = (name, values)
    keep = ~np.isnan(mine) & ~np.isnan(best[1])
    diff = mine[keep] - best[1][keep]
    rng = np.random.default_rng(0)
    boots = np.array([rng.choice(diff, len(diff)).mean() for _ in range(1000)])
    low = float(np.percentile(boots, 2.5))
    numbers = {"margin": float(diff.mean()), "margin_ci_low": low, "best_control": best[0]}
    if diff.mean() <= THRESHOLDS["control_margin"] or low <= 0:
        raise CheckFailed(f"share on the ground truth {np.nanmean(mine[keep]):.2f} vs {best[0]} "
                          f"{np.nanmean(best[1][keep]):.2f}: margin {diff.mean():.2f}, 95% low end {low:.2f}")
    return numbers


def check_attr_percent_above_the_shapley_bound(method: BoundMethod, lab: Lab) -> dict:
    if _modality(method) != "image":
        raise CheckSkipped("the semi-natural image environment takes images")
    ev = lab.semi_natural
    details = ev.verification.details
    if not ev.verification.passed:
        raise CheckSkipped(f"its model did not verify (test accuracy {details.get('test_accuracy')})")
    bound = float(details["shapley_bound"])
    attr = float(np.nanmean(score(_maps(method, ev), ev.ground_truth)["mass_focus"].numpy()))
    if attr < bound:
        raise CheckFailed(f"Attr% {100 * attr:.1f}% of the joint ER < the Shapley bound's lower end {100 * bound:.1f}%")
    return {"attr_percent": attr, "shapley_bound": bound}


CHECKS = {
    "contract": (check_maps_have_the_input_shape_and_finite_values, check_same_seed_same_map,
                 check_map_does_not_depend_on_the_batch),
    "sanity": (check_model_randomisation, check_designed_signed_ground_truth, check_completeness),
    "ground truth": (check_smerf_simple_reasoning_pafl, check_beats_random_and_edge,
                     check_attr_percent_above_the_shapley_bound),
}


def run_check(check: Callable, method: BoundMethod, lab: Lab, group: str = "") -> CheckResult:
    """One check as a :class:`CheckResult` (an error inside the method is a failure with its message)."""
    t0 = time.perf_counter()
    try:
        numbers = check(method, lab)
        status, reason = "pass", ""
    except CheckSkipped as exc:
        status, reason, numbers = "skip", str(exc), {}
    except CheckFailed as exc:
        status, reason, numbers = "fail", str(exc), {}
    except MissingContext as exc:
        status, reason, numbers = "skip", f"not applicable here: {exc}", {}
    except AttrlabError as exc:
        status, reason, numbers = "fail", str(exc), {}
    except Exception as exc:  # the method raised: that is its verdict on this check
        status, reason, numbers = "fail", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", {}
    numbers = {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v) for k, v in numbers.items()}
    return CheckResult(check.__name__, group, status, reason, numbers, time.perf_counter() - t0)


def check_method(method, *, groups=tuple(CHECKS), quick: bool = True, cache_dir: str | None = None,
                 progress: bool = False, lab: Lab | None = None) -> list[CheckResult]:
    """Every check of ``groups`` on ``method`` (a registered spec, a reference, a function or a
    Captum class); returns one :class:`CheckResult` each."""
    bound = method if isinstance(method, BoundMethod) else get_method(method, defaults={"seed": 0})
    lab = lab or Lab(cache_dir, quick, progress)
    return [run_check(check, bound, lab, group) for group in groups for check in CHECKS[group]]


def results_table(results: list[CheckResult]):
    """The verdicts as a data frame: group, check, status, the numbers or the reason."""
    import pandas as pd

    return pd.DataFrame([{"group": r.group, "check": r.name.removeprefix("check_"), "status": r.status,
                          "numbers / reason": r.reason or ", ".join(f"{k}={v}" for k, v in r.numbers.items()),
                          "seconds": round(r.seconds, 1)} for r in results])


def verdict_matrix(results: dict[str, list[CheckResult]]):
    """Methods × checks: ``pass``, ``FAIL`` or ``–`` (skipped)."""
    import pandas as pd

    mark = {"pass": "pass", "fail": "FAIL", "skip": "–"}
    return pd.DataFrame({m: {r.name.removeprefix("check_"): mark[r.status] for r in rs} for m, rs in results.items()}).T
