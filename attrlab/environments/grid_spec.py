"""The grid environment's declaration — settings, presets, options, paper methods — read
without importing its build (torch, models), so the command line's help and ``attrlab list`` answer
at once; the build is :mod:`attrlab.environments.grid`."""
from __future__ import annotations

from .contract import EnvironmentSpec, Option, declare_environment
from .options import RESTARTS, training_option


SETTINGS = ("difull", "dipart", "gridpg")
BUILTIN_MODELS = ("small", "resnet18", "resnet34")
# Rao et al. 2022 §4: the methods they compare, at the input unless named; the layer-wise ones
# (Grad-CAM, LayerCAM) at their usual final layer here, and at the middle layer as ML-Att variants
# (the authors' code: Captum's Saliency with abs=True, GuidedBackprop then abs, IxG and IntGrad signed,
# IntGrad with 20 steps from zeros; Grad-CAM and LayerCAM at the final layer)
PAPER_METHODS = {"Grad": "gradient:absolute=true", "GB": "guided_backprop:absolute=true", "IxG": "input_x_gradient",
                 "IntGrad": "integrated_gradients:steps=20", "Grad-CAM": "gradcam", "LayerCAM": "layercam",
                 "Occlusion": "occlusion", "Grad-CAM++": None, "Ablation-CAM": None, "Score-CAM": None, "RISE": None}
REASONS = {m: "no kept library attrlab depends on offers it (pytorch-grad-cam would, with OpenCV)"
           for m in ("Grad-CAM++", "Ablation-CAM", "Score-CAM")}
REASONS["RISE"] = "no kept library attrlab depends on offers it"
# ML-Att (Rao et al. §3.2): the same methods at the middle and final layer
LAYER_METHODS = ("gradcam:layer=middle", "layercam:layer=middle", "layer_gradient", "layer_gradient:layer=middle",
                 "layer_input_x_gradient", "layer_input_x_gradient:layer=middle")

SPEC = EnvironmentSpec(
    name="grid",
    description="Rao et al. 2022: grids of images of distinct classes; DiFull's disconnected cells give exact "
                "ground truth for any model and any image folder",
    modality="image",
    settings=SETTINGS,
    presets={
        # quick confidence 0.9: our CNN stops at its validation target after 5 epochs, then sure >= 0.99 of
        # 0 of 60 test rockets (seed 0) but >= 0.9 of 46-60 of every class
        "quick": {"side": 32, "train": 150, "val": 40, "test": 60, "grids": 4, "max_epochs": 15, "model": "small",
                  "confidence": 0.9},
        "full": {"side": 64, "train": 1000, "val": 100, "test": 200, "grids": 50, "max_epochs": 40, "model": "small",
                 "confidence": 0.99},
    },
    options=(
        Option("images", str, "", "a class folder (root/<class>/* or root/{train,val,test}/<class>/*), >= 2 classes",
               flag=True),
        Option("classes", str, "", "the class folders of --images to use, comma-separated (default: all)", flag=True),
        Option("model", str, "small", "architecture: our small CNN, torchvision's ResNet-18/34, or your own class or "
               "factory (module:Class, file.py:Class, torchvision.models:resnet18)", choices=BUILTIN_MODELS,
               references=True, flag=True),
        Option("weights", str, "", "your model's trained weights (a state dict, read tensors-only): no training",
               flag=True),
        Option("grid", str, "2x2", "cells per grid, ROWSxCOLS (fewer classes than cells: one row of them all)"),
        Option("grids", int, 6, "evaluation grids (every cell of each explained once)", minimum=1, maximum=100_000,
               shapes_model=False),
        Option("dipart_split", str, "final", "dipart: the layer up to which the model sees the whole grid (final: "
               "the paper's, only pooling and classifier per cell; middle; or a layer's name)", shapes_model=False),
        Option("confidence", float, 0.99, "a cell image must be classified correctly with at least this softmax "
               "probability (the authors' 0.99); fewer such images: correctly classified ones", minimum=0.0,
               maximum=1.0, shapes_model=False),
        Option("side", int, 32, "cell side in pixels (a grid is ROWS·side × COLS·side)", minimum=8, maximum=1024),
        Option("train", int, 150, "training images per class", minimum=1, maximum=1_000_000),
        Option("val", int, 40, "validation images per class", minimum=1, maximum=1_000_000),
        Option("test", int, 60, "test images per class", minimum=1, maximum=1_000_000),
        training_option("threshold", 0.9, help="single-image test accuracy a model must reach to be verified", minimum=0.0),
        training_option("train_margin", 0.04),
        training_option("max_epochs", 15),
        training_option("lr", 2e-3),
        RESTARTS,
        training_option("batch", 64),
        training_option("cache_dir"),
    ),
    paper_methods=PAPER_METHODS,
    reasons=REASONS,
    extra_methods=LAYER_METHODS,
    headline=("localisation", "localisation score (Rao et al.)"),
    ground_truth_metrics=("localisation",),
    test_options={"side": 16, "train": 12, "val": 4, "test": 6, "grids": 1, "max_epochs": 1, "restarts": 0},
)


declare_environment(SPEC, "attrlab.environments.grid:build")
