"""SMERF (Kim et al., ICML 2021): TextBox data whose labels follow a chosen reasoning, CNNs trained
until every labelled bucket is verified on held-out images, and ground truth from Table 1.

Settings: the seven of Table 1 (:mod:`attrlab.environments.smerf_table`). Ground truth per test
image: ``focus`` = the pixels of the objects to focus on (primary), ``avoid`` = those to avoid
(secondary), so ``mass_focus``/``mass_avoid`` are PAFL/SAFL, ``iou_*`` PIoU/SIoU and ``mafl_*``
PMAFL/SMAFL. Facts: bucket, label, number of objects.

Trained models are cached (``cache_dir``, by default ``~/.cache/attrlab/models``) by a hash of
everything that shapes them, so a rerun does not retrain.

The paper's methods (§4, App. B) and the registry methods that stand for them are
:data:`PAPER_METHODS`; ``None`` marks the one no kept library offers.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np
import torch

from ..core import Environment, EvalSet, GroundTruth
from ..data.textbox import BACKGROUNDS, contents_of, generate_textbox, load_image_folder
from ..errors import AttrlabError
from .config import cached_model, model_cache, resolve_preset
from ..models.cnn import CompactCNN, SmerfCNN
from ..models.training import train_verified
from .smerf_table import SETTINGS as TABLE
from .smerf_table import get_setting

SETTINGS = tuple(TABLE)
IN_DEFAULT_RUN = True  # part of a bare `attrlab run`: the quick preset trains and evaluates in about 7 min
# train_scale multiplies Table 2's training images per bucket; val/test are images per bucket.
PRESETS = {
    "quick": {"train_scale": 0.034, "min_train": 200, "val_per_bucket": 100, "test_per_bucket": 4, "max_epochs": 20,
              "model": "compact", "lr": 1e-3},
    "full": {"train_scale": 1.0, "min_train": 0, "val_per_bucket": 0, "test_per_bucket": 50, "max_epochs": 10,
             "model": "paper", "lr": 1e-3},
}


def default_methods() -> list[str]:
    from ..methods import list_methods

    return list_methods("image")


# paper method → registry spec (None: not available, with the reason in REASONS)
PAPER_METHODS = {
    "Gradient": "gradient", "SmoothGrad": "smoothgrad", "DeConvNet": "deconvnet", "Guided Backprop": "guided_backprop",
    # Deep Taylor decomposition on a ReLU network with unbounded input is the LRP z⁺ rule (Montavon et al. 2017)
    "Deep Taylor": "lrp_zplus",
    "Input×Gradient": "input_x_gradient", "Integrated Gradients": "integrated_gradients",
    # iNNvestigate's LRP-z and LRP-ε (ε = 1e-7 by default) coincide up to the stabiliser: both are lrp_epsilon
    "LRP-z": "lrp_epsilon", "LRP-ε": "lrp_epsilon", "LRP-αβ": "lrp_alpha2beta1",
    "DeepLIFT (rescale)": "deeplift", "DeepLIFT (reveal-cancel)": None,
    "Grad-CAM": "gradcam", "DeepSHAP": "deeplift_shap", "Random": "random", "Edge": "edge",
}
REASONS = {"DeepLIFT (reveal-cancel)": "captum implements only the rescale rule, and no maintained PyTorch library "
                                       "has reveal-cancel (it was in the TensorFlow deeplift package)"}
MODELS = ("paper", "compact")


def _model(name: str, kind: str):
    """``paper``: App. A.2's simple or complex CNN, as the setting says; ``compact``: our
    presence CNN (:class:`attrlab.models.cnn.CompactCNN`) for every setting."""
    if name == "paper":
        return SmerfCNN(kind)
    if name == "compact":
        return CompactCNN()
    raise AttrlabError(f"unknown SMERF model '{name}'; choose one of {', '.join(MODELS)}")


def _data(setting, per_bucket: dict, seed: int, background: str, photos, shuffle: bool = False) -> tuple:
    buckets = [b for b in setting.labelled_buckets for _ in range(per_bucket[setting.labels[b]])]
    if shuffle:  # test sets: mixed buckets, so the first samples (shown in the report) vary
        buckets = [buckets[i] for i in np.random.default_rng(seed).permutation(len(buckets))]
    batch = generate_textbox(buckets, seed=seed, background=background, photos=photos)
    labels = torch.tensor([setting.labels[b] for b in buckets])
    return batch, labels


def _ground_truth(setting, batch, labels) -> GroundTruth:
    n = len(labels)
    focus = torch.zeros(n, 64, 64, dtype=torch.bool)
    avoid = torch.zeros(n, 64, 64, dtype=torch.bool)
    for i, b in enumerate(batch.buckets.tolist()):
        for obj in setting.focus[b]:
            focus[i] |= batch.masks[obj][i]
        for obj in setting.avoid[b]:
            avoid[i] |= batch.masks[obj][i]
    n_objects = [sum(1 for x in contents_of(b) if x) for b in batch.buckets.tolist()]
    return GroundTruth(focus=focus, avoid=avoid, facts={"bucket": batch.buckets.tolist(), "label": labels.tolist(),
                                                        "n_objects": n_objects})


def build(preset: str = "quick", seed: int = 0, settings=None, background: str = "black", images: str = "",
          threshold: float = 0.95, cache_dir: str | os.PathLike | None = None, device: str = "cpu",
          progress: bool = True, **overrides: Any) -> Environment:
    """Build SMERF: data, trained and verified models (cached), and test sets with ground truth.

    Args:
        preset: ``quick`` (3.4% of Table 2's training images, at least 200 a bucket; 100 validation
            and 4 test images a bucket; the compact CNN) or ``full`` (Table 2's sizes; 50 test
            images a bucket; the paper's CNNs).
        background: ``black``, ``noise`` or ``natural`` (scikit-image photographs, or the images
            under ``images``, a folder of your own).
        threshold: the per-bucket validation accuracy a model must reach to count as verified.
        overrides: ``train_scale``, ``min_train``, ``val_per_bucket``, ``test_per_bucket``, ``max_epochs``,
            ``model`` (``paper`` or ``compact``), ``lr``.
    """
    config = resolve_preset("smerf", PRESETS, preset, overrides, "background, images, threshold")
    if background not in BACKGROUNDS:
        raise AttrlabError(f"unknown background '{background}'; choose one of {', '.join(BACKGROUNDS)}")
    photos = load_image_folder(images) if images else None
    threshold = float(threshold)
    names = [get_setting(s).name for s in (settings or SETTINGS)]
    cache = model_cache(cache_dir)
    eval_sets, verification = [], {}
    for k, name in enumerate(names):
        setting = get_setting(name)
        # scale Table 2's sizes, keeping their per-label ratio (Complex-FR has 3× more label-1
        # images per bucket), so that the smallest is at least min_train
        factor = max(config["train_scale"], config["min_train"] / min(setting.train_per_bucket.values()))
        train_n = {lab: int(round(n * factor)) for lab, n in setting.train_per_bucket.items()}
        val_n = config["val_per_bucket"] or setting.val_per_bucket
        key_src = {"setting": name, "train": train_n, "val": val_n, "seed": seed, "background": background,
                   "images": str(images), "threshold": threshold, "max_epochs": config["max_epochs"],
                   "model": config["model"], "lr": config["lr"], "v": 2}
        key = hashlib.sha1(json.dumps(key_src, sort_keys=True).encode()).hexdigest()[:16]
        path = cache / f"smerf-{name}-{key}.pt"
        torch.manual_seed(seed)
        model = _model(config["model"], setting.kind)
        def fit(k=k, setting=setting, name=name, train_n=train_n, val_n=val_n, model=model):
            train, train_y = _data(setting, train_n, seed * 1000 + 3 * k + 1, background, photos)
            val, val_y = _data(setting, {0: val_n, 1: val_n}, seed * 1000 + 3 * k + 2, background, photos)
            return train_verified(model, (train.images, train_y), (val.images, val_y, val.buckets), threshold,
                                  config["max_epochs"], lr=config["lr"], seed=seed, device=device, progress=progress,
                                  desc=f"smerf {name}"), {}

        record, _ = cached_model(path, model, fit)
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        verification[name] = record
        test_n = config["test_per_bucket"]
        test, test_y = _data(setting, {0: test_n, 1: test_n}, seed * 1000 + 3 * k + 3, background, photos, shuffle=True)
        gt = _ground_truth(setting, test, test_y)
        eval_sets.append(EvalSet("smerf", model, test.images, test_y, gt, name))
    verification["passed"] = all(v["passed"] for v in verification.values() if isinstance(v, dict))
    return Environment("smerf", {"preset": preset, "seed": seed, "settings": names, "background": background,
                                 "images": str(images), "threshold": threshold, **config}, eval_sets, verification)
