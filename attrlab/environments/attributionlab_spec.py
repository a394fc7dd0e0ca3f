"""The AttributionLab environment's declaration — settings, presets, options, paper methods — read
without importing its build (torch, models), so the command line's help and ``attrlab list`` answer
at once; the build is :mod:`attrlab.environments.attributionlab`."""
from __future__ import annotations

from .contract import EnvironmentSpec, Option, declare_environment


SETTINGS = ("redundant", "no-redundant")
COLOUR_NAMES = ("red", "green", "blue", "yellow", "purple", "cyan", "magenta", "pink", "teal", "brown")

# The paper's variants beside every registered method: IG*/Occlusion*/DeepLIFT* with the true
# baseline (§5, Fig. 6) and LIME with other segmentations (Fig. 5c-d). IG and IG* also at 512 steps,
# where both integrals converge on the quick images (completeness gap < 1%; at Captum's 50 steps
# 0.4–2.7% on the redundant network, up to 29% on the no-redundant one, whose f(x) − f(x0) can be
# small): the paper's IG*-over-IG comparison is read on both (paper_values.csv).
EXTRA_METHODS = (
    "integrated_gradients:baseline=true", "integrated_gradients:baseline=blur",
    "integrated_gradients:steps=512", "integrated_gradients:baseline=true:steps=512",
    "occlusion:baseline=true", "deeplift:baseline=true",
    "lime:segmentation=felzenszwalb", "lime:segmentation=true", "lime:segmentation=true:baseline=true",
)

SPEC = EnvironmentSpec(
    name="attributionlab",
    description="Zhang et al. 2023: a hand-set network on dominant-colour images; signed ground truth known exactly",
    modality="image",
    settings=SETTINGS,
    presets={"quick": {"size": 64, "n_images": 8}, "full": {"size": 224, "n_images": 16}},
    options=(
        Option("size", int, 64, "image side in pixels", minimum=16, maximum=1024),
        Option("n_images", int, 8, "number of images", minimum=1, maximum=100_000),
        Option("n_colours", int, 4, "target colours (classes)", minimum=2, maximum=len(COLOUR_NAMES)),
        Option("n_redundant", int, 2, "redundant channels of the redundant setting (the unseen-data effect)",
               minimum=1, maximum=16),
        Option("ramp", float, 0.0, "width in grey levels of the colour detectors' ramps; 0 = the widest the palette "
               "allows (67 for the default one), 0.5 = about the reference prototype's integer detectors",
               minimum=0.0, maximum=254.0),
    ),
    in_default_run=True,
    extra_methods=EXTRA_METHODS,
    headline=("positive_f1", "positive F1 (signed ground truth)"),
    test_options={"n_images": 2, "size": 32},
)


declare_environment(SPEC, "attrlab.environments.attributionlab:build")
