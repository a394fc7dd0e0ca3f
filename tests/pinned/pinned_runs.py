"""Small runs whose records are pinned (tests/pinned/<environment>.csv), one per environment.

Trained environments start from pinned weights (``<environment>.weights.pt``, tensors only, read
with ``weights_only=True`` through :func:`attrlab.environments.trained.pinned_models`), so the
pinned records test attribution and scoring on any CPU; training itself is not compared across
machines (float32 sums drift with the CPU's kernels: 0.006 in mass_focus after 2 epochs between
two CPU kinds), its reproducibility on one machine has its own test. Regenerate after a deliberate
change of results with ``python tests/pinned/pinned_runs.py [ENV...]`` (``--retrain`` trains the
weights anew too) and say why in the commit.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent

# environment -> (methods, settings, options); small enough that all five run in ~1 minute
RUNS = {
    "attributionlab": (["gradient", "deeplift:baseline=true", "integrated_gradients:steps=16", "occlusion", "random"],
                       None, {"n_images": 3, "size": 32}),
    "smerf": (["gradient", "input_x_gradient", "random"], ["simple-fr"],
              {"train_scale": 0.0, "min_train": 60, "val_per_bucket": 20, "test_per_bucket": 1, "max_epochs": 3}),
    "semi-natural-image": (["gradient", "gradcam", "random"], None,
                           {"side": 32, "train": 60, "val": 20, "test": 30, "eval_per_class": 2, "max_epochs": 2,
                            "manipulation": "noise"}),
    "grid": (["gradient:absolute=true", "gradcam", "layercam:layer=middle", "deeplift", "random"], None,
             {"side": 16, "train": 30, "val": 10, "test": 12, "grids": 1, "max_epochs": 8, "restarts": 0}),
    "text-attention": (None, ["article"], {"train": 200, "val": 40, "test": 40, "eval_docs": 4, "emb": 8, "hidden": 8,
                                           "attn": 8, "max_epochs": 2}),
    "text-rationale": (None, ["cn-cr-sel0.05"], {"train": 200, "val": 40, "test": 40, "eval_docs": 4, "emb": 8,
                                                  "hidden": 8, "max_epochs": 2}),
}
# value columns compared; model_id (a hash of the configuration) may change with the code
KEY = ["environment", "setting", "seed", "method", "sample", "metric"]


TRAINED = ("smerf", "semi-natural-image", "text-attention", "text-rationale", "grid")


def weights_file(environment: str) -> Path:
    return HERE / f"{environment}.weights.pt"


def pinned_run(environment: str, out_dir: Path, retrain: bool = False):
    """Run the pinned configuration of ``environment`` into ``out_dir`` from its pinned weights
    (``retrain``: train them and write the weights file); returns its records."""
    import pandas as pd
    import torch

    from attrlab.environments.trained import pinned_models
    from attrlab.runner import RunConfig, run

    import contextlib
    import os

    os.environ["ATTRLAB_CACHE"] = str(out_dir / "cache")  # a fresh model cache: train, never load
    torch.set_num_threads(1)  # the pins were made with one thread: the same kernels' summation order
    methods, settings, options = RUNS[environment]
    weights = (pinned_models(weights_file(environment), write=retrain) if environment in TRAINED
               else contextlib.nullcontext())
    with weights:
        out = run(RunConfig(environment=environment, out_dir=out_dir / "run", methods=methods, settings=settings,
                            options=dict(options), progress=False, report=False,
                            batch_size=2))
    records = pd.read_csv(out / "records.csv", keep_default_na=False, na_values=["nan", "NaN", ""])
    return records.sort_values(KEY).reset_index(drop=True)


if __name__ == "__main__":
    retrain = "--retrain" in sys.argv
    for env in [a for a in sys.argv[1:] if not a.startswith("--")] or RUNS:
        with tempfile.TemporaryDirectory() as tmp:
            rec = pinned_run(env, Path(tmp), retrain=retrain)
            rec.drop(columns=["model_id"]).to_csv(HERE / f"{env}.csv", index=False)
            print(env, len(rec))
