"""SMERF's TextBox images (Kim et al. 2021, §3 and App. A.1): 64×64 RGB images in [0, 1] holding
any of three objects — Text ('A' or 'B'), Box1 (10×10) and Box2 (4×4), all white — at random,
non-overlapping positions, on a black, noise or natural background.

The 12 buckets are all combinations of Text ∈ {none, A, B} × Box1 ∈ {absent, present} ×
Box2 ∈ {absent, present}, numbered as in the paper's Fig. 5 / Table 1:
``bucket = 6·Box1 + 3·Box2 + Text + 1`` (Text: 0 none, 1 'A', 2 'B').

Every image comes with a pixel-exact mask per object: the text's is the bounding box of its inked
pixels (SMERF's ground-truth region is the text's bounding box), the boxes' are the boxes.
The glyphs are drawn with matplotlib's DejaVu Sans Bold, which ships with a dependency (SMERF used
Arial, which is not shipped anywhere we can rely on).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..errors import AttrlabError

SIZE = 64
BOX1, BOX2 = 10, 4
OBJECTS = ("text", "box1", "box2")
BACKGROUNDS = ("black", "noise", "natural")
TEXTS = (None, "A", "B")


def bucket_of(text: int, box1: bool, box2: bool) -> int:
    """The paper's bucket id (1..12) of an image's contents.

    Example:
        >>> bucket_of(0, False, False), bucket_of(2, True, True)
        (1, 12)
    """
    return 6 * int(box1) + 3 * int(box2) + int(text) + 1


def contents_of(bucket: int) -> tuple[int, bool, bool]:
    """(text, box1, box2) of a bucket id; text 0 = none, 1 = 'A', 2 = 'B'.

    Example:
        >>> contents_of(8)
        (1, True, False)
    """
    if not 1 <= bucket <= 12:
        raise AttrlabError(f"bucket ids run from 1 to 12, got {bucket}")
    b = bucket - 1
    return b % 3, bool(b // 6), bool((b // 3) % 2)


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont:
    import matplotlib

    path = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans-Bold.ttf")
    return ImageFont.truetype(path, size)


@lru_cache(maxsize=8)
def _glyph(letter: str, size: int) -> np.ndarray:
    """The inked pixels of a letter, cropped to their bounding box (a boolean array)."""
    canvas = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 2), letter, fill=255, font=_font(size))
    ink = np.asarray(canvas) > 127
    rows, cols = np.where(ink)
    return ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


@lru_cache(maxsize=1)
def natural_images() -> tuple[np.ndarray, ...]:
    """Photographs that ship with scikit-image, as float RGB in [0, 1] (the stand-in for the
    Places "stadium" images of SMERF §4.4)."""
    from skimage import data

    out = []
    for name in ("astronaut", "coffee", "chelsea", "camera"):
        try:
            img = getattr(data, name)()
        except Exception:  # a dataset that would need a download
            continue
        img = np.asarray(img, dtype=np.float32) / 255.0
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        out.append(img[..., :3])
    if not out:
        raise AttrlabError("no natural images available from scikit-image")
    return tuple(out)


def load_image_folder(folder: str | os.PathLike) -> tuple[np.ndarray, ...]:
    """Every image (png, jpg, jpeg, bmp) below ``folder`` as float RGB in [0, 1], for natural
    backgrounds of your own.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> Image.new("RGB", (80, 90), (10, 20, 30)).save(d / "a.png")
        >>> [im.shape for im in load_image_folder(d)]
        [(90, 80, 3)]
    """
    paths = sorted(p for ext in ("png", "jpg", "jpeg", "bmp") for p in Path(folder).rglob(f"*.{ext}"))
    if not paths:
        raise AttrlabError(f"no images (png, jpg, jpeg, bmp) found under {folder}")
    images, skipped = [], []
    for p in paths:
        try:
            with Image.open(p) as im:
                images.append(np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            skipped.append(p)
    if not images:
        raise AttrlabError(f"none of the {len(paths)} image files under {folder} could be read")
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable image file(s) under {folder}, e.g. {skipped[0]}", stacklevel=2)
    return tuple(images)


def _background(kind: str, rng: np.random.Generator, photos) -> np.ndarray:
    if kind == "black":
        return np.zeros((SIZE, SIZE, 3), np.float32)
    if kind == "noise":  # uniform 0..150 per pixel and channel (SMERF App. B.8)
        return rng.integers(0, 151, size=(SIZE, SIZE, 3)).astype(np.float32) / 255.0
    if kind == "natural":
        img = photos[rng.integers(len(photos))]
        h, w = img.shape[:2]
        side = int(rng.integers(min(h, w) // 3, min(h, w) + 1))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = Image.fromarray((img[top:top + side, left:left + side] * 255).astype(np.uint8))
        crop = np.asarray(crop.resize((SIZE, SIZE), Image.BILINEAR), dtype=np.float32) / 255.0
        return crop * 0.7  # darkened, as SMERF's code does, so the white objects stay visible
    raise AttrlabError(f"unknown background '{kind}'; choose one of {', '.join(BACKGROUNDS)}")


@dataclass(frozen=True)
class TextBoxBatch:
    """Images ``(N, 3, 64, 64)`` in [0, 1], bucket ids ``(N,)`` and one boolean mask per object,
    ``masks[name]`` of shape ``(N, 64, 64)`` (all False where the object is absent)."""

    images: torch.Tensor
    buckets: torch.Tensor
    masks: dict


def _place(size_hw: tuple[int, int], taken: np.ndarray, rng: np.random.Generator, margin: int = 1) -> tuple[int, int]:
    h, w = size_hw
    for _ in range(1000):
        top, left = int(rng.integers(0, SIZE - h + 1)), int(rng.integers(0, SIZE - w + 1))
        t0, l0 = max(0, top - margin), max(0, left - margin)
        if not taken[t0:top + h + margin, l0:left + w + margin].any():
            return top, left
    raise AttrlabError("could not place the objects without overlap")


class StoredImages:
    """Images kept as uint8 — one channel where they are grey — until a batch is taken, which
    comes back as float32 in [0, 1] with ``channels`` channels: what a training loop indexes.
    Full SMERF's largest training set (150,000 images of 3×64×64) is 7.4 GB as float32, 1.8 GB
    as uint8 and 0.6 GB as one grey uint8 channel (black background: every pixel is grey).

    Example:
        >>> s = StoredImages(torch.tensor([[[[0, 255]]]], dtype=torch.uint8), channels=3)
        >>> s[torch.tensor([0])].shape, s[torch.tensor([0])].max().item(), len(s), s.nbytes
        (torch.Size([1, 3, 1, 2]), 1.0, 1, 2)
    """

    def __init__(self, data: torch.Tensor, channels: int = 3):
        if data.dtype != torch.uint8 or data.dim() != 4:
            raise AttrlabError(f"StoredImages holds (N, C, H, W) uint8, got {tuple(data.shape)} {data.dtype}")
        self.data, self.channels = data, channels

    def __len__(self) -> int:
        return len(self.data)

    @property
    def nbytes(self) -> int:
        return self.data.numel()

    def __getitem__(self, idx) -> torch.Tensor:
        x = self.data[idx].float().div_(255.0)
        return x.expand(-1, self.channels, -1, -1).contiguous() if x.shape[1] != self.channels else x


def generate_textbox(buckets, seed: int = 0, background: str = "black", text_size: int = 20,
                     photos=None, stored: bool = False) -> TextBoxBatch:
    """One image per entry of ``buckets`` (ids 1..12), objects at random non-overlapping places.

    Args:
        background: ``black``, ``noise`` or ``natural`` (crops of ``photos``: scikit-image's
            photographs unless you pass your own, e.g. from :func:`load_image_folder`).
        text_size: font size of the letter in pixels (SMERF: 20).
        stored: training data: images as :class:`StoredImages` (uint8, one channel on a black
            background; the same values once a batch is taken, except natural backgrounds,
            rounded to 1/255) and no object masks (``masks`` is empty).

    Example:
        >>> b = generate_textbox([1, 12], seed=0)
        >>> b.images.shape, [int(b.masks[o][1].sum()) > 0 for o in OBJECTS], int(b.masks["box1"][1].sum())
        (torch.Size([2, 3, 64, 64]), [True, True, True], 100)
    """
    buckets = [int(b) for b in buckets]
    if background == "natural" and photos is None:
        photos = natural_images()
    rng = np.random.default_rng(seed)
    grey = stored and background == "black"
    # (N, C, H, W) from the start: a permuted copy at the end would double the peak memory
    images = np.empty((len(buckets), 1 if grey else 3, SIZE, SIZE), np.uint8 if stored else np.float32)
    masks = {o: np.zeros((len(buckets), SIZE, SIZE), bool) for o in OBJECTS} if not stored else {}
    for i, bucket in enumerate(buckets):
        text, box1, box2 = contents_of(bucket)
        img = _background(background, rng, photos)
        taken = np.zeros((SIZE, SIZE), bool)
        shapes = []
        if text:
            shapes.append(("text", _glyph(TEXTS[text], text_size)))
        if box1:
            shapes.append(("box1", np.ones((BOX1, BOX1), bool)))
        if box2:
            shapes.append(("box2", np.ones((BOX2, BOX2), bool)))
        for name, ink in shapes:
            top, left = _place(ink.shape, taken, rng)
            region = np.zeros((SIZE, SIZE), bool)
            region[top:top + ink.shape[0], left:left + ink.shape[1]] = True
            pixels = np.zeros((SIZE, SIZE), bool)
            pixels[top:top + ink.shape[0], left:left + ink.shape[1]] = ink
            img[pixels] = 1.0
            taken |= region
            if not stored:
                masks[name][i] = region
        if stored:  # exact for black and noise backgrounds (multiples of 1/255)
            images[i] = np.rint(img.transpose(2, 0, 1)[:1] * 255.0) if grey else np.rint(img.transpose(2, 0, 1) * 255.0)
        else:
            images[i] = img.transpose(2, 0, 1)
    tensor = torch.from_numpy(images)
    return TextBoxBatch(StoredImages(tensor, 3) if stored else tensor, torch.tensor(buckets),
                        {k: torch.from_numpy(v) for k, v in masks.items()})
