"""Per-image transforms, run where the image is decoded (a loader's worker process), and normalisation.

The paper's recipe (App. A2.1, following DeiT) starts every training image with a random-resized crop of the
*original* image: area fraction ~ U(0.08, 1), aspect ratio log-uniform in (3/4, 4/3), resized bicubically to the
input side, then a horizontal flip with probability 1/2. Evaluation resizes the shorter side to ``size * 256/224``
(bicubic) and takes the centre ``size x size`` crop.

Each training image draws its crop (and its RandAugment operations, :mod:`~swin_viz.data.rand_augment`) from its
own ``numpy.random.Generator`` seeded with ``(seed, epoch, index)``, so what an image becomes does not depend on
which worker, rank or batch decodes it.

This module is also the one home of the ImageNet mean and standard deviation and of :func:`normalize`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._validate import check_nonnegative, check_positive

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "decode_rgb",
    "eval_crop",
    "normalize",
    "pil_to_uint8",
    "random_resized_crop_box",
    "sample_rng",
    "train_crop",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

RRC_SCALE = (0.08, 1.0)
RRC_RATIO = (3 / 4, 4 / 3)
EVAL_RESIZE_RATIO = 256 / 224

_NORM_CONSTANTS: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}


def normalize(x: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` (or ``(3, H, W)``) float in ``[0, 1]`` -> ImageNet-normalised ``(x - mean) / std``."""
    if not x.is_floating_point() or x.dim() < 3 or x.shape[-3] != 3:
        raise ValueError(f"normalize expects float (..., 3, H, W) in [0, 1], got {tuple(x.shape)} {x.dtype}")
    key = (x.device, x.dtype)
    if key not in _NORM_CONSTANTS:
        _NORM_CONSTANTS[key] = (
            torch.tensor(IMAGENET_MEAN, dtype=x.dtype).view(3, 1, 1).to(x.device),
            torch.tensor(IMAGENET_STD, dtype=x.dtype).view(3, 1, 1).to(x.device),
        )
    mean, std = _NORM_CONSTANTS[key]
    return (x - mean) / std


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one image's augmentation in one epoch: a function of ``(seed, epoch, index)`` only.

    ``seed`` is taken modulo ``2**64`` (so any Python int works); ``epoch`` and ``index`` must be ints ``>= 0``.
    """
    check_nonnegative(epoch, "epoch")
    check_nonnegative(index, "index")
    return np.random.default_rng([int(seed) % 2**64, int(epoch), int(index), 0x5317])


def decode_rgb(path: str | os.PathLike):
    """Open an image file as an 8-bit RGB ``PIL.Image``.

    16-bit images (PIL modes ``I;16*`` and ``I``, e.g. 16-bit greyscale PNGs) are scaled from ``0..65535`` to
    ``0..255``: PIL's own ``convert("RGB")`` would clip every value above 255 to white. Raises ``ValueError``
    naming the file when it cannot be decoded.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode.startswith("I;16") or im.mode == "I":
                arr = np.asarray(im, dtype=np.float64)
                grey = np.clip(np.round(arr * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
                return Image.fromarray(grey, mode="L").convert("RGB")
            if im.mode == "F":
                arr = np.asarray(im, dtype=np.float64)
                grey = np.clip(np.round(arr * 255.0), 0, 255).astype(np.uint8)  # float images are taken as 0..1
                return Image.fromarray(grey, mode="L").convert("RGB")
            return im.convert("RGB")
    except (OSError, ValueError) as e:  # PIL.UnidentifiedImageError is an OSError
        raise ValueError(f"could not decode image {Path(path)}: {e}") from e


def random_resized_crop_box(
    width: int,
    height: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = RRC_SCALE,
    ratio: tuple[float, float] = RRC_RATIO,
    tries: int = 10,
) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` of a random-resized crop of a ``width x height`` image.

    Area fraction ~ U(``scale``), aspect ratio (w/h) log-uniform in ``ratio``; the first of ``tries`` boxes that
    fits wins, at a uniform position; if none fits, the centre crop whose aspect ratio is the image's clamped to
    ``ratio`` (Szegedy et al., 2015, as DeiT and Swin use it). Every side is at least one pixel.
    """
    check_positive(width, "random_resized_crop_box: width")
    check_positive(height, "random_resized_crop_box: height")
    if not (0 < scale[0] <= scale[1] <= 1):
        raise ValueError(f"scale must satisfy 0 < scale[0] <= scale[1] <= 1, got {scale}")
    if not (0 < ratio[0] <= ratio[1]):
        raise ValueError(f"ratio must satisfy 0 < ratio[0] <= ratio[1], got {ratio}")
    area = width * height
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(tries):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_r))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left = int(rng.integers(0, width - w + 1))
            top = int(rng.integers(0, height - h + 1))
            return left, top, left + w, top + h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, max(1, round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        w, h = max(1, round(height * ratio[1])), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def pil_to_uint8(im: Any) -> torch.Tensor:
    """An RGB PIL image -> ``(3, H, W)`` uint8 tensor."""
    return torch.from_numpy(np.array(im, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def train_crop(im, size: int, rng: np.random.Generator, flip: bool = True,
               randaugment: Callable[[Any, np.random.Generator], Any] | None = None) -> torch.Tensor:  # fmt: skip
    """PIL RGB image -> ``(3, size, size)`` uint8: a random-resized crop (bicubic), a random horizontal flip and,
    when given, ``randaugment(crop, rng)`` (a :class:`~swin_viz.data.rand_augment.RandAugment`), all drawn from
    ``rng`` in that order."""
    from PIL import Image

    check_positive(size, "train_crop: size")
    box = random_resized_crop_box(im.width, im.height, rng)
    out = im.resize((size, size), Image.Resampling.BICUBIC, box=box)
    if flip and rng.random() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if randaugment is not None:
        out = randaugment(out, rng)
    return pil_to_uint8(out)


def eval_crop(im, size: int, resize_ratio: float = EVAL_RESIZE_RATIO) -> torch.Tensor:
    """PIL RGB image -> ``(3, size, size)`` uint8: shorter side to ``int(size * resize_ratio)`` (bicubic), centre
    crop."""
    from PIL import Image

    check_positive(size, "eval_crop: size")
    resize_to = max(size, int(size * resize_ratio))
    w, h = im.size
    if w <= h:
        new_w, new_h = resize_to, max(resize_to, int(resize_to * h / w))
    else:
        new_w, new_h = max(resize_to, int(resize_to * w / h)), resize_to
    im = im.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = round((new_w - size) / 2), round((new_h - size) / 2)
    return pil_to_uint8(im.crop((left, top, left + size, top + size)))
