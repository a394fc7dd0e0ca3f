"""Grids of images of distinct classes (Rao, Böhle & Schiele, CVPR 2022): ground truth for any
architecture and any labelled image folder, without touching the data.

A classifier is trained (or loaded with ``--weights``) on single images and verified on held-out
ones (test accuracy ≥ ``threshold``). Evaluation grids are ``rows × cols`` correctly classified
test images of distinct classes, each class once; every cell of every grid is explained once (the
sample's target is that cell's class; the authors explain every cell on GridPG and two heads, top
left and bottom right, on DiFull/DiPart). Cell images are test images the model classifies
correctly with softmax ≥ ``confidence`` (the authors' 0.99). Three settings, each a wrapper of the same trained model
(:mod:`attrlab.models.grid`):

- ``difull``: the cells are disconnected (the classifier runs on each cell alone, one head per cell
  position), so the explained output depends on its cell only: any attribution outside it is
  wrong, for any model. Verification also checks this exactly: the gradient of every explained
  output with respect to every other cell is 0.
- ``dipart``: the layers up to ``dipart_split`` (default the final one, as the authors split: only
  pooling and the classifier run per cell) see the whole grid, so
  receptive fields cross borders: ground truth nearly exact (the gradient's share outside the
  cell is measured and recorded as ``leak``).
- ``gridpg``: the model sees the whole grid (the grid pointing game): the cell of the target class
  is only the *plausible* place to point to — labelled so in the verification (``ground_truth``).

Ground truth per sample: ``focus`` = the target's cell, ``avoid`` = the other cells. The headline
metric is Rao et al.'s localisation score (positive attribution in the target cell / all positive
attribution), beside Attr% (``mass_focus``). Facts: ``cell`` (position, row-major), ``class``,
``grid`` (which grid), ``exact`` (1 on difull), ``plausible`` (1 on gridpg: the meta-evaluation
leaves such ground truth out unless asked), ``leak`` (the share of |gradient| outside the cell).

The default data are crops of four embedded photographs (one class each: a 2×2 grid); ``--images
DIR`` takes any folder of ≥ 2 class folders (with 2 or 3 classes the grid is one row of them).
The model is ours (``small``), torchvision's ResNet-18/34 (``resnet18``, ``resnet34``, randomly
initialised) or your own (``--model file.py:Net``, ``--model torchvision.models:resnet18``),
optionally with your trained weights (``--weights net.pt``, a state dict read tensors-only).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from ..core import Environment, EvalSet, GroundTruth, Verification
from ..data.natural import GRID_CLASSES, SPLITS, class_folders, embedded_pair, load_classes
from ..errors import AttrlabError
from ..models.classifiers import build_classifier
from ..models.grid import DiFull, DiPart, GridPG, cell_masks, head
from ..models.training import accuracy, predicted_classes, train_verified
from ..models.user import build_model, load_weights
from .trained import folder_id, freeze, train_or_load
from .grid_spec import BUILTIN_MODELS, SETTINGS, SPEC


def parse_grid(text: str, n_classes: int) -> tuple[int, int]:
    """``"2x2"`` → (2, 2); a grid with more cells than classes becomes one row of every class.

    Example:
        >>> parse_grid("2x2", 4), parse_grid("2x2", 3), parse_grid("1x2", 9)
        ((2, 2), (1, 3), (1, 2))
    """
    try:
        rows, cols = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise AttrlabError(f"grid '{text}' is not ROWSxCOLS (e.g. 2x2)") from None
    if rows < 1 or cols < 1 or rows * cols < 2:
        raise AttrlabError(f"grid '{text}' needs at least two cells")
    if rows * cols > n_classes:
        return 1, n_classes
    return rows, cols


def make_grids(images: torch.Tensor, labels: torch.Tensor, rows: int, cols: int, n: int,
               rng: np.random.Generator) -> tuple[torch.Tensor, np.ndarray]:
    """``n`` grids of ``rows × cols`` cells, each cell a different image of a different class
    (the classes with the most unused images, ties broken at random, placed at random; then one
    unused image of each), with each grid's classes ``(n, rows·cols)``. Fewer grids when the
    images run out.

    Example:
        >>> x = torch.arange(4.).view(4, 1, 1, 1).expand(4, 3, 2, 2)
        >>> grids, classes = make_grids(x, torch.tensor([0, 1, 2, 3]), 2, 2, 1, np.random.default_rng(0))
        >>> tuple(grids.shape), sorted(classes[0].tolist())
        ((1, 3, 4, 4), [0, 1, 2, 3])
    """
    k = rows * cols
    pools = {int(c): list(rng.permutation(np.flatnonzero(labels.numpy() == c))) for c in torch.unique(labels)}
    if len(pools) < k:
        raise AttrlabError(f"a {rows}x{cols} grid needs {k} classes with correctly classified test images; "
                           f"{len(pools)} have them")
    out, classes = [], []
    for _ in range(n):
        usable = [c for c, pool in pools.items() if pool]
        if len(usable) < k:
            break
        shuffled = [usable[i] for i in rng.permutation(len(usable))]
        fullest = sorted(shuffled, key=lambda c: -len(pools[c]))[:k]  # the most images left: the most grids
        chosen = np.array([fullest[i] for i in rng.permutation(k)])  # placed at random
        cells = [images[pools[int(c)].pop()] for c in chosen]
        rows_ = [torch.cat(cells[r * cols:(r + 1) * cols], dim=2) for r in range(rows)]
        out.append(torch.cat(rows_, dim=1))
        classes.append(chosen)
    if not out:
        raise AttrlabError("no grid could be made: too few correctly classified test images")
    return torch.stack(out), np.stack(classes).astype(int)


def _data(images: str, classes: str, side: int, sizes: tuple, seed: int) -> tuple[list[str], dict]:
    """The class names and ``{split: (N×3×side×side floats, labels)}``."""
    if images:
        names = [c.strip() for c in classes.split(",") if c.strip()] or class_folders(images)
        if len(names) < 2:
            raise AttrlabError(f"the grid environment needs at least two classes; {images} has "
                               f"{', '.join(names) or 'none'}")
        raw = load_classes(images, side, names, sizes, seed)
    else:
        if classes:
            raise AttrlabError("classes picks folders of --images; the embedded default has "
                               + ", ".join(GRID_CLASSES))
        names = list(GRID_CLASSES)
        raw = embedded_pair(GRID_CLASSES, side, sizes, seed)
    out = {}
    for s in SPLITS:
        x = np.concatenate([raw[s][k] for k in range(len(names))])
        y = np.repeat(np.arange(len(names)), [len(raw[s][k]) for k in range(len(names))])
        out[s] = (torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), torch.from_numpy(y))
    return names, out


def _cell_images(net, tx, ty, rows: int, cols: int, grids: int, confidence: float, seed: int):
    """The grids and which test images fill them: correctly classified with softmax ≥
    ``confidence`` (the authors' rule), else — when those make fewer grids than asked — every
    correctly classified one, else any (an unfit model)."""
    with torch.no_grad():
        probs = torch.softmax(net(tx), dim=1)
    right = probs.argmax(1) == ty
    sure = right & (probs.gather(1, ty.view(-1, 1)).squeeze(1) >= confidence)
    made = None
    for label, keep in ((f"correct with probability >= {confidence:g}", sure), ("correct", right),
                        ("any test image", torch.ones_like(right))):
        try:
            x, classes = make_grids(tx[keep], ty[keep], rows, cols, grids, np.random.default_rng([seed, 23]))
        except AttrlabError:
            continue
        if made is None or len(x) > len(made[0]):
            made = (x, classes, label)
        if len(x) >= grids:
            break
    return made


def _span(counts: torch.Tensor) -> str:
    """``27`` or ``20 to 27``: how many images each class has."""
    low, high = int(counts.min()), int(counts.max())
    return str(low) if low == high else f"{low} to {high}"


def _classifier(model, side: int, n_classes: int) -> torch.nn.Module:
    builtins = {name: (lambda name=name: build_classifier(name, n_classes)) for name in BUILTIN_MODELS}
    return build_model(model, builtins, (3, side, side), n_classes)


def upsampling_ceiling(cell_map: tuple[int, int], rows: int, cols: int, side: int) -> float:
    """The localisation of a map that is uniform inside one cell and 0 elsewhere, computed at a
    layer of ``cell_map`` = (h, w) per cell and upsampled bilinearly to the grid as layer methods
    are (Rao et al.'s code too): the most any map at that layer can score (a corner cell).

    Example:
        >>> round(upsampling_ceiling((7, 7), 2, 2, 224), 4)   # the authors' ResNet-18 final layer: (220/224)²
        0.9646
    """
    from captum.attr import LayerAttribution

    from ..metrics.mass import positive_share

    h, w = cell_map
    small = torch.zeros(1, 1, rows * h, cols * w)
    small[..., :h, :w] = 1.0
    big = LayerAttribution.interpolate(small, (rows * side, cols * side), interpolate_mode="bilinear")[:, 0]
    mask = torch.zeros(1, rows * side, cols * side, dtype=torch.bool)
    mask[:, :side, :side] = True
    return round(float(positive_share(big, mask)[0]), 4)


def upsampling_ceilings(net: torch.nn.Module, grid: torch.Tensor, rows: int, cols: int, side: int) -> dict:
    """:func:`upsampling_ceiling` at the model's final and middle layers (by role)."""
    from ..models.grid import to_cells
    from ..models.layers import layer_name, spatial_layers

    cell = to_cells(grid[:1], rows, cols)[:1]
    sizes = dict(spatial_layers(net, cell))
    out = {}
    for role in ("final", "middle"):
        try:
            out[role] = upsampling_ceiling(sizes[layer_name(net, cell, role)], rows, cols, side)
        except (AttrlabError, KeyError):
            continue
    return out


def leak(model: torch.nn.Module, grids: torch.Tensor, targets: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Per sample, the share of |∂ output[target] / ∂ input| outside the sample's cell (``cells``:
    ``(N, H, W)`` booleans): exactly 0 where the output cannot see the other cells.

    Example:
        >>> from attrlab.models.grid import DiFull, cell_masks
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3, padding=1), torch.nn.AdaptiveAvgPool2d(1),
        ...                           torch.nn.Flatten(), torch.nn.Linear(2, 2))
        >>> grids = torch.rand(2, 3, 4, 8)
        >>> leak(DiFull(net, 1, 2, 2).eval(), grids, torch.tensor([1, 2]), cell_masks(1, 2, 4)[[0, 1]]).tolist()
        [0.0, 0.0]
    """
    x = grids.detach().clone().requires_grad_(True)
    out = model(x)
    grad, = torch.autograd.grad(out.gather(1, targets.view(-1, 1)).sum(), x)
    g = grad.abs().sum(1)
    total = g.flatten(1).sum(1)
    outside = (g * (~cells)).flatten(1).sum(1)
    return torch.where(total > 0, outside / total.clamp_min(1e-30), torch.zeros_like(total))


def build(preset: str, *, seed: int, settings, device: str, progress: bool, images: str, classes: str, model,
          weights: str, grid: str, grids: int, dipart_split: str, confidence: float, side: int, threshold: float,
          train_margin: float, cache_dir: str, restarts: int, **config) -> Environment:
    """Train (cached) or load the classifier, verify it on single test images, build the grids and
    the three settings' models and evaluation sets."""
    unknown = set(settings or ()) - set(SETTINGS)
    if unknown:
        raise AttrlabError(f"grid has no setting {', '.join(sorted(unknown))}; choose from {', '.join(SETTINGS)}")
    wanted = [s for s in SETTINGS if not settings or s in settings]
    names, data = _data(images, classes, side, (config["train"], config["val"], config["test"]), seed)
    n_classes = len(names)
    rows, cols = parse_grid(grid, n_classes)
    dev = torch.device(device)
    options = {"images": images, "classes": classes, "model": model, "weights": weights, "side": side,
               "threshold": threshold, "train_margin": train_margin, **config}

    if weights:
        net = _classifier(model, side, n_classes)
        load_weights(net, weights, str(model))
        net, record = freeze(net), {"weights": weights, "trained": False}
    else:
        def fit(net, checkpoint):
            vx, vy = data["val"]
            return train_verified(net, data["train"], (vx, vy), min(1.0, threshold + train_margin),
                                  config["max_epochs"], lr=config["lr"], batch_size=config["batch"], seed=seed,
                                  device=dev, progress=progress, desc="grid classifier", checkpoint=checkpoint), {}

        trained = train_or_load(SPEC, "classifier", lambda: _classifier(model, side, n_classes), fit, seed=seed,
                                options=options, cache_dir=cache_dir, restarts=restarts,
                                data_id={"images": folder_id(images) if images else "embedded", "classes": names})
        net, record = trained.model, trained.record
    tx, ty = data["test"]
    p = accuracy(net, tx, ty, torch.device("cpu"))
    record = {**{k: v for k, v in record.items() if k != "epoch_results"}, "test_accuracy": round(p, 4),
              "test_size": len(ty), "threshold": threshold, "classes": names,
              "predicted_classes": predicted_classes(net, tx)}
    passed = p >= threshold and len(record["predicted_classes"]) >= 2
    if not passed:
        record["reason"] = (f"single-image test accuracy {p:.3f} < {threshold} ({n_classes} classes, "
                            f"{_span(torch.bincount(data['train'][1]))} training images a class); try more images or epochs "
                            "(--set max_epochs=...), or a lower --set threshold=" if p < threshold
                            else "the model predicts one class for every test image")
    grid_x, grid_classes, record["cells"] = _cell_images(net, tx, ty, rows, cols, grids, confidence, seed)
    if record["cells"] == "any test image":  # an unfit model: the report says why
        passed = False
        record["reason"] = (f"{record.get('reason', 'too few correctly classified test images')}; grids of "
                            f"{rows * cols} distinct classes could not be made of correctly classified images, so "
                            "they hold misclassified ones")
    n_grids, k = len(grid_x), rows * cols
    masks = cell_masks(rows, cols, side)
    sample_grid = np.repeat(np.arange(n_grids), k)
    sample_cell = np.tile(np.arange(k), n_grids)
    sample_class = grid_classes.reshape(-1)
    inputs = grid_x[torch.from_numpy(sample_grid)]
    focus = masks[torch.from_numpy(sample_cell)]
    env_config = {"preset": preset, "seed": seed, **options, "grid": f"{rows}x{cols}", "grids": n_grids,
                  "classes": names, "dipart_split": dipart_split}
    eval_sets = []
    ceilings = upsampling_ceilings(net, inputs[:1], rows, cols, side)
    skipped = {}
    for setting in wanted:
        heads = torch.tensor([head(c, y, n_classes) for c, y in zip(sample_cell, sample_class)])
        try:  # a setting this model cannot take (gridpg on a model of one input size) is skipped, said why
            if setting == "gridpg":
                wrapped, targets = GridPG(net, rows, cols, n_classes), torch.from_numpy(sample_class).long()
            elif setting == "difull":
                wrapped, targets = DiFull(net, rows, cols, n_classes), heads
            else:
                wrapped, targets = DiPart(net, rows, cols, n_classes, dipart_split, inputs[:1]), heads
            wrapped = freeze(wrapped)
            leaks = leak(wrapped, inputs, targets, focus)
        except AttrlabError as exc:
            skipped[setting] = str(exc)
            warnings.warn(f"grid setting {setting} skipped: {exc}", stacklevel=2)
            continue
        with torch.no_grad():
            out = wrapped(inputs)
        if setting == "gridpg":
            correct = out.argmax(1) == targets
        else:  # the head of the sample's cell picks its class
            per_cell = out.view(len(out), k, n_classes)[torch.arange(len(out)), torch.from_numpy(sample_cell)]
            correct = per_cell.argmax(1) == torch.from_numpy(sample_class)
        exact = setting == "difull"
        record["upsampling_ceiling"] = ceilings
        details = {**record, "setting": setting, "grid": f"{rows}x{cols}", "grids": n_grids,
                   "ground_truth": {"difull": "exact", "dipart": "nearly exact (receptive fields cross cell borders "
                                   "before the split)", "gridpg": "plausible (the model sees every cell)"}[setting],
                   "max_leak": round(float(leaks.max()), 6), "mean_leak": round(float(leaks.mean()), 6),
                   "explained_correct": round(float(correct.float().mean()), 4)}
        ok = passed
        if exact and float(leaks.max()) != 0.0:
            ok = False
            details["reason"] = f"the gradient reaches other cells (share up to {float(leaks.max()):.2e}): not disconnected"
        if setting == "dipart":
            details["split"] = wrapped.split
        facts = {"cell": sample_cell.tolist(), "class": [names[c] for c in sample_class], "grid": sample_grid.tolist(),
                 "dipart_split": [dipart_split] * len(targets),
                 "exact": [int(exact)] * len(targets), "plausible": [int(setting == "gridpg")] * len(targets),
                 "leak": [round(float(v), 6) for v in leaks],
                 "correct": correct.int().tolist()}
        eval_sets.append(EvalSet("grid", wrapped, inputs, targets,
                                 GroundTruth(focus=focus, avoid=~focus, facts=facts), setting,
                                 shared={"reference_set": grid_x}, verification=Verification(ok, details)))
    if not eval_sets:
        raise AttrlabError("no grid setting can run on this model: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    if skipped:
        env_config["skipped"] = skipped
    return Environment("grid", env_config, eval_sets)
