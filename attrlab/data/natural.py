"""Natural images for the semi-natural image environment (Zhou et al. 2022, §5).

The paper used Flickr photographs of confusable bird species, which cannot be downloaded here. The
embedded default builds two-class data sets from photographs that ship with scikit-image and
scikit-learn: every image of a class is a random crop (random scale, place and mirror) of that
class's photograph. ``SIMILAR_PAIRS`` are two photographs a model finds hard to tell apart (the two
views of scikit-image's stereo motorcycle pair; two grass-like textures), ``DISTINCT_PAIRS`` two
unrelated scenes. Label reassignment then weakens what the crops tell about the label.

:func:`load_class_folder` reads the layout of torchvision's ImageFolder and of CUB-200
(``root/<class>/<image>``, optionally ``root/{train,val,test}/<class>/<image>``), so the paper's
setting runs on a user's own download.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import AttrlabError

SIMILAR_PAIRS = (("motorcycle_left", "motorcycle_right"), ("grass", "gravel"))
DISTINCT_PAIRS = (("chelsea", "rocket"), ("china", "coffee"))
# the grid environment's default classes: four unrelated colour photographs, one class each (a 2×2 grid)
GRID_CLASSES = ("chelsea", "rocket", "coffee", "china")
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
SPLITS = ("train", "val", "test")


def photograph(name: str) -> np.ndarray:
    """An embedded photograph as float RGB in [0, 1]: scikit-image's ``data.<name>`` or
    scikit-learn's sample images ``china`` and ``flower``.

    Example:
        >>> photograph("coffee").shape
        (400, 600, 3)
    """
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        img = load_sample_image(f"{name}.jpg")
    else:
        from skimage import data

        if name == "motorcycle_left" or name == "motorcycle_right":
            left, right, _ = data.stereo_motorcycle()
            img = left if name == "motorcycle_left" else right
        elif hasattr(data, name):
            img = getattr(data, name)()
        else:
            raise AttrlabError(f"no embedded photograph '{name}'")
    img = np.asarray(img, dtype=np.float32)
    img = img / 255.0 if img.max() > 1.0 else img
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


def random_crops(photo: np.ndarray, n: int, side: int, rng: np.random.Generator,
                 scale: tuple[float, float] = (0.35, 0.8)) -> np.ndarray:
    """``n`` square crops of ``photo`` (side a random fraction ``scale`` of its shorter side, random
    place, mirrored half the time), resized to ``side``×``side``: an (n, side, side, 3) array.

    Example:
        >>> random_crops(np.zeros((50, 80, 3), np.float32), 3, 16, np.random.default_rng(0)).shape
        (3, 16, 16, 3)
    """
    h, w = photo.shape[:2]
    out = np.empty((n, side, side, 3), np.float32)
    pil = Image.fromarray((photo * 255).round().astype(np.uint8))
    for i in range(n):
        s = int(rng.uniform(*scale) * min(h, w))
        top, left = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        crop = pil.crop((left, top, left + s, top + s)).resize((side, side), Image.BILINEAR)
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        out[i] = np.asarray(crop, dtype=np.float32) / 255.0
    return out


def _square(path: Path, side: int) -> np.ndarray:
    """An image file centre-cropped to a square and resized (the paper centre-crops to 224)."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((side, side), Image.BILINEAR)
        return np.asarray(im, dtype=np.float32) / 255.0


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)


def load_class_folder(root: str | os.PathLike, side: int, classes: tuple[str, str] | None = None,
                      sizes: tuple[int, int, int] = (1000, 100, 100), seed: int = 0) -> dict[str, dict[int, np.ndarray]]:
    """Two classes of an image folder as ``{split: {class index: (n, side, side, 3) array}}``.

    ``root/<class>/*`` is split deterministically (a seeded shuffle of the sorted file names) into
    at most ``sizes`` = (train, val, test) images per class; ``root/{train,val,test}/<class>/*``
    keeps the given splits. ``classes`` picks two class folders (default: the first two).

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> for c in ("tern", "crow"):
        ...     (d / c).mkdir()
        ...     for k in range(5):
        ...         Image.new("RGB", (30, 20), (k, 0, 0)).save(d / c / f"{k}.png")
        >>> data = load_class_folder(d, 8, sizes=(3, 1, 1))
        >>> {s: [v.shape[0] for v in data[s].values()] for s in SPLITS}
        {'train': [3, 3], 'val': [1, 1], 'test': [1, 1]}
    """
    available = class_folders(root)
    if classes is None:
        if len(available) < 2:
            raise AttrlabError(f"{_base(Path(root))} needs at least two class folders with images; found "
                               f"{available or 'none'}")
        classes = (available[0], available[1])
    missing = [c for c in classes if c not in available]
    if missing or len(classes) != 2:
        raise AttrlabError(f"pick two classes from {_base(Path(root))}: {', '.join(available)} "
                           f"(missing: {', '.join(missing)})")
    return load_classes(root, side, classes, sizes, seed)


def _base(root: Path) -> Path:
    return root / "train" if all((root / s).is_dir() for s in SPLITS) else root


def class_folders(root: str | os.PathLike) -> list[str]:
    """The class folders of ``root`` that hold images (``root/train/`` when the folder is split),
    sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise AttrlabError(f"image folder {root} does not exist")
    base = _base(root)
    return sorted(p.name for p in base.iterdir() if p.is_dir() and _files(p))


def load_classes(root: str | os.PathLike, side: int, classes, sizes: tuple[int, int, int] = (1000, 100, 100),
                 seed: int = 0) -> dict[str, dict[int, np.ndarray]]:
    """Any number of an image folder's classes (``classes``: names in the order of their indices)
    as ``{split: {class index: (n, side, side, 3) array}}``, split as :func:`load_class_folder` does.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> for c in ("a", "b", "c"):
        ...     (d / c).mkdir()
        ...     for k in range(4):
        ...         Image.new("RGB", (12, 12), (60 * k, 0, 0)).save(d / c / f"{k}.png")
        >>> data = load_classes(d, 8, class_folders(d), sizes=(2, 1, 1))
        >>> sorted(data["test"]), data["train"][2].shape
        ([0, 1, 2], (2, 8, 8, 3))
    """
    root = Path(root)
    available = class_folders(root)
    missing = [c for c in classes if c not in available]
    if missing:
        raise AttrlabError(f"no class folder {', '.join(missing)} with images under {_base(root)}; "
                           f"it has {', '.join(available) or 'none'}")
    presplit = all((root / s).is_dir() for s in SPLITS)
    out: dict[str, dict[int, np.ndarray]] = {s: {} for s in SPLITS}
    skipped: list[Path] = []
    for k, name in enumerate(classes):
        if presplit:
            files = {s: _files(root / s / name) if (root / s / name).is_dir() else [] for s in SPLITS}
        else:
            paths = _files(root / name)
            order = np.random.default_rng(seed).permutation(len(paths))
            paths = [paths[i] for i in order]
            n_test = min(sizes[2], len(paths) // 3)
            n_val = min(sizes[1], (len(paths) - n_test) // 3)
            files = {"test": paths[:n_test], "val": paths[n_test:n_test + n_val],
                     "train": paths[n_test + n_val:n_test + n_val + sizes[0]]}
        for s in SPLITS:
            images = [im for im in (_square_or_none(p, side, skipped) for p in files[s]) if im is not None]
            if not images:
                raise AttrlabError(f"class '{name}' has no readable {s} images under {root}"
                                   + (f" ({len(skipped)} unreadable files skipped)" if skipped else "")
                                   + ("" if presplit else f"; it holds {len(_files(root / name))} images, and "
                                      "each split needs one (at least 3 a class)"))
            out[s][k] = np.stack(images)
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable image file(s) under {root}, e.g. {skipped[0]}", stacklevel=2)
    return out


def _square_or_none(path: Path, side: int, skipped: list) -> np.ndarray | None:
    """:func:`_square`, or ``None`` (the path added to ``skipped``) for a file PIL cannot read."""
    try:
        return _square(path, side)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        skipped.append(path)
        return None


def embedded_pair(pair: tuple[str, ...], side: int, sizes: tuple[int, int, int], seed: int) -> dict[str, dict[int, np.ndarray]]:
    """Random crops of two (or more) embedded photographs, one class each, ``{split: {class index: images}}``; every split
    from its own random stream, so the same seed gives the same data.

    Example:
        >>> d = embedded_pair(("china", "coffee"), 16, (4, 2, 2), seed=0)
        >>> d["train"][0].shape, d["test"][1].shape
        ((4, 16, 16, 3), (2, 16, 16, 3))
    """
    out: dict[str, dict[int, np.ndarray]] = {}
    for j, split in enumerate(SPLITS):
        rng = np.random.default_rng([seed, j])
        out[split] = {k: random_crops(photograph(name), sizes[j], side, rng) for k, name in enumerate(pair)}
    return out
