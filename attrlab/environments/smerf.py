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

import numpy as np
import torch

from ..core import Environment, EvalSet, GroundTruth, Verification
from ..data.textbox import contents_of, generate_textbox, load_image_folder
from ..models.cnn import CompactCNN, SmerfCNN
from ..models.user import build_model
from ..models.training import group_accuracy, predicted_classes, train_verified
from .smerf_table import get_setting
from .trained import folder_id, train_or_load
from .smerf_spec import SETTINGS, SPEC


def _model(name, kind: str):
    """``paper``: App. A.2's simple or complex CNN, as the setting says; ``compact``: our
    presence CNN (:class:`attrlab.models.cnn.CompactCNN`) for every setting; anything else a
    user's class or factory (:mod:`attrlab.models.user`) for 3×64×64 images and 2 classes."""
    return build_model(name, {"paper": lambda: SmerfCNN(kind), "compact": CompactCNN}, (3, 64, 64), 2)


def _data(setting, per_bucket: dict, seed: int, background: str, photos, shuffle: bool = False,
          stored: bool = False) -> tuple:
    buckets = [b for b in setting.labelled_buckets for _ in range(per_bucket[setting.labels[b]])]
    if shuffle:  # test sets: mixed buckets, so the first samples (shown in the report) vary
        buckets = [buckets[i] for i in np.random.default_rng(seed).permutation(len(buckets))]
    batch = generate_textbox(buckets, seed=seed, background=background, photos=photos, stored=stored)
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


def _predictions(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The class ``model`` predicts for each image (the class the paper's maps explain)."""
    with torch.no_grad():
        return torch.cat([model(images[i:i + 256]).argmax(1) for i in range(0, len(images), 256)])


def build(preset: str, *, seed: int, settings, device: str, progress: bool, background: str, images: str,
          threshold: float, cache_dir: str, metric_protocol: str, **config) -> Environment:
    """Build SMERF: data, trained and verified models (cached), and test sets with ground truth.

    Presets: ``quick`` (3.4% of Table 2's training images, at least 200 a bucket; 100 validation
    and 4 test images a bucket; the compact CNN) or ``full`` (Table 2's sizes; 50 test images a
    bucket; the paper's CNNs). ``background`` is ``black``, ``noise`` or ``natural``
    (scikit-image photographs, or the images under ``images``, a folder of your own).
    """
    photos = load_image_folder(images) if images else None
    names = [get_setting(s).name for s in (settings or SETTINGS)]
    options = {"background": background, "images": images, "threshold": threshold, **config}
    eval_sets = []
    for name in names:
        setting = get_setting(name)
        # data seeds from the setting's place in Table 1, never its place in this run's list: the same
        # setting gets the same images (and its cached model) alone, in any subset or in any order
        k = SETTINGS.index(name)
        # scale Table 2's sizes, keeping their per-label ratio (Complex-FR has 3× more label-1
        # images per bucket), so that the smallest is at least min_train
        factor = max(config["train_scale"], config["min_train"] / min(setting.train_per_bucket.values()))
        train_n = {lab: int(round(n * factor)) for lab, n in setting.train_per_bucket.items()}
        val_n = config["val_per_bucket"] or setting.val_per_bucket

        val, val_y = _data(setting, {0: val_n, 1: val_n}, seed * 1000 + 3 * k + 2, background, photos)

        def fit(model, checkpoint, k=k, setting=setting, name=name, train_n=train_n, val=val, val_y=val_y):
            # uint8 until a batch is taken (textbox.StoredImages): full sizes fit in memory
            train, train_y = _data(setting, train_n, seed * 1000 + 3 * k + 1, background, photos, stored=True)
            record = train_verified(model, (train.images, train_y), (val.images, val_y, val.buckets), threshold,
                                    config["max_epochs"], lr=config["lr"], seed=seed, device=device, progress=progress,
                                    desc=f"smerf {name}", checkpoint=checkpoint)
            record.pop("epoch_results")
            return record, {}

        trained = train_or_load(SPEC, name, lambda setting=setting: _model(config["model"], setting.kind), fit,
                                seed=seed, options=options, cache_dir=cache_dir, restarts=config["restarts"],
                                data_id={"table_index": k, **({"images": folder_id(images)} if images else {})})
        # verified here, on the held-out images, whether trained now or loaded: a cache file's own
        # record is never taken as the verdict
        by_bucket = group_accuracy(trained.model, val.images, val_y, val.buckets, torch.device("cpu"))
        record = {**trained.record, "accuracy_by_group": by_bucket, "threshold": threshold,
                  "predicted_classes": predicted_classes(trained.model, val.images)}
        record.pop("passed", None)  # models cached before the training record said reached_target
        passed = bool(by_bucket) and min(by_bucket.values()) >= threshold
        if len(record["predicted_classes"]) < 2:
            passed, record["collapsed"], record["reason"] = False, True, "the model predicts one class for every image"
        verification = Verification(passed, record)
        test_n = config["test_per_bucket"]
        test, test_y = _data(setting, {0: test_n, 1: test_n}, seed * 1000 + 3 * k + 3, background, photos, shuffle=True)
        gt = _ground_truth(setting, test, test_y)
        explained = test_y if config["explain"] == "label" else _predictions(trained.model, test.images)
        eval_sets.append(EvalSet("smerf", trained.model, test.images, explained, gt, name, verification=verification))
    return Environment("smerf", {"preset": preset, "seed": seed, "settings": names, "background": background,
                                 "images": str(images), "threshold": threshold, "metric_protocol": metric_protocol,
                                 **config}, eval_sets)
