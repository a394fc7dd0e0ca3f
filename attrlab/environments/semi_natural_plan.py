"""Which models a semi-natural-image experiment trains (Zhou et al. 2022 §5): one :class:`Run`
per manipulation, visibility level, reassignment rate or class pair, deterministic in the seed."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data.manipulations import NAMES as MANIPULATIONS
from ..data.manipulations import VISIBILITY, Manipulation, random_manipulation
from ..data.natural import DISTINCT_PAIRS, SIMILAR_PAIRS
from ..errors import AttrlabError
from .semi_natural_image_spec import EXPERIMENTS, R_LEVELS


@dataclass
class Run:
    """One model to train: a manipulation on a class pair at reassignment rate r."""

    name: str
    manipulation: Manipulation
    r: float
    pair: tuple[str, str]
    pair_kind: str
    checkpoints: bool = False
    facts: dict = field(default_factory=dict)


def plan(experiment: str, config: dict, seed: int, manipulations=None, r: float | None = None,
         pair: tuple[str, str] | None = None) -> list[Run]:
    """The runs of an experiment (deterministic in ``seed``).

    Example:
        >>> [run.name for run in plan("visibility", {"runs": 1}, 0, ["noise"])]
        ['noise-v0.02', 'noise-v0.04', 'noise-v0.06', 'noise-v0.08', 'noise-v0.1']
    """
    if experiment not in EXPERIMENTS:
        raise AttrlabError(f"unknown experiment '{experiment}'; choose one of {', '.join(EXPERIMENTS)}")
    names = list(manipulations or MANIPULATIONS)
    for m in names:
        if m not in MANIPULATIONS:
            raise AttrlabError(f"unknown manipulation '{m}'; choose one of {', '.join(MANIPULATIONS)}")
    rng = np.random.default_rng([seed, 5])
    similar = (pair, "given") if pair else (SIMILAR_PAIRS[0], "similar")
    runs: list[Run] = []
    rate = 0.5 if r is None else float(r)
    for m in names:
        if experiment == "er":
            for k in range(config["runs"]):
                manip = random_manipulation(m, rng)
                runs.append(Run(f"{m}-{k}" if config["runs"] > 1 else m, manip, rate, *similar))
        elif experiment == "accuracy":
            runs.append(Run(m, random_manipulation(m, rng), rate, *similar, checkpoints=True))
        elif experiment == "visibility":
            base = random_manipulation(m, rng)
            for level in VISIBILITY[m][1]:
                runs.append(Run(f"{m}-v{level:g}", base.with_visibility(level), rate, *similar))
        else:
            pairs = [similar] if pair else [(SIMILAR_PAIRS[0], "similar"), (DISTINCT_PAIRS[0], "distinct")]
            for level in ([rate] if r is not None else R_LEVELS):
                for p, kind in pairs:
                    runs.append(Run(f"{m}-r{level:g}-{kind}", Manipulation(m), level, p, kind))
    return runs
