"""AttributionLab (Zhang et al. 2023): designed data + designed network, so the relevant pixels
and their signs are known exactly.

Settings: ``redundant`` (N_R redundant channels simulate the unseen-data effect: colours the data
never shows move the output) and ``no-redundant`` (N_R = 0: unseen colours do nothing), on the same
images, so a report shows which methods are hurt by out-of-distribution perturbations.

Ground truth for target class t (the dominant colour, which the network predicts by design):
positive = pixels of colour t (each raises p_t), negative = pixels of the other target colours
(each raises a competing logit, so lowers p_t), neutral = background. ``focus`` is their union.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from skimage.measure import label as connected_components

from ..core import Environment, EvalSet, GroundTruth, Verification
from ..data.colour_patches import BACKGROUND, PALETTE, generate_colour_patches
from ..models.designed import DesignedColourCounter
from .attributionlab_spec import COLOUR_NAMES, SETTINGS
def verify(model: DesignedColourCounter, images: torch.Tensor, counts: torch.Tensor, colour_index: torch.Tensor,
           seed: int = 0) -> dict[str, Any]:
    """Check the designed behaviour on the evaluation images (no training, so this is exact):
    logits equal pixel counts; the dominant colour is predicted; adding or removing any single
    ground-truth pixel changes its colour's logit by exactly ±1 (the paper's sensitivity and
    symmetry properties, checked on random pixels of every image); an unseen colour changes the
    output if and only if the model has redundant channels."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        logits = model.logits(images)
        exact = float((logits - counts.float()).abs().max())
        accuracy = float((model(images).argmax(1) == counts.argmax(1)).float().mean())
        bg = torch.tensor(model.background, dtype=images.dtype).view(3, 1) / 255.0
        deltas = []
        for i in range(len(images)):
            fg = (colour_index[i] >= 0).nonzero()
            back = (colour_index[i] < 0).nonzero()
            for _ in range(3):
                r, c = fg[rng.integers(len(fg))].tolist()
                k = int(colour_index[i, r, c])
                x = images[i:i + 1].clone()
                x[0, :, r, c] = bg[:, 0]  # remove the pixel
                deltas.append(float(model.logits(x)[0, k] - logits[i, k]) + 1.0)
                if len(back):
                    r2, c2 = back[rng.integers(len(back))].tolist()
                    x = images[i:i + 1].clone()
                    x[0, :, r2, c2] = images[i, :, r, c]  # add a pixel of colour k
                    deltas.append(float(model.logits(x)[0, k] - logits[i, k]) - 1.0)
        symmetric = max(abs(d) for d in deltas) if deltas else 0.0
        # the same 4×4 block painted black (unseen) vs painted background (seen): the colour counts
        # change identically, so any difference is the redundant channels' doing
        black, grey = images[:1].clone(), images[:1].clone()
        black[0, :, :4, :4] = 0.0
        grey[0, :, :4, :4] = bg.view(3, 1, 1)
        unseen_shift = float((model.logits(black) - model.logits(grey)).abs().sum())
    expects_shift = model.n_redundant > 0
    unseen_ok = (abs(unseen_shift) > 1e-3) == expects_shift
    return {
        "passed": bool(exact == 0.0 and accuracy == 1.0 and symmetric == 0.0 and unseen_ok),
        "logits_equal_counts_max_abs_error": exact,
        "accuracy": accuracy,
        "single_pixel_change_max_deviation_from_1": symmetric,
        "single_pixel_changes_checked": len(deltas),
        "unseen_colour_output_shift": unseen_shift,
        "unseen_colour_should_shift": expects_shift,
    }


def true_segments(colour_index: torch.Tensor) -> torch.Tensor:
    """Connected regions of equal colour (each patch fragment and each background piece): the
    segmentation aligned with the ground truth that LIME can be given (Zhang et al. §5)."""
    segs = [connected_components(m.numpy() + 1, background=-1, connectivity=1) for m in colour_index]
    return torch.from_numpy(np.stack(segs).astype(np.int64))


def build(preset: str, *, seed: int, settings, device: str, progress: bool, size: int, n_images: int,
          n_colours: int, n_redundant: int, ramp: float = 0.0) -> Environment:
    """Build the AttributionLab environment (designed: nothing to train, ``device`` and
    ``progress`` are not needed).

    Presets: ``quick`` (64×64, 8 images: 80–90 s for every method on 2 cores) or ``full``
    (224×224 like the reference prototype, 16 images).

    Example:
        >>> from attrlab import build_environment
        >>> env = build_environment("attributionlab", n_images=2, size=32)
        >>> env.verified, [e.setting for e in env.eval_sets]
        (True, ['redundant', 'no-redundant'])
    """
    config = {"size": size, "n_images": n_images, "n_colours": n_colours, "n_redundant": n_redundant, "ramp": ramp}
    settings = list(settings or SETTINGS)
    n_c = n_colours
    colours = PALETTE[:n_c]
    batch = generate_colour_patches(config["n_images"], size=config["size"], n_colours=n_c, seed=seed)
    targets = batch.labels
    idx = batch.colour_index
    positive = idx == targets.view(-1, 1, 1)
    negative = (idx >= 0) & ~positive
    gt = GroundTruth(focus=positive | negative, positive=positive, negative=negative,
                     facts={"target_colour": [COLOUR_NAMES[int(t)] for t in targets],
                            "positive_pixels": positive.flatten(1).sum(1).tolist()})
    background = torch.tensor(BACKGROUND, dtype=torch.float32).view(1, 3, 1, 1).expand_as(batch.images) / 255.0
    context = {"true_baseline": background.contiguous(), "true_segments": true_segments(idx)}
    eval_sets = []
    for setting in settings:
        n_r = config["n_redundant"] if setting == "redundant" else 0
        model = DesignedColourCounter(colours, BACKGROUND, size=config["size"], n_redundant=n_r, seed=seed,
                                      ramp=ramp or None).eval()
        verification = Verification.from_dict(verify(model, batch.images, batch.counts, idx, seed))
        eval_sets.append(EvalSet("attributionlab", model, batch.images, targets, gt, setting, context,
                                 verification=verification))
    return Environment("attributionlab", {"preset": preset, "seed": seed, "settings": settings, **config}, eval_sets)
