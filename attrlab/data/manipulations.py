"""The five local image manipulations of Zhou et al. (AAAI 2022, §5 and App. B.1), each with its
effective region (ER): the pixels the manipulation may change, fixed by its geometry alone.

A :class:`Manipulation` is a name, a geometry and a visibility; ``apply(image, rng)`` returns the
manipulated image and the ER mask, ``region(size)`` the ER without an image. The ER never depends
on the visibility (App. B.5) nor on the image, so it is the same for images with and without the
manipulation: the joint ER of ``{no-op, m}`` is ``m``'s ER (the Remark of §4).

Geometry is given in fractions of the image side so that one definition serves 64-pixel quick
runs and the paper's 224-pixel images; sizes in the paper's pixels (blur σ, watermark font) are
scaled by ``side / 224``.

| name         | geometry                                   | visibility (App. B.5 levels)          |
|--------------|--------------------------------------------|---------------------------------------|
| ``blur``     | ``radius``: unaffected disc, / half side   | ``sigma`` 2, 4, 6, 8, 10 (px at 224)  |
| ``brightness``| ``radius``: dimmed disc, / half side      | ``shift`` 0.10 … 0.30 (V in HSV)      |
| ``hue``      | ``top``, ``bottom``: rows, / side          | ``shift`` 0.05 … 0.25 (H in HSV)      |
| ``noise``    | ``top``, ``bottom``: rows, / side          | ``p`` 0.02 … 0.10 (pixels replaced)   |
| ``watermark``| ``top``, ``bottom``, ``left``, ``right``   | ``font`` 7 … 15 (px at 224)           |

Written here rather than taken from a library: no kept library defines these artifacts with their
regions; the pixel operations themselves are scikit-image's (Gaussian filter, HSV conversion) and
Pillow's (text). Where the authors' code (see the reference notes) differs we say so inline.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import AttrlabError

REFERENCE_SIDE = 224
VISIBILITY = {  # App. B.5, least to most visible
    "blur": ("sigma", (2.0, 4.0, 6.0, 8.0, 10.0)),
    "brightness": ("shift", (0.10, 0.15, 0.20, 0.25, 0.30)),
    "hue": ("shift", (0.05, 0.10, 0.15, 0.20, 0.25)),
    "noise": ("p", (0.02, 0.04, 0.06, 0.08, 0.10)),
    "watermark": ("font", (7.0, 9.0, 11.0, 13.0, 15.0)),
}
GEOMETRY = {
    "blur": ("radius",),
    "brightness": ("radius",),
    "hue": ("top", "bottom"),
    "noise": ("top", "bottom"),
    "watermark": ("top", "bottom", "left", "right"),
}
# The fixed manipulations of the paper's §5.4 runs (the authors' dm_orig_corr_strength), in fractions.
DEFAULTS = {
    "blur": {"radius": 80 / 112, "sigma": 10.0},
    "brightness": {"radius": 60 / 112, "shift": 0.3},
    "hue": {"top": 80 / 224, "bottom": 130 / 224, "shift": 0.15},
    "noise": {"top": 80 / 224, "bottom": 130 / 224, "p": 0.03},
    "watermark": {"top": 150 / 224, "bottom": 200 / 224, "left": 30 / 224, "right": 194 / 224, "font": 13.0},
}
NAMES = tuple(DEFAULTS)


@dataclass(frozen=True)
class Manipulation:
    """One manipulation with its parameters (geometry in fractions of the side, visibility as in
    :data:`VISIBILITY`).

    Example:
        >>> import numpy as np
        >>> m = Manipulation("noise", {"top": 0.25, "bottom": 0.5, "p": 0.5})
        >>> img = np.full((32, 32, 3), 0.5, np.float32)
        >>> out, er = m.apply(img, np.random.default_rng(0))
        >>> bool(((out != img).any(2) <= er).all()), round(float(er.mean()), 3)
        (True, 0.281)
    """

    name: str
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.name not in DEFAULTS:
            raise AttrlabError(f"unknown manipulation '{self.name}'; choose one of {', '.join(NAMES)}")
        unknown = set(self.params) - set(DEFAULTS[self.name])
        if unknown:
            raise AttrlabError(f"manipulation {self.name} has no parameter {', '.join(sorted(unknown))}; "
                               f"it takes {', '.join(DEFAULTS[self.name])}")
        object.__setattr__(self, "params", {**DEFAULTS[self.name], **self.params})

    @property
    def visibility(self) -> float:
        return float(self.params[VISIBILITY[self.name][0]])

    def with_visibility(self, value: float) -> "Manipulation":
        return Manipulation(self.name, {**self.params, VISIBILITY[self.name][0]: value})

    def region(self, side: int) -> np.ndarray:
        """The effective region on a ``side``×``side`` image (boolean, image-independent)."""
        p = self.params
        if self.name in ("blur", "brightness"):
            inside = _radius_grid(side) <= p["radius"]
            return ~inside if self.name == "blur" else inside
        mask = np.zeros((side, side), bool)
        if self.name in ("hue", "noise"):
            top, bottom = _rows(p["top"], p["bottom"], side)
            mask[top:bottom + 1] = True  # rows top..bottom inclusive, as in the authors' code
        else:
            top, bottom = _rows(p["top"], p["bottom"], side)
            left, right = _rows(p["left"], p["right"], side)
            mask[top:bottom, left:right] = True
        return mask

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Manipulate an H×W×3 float image in [0, 1]; returns ``(image, effective region)``."""
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] != image.shape[1]:
            raise AttrlabError(f"manipulations take square H×W×3 images, got shape {image.shape}")
        side = image.shape[0]
        er = self.region(side)
        out = getattr(self, f"_{self.name}")(image.astype(np.float32), side, er, rng)
        out = np.where(er[..., None], out, image)  # local by construction: nothing outside the ER changes
        return np.clip(out, 0.0, 1.0).astype(np.float32), er

    # --- the five operations -------------------------------------------------------------------
    def _blur(self, image, side, er, rng):
        from skimage.filters import gaussian

        sigma = self.params["sigma"] * side / REFERENCE_SIDE
        return gaussian(image, sigma=sigma, channel_axis=2, preserve_range=True)

    def _brightness(self, image, side, er, rng):
        from skimage.color import hsv2rgb, rgb2hsv

        r = _radius_grid(side)
        profile = np.where(er, np.cos(np.pi * r / (2 * self.params["radius"])) ** 2, 0.0)
        hsv = rgb2hsv(image)
        hsv[..., 2] = np.clip(hsv[..., 2] - self.params["shift"] * profile, 0, 1)  # the centre is dimmed
        return hsv2rgb(hsv)

    def _hue(self, image, side, er, rng):
        from skimage.color import hsv2rgb, rgb2hsv

        top, bottom = _rows(self.params["top"], self.params["bottom"], side)
        y = np.arange(side, dtype=np.float64)
        # one sine period over the stripe, its phase anchored at the stripe's top (the authors'
        # code anchors it at the image centre, which makes the profile depend on the position)
        s = np.sin(2 * np.pi * (y - top) / max(1, bottom - top))
        d = np.where((y >= top) & (y <= bottom), s * np.abs(s) * self.params["shift"], 0.0)
        hsv = rgb2hsv(image)
        hsv[..., 0] = np.mod(hsv[..., 0] + d[:, None], 1.0)
        return hsv2rgb(hsv)

    def _noise(self, image, side, er, rng):
        replace = er & (rng.random((side, side)) < self.params["p"])
        noise = rng.integers(0, 256, size=image.shape).astype(np.float32) / 255.0
        return np.where(replace[..., None], noise, image)

    def _watermark(self, image, side, er, rng):
        """"IMG" in white and four random digits in black, at a random place inside the region."""
        size = max(4, int(round(self.params["font"] * side / REFERENCE_SIDE)))
        font = _font(size)
        digits = "".join(str(d) for d in rng.integers(0, 10, 4))
        rows, cols = np.where(er)
        canvas = Image.fromarray((image * 255).round().astype(np.uint8))
        draw = ImageDraw.Draw(canvas)
        w_img, w_dig = draw.textlength("IMG", font=font), draw.textlength(digits, font=font)
        width, height = w_img + w_dig, size
        x0 = cols.min() + rng.random() * max(0.0, cols.max() + 1 - cols.min() - width)
        y0 = rows.min() + rng.random() * max(0.0, rows.max() + 1 - rows.min() - height)
        draw.text((x0, y0), "IMG", fill=(255, 255, 255), font=font)
        draw.text((x0 + w_img, y0), digits, fill=(0, 0, 0), font=font)
        return np.asarray(canvas, dtype=np.float32) / 255.0


def _radius_grid(side: int) -> np.ndarray:
    """Distance of each pixel centre from the image centre, in half-sides (as the authors'
    ``linspace(-1, 1)`` grid)."""
    c = np.linspace(-1.0, 1.0, side)
    return np.sqrt(c[None, :] ** 2 + c[:, None] ** 2)


def _rows(a: float, b: float, side: int) -> tuple[int, int]:
    lo, hi = int(round(a * side)), int(round(b * side))
    if not 0 <= lo < hi <= side:
        raise AttrlabError(f"a region from {a:.3f} to {b:.3f} of the side is empty or leaves the image")
    return lo, hi


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont:
    import matplotlib

    return ImageFont.truetype(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf"), size)


def random_manipulation(name: str, rng: np.random.Generator, **fixed) -> Manipulation:
    """A manipulation with the random geometry of the paper's §5.1 runs (the authors'
    ``dm_attr_vs_er`` ranges, in fractions), visibility at its §5.1 value unless ``fixed``.

    Example:
        >>> m = random_manipulation("watermark", np.random.default_rng(0))
        >>> bool(0 < m.region(64).mean() < 1)
        True
    """
    u = rng.uniform
    if name == "blur":
        params = {"radius": u(80, 130) / 112, "sigma": 2.0}
    elif name == "brightness":
        params = {"radius": u(40, 112) / 112, "shift": 0.3}
    elif name in ("hue", "noise"):
        size = u(20, 224)
        top = u(0, 224 - size)
        params = {"top": top / 224, "bottom": (top + size) / 224}
        params.update({"shift": 0.04} if name == "hue" else {"p": 0.02})
    elif name == "watermark":
        h, w = u(40, 200), u(100, 200)
        top, left = u(0, 224 - h), u(0, 224 - w)
        params = {"top": top / 224, "bottom": (top + h) / 224, "left": left / 224, "right": (left + w) / 224,
                  "font": 13.0}
    else:
        raise AttrlabError(f"unknown manipulation '{name}'; choose one of {', '.join(NAMES)}")
    return Manipulation(name, {**params, **fixed})
