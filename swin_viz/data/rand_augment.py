"""RandAugment and random erasing as the paper's recipe has them (the book's chapter "Training Swin").

The recipe (App. A2.1, DeiT's, in timm's notation ``rand-m9-mstd0.5-inc1``, random erasing 0.25 mode ``pixel``)
is written here on PIL from timm's documented behaviour, so that it runs per image in the loaders' worker
processes, where the crop happens:

* :class:`RandAugment`: each image draws ``n`` (2) operations uniformly, with replacement, from the 15 of
  :data:`INCREASING_OPS` (``inc1``; :data:`OPS` without it). Each drawn operation is applied with probability
  ``p`` (0.5); when applied it draws its own magnitude ~ N(m, mstd) = N(9, 0.5), clipped to [0, 10], and, for the
  signed operations, a sign with probability 1/2. :func:`op_argument` maps a magnitude to the argument
  (degrees, shear factor, fraction of the side, bits, threshold, enhancement factor); :func:`apply_op` applies
  one operation. Geometric operations resample bicubically (Swin's ``DATA.INTERPOLATION``) and fill the
  uncovered area with the ImageNet mean in 8 bits, ``round(255 * mean)`` = (124, 116, 104).
* :class:`RandomErasing`: with probability 0.25 per image, one rectangle of area U(0.02, 1/3) of the image and
  log-uniform aspect ratio in (0.3, 1/0.3) (first of 10 tries that fits, at a uniform position) is replaced, in the
  *normalised* image, with per-pixel N(0, 1) noise (mode ``pixel``). It runs on the device on the normalised batch,
  as timm's own training script (its prefetching loader) runs it; ``mode="const"`` fills with 0 (the mean).

All randomness of :class:`RandAugment` comes from the ``numpy.random.Generator`` it is given: the loaders pass each
image's own generator, seeded by ``(seed, epoch, index)``, so what an image becomes does not depend on the number
of workers or ranks. :class:`RandomErasing` draws from torch's generators of the training process (seeded per rank
and saved in its checkpoints).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .transforms import IMAGENET_MEAN

__all__ = [
    "INCREASING_OPS",
    "MEAN_FILL",
    "OPS",
    "RandAugment",
    "RandomErasing",
    "apply_op",
    "op_argument",
    "parse_randaugment",
]

OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color", "Contrast",
       "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")  # fmt: skip
"""timm's ``rand-`` operation list without ``inc1``."""

INCREASING_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
                  "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing",
                  "SharpnessIncreasing", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")  # fmt: skip
"""timm's ``rand-...-inc1`` list: the variants whose strength grows with the magnitude (the paper's recipe)."""

MEAN_FILL: tuple[int, int, int] = tuple(min(255, round(255 * c)) for c in IMAGENET_MEAN)  # type: ignore[assignment]
"""The fill of the geometric operations: the ImageNet mean in 8 bits, (124, 116, 104)."""

MAX_LEVEL = 10.0
"""Magnitudes are on a 0..10 scale (timm's ``_LEVEL_DENOM``); a drawn magnitude is clipped to [0, 10]."""

_SIGNED = {"Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel", "ColorIncreasing", "ContrastIncreasing",
           "BrightnessIncreasing", "SharpnessIncreasing"}  # fmt: skip


def parse_randaugment(spec: str) -> tuple[float, float, int]:
    """``"rand-m9-mstd0.5-inc1"`` (timm's notation; ``-n2`` optional) -> ``(m, mstd, n)``, magnitude on 0..10.

    Use :meth:`RandAugment.from_spec` for the operation list (``inc1``) as well.
    """
    return _parse(spec)[:3]  # type: ignore[return-value]


def _parse(spec: str) -> tuple[float, float, int, bool]:
    parts = spec.split("-")
    if not parts or parts[0] != "rand":
        raise ValueError(f"RandAugment spec must look like 'rand-m9-mstd0.5-inc1', got {spec!r}")
    m, mstd, n, inc = 9.0, 0.0, 2, False
    for p in parts[1:]:
        try:
            if p.startswith("mstd"):
                mstd = float(p[4:])
            elif p.startswith("m"):
                m = float(p[1:])
            elif p.startswith("n"):
                n = int(p[1:])
            elif p.startswith("inc"):
                inc = bool(int(p[3:]))
            else:
                raise ValueError(p)
        except ValueError:
            raise ValueError(
                f"RandAugment spec {spec!r}: cannot read {p!r} (expected m<float>, mstd<float>, n<int>, inc<0|1>)"
            ) from None
    if not (0 <= m <= MAX_LEVEL and math.isfinite(mstd) and mstd >= 0 and n >= 1):
        raise ValueError(f"RandAugment spec {spec!r}: need 0 <= m <= 10, finite mstd >= 0, n >= 1")
    return m, mstd, n, inc


def op_argument(name: str, magnitude: float, negate: bool = False) -> float | int | None:
    """The argument operation ``name`` takes at ``magnitude`` (0..10): timm's mapping of each operation.

    ``Rotate``: degrees, 30 m/10. ``ShearX/Y``: shear factor, 0.3 m/10. ``TranslateX/YRel``: fraction of the
    width / height, 0.45 m/10. These three are negated when ``negate``. ``PosterizeIncreasing``: bits kept,
    4 - int(4 m/10) (``Posterize``: int(4 m/10)). ``SolarizeIncreasing``: threshold 256 - int(256 m/10)
    (``Solarize``: int(256 m/10)). ``SolarizeAdd``: int(110 m/10) added below 128. ``*Increasing`` enhancements:
    factor max(0.1, 1 +- 0.9 m/10) (minus when ``negate``); plain ``Color`` etc.: 0.1 + 1.8 m/10.
    ``AutoContrast``, ``Equalize``, ``Invert``: None. A posterize to 0 bits (magnitude 10, which N(9, 0.5) reaches
    2.3% of the time) gives a black image, as older Pillow did; timm calls ``ImageOps.posterize``, which Pillow 13
    refuses with ``ValueError`` for 0 bits.
    """
    if name not in OPS and name not in INCREASING_OPS:
        raise ValueError(f"unknown RandAugment operation {name!r}; known: {sorted(set(OPS) | set(INCREASING_OPS))}")
    if not 0 <= magnitude <= MAX_LEVEL:
        raise ValueError(f"RandAugment magnitude must be in [0, 10], got {magnitude}")
    level = magnitude / MAX_LEVEL
    sign = -1.0 if negate else 1.0
    if name in ("AutoContrast", "Equalize", "Invert"):
        return None
    if name == "Rotate":
        return sign * 30.0 * level
    if name in ("ShearX", "ShearY"):
        return sign * 0.3 * level
    if name in ("TranslateXRel", "TranslateYRel"):
        return sign * 0.45 * level
    if name == "Posterize":
        return int(4 * level)
    if name == "PosterizeIncreasing":
        return 4 - int(4 * level)
    if name == "Solarize":
        return int(256 * level)
    if name == "SolarizeIncreasing":
        return 256 - int(256 * level)
    if name == "SolarizeAdd":
        return int(110 * level)
    if name.endswith("Increasing"):  # Color, Contrast, Brightness, Sharpness
        return max(0.1, 1.0 + sign * 0.9 * level)
    return 0.1 + 1.8 * level  # Color, Contrast, Brightness, Sharpness


def _resample(name: str) -> Any:
    from PIL import Image

    modes = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR,
             "nearest": Image.Resampling.NEAREST}  # fmt: skip
    if name not in modes:
        raise ValueError(f"resample must be one of {sorted(modes)}, got {name!r}")
    return modes[name]


def apply_op(img: Any, name: str, magnitude: float, negate: bool = False, fill: Sequence[int] = MEAN_FILL,
             resample: str = "bicubic") -> Any:  # fmt: skip
    """One RandAugment operation on a PIL RGB image at ``magnitude`` (0..10), no randomness; returns a new image.

    The geometric ones map each output pixel ``(x, y)`` to the input point (PIL's affine convention, the image's
    top-left corner as origin; ``Rotate`` turns counter-clockwise about the centre): ``ShearX`` ``(x + s y, y)``,
    ``ShearY`` ``(x, s x + y)``, ``TranslateXRel`` ``(x + t W, y)``, ``TranslateYRel`` ``(x, y + t H)``; pixels
    that come from outside the image get ``fill``.
    """
    from PIL import Image, ImageEnhance, ImageOps

    arg = op_argument(name, magnitude, negate)
    geo = dict(resample=_resample(resample), fillcolor=tuple(int(c) for c in fill))
    W, H = img.size
    if name == "AutoContrast":
        return ImageOps.autocontrast(img)
    if name == "Equalize":
        return ImageOps.equalize(img)
    if name == "Invert":
        return ImageOps.invert(img)
    if name == "Rotate":
        return img.rotate(arg, **geo)
    if name == "ShearX":
        return img.transform(img.size, Image.Transform.AFFINE, (1, arg, 0, 0, 1, 0), **geo)
    if name == "ShearY":
        return img.transform(img.size, Image.Transform.AFFINE, (1, 0, 0, arg, 1, 0), **geo)
    if name == "TranslateXRel":
        return img.transform(img.size, Image.Transform.AFFINE, (1, 0, arg * W, 0, 1, 0), **geo)
    if name == "TranslateYRel":
        return img.transform(img.size, Image.Transform.AFFINE, (1, 0, 0, 0, 1, arg * H), **geo)
    if name.startswith("Posterize"):  # keep the top `arg` bits; 0 bits gives black (Pillow 13 refuses 0)
        keep = (0xFF << (8 - int(arg))) & 0xFF
        return img if arg >= 8 else img.point([i & keep for i in range(256)] * len(img.getbands()))
    if name.startswith("Solarize") and name != "SolarizeAdd":
        return ImageOps.solarize(img, int(arg))
    if name == "SolarizeAdd":
        lut = [min(255, i + int(arg)) if i < 128 else i for i in range(256)]
        return img.point(lut * len(img.getbands()))
    enhancer = {"Color": ImageEnhance.Color, "Contrast": ImageEnhance.Contrast,
                "Brightness": ImageEnhance.Brightness, "Sharpness": ImageEnhance.Sharpness}  # fmt: skip
    return enhancer[name.removesuffix("Increasing")](img).enhance(float(arg))


class RandAugment:
    """RandAugment per image, on PIL RGB images; ``RandAugment.from_spec("rand-m9-mstd0.5-inc1")`` is the recipe's.

    ``ra(img, rng)`` draws everything from ``rng`` (a ``numpy.random.Generator``), in this order: the ``n``
    operation indices (uniform, with replacement); then for each operation ``u ~ U(0, 1)`` (applied when
    ``u < p``) and, if applied, its magnitude ``N(m, mstd)`` clipped to [0, 10] and, if signed, a sign (minus with
    probability 1/2). Picklable (plain attributes), so it travels to ``DataLoader`` workers under any start method.
    """

    def __init__(self, m: float = 9.0, mstd: float = 0.5, n: int = 2, increasing: bool = True, p: float = 0.5,
                 fill: Sequence[int] = MEAN_FILL, resample: str = "bicubic") -> None:  # fmt: skip
        if not 0 <= p <= 1:
            raise ValueError(f"RandAugment: p must be a probability in [0, 1], got {p}")
        if len(fill) != 3 or not all(0 <= int(c) <= 255 for c in fill):
            raise ValueError(f"RandAugment: fill must be three 8-bit values, got {fill!r}")
        _resample(resample)
        self.m, self.mstd, self.n, self.p = float(m), float(mstd), int(n), float(p)
        self.ops = INCREASING_OPS if increasing else OPS
        self.fill, self.resample = tuple(int(c) for c in fill), resample

    @classmethod
    def from_spec(cls, spec: str, **kwargs: Any) -> RandAugment:
        """``"rand-m9-mstd0.5-inc1"`` -> the transform (``kwargs``: ``p``, ``fill``, ``resample``)."""
        m, mstd, n, inc = _parse(spec)
        return cls(m, mstd, n, inc, **kwargs)

    def __repr__(self) -> str:
        inc = int(self.ops is INCREASING_OPS)
        return f"RandAugment(m={self.m}, mstd={self.mstd}, n={self.n}, inc={inc}, p={self.p}, fill={self.fill})"

    def draw(self, rng: np.random.Generator) -> list[tuple[str, float, bool]]:
        """The operations one image gets: ``[(name, magnitude, negate), ...]`` (those skipped are left out)."""
        chosen = rng.integers(0, len(self.ops), size=self.n)
        out = []
        for i in chosen:
            if rng.random() >= self.p:
                continue
            mag = float(np.clip(rng.normal(self.m, self.mstd) if self.mstd > 0 else self.m, 0.0, MAX_LEVEL))
            name = self.ops[int(i)]
            negate = bool(rng.random() < 0.5) if name in _SIGNED else False
            out.append((name, mag, negate))
        return out

    def __call__(self, img: Any, rng: np.random.Generator) -> Any:
        for name, mag, negate in self.draw(rng):
            img = apply_op(img, name, mag, negate, self.fill, self.resample)
        return img

    def augment_batch(self, x: torch.Tensor, rngs: Sequence[np.random.Generator]) -> torch.Tensor:
        """A uint8 batch ``(B, 3, H, W)`` (any device) -> the same shape and device, image ``i`` augmented with
        ``rngs[i]``. The in-memory loaders use it: the images go through the same PIL operations on the host."""
        from PIL import Image

        if x.dim() != 4 or x.shape[1] != 3 or x.dtype != torch.uint8 or len(rngs) != len(x):
            raise ValueError(f"augment_batch expects uint8 (B, 3, H, W) and B generators, got {tuple(x.shape)} "
                             f"{x.dtype} and {len(rngs)}")  # fmt: skip
        arr = x.permute(0, 2, 3, 1).cpu().numpy()
        out = np.stack([np.asarray(self(Image.fromarray(a), r)) for a, r in zip(arr, rngs)])
        return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous().to(x.device)


class RandomErasing(nn.Module):
    """timm's random erasing on a normalised batch ``(B, C, H, W)`` on its device; returns a new batch.

    Per image, with probability ``p``: up to ``tries`` boxes of area ``U(scale) H W`` and aspect ratio (h / w)
    log-uniform in ``ratio``, sides ``round(sqrt(area * r))`` x ``round(sqrt(area / r))``; the first with both sides
    smaller than the image's is placed uniformly (``top`` in ``0..H-h``) and filled with N(0, 1) noise per pixel
    and channel (``mode="pixel"``) or 0, the mean (``mode="const"``). No box fits: the image is left alone. The
    parameters come from one ``torch.rand`` on the host (torch's global generator), the noise from one
    ``torch.randn`` on the device for the erased images only: a few kernel launches per batch, no loop over images
    and no wait for the device.
    """

    def __init__(self, p: float = 0.25, mode: str = "pixel", scale: tuple[float, float] = (0.02, 1 / 3),
                 ratio: tuple[float, float] = (0.3, 1 / 0.3), tries: int = 10) -> None:  # fmt: skip
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"RandomErasing: p must be a probability in [0, 1], got {p}")
        if mode not in ("pixel", "const"):
            raise ValueError(f"RandomErasing: mode must be 'pixel' or 'const', got {mode!r}")
        if not (0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1]):
            raise ValueError(f"RandomErasing: need 0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1], "
                             f"got scale={scale}, ratio={ratio}")  # fmt: skip
        self.p, self.mode, self.scale, self.ratio, self.tries = float(p), mode, scale, ratio, int(tries)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"

    def boxes(self, n: int, H: int, W: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(n, 4)`` int64 ``(top, left, h, w)`` on the CPU, ``h = w = 0`` where an image is not erased."""
        T = self.tries
        u = torch.rand(n, 2 * T + 3, generator=generator, dtype=torch.float64)
        area = (self.scale[0] + (self.scale[1] - self.scale[0]) * u[:, 1 : T + 1]) * (H * W)
        lr0, lr1 = math.log(self.ratio[0]), math.log(self.ratio[1])
        r = torch.exp(lr0 + (lr1 - lr0) * u[:, T + 1 : 2 * T + 1])
        h, w = torch.round(torch.sqrt(area * r)).long(), torch.round(torch.sqrt(area / r)).long()
        fits = (h < H) & (w < W)
        first = fits.long().argmax(dim=1, keepdim=True)
        ok = fits.any(dim=1) & (u[:, 0] < self.p)
        h = torch.where(ok, h.gather(1, first).squeeze(1), 0)
        w = torch.where(ok, w.gather(1, first).squeeze(1), 0)
        top = torch.floor(u[:, 2 * T + 1] * (H - h + 1)).long().clamp(max=H - h)
        left = torch.floor(u[:, 2 * T + 2] * (W - w + 1)).long().clamp(max=W - w)
        return torch.stack([top, left, h, w], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or not x.is_floating_point():
            raise ValueError(f"RandomErasing expects a normalised float (B, C, H, W) batch, got {tuple(x.shape)}")
        if self.p == 0 or not len(x):
            return x
        B, _, H, W = x.shape
        box = self.boxes(B, H, W)
        hit = torch.nonzero(box[:, 2] > 0).squeeze(1)  # on the host: no wait for the device
        if not len(hit):
            return x
        idx = hit.to(x.device, non_blocking=True)
        top, left, h, w = (v.view(-1, 1, 1, 1) for v in box[hit].to(x.device, non_blocking=True).unbind(1))
        rows = torch.arange(H, device=x.device).view(1, 1, H, 1)
        cols = torch.arange(W, device=x.device).view(1, 1, 1, W)
        inside = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)
        sub = x.index_select(0, idx)
        fill = torch.randn_like(sub) if self.mode == "pixel" else torch.zeros_like(sub)
        return x.index_copy(0, idx, torch.where(inside, fill, sub))
