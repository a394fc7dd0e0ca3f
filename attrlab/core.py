"""The core types every part of attrlab speaks: ground truth, evaluation sets, environments, records.

Data flows one way (DESIGN.md): an environment builds a model and one or more :class:`EvalSet` with
:class:`GroundTruth`; a method turns (model, inputs, targets) into attributions; metrics compare
attributions with ground truth; the results become :class:`Record` rows.

Example:
    >>> import torch
    >>> gt = GroundTruth(focus=torch.zeros(2, 4, 4, dtype=torch.bool))
    >>> gt.focus[0, :2, :2] = True
    >>> gt.n_samples, gt.grid
    (2, (4, 4))
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Protocol, Sequence

import torch

from .errors import AttrlabError
from .metrics.words import word_sums


def _check_mask(name: str, mask: Optional[torch.Tensor], shape: Optional[tuple]) -> Optional[torch.Tensor]:
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        mask = torch.as_tensor(mask)
    if mask.dtype != torch.bool:
        raise AttrlabError(f"ground truth '{name}' must be a boolean mask, got dtype {mask.dtype}")
    if shape is not None and tuple(mask.shape) != shape:
        raise AttrlabError(f"ground truth '{name}' has shape {tuple(mask.shape)}, expected {shape} like 'focus'")
    return mask


@dataclass(frozen=True)
class GroundTruth:
    """Per-sample boolean masks on the attribution grid (H×W for images, L for tokens).

    Attributes:
        focus: features the model must use (the joint effective region, SMERF's primary objects,
            AttributionLab's relevant pixels), shape ``(N, *grid)``.
        avoid: features the model must not use (SMERF's secondary objects), same shape, optional.
        positive / negative: signed ground truth (AttributionLab §5), optional.
        facts: per-sample facts for grouping, each a sequence of length N (bucket, class, ...).

    Example:
        >>> import torch
        >>> pos = torch.tensor([[True, False, False]])
        >>> neg = torch.tensor([[False, True, False]])
        >>> gt = GroundTruth(focus=pos | neg, positive=pos, negative=neg, facts={"colour": ["red"]})
        >>> gt.overall[0].tolist()
        [True, True, False]
    """

    focus: torch.Tensor
    avoid: Optional[torch.Tensor] = None
    positive: Optional[torch.Tensor] = None
    negative: Optional[torch.Tensor] = None
    facts: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        focus = _check_mask("focus", self.focus, None)
        shape = tuple(focus.shape)
        if len(shape) < 2:
            raise AttrlabError(f"ground truth 'focus' must be (N, *grid), got shape {shape}")
        object.__setattr__(self, "focus", focus)
        for name in ("avoid", "positive", "negative"):
            object.__setattr__(self, name, _check_mask(name, getattr(self, name), shape))
        for key, values in self.facts.items():
            if len(values) != shape[0]:
                raise AttrlabError(f"fact '{key}' has {len(values)} values for {shape[0]} samples")

    @property
    def n_samples(self) -> int:
        return int(self.focus.shape[0])

    @property
    def grid(self) -> tuple:
        return tuple(self.focus.shape[1:])

    @property
    def overall(self) -> torch.Tensor:
        """Unsigned union of positive and negative ground truth (AttributionLab's 'overall GT');
        ``focus`` when no signed ground truth exists."""
        if self.positive is None and self.negative is None:
            return self.focus
        empty = torch.zeros_like(self.focus)
        pos = self.positive if self.positive is not None else empty
        neg = self.negative if self.negative is not None else empty
        return pos | neg

    def subset(self, index: torch.Tensor | slice) -> "GroundTruth":
        """The ground truth of a subset of samples (index is a slice or an index tensor)."""
        idx = index if isinstance(index, slice) else torch.as_tensor(index)
        pick = (lambda m: None if m is None else m[idx])
        if isinstance(idx, slice):
            facts = {k: list(v)[idx] for k, v in self.facts.items()}
        else:
            facts = {k: [list(v)[int(i)] for i in idx] for k, v in self.facts.items()}
        return GroundTruth(pick(self.focus), pick(self.avoid), pick(self.positive), pick(self.negative), facts)


@dataclass(frozen=True)
class EvalSet:
    """Inputs, targets and ground truth for one setting of an environment, with their model.

    ``context`` holds what an environment knows beyond the labels and may lend to methods that
    ask for it by name: ``true_baseline`` (AttributionLab's background image, for IG*/Occlusion*)
    and ``true_segments`` (a segmentation aligned with the designed objects, for LIME): one row per
    sample. ``shared`` holds what every batch sees whole, e.g. ``reference_set`` (the test images
    that GradientSHAP draws its references from, Zhou et al. App. B.2). A method never sees the
    ground truth itself. ``display`` holds per-sample lists the report shows but nothing scores,
    e.g. ``tokens`` (the words of a text sample). ``verification`` is the model's verdict.

    ``token_words`` ``(N, T)``, for a model that reads subword tokens: each input token's word
    (-1 for special tokens and padding). The ground truth is then over words ``(N, W)`` and every
    map is summed back to words before it is scored (:func:`attrlab.metrics.words.word_sums`).
    """

    environment: str  # the environment it belongs to (Record.environment)
    model: torch.nn.Module
    inputs: torch.Tensor
    targets: torch.Tensor
    ground_truth: GroundTruth
    setting: str = "default"
    context: Mapping[str, torch.Tensor] = field(default_factory=dict)
    shared: Mapping[str, torch.Tensor] = field(default_factory=dict)
    display: Mapping[str, list] = field(default_factory=dict)
    verification: Optional["Verification"] = None
    offset: int = 0  # index of the first sample in the evaluation set this one was batched from
    token_words: Optional[torch.Tensor] = None

    def __post_init__(self) -> None:
        n = self.inputs.shape[0]
        if self.targets.shape != (n,):
            raise AttrlabError(f"eval set '{self.environment}/{self.setting}': targets shape {tuple(self.targets.shape)} != ({n},)")
        if self.ground_truth.n_samples != n:
            raise AttrlabError(f"eval set '{self.environment}/{self.setting}': {self.ground_truth.n_samples} ground-truth masks for {n} inputs")
        if self.token_words is not None:
            if tuple(self.token_words.shape) != tuple(self.inputs.shape):
                raise AttrlabError(f"eval set '{self.environment}/{self.setting}': token_words {tuple(self.token_words.shape)} does not "
                                   f"match inputs {tuple(self.inputs.shape)}")
        elif tuple(self.inputs.shape[-len(self.ground_truth.grid):]) != self.ground_truth.grid:
            raise AttrlabError(
                f"eval set '{self.environment}/{self.setting}': ground-truth grid {self.ground_truth.grid} does not match inputs {tuple(self.inputs.shape)}"
            )
        for key, value in self.context.items():
            if value.shape[0] != n:
                raise AttrlabError(f"eval set '{self.environment}/{self.setting}': context '{key}' has {value.shape[0]} rows for {n} inputs")

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def batch(self, start: int, stop: int) -> "EvalSet":
        """Samples ``start:stop`` as a smaller EvalSet (used by the runner to batch work)."""
        s = slice(start, stop)
        return EvalSet(self.environment, self.model, self.inputs[s], self.targets[s], self.ground_truth.subset(s),
                       self.setting, {k: v[s] for k, v in self.context.items()}, self.shared,
                       {k: list(v)[s] for k, v in self.display.items()}, self.verification,
                       self.offset + min(start, len(self)),
                       None if self.token_words is None else self.token_words[s])

    def on_ground_truth_grid(self, attributions: torch.Tensor) -> torch.Tensor:
        """Maps on the ground truth's grid, ready to score: as they are, or, for a model that
        reads subword tokens (``token_words``), each word the sum of its tokens.

        Example (three tokens, the last two one word):
            >>> ev = EvalSet("e", torch.nn.Identity(), torch.ones(1, 3, dtype=torch.long), torch.zeros(1, dtype=torch.long),
            ...              GroundTruth(focus=torch.tensor([[True, False]])), token_words=torch.tensor([[0, 1, 1]]))
            >>> ev.on_ground_truth_grid(torch.tensor([[1.0, 2.0, 3.0]])).tolist()
            [[1.0, 5.0]]
        """
        if self.token_words is None:
            return attributions
        return word_sums(attributions, self.token_words.to(attributions.device), self.ground_truth.grid[-1])

    def method_context(self, device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
        """What a method may ask for by name: the shared and per-sample context, and
        ``sample_index`` (each sample's index in the whole evaluation set, from which methods draw
        their per-sample noise), on ``device``.

        Example:
            >>> import torch
            >>> ev = EvalSet("e", torch.nn.Identity(), torch.zeros(4, 2), torch.zeros(4, dtype=torch.long),
            ...              GroundTruth(focus=torch.zeros(4, 2, dtype=torch.bool)))
            >>> ev.batch(2, 4).method_context()["sample_index"].tolist()
            [2, 3]
        """
        ctx = {**self.shared, **self.context, "sample_index": torch.arange(self.offset, self.offset + len(self))}
        return {k: v.to(device) for k, v in ctx.items()} if device is not None else ctx


@dataclass(frozen=True)
class Verification:
    """One model's verdict: ``passed`` and the numbers behind it (``details``: per-bucket accuracy,
    the binomial tail, the exact designed behaviour, ...). An attribution score on a model whose
    verification did not pass is flagged in the records and is not presented as ground-truth
    evidence.

    Example:
        >>> v = Verification(True, {"test_accuracy": 0.98})
        >>> v.as_dict()
        {'passed': True, 'test_accuracy': 0.98}
        >>> Verification.from_dict(v.as_dict()) == v
        True
    """

    passed: bool
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "passed", bool(self.passed))
        if "passed" in self.details:
            raise AttrlabError("Verification details must not repeat 'passed'")

    def as_dict(self) -> dict:
        return {"passed": self.passed, **self.details}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Verification":
        rest = dict(data)
        return cls(bool(rest.pop("passed", False)), rest)

    def why_not(self) -> str:
        """Why a model did not verify, and what to try, in one line: the environment's own
        ``reason`` when it gave one, else what the training record says (validation after how many
        attempts and epochs on how much data, the test score against its threshold). Empty when it passed.

        Example:
            >>> Verification(False, {"val_accuracy": 0.73, "epochs": 30, "attempts": 3, "train_size": 90,
            ...                      "test_accuracy": 0.58, "threshold": 0.95}).why_not()
            'validation 0.73 after 3 attempts of 30 epochs on 90 training samples; test 0.58 < 0.95. Try a larger budget (--set max_epochs=60, --set restarts=4) or more data'
        """
        if self.passed:
            return ""
        d = self.details
        if d.get("reason"):
            return str(d["reason"])
        parts = []
        val = d.get("val_worst", d.get("val_accuracy"))
        if val is not None:
            said = f"validation {float(val):.2f}"
            if d.get("epochs") is not None:
                attempts = int(d.get("attempts", 1))
                said += (f" after {attempts} attempts of {d['epochs']} epochs" if attempts > 1
                         else f" after {d['epochs']} epochs")
            if d.get("train_size"):
                said += f" on {d['train_size']} training samples"
            parts.append(said)
        if d.get("test_accuracy") is not None and d.get("threshold") is not None:
            parts.append(f"test {float(d['test_accuracy']):.2f} < {d['threshold']}")
        if not parts:
            return "its verification did not pass (see verification.json)"
        epochs = int(d.get("epochs") or 15)
        return ("; ".join(parts) + f". Try a larger budget (--set max_epochs={2 * epochs}, --set restarts="
                f"{int(d.get('attempts', 1)) + 1}) or more data")


@dataclass(frozen=True)
class VerificationReport:
    """Every evaluation set's :class:`Verification` and the environment's verdict (``passed``:
    every required setting passed). ``verification.json`` is its :meth:`as_json`.

    Example:
        >>> rep = VerificationReport(True, {"a": Verification(True, {})})
        >>> rep.as_json()
        {'passed': True, 'settings': {'a': {'passed': True}}}
        >>> VerificationReport.from_json({"passed": False, "a": {"passed": True}}).settings["a"].passed  # older runs
        True
    """

    passed: bool
    settings: Mapping[str, Verification] = field(default_factory=dict)

    def setting_passed(self, setting: str) -> bool:
        v = self.settings.get(setting)
        return bool(v.passed) if v is not None else False

    def as_json(self) -> dict:
        return {"passed": self.passed, "settings": {k: v.as_dict() for k, v in self.settings.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "VerificationReport":
        """Read ``verification.json``: this shape, or the flat one of run folders written before
        attrlab had a typed verification (``{"passed": …, setting: {…}}``)."""
        if "settings" in data and isinstance(data["settings"], Mapping):
            per = data["settings"]
        else:
            per = {k: v for k, v in data.items() if k != "passed" and isinstance(v, Mapping)}
        return cls(bool(data.get("passed", False)), {k: Verification.from_dict(v) for k, v in per.items()})


@dataclass(frozen=True)
class Environment:
    """What an environment builds: its configuration and evaluation sets, each with its model and
    that model's :class:`Verification`.

    ``required`` names the settings whose verification decides :attr:`verified` (default: all;
    e.g. the semi-natural accuracy experiment also evaluates early checkpoints that are not
    expected to verify).
    """

    name: str
    config: Mapping[str, Any]
    eval_sets: Sequence[EvalSet]
    required: Optional[Sequence[str]] = None

    @property
    def verification(self) -> VerificationReport:
        per = {ev.setting: ev.verification or Verification(False, {"reason": "no verification declared"})
               for ev in self.eval_sets}
        required = self.required if self.required is not None else list(per)
        passed = bool(per) and all(per[s].passed for s in required if s in per)
        return VerificationReport(passed, per)

    @property
    def verified(self) -> bool:
        return self.verification.passed


class Method(Protocol):
    """An attribution method: ``(model, inputs, targets, **context) -> attributions`` of the input's
    shape. This is the signature Quantus calls ``explain_func``; a plain function of
    ``(model, inputs, targets)`` is a method too."""

    def __call__(self, model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, **context: Any) -> torch.Tensor: ...


MethodLike = Callable[..., Any]


@dataclass(frozen=True)
class Record:
    """One tidy row: which environment, setting, seed, model, method and sample produced which
    metric value. Every table and figure is computed from records alone.

    ``status`` is ``"ok"`` or ``"failed"`` (then ``error`` says why and ``value`` is NaN);
    ``verified`` copies the environment's verification verdict; ``protocol`` names how the value
    was computed (``attrlab`` or ``smerf``: :class:`attrlab.evaluation.MetricConfig`)."""

    environment: str
    setting: str
    seed: int
    model_id: str
    method: str
    sample: int
    metric: str
    value: float
    verified: bool = True
    status: str = "ok"
    error: str = ""
    groups: Mapping[str, Any] = field(default_factory=dict)
    protocol: str = "attrlab"

    def as_row(self) -> dict:
        row = {
            "environment": self.environment, "setting": self.setting, "seed": self.seed,
            "model_id": self.model_id, "method": self.method, "sample": self.sample,
            "metric": self.metric, "value": self.value, "verified": self.verified,
            "status": self.status, "error": self.error, "protocol": self.protocol,
        }
        row.update({f"group_{k}": v for k, v in self.groups.items()})
        return row
