"""Real photographs that ship inside an installed package (scikit-image), resized for the model.

Nothing is downloaded: ``skimage.data.astronaut()`` and friends read PNG files that are part of the
scikit-image wheel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize  # one home for both

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "IMAGES", "load_image", "normalize"]

IMAGES = ("astronaut", "chelsea", "coffee", "rocket")
"""Photographs bundled with scikit-image (a person, a cat, a cup, a rocket). Not every ``skimage.data`` image
is bundled: some (e.g. ``stereo_motorcycle``) are fetched from the network on first use, so they are not here."""


def load_image(name: str = "astronaut", size: int | tuple[int, int] = 224) -> torch.Tensor:
    """A bundled photograph as a float tensor ``(3, H, W)`` in [0, 1]: centre-cropped to square, then resized."""
    import skimage.data

    if name not in IMAGES:
        raise ValueError(f"unknown image {name!r}; bundled images are {IMAGES}")
    array = getattr(skimage.data, name)()
    img = torch.from_numpy(array[..., :3].copy()).permute(2, 0, 1).float() / 255.0
    H, W = img.shape[1:]
    side = min(H, W)
    top, left = (H - side) // 2, (W - side) // 2
    img = img[:, top : top + side, left : left + side]
    out = (size, size) if isinstance(size, int) else size
    return F.interpolate(img[None], size=out, mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)
