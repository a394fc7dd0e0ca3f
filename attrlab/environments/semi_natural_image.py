"""Semi-natural image data (Zhou et al., AAAI 2022, §4–5): natural two-class images whose labels
are reassigned with rate ``r`` and whose label-1 images carry a local manipulation, so that a model
more accurate than ``p* = max(r, 1 − r)`` must use the manipulation's effective region (ER).

Ground truth per test image: ``focus`` = the joint ER (the manipulation's region, for images with
*and* without it: the Remark of §4), so ``mass_focus`` is the paper's Attr%. Facts per image:
``manipulated`` (carries the manipulation), ``correct`` (the model is right), and the run's
``manipulation``, ``er_fraction`` (%ER), ``r``, ``visibility``, ``pair`` and ``epoch``.

Experiments (``experiment=``), each a list of runs = one trained model each (a setting):

- ``er`` (§5.1): every manipulation with random geometries (the authors' ranges), r = 0.5.
- ``accuracy`` (§5.2): one run per manipulation, evaluated at every epoch's checkpoint.
- ``visibility`` (§5.3): one geometry per manipulation at the five visibility levels of App. B.5.
- ``correlation`` (§5.4): the fixed manipulations at r ∈ {0.5, …, 1.0}, a similar and a distinct pair.

A model counts as verified when its test accuracy ``p`` reaches ``threshold`` and the binomial
tail ``P(accuracy ≥ p | expected accuracy ≤ p*)`` is at most ``alpha``; both numbers, p* and the
Shapley bound ``(2p − r − 0.5)/(2p − 1)`` go into ``verification.json``. At r = 1 no accuracy can
prove the manipulation is used, so such runs are reported, never verified. Models train until
validation accuracy reaches ``threshold + train_margin`` (0.95 + 0.04) or ``max_epochs`` pass,
then up to ``restarts`` more times from a new initialisation (the best on validation is kept), so
that a verified model's test accuracy keeps a margin over ``threshold`` on any machine.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from ..core import Environment, EvalSet, GroundTruth, Verification
from ..data.natural import SPLITS, embedded_pair, load_class_folder
from ..data.reassignment import reassignment_matrix
from ..errors import AttrlabError
from ..metrics.bounds import binomial_tail, max_accuracy_without_manipulation, shapley_bound
from ..models.classifiers import MODELS as CLASSIFIERS, build_classifier
from ..models.training import accuracy, predicted_classes, train_verified
from ..models.user import build_model
from .trained import folder_id, freeze, train_or_load
from ..data.semi_natural import modify
from .semi_natural_image_spec import SPEC
from .semi_natural_plan import Run, plan


def _split_data(run: Run, config: dict, seed: int, images: str, classes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{split: (images N×H×W×3, original labels)}`` before reassignment."""
    sizes = (config["train"], config["val"], config["test"])
    if images:
        raw = load_class_folder(images, config["side"], classes, sizes, seed)
    else:
        raw = embedded_pair(run.pair, config["side"], sizes, seed)
    return {s: (np.concatenate([raw[s][0], raw[s][1]]),
                np.repeat([0, 1], [len(raw[s][0]), len(raw[s][1])])) for s in SPLITS}


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def verify(p: float, n: int, r: float, threshold: float, alpha: float) -> dict[str, Any]:
    """Accuracy ``p`` on ``n`` test images against p* = max(r, 1 − r): the verification record.

    Example:
        >>> v = verify(0.97, 200, 0.5, 0.95, 0.01)
        >>> v["passed"], v["p_star"], v["shapley_bound"] > 0.99
        (True, 0.5, True)
    """
    p_star = max_accuracy_without_manipulation(reassignment_matrix(r))
    tail = binomial_tail(p, n, p_star)
    bound = shapley_bound(p, max(r, 1 - r)) if p > 0.5 else float("nan")
    return {"passed": bool(p >= threshold and tail <= alpha), "test_accuracy": round(p, 4), "test_size": n,
            "p_star": p_star, "binomial_tail": tail, "alpha": alpha, "threshold": threshold, "shapley_bound": bound}


def build(preset: str, *, seed: int, settings, device: str, progress: bool, experiment: str, manipulation: str,
          r: float | None, images: str, classes: str, threshold: float, alpha: float, cache_dir: str,
          **config) -> Environment:
    """Build the semi-natural image environment: plan the experiment's runs, make each run's data
    (reassignment + manipulation), train (cached), verify, and keep test sets with the joint ER.

    Presets: ``quick`` (64×64 crops of embedded photographs, 400/60/100 images per class, a small
    CNN, one run per manipulation) or ``full`` (224×224, 1000/100/100, ResNet-34, 20 runs).
    ``settings`` are run names to keep (e.g. ``watermark``), after planning.
    """
    pair = tuple(c.strip() for c in classes.split(",")) if classes else None
    if pair is not None and len(pair) != 2:
        raise AttrlabError(f"classes takes two class names, got '{classes}'")
    runs = plan(experiment, config, seed, [m.strip() for m in manipulation.split(",") if m.strip()] or None,
                r, pair if images else None)
    place = {run.name: k for k, run in enumerate(runs)}  # seeds by place in the plan, not in the chosen subset
    if settings:
        wanted = set(settings)
        missing = wanted - {run.name for run in runs}
        if missing:
            raise AttrlabError(f"no run named {', '.join(sorted(missing))}; this experiment has "
                               f"{', '.join(run.name for run in runs)}")
        runs = [run for run in runs if run.name in wanted]
    options = {"experiment": experiment, "manipulation": manipulation, "r": r, "images": images, "classes": classes,
               "threshold": threshold, "alpha": alpha, **config}
    dev = torch.device(device)
    eval_sets, sources, actual_sizes = [], {}, {}
    for run in runs:
        rng = np.random.default_rng([seed, place[run.name], 11])
        if run.pair not in sources:  # runs on the same pair share its images: read or crop them once
            sources[run.pair] = _split_data(run, config, seed, images, pair)
            _say_actual_sizes(sources[run.pair], config, actual_sizes, images or "the embedded photographs")
        data = sources[run.pair]
        modified = {s: modify(*data[s], run.manipulation, run.r, rng) for s in SPLITS}
        er = modified["test"][2]
        tensors = {s: (_tensor(modified[s][0]), torch.from_numpy(modified[s][1])) for s in SPLITS}

        def fit(model, checkpoint, run=run, tensors=tensors):
            tx, ty = tensors["test"]

            def on_epoch(epoch, m, acc):  # kept in the training checkpoint, so a resumed run has every epoch
                return {"epoch": epoch, "test_accuracy": accuracy(m, tx, ty, dev),
                        "state_dict": ({n: t.detach().cpu().clone() for n, t in m.state_dict().items()}
                                       if run.checkpoints else None)}

            vx, vy = tensors["val"]
            rec = train_verified(model, tensors["train"], (vx, vy),
                                 min(1.0, threshold + config["train_margin"]), config["max_epochs"], lr=config["lr"],
                                 batch_size=config["batch"],
                                 seed=seed, device=dev, progress=progress, desc=f"semi-natural {run.name}",
                                 on_epoch=on_epoch, checkpoint=checkpoint)
            return ({"val_accuracy": rec["accuracy_by_group"][0], "epochs": rec["epochs"], "seconds": rec["seconds"],
                     "train_size": rec["train_size"], "reached_target": rec["reached_target"]},
                    {"checkpoints": rec["epoch_results"]})

        trained = train_or_load(SPEC, run.name, lambda: _classifier(config["model"], config["side"]), fit, seed=seed,
                                options=options, cache_dir=cache_dir, restarts=config["restarts"],
                                data_id={"k": place[run.name], "r": run.r,
                                         "manipulation": [run.manipulation.name, run.manipulation.params],
                                         "pair": run.pair, "images": folder_id(images) if images else None})
        model, checkpoints = trained.model, trained.extras["checkpoints"]
        p = accuracy(model, *tensors["test"], torch.device("cpu"))
        record = {**trained.record, **verify(p, len(tensors["test"][1]), run.r, threshold, alpha)}
        record["predicted_classes"] = predicted_classes(model, tensors["test"][0])
        if len(record["predicted_classes"]) < 2:
            record.update(passed=False, collapsed=True, reason="the model predicts one class for every test image")
        record.update({"manipulation": run.manipulation.name, "er_fraction": float(er.mean()), "r": run.r,
                       "visibility": run.manipulation.visibility, "pair": "/".join(run.pair),
                       "accuracy_by_epoch": [round(c["test_accuracy"], 4) for c in checkpoints]})
        models = [(run.name, model, None, record)]
        if run.checkpoints:
            for c in checkpoints:
                m = _classifier(config["model"], config["side"])
                m.load_state_dict(c["state_dict"])
                rec = verify(c["test_accuracy"], len(tensors["test"][1]), run.r, threshold, alpha)
                models.append((f"{run.name}-epoch{c['epoch']}", freeze(m), c["epoch"], {**rec, "epoch": c["epoch"]}))
        eval_sets += [_eval_set(name, m, run, tensors["test"], er, epoch, rec, config, seed)
                      for name, m, epoch, rec in models]
    return Environment("semi-natural-image", {"preset": preset, "seed": seed, "experiment": experiment,
                                              "runs": [run.name for run in runs], "images": str(images),
                                              "classes": classes, "threshold": threshold, "alpha": alpha, **config,
                                              **({"actual_sizes": actual_sizes} if actual_sizes else {})},
                       eval_sets, required=[run.name for run in runs])



def _say_actual_sizes(data: dict, config: dict, actual: dict, source: str) -> None:
    """Warn once when a folder holds fewer images than the preset asks, and keep the actual sizes
    (images per class and split) for config.json and the report."""
    sizes = {s: [int(len(data[s][1]) - int(data[s][1].sum())), int(data[s][1].sum())] for s in SPLITS}
    wanted = {"train": config["train"], "val": config["val"], "test": config["test"]}
    short = {s: n for s, n in sizes.items() if min(n) < wanted[s]}
    if short:
        actual.update(sizes)
        warnings.warn(f"{source} holds fewer images than asked: per class (train, val, test) "
                      f"{tuple(sizes[s] for s in SPLITS)} instead of {tuple(wanted[s] for s in SPLITS)}; "
                      "config.json and the report say so", stacklevel=3)


def _classifier(model, side: int) -> torch.nn.Module:
    """A built-in classifier by name, else a user's class or factory for (3, side, side) images."""
    return build_model(model, {name: (lambda name=name: build_classifier(name)) for name in CLASSIFIERS},
                       (3, side, side), 2)


def _eval_set(name: str, model, run: Run, test: tuple, er: np.ndarray, epoch, record: dict, config: dict,
              seed: int) -> EvalSet:
    """The attributed test images: ``eval_per_class`` of each new label, the same for every
    checkpoint of a run; the whole test set is the GradientSHAP reference set."""
    x, y = test
    rng = np.random.default_rng([seed, 17])
    pick = np.concatenate([rng.permutation(np.flatnonzero(y.numpy() == c))[:config["eval_per_class"]] for c in (0, 1)])
    pick = torch.from_numpy(rng.permutation(pick))
    inputs, targets = x[pick], y[pick]
    with torch.no_grad():
        correct = (model(inputs).argmax(1) == targets).tolist()
    n = len(pick)
    focus = torch.from_numpy(er).expand(n, *er.shape).clone()
    facts = {"manipulated": targets.tolist(), "correct": [int(c) for c in correct],
             "manipulation": [run.manipulation.name] * n, "er_fraction": [round(float(er.mean()), 4)] * n,
             "r": [run.r] * n, "visibility": [run.manipulation.visibility] * n, "pair": [run.pair_kind] * n,
             "epoch": [epoch if epoch is not None else -1] * n, "test_accuracy": [record["test_accuracy"]] * n}
    record = dict(record)
    return EvalSet("semi-natural-image", model, inputs, targets, GroundTruth(focus=focus, facts=facts), name,
                   shared={"reference_set": x}, verification=Verification(record.pop("passed"), record))
