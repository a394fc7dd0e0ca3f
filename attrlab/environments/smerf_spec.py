"""The SMERF environment's declaration — settings, presets, options, paper methods — read
without importing its build (torch, models), so the command line's help and ``attrlab list`` answer
at once; the build is :mod:`attrlab.environments.smerf`."""
from __future__ import annotations

from .contract import EnvironmentSpec, Option, declare_environment
from .options import RESTARTS, training_option
from .smerf_table import SETTINGS as TABLE

BACKGROUNDS = ("black", "noise", "natural")  # attrlab.data.textbox.BACKGROUNDS (equal: tests/test_structure.py)

SETTINGS = tuple(TABLE)
MODELS = ("paper", "compact")

# paper method → registry spec (None: not available, with the reason in REASONS)
PAPER_METHODS = {
    "Gradient": "gradient", "SmoothGrad": "smoothgrad", "DeConvNet": "deconvnet", "Guided Backprop": "guided_backprop",
    # Deep Taylor decomposition on a ReLU network with unbounded input is the LRP z⁺ rule (Montavon et al. 2017)
    "Deep Taylor": "lrp_zplus",
    "Input×Gradient": "input_x_gradient", "Integrated Gradients": "integrated_gradients",
    # iNNvestigate's LRP-z and LRP-ε (ε = 1e-7 by default) coincide up to the stabiliser: both are lrp_epsilon
    "LRP-z": "lrp_epsilon", "LRP-ε": "lrp_epsilon", "LRP-αβ": "lrp_alpha2beta1",
    "DeepLIFT (rescale)": "deeplift", "DeepLIFT (reveal-cancel)": None,
    "Grad-CAM": "gradcam", "DeepSHAP": "deeplift_shap:baseline=data", "Random": "random", "Edge": "edge",
}
# the paper's own configurations (§4, App. B: iNNvestigate's defaults as the authors ran them),
# run beside the registry's defaults: LRP-ε with ε = 1, SmoothGrad with 64 samples at σ 0.1 of the
# [0, 1] range and squared gradients, IG with 64 steps (the explained class is --set explain=predicted)
PAPER_VARIANTS = ("lrp_epsilon:epsilon=1", "smoothgrad:samples=64:noise=0.1:square=true",
                  "integrated_gradients:steps=64")
REASONS = {"DeepLIFT (reveal-cancel)": "captum implements only the rescale rule, and no maintained PyTorch library "
                                       "has reveal-cancel (it was in the TensorFlow deeplift package)",
           "Deep Taylor": "Deep Taylor on a ReLU network with unbounded input is LRP z+ (Montavon et al. 2017)",
           "LRP-z": "iNNvestigate's LRP-z equals LRP-epsilon up to the stabiliser"}

SPEC = EnvironmentSpec(
    name="smerf",
    description="Kim et al. 2021: TextBox images, 7 reasoning settings, CNNs trained until every bucket is verified",
    modality="image",
    settings=SETTINGS,
    # train_scale multiplies Table 2's training images per bucket; val/test are images per bucket.
    presets={
        "quick": {"train_scale": 0.034, "min_train": 200, "val_per_bucket": 100, "test_per_bucket": 4,
                  "max_epochs": 20, "model": "compact", "lr": 1e-3},
        "full": {"train_scale": 1.0, "min_train": 0, "val_per_bucket": 0, "test_per_bucket": 50, "max_epochs": 10,
                 "model": "paper", "lr": 1e-3},
    },
    options=(
        Option("background", str, "black", "TextBox background", choices=BACKGROUNDS, flag=True),
        Option("images", str, "", "a folder of your own photographs for natural backgrounds", flag=True),
        training_option("threshold", 0.95, help="per-bucket validation accuracy a model must reach to be verified"),
        Option("train_scale", float, 0.034, "fraction of Table 2's training images per bucket", minimum=0.0,
               maximum=10.0),
        Option("min_train", int, 200, "at least this many training images per bucket", minimum=0, maximum=1_000_000),
        Option("val_per_bucket", int, 100, "validation images per bucket (0: Table 2's)", minimum=0,
               maximum=1_000_000),
        Option("test_per_bucket", int, 4, "attributed test images per bucket", minimum=1, maximum=100_000,
               shapes_model=False),
        training_option("max_epochs", 20),
        Option("explain", str, "label", "the class each map explains: the image's label, or the model's predicted "
               "class (as the paper's code, iNNvestigate's default, did)", choices=("label", "predicted"),
               shapes_model=False),
        Option("model", str, "compact", "architecture: the paper's simple/complex CNN, our compact presence CNN, "
               "or your own class/factory (module:Class, file.py:Class)", choices=MODELS, references=True, flag=True),
        training_option("lr", 1e-3),
        RESTARTS,
        training_option("cache_dir"),
        Option("metric_protocol", str, "smerf", "smerf: the paper's code (max over channels, 7x7 box blur, min-max "
               "normalisation) for PAFL/SAFL, MAFL and IoU; attrlab: sum of |a| over channels, no blur",
               choices=("smerf", "attrlab"), shapes_model=False),
    ),
    extra_methods=PAPER_VARIANTS,
    in_default_run=True,  # the quick preset trains and evaluates in about 7 min
    paper_methods=PAPER_METHODS,
    reasons=REASONS,
    headline=("mass_focus", "PAFL (share on the objects to focus on)"),
    pointing=("focus", "avoid"),  # a person points at any object: the pointing game cannot tell primary from secondary
    test_options={"train_scale": 0.0, "min_train": 20, "val_per_bucket": 10, "test_per_bucket": 1, "max_epochs": 1,
                  "restarts": 0},
)


declare_environment(SPEC, "attrlab.environments.smerf:build")
