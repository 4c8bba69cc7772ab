"""The data side of training: data sets held in memory, a loader that batches on the device, augmentation.

Three sources, all decoded once into a :class:`ImageSet` (``images`` ``(N, 3, H, W)`` uint8, ``labels`` ``(N,)``):

* :func:`load_digits`: scikit-learn's bundled handwritten digits, the offline default (nothing to download);
* :func:`load_cifar10`: the "CIFAR-10 python version" folder, if you already have it on disk (never downloaded);
* :func:`load_image_folder`: an ImageFolder tree (``root/class_name/*.jpg``), e.g. Imagenette.

:class:`DeviceLoader` moves the whole set to the device once and cuts batches there: no worker processes, no
host-to-device copies per step. Its shuffling is a function of ``(seed, epoch)``, the same on every rank, and each
rank takes a contiguous slice of every global batch, so a ``world_size``-process run sees exactly the batches of a
single-process run. Augmentation (:func:`augment_batch`: random-resized-crop and horizontal flip in one
``grid_sample``) and :func:`mixup_cutmix` run on whole batches on the device, drawing from a ``torch.Generator``.

:func:`synthetic_batches` is for throughput measurements only.
"""

from __future__ import annotations

import math
import os
import pickle
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "DeviceLoader",
    "ImageSet",
    "augment_batch",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_image_folder",
    "mixup_cutmix",
    "normalize",
    "synthetic_batches",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILES = ("test_batch",)
CIFAR10_META_FILE = "batches.meta"
CIFAR10_FOLDER = "cifar-10-batches-py"


@dataclass
class ImageSet:
    """Images held in memory: the offline default (digits), CIFAR-10, or a decoded folder.

    ``images`` is ``(N, 3, H, W)`` uint8, ``labels`` ``(N,)`` int64 with values in ``0..len(classes) - 1``.
    ``flip`` says whether a horizontal flip is a valid augmentation (False for digits: a mirrored 2 is no 2).
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str
    flip: bool = True

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or self.images.shape[1] != 3 or self.images.dtype != torch.uint8:
            raise ValueError(
                f"ImageSet.images must be (N, 3, H, W) uint8, got {tuple(self.images.shape)} {self.images.dtype}"
            )
        if self.labels.shape != (self.images.shape[0],) or self.labels.dtype != torch.int64:
            raise ValueError(
                f"ImageSet.labels must be ({self.images.shape[0]},) int64, "
                f"got {tuple(self.labels.shape)} {self.labels.dtype}"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)


# --------------------------------------------------------------------------------------------------- loaders


def _split_name(split: str, what: str, aliases: dict[str, str]) -> str:
    key = split.lower()
    if key not in aliases:
        raise ValueError(f"{what}: unknown split {split!r}; expected one of {sorted(aliases)}")
    return aliases[key]


def load_digits(size: int = 32, split: str = "train", val_fraction: float = 0.2, seed: int = 0) -> ImageSet:
    """scikit-learn's bundled handwritten digits: 1797 grey 8x8 images of 0..9, values 0..16. No download.

    The split is stratified and fixed by ``seed``: within each class a seeded shuffle puts
    ``round(n_class * val_fraction)`` images in ``"val"`` (alias ``"test"``) and the rest in ``"train"``; the two
    are disjoint, cover all 1797 images, and keep the original order. Images are resized to ``size x size``
    (bilinear; antialiased when ``size < 8``), the grey channel is replicated to 3, and 0..16 is scaled to 0..255.

    Returns an :class:`ImageSet` with ``images`` ``(N, 3, size, size)`` uint8 and ``flip=False``.
    """
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    split = _split_name(split, "load_digits", {"train": "train", "val": "val", "test": "val"})
    from sklearn.datasets import load_digits as _sk_load_digits  # bundled with scikit-learn; slow import, so here

    bunch = _sk_load_digits()
    target = np.asarray(bunch.target, dtype=np.int64)
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(target), dtype=bool)
    for c in np.unique(target):
        members = np.flatnonzero(target == c)
        n_val = round(len(members) * val_fraction)
        is_val[rng.permutation(members)[:n_val]] = True
    keep = np.flatnonzero(is_val if split == "val" else ~is_val)

    x = torch.from_numpy(np.asarray(bunch.images, dtype=np.float32)[keep])[:, None]  # (N, 1, 8, 8), 0..16
    if size != x.shape[-1]:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < x.shape[-1])
    x = (x * (255.0 / 16.0)).round_().clamp_(0, 255).to(torch.uint8)
    verb = "upsampled to" if size > 8 else ("downsampled to" if size < 8 else "kept at")
    return ImageSet(
        images=x.expand(-1, 3, -1, -1).contiguous(),
        labels=torch.from_numpy(target[keep]),
        classes=[str(i) for i in range(10)],
        name=f"digits (scikit-learn, 8x8 {verb} {size}x{size}, {split} split of 1797: {len(keep)} images)",
        flip=False,
    )


def _cifar_folder(root: Path) -> Path:
    """``root`` itself if it holds the CIFAR-10 files, else ``root / "cifar-10-batches-py"`` if that exists."""
    names = (*CIFAR10_TRAIN_FILES, *CIFAR10_TEST_FILES, CIFAR10_META_FILE)
    if any((root / n).is_file() for n in names):
        return root
    if (root / CIFAR10_FOLDER).is_dir():
        return root / CIFAR10_FOLDER
    return root


def _unpickle(path: Path) -> dict[bytes, Any]:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")  # the format CIFAR-10 ships in; see load_cifar10's docstring


def load_cifar10(root: str | os.PathLike, split: str = "train") -> ImageSet:
    """CIFAR-10 from the "python version" already on disk (``cifar-10-python.tar.gz``, extracted). Never downloads.

    ``root`` is the folder ``cifar-10-batches-py`` or its parent. ``split="train"`` reads ``data_batch_1`` ..
    ``data_batch_5`` (50000 images), ``split="test"`` (alias ``"val"``: CIFAR-10 has no separate validation set)
    reads ``test_batch`` (10000); class names come from ``batches.meta``. Missing files raise
    ``FileNotFoundError`` naming them.

    The files are Python pickles, which is the data set's standard distribution format; unpickling can run code,
    so only point ``root`` at a copy you trust (e.g. one you extracted from the official archive).

    Returns an :class:`ImageSet` with ``images`` ``(N, 3, 32, 32)`` uint8 at the native resolution (150 MB for the
    training set); :class:`DeviceLoader` resizes per batch on the device if you train at another ``image_size``.
    """
    split = _split_name(split, "load_cifar10", {"train": "train", "test": "test", "val": "test"})
    given = Path(root).expanduser()
    folder = _cifar_folder(given)
    files = CIFAR10_TRAIN_FILES if split == "train" else CIFAR10_TEST_FILES
    missing = [n for n in (*files, CIFAR10_META_FILE) if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 ({split}) not found: {given} (or {given / CIFAR10_FOLDER}) lacks {', '.join(missing)}. "
            f"Expected the extracted 'CIFAR-10 python version' ({CIFAR10_FOLDER}/ with "
            f"{', '.join((*CIFAR10_TRAIN_FILES, *CIFAR10_TEST_FILES, CIFAR10_META_FILE))}); nothing is downloaded."
        )
    meta = _unpickle(folder / CIFAR10_META_FILE)
    classes = [n.decode() if isinstance(n, bytes) else str(n) for n in meta[b"label_names"]]
    data, labels = [], []
    for n in files:
        batch = _unpickle(folder / n)
        arr = np.asarray(batch[b"data"], dtype=np.uint8)
        if arr.ndim != 2 or arr.shape[1] != 3 * 32 * 32:
            raise ValueError(f"{folder / n}: b'data' must be (N, 3072) uint8, got shape {arr.shape}")
        data.append(arr)
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    images = torch.from_numpy(np.concatenate(data)).reshape(-1, 3, 32, 32)  # rows are R, G, B planes, row-major
    return ImageSet(
        images=images,
        labels=torch.from_numpy(np.concatenate(labels)),
        classes=classes,
        name=f"CIFAR-10 ({split}, {images.shape[0]} images, 32x32)",
    )


def _decode(path: Path, size: int, resize_to: int) -> np.ndarray:
    """One file -> ``(size, size, 3)`` uint8: RGB, shorter side to ``resize_to`` (bilinear), center crop."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            if w <= h:
                new_w, new_h = resize_to, max(resize_to, int(resize_to * h / w))
            else:
                new_w, new_h = max(resize_to, int(resize_to * w / h)), resize_to
            im = im.resize((new_w, new_h), Image.Resampling.BILINEAR)
            left, top = round((new_w - size) / 2), round((new_h - size) / 2)
            im = im.crop((left, top, left + size, top + size))
            return np.array(im, dtype=np.uint8)  # a writable copy
    except (OSError, ValueError) as e:  # PIL.UnidentifiedImageError is an OSError
        raise ValueError(f"could not decode image {path}: {e}") from e


def load_image_folder(root: str | os.PathLike, size: int = 224, max_per_class: int | None = None) -> ImageSet:
    """An ImageFolder tree ``root/<class_name>/*.{jpg,jpeg,png,bmp,webp}`` decoded into memory.

    Classes are the sub-folders sorted by name (label ``i`` is ``classes[i]``); files are taken in sorted order,
    at most ``max_per_class`` per class. Each image is decoded with PIL, converted to RGB, its shorter side
    resized to ``int(size * 256 / 224)`` (bilinear) and center-cropped to ``size x size``: the usual eval
    transform. Everything is held in memory: ``N * 3 * size * size`` bytes (Imagenette's 9469 training images at
    224: 1.4 GB), fine for Imagenette-sized sets, not for ImageNet. Decoding uses a thread pool.

    Raises ``FileNotFoundError`` if ``root`` is missing, has no class sub-folders, or a class has no images;
    ``ValueError`` naming the file if one cannot be decoded. Returns images ``(N, 3, size, size)`` uint8.
    """
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if max_per_class is not None and (not isinstance(max_per_class, int) or max_per_class < 1):
        raise ValueError(f"max_per_class must be a positive int or None, got {max_per_class!r}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root} (expected root/<class_name>/<images>)")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise FileNotFoundError(f"no class sub-folders in {root} (expected root/<class_name>/<images>)")
    files: list[Path] = []
    labels: list[int] = []
    empty = []
    for label, c in enumerate(classes):
        found = sorted(
            p for p in (root / c).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
        )
        if max_per_class is not None:
            found = found[:max_per_class]
        if not found:
            empty.append(c)
        files += found
        labels += [label] * len(found)
    if empty:
        raise FileNotFoundError(
            f"no images ({', '.join(IMAGE_EXTENSIONS)}) in class folder(s) {', '.join(empty)} of {root}"
        )
    resize_to = max(size, int(size * 256 / 224))
    images = torch.empty(len(files), 3, size, size, dtype=torch.uint8)

    def work(i: int) -> None:
        images[i] = torch.from_numpy(_decode(files[i], size, resize_to)).permute(2, 0, 1)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(work, range(len(files))))  # list() re-raises a worker's exception here
    return ImageSet(
        images=images,
        labels=torch.tensor(labels, dtype=torch.int64),
        classes=classes,
        name=f"image folder {root} ({len(files)} images, {len(classes)} classes, {size}x{size})",
    )


def load_dataset(name: str, root: str | None = None, size: int | None = None, split: str = "train") -> ImageSet:
    """Dispatch by name: ``"digits"`` (``size`` default 32), ``"cifar10"``, ``"folder"`` (``size`` default 224).

    ``cifar10`` and ``folder`` need ``root``. For ``cifar10``, ``split`` is ``"train"`` or ``"test"``/``"val"``
    and ``size`` is ignored (images stay 32x32 in memory; give :class:`DeviceLoader` an ``image_size`` to train at
    another resolution). For ``folder``, ``root/split`` is used if it exists (the Imagenette layout
    ``root/train``, ``root/val``), else ``root`` itself. Returns an :class:`ImageSet` (``(N, 3, H, W)`` uint8).
    """
    key = name.lower().replace("-", "").replace("_", "")
    if key == "digits":
        return load_digits(size=32 if size is None else size, split=split)
    if key in ("cifar10", "folder", "imagefolder") and root is None:
        raise ValueError(f"load_dataset({name!r}) needs root=<path to the data on disk>")
    if key == "cifar10":
        return load_cifar10(root, split=split)
    if key in ("folder", "imagefolder"):
        base = Path(root).expanduser()
        folder = base / split
        if not folder.is_dir():
            if any((base / s).is_dir() for s in ("train", "val", "test")):
                raise FileNotFoundError(
                    f"{base} has split sub-folders but no {split!r}; pass split= one of "
                    f"{sorted(s for s in ('train', 'val', 'test') if (base / s).is_dir())}"
                )
            folder = base
        return load_image_folder(folder, size=224 if size is None else size)
    raise ValueError(f"unknown data set {name!r}; expected 'digits', 'cifar10' or 'folder'")


# --------------------------------------------------------------------------------------------- augmentation


_NORM_CONSTANTS: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}


def normalize(x: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` (or ``(3, H, W)``) float in ``[0, 1]`` -> ImageNet-normalised, same shape, dtype, device.

    The mean / std tensors are cached per device and dtype: no host-to-device copy (and no sync) per batch.
    """
    key = (x.device, x.dtype)
    if key not in _NORM_CONSTANTS:
        _NORM_CONSTANTS[key] = (
            torch.tensor(IMAGENET_MEAN, dtype=x.dtype).view(3, 1, 1).to(x.device),
            torch.tensor(IMAGENET_STD, dtype=x.dtype).view(3, 1, 1).to(x.device),
        )
    mean, std = _NORM_CONSTANTS[key]
    return (x - mean) / std


_CROP_TRIES = 10


def _crop_thetas(
    n: int,
    H: int,
    W: int,
    generator: torch.Generator,
    device: torch.device,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    flip: bool,
) -> torch.Tensor:
    """``(n, 2, 3)`` affine matrices (``affine_grid``'s convention) of random-resized crops with optional flips.

    Like the usual RandomResizedCrop: area fraction ~ U(scale), log aspect ratio ~ U(log ratio), up to 10 tries
    for a box that fits (first one that does wins), else a center crop with the aspect ratio clamped to ``ratio``;
    position uniform. Continuous coordinates, no rounding to pixels. Always one ``torch.rand`` call of fixed size.
    """
    if not (0 < scale[0] <= scale[1] <= 1):
        raise ValueError(f"scale must satisfy 0 < scale[0] <= scale[1] <= 1, got {scale}")
    if not (0 < ratio[0] <= ratio[1]):
        raise ValueError(f"ratio must satisfy 0 < ratio[0] <= ratio[1], got {ratio}")
    T = _CROP_TRIES
    u = torch.rand(n, 2 * T + 3, generator=generator, device=device)
    area = scale[0] + (scale[1] - scale[0]) * u[:, :T]
    log_r0, log_r1 = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_r0 + (log_r1 - log_r0) * u[:, T : 2 * T])
    wf = torch.sqrt(area * aspect * (H / W))  # crop width / image width
    hf = torch.sqrt(area / aspect * (W / H))
    fits = (wf <= 1) & (hf <= 1)
    first = fits.float().argmax(dim=1, keepdim=True)  # index of the first box that fits (0 if none)
    # Fallback: center crop, the whole image when its own aspect ratio W/H is within `ratio`.
    in_ratio = W / H
    fb_w, fb_h = 1.0, 1.0
    if in_ratio < ratio[0]:
        fb_h = (W / ratio[0]) / H
    elif in_ratio > ratio[1]:
        fb_w = (H * ratio[1]) / W
    ok = fits.any(dim=1)
    wf = torch.where(ok, wf.gather(1, first).squeeze(1), fb_w)
    hf = torch.where(ok, hf.gather(1, first).squeeze(1), fb_h)
    cx = (2 * u[:, 2 * T] - 1) * (1 - wf)  # normalised [-1, 1] coordinates of the crop center
    cy = (2 * u[:, 2 * T + 1] - 1) * (1 - hf)
    sign = torch.where(u[:, 2 * T + 2] < 0.5, -1.0, 1.0) if flip else torch.ones_like(wf)
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = wf * sign
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = hf
    theta[:, 1, 2] = cy
    return theta


def _apply_thetas(x: torch.Tensor, theta: torch.Tensor, out_size: int) -> torch.Tensor:
    """``(B, C, H, W)`` float -> ``(B, C, out_size, out_size)``: bilinear ``grid_sample`` of each sample's box."""
    grid = F.affine_grid(theta.to(x.dtype), [x.shape[0], x.shape[1], out_size, out_size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def augment_batch(
    x: torch.Tensor,
    generator: torch.Generator,
    out_size: int,
    scale: tuple[float, float] = (0.35, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip: bool = True,
) -> torch.Tensor:
    """Random-resized-crop and (if ``flip``) a random horizontal flip, per sample, as one batched op.

    ``x`` is a float batch ``(B, 3, H, W)`` (or any channel count); returns ``(B, 3, out_size, out_size)`` on the
    same device. Crop area fraction ~ U(``scale``), aspect ratio log-uniform in ``ratio``, position uniform, flip
    with probability 1/2; parameters are drawn from ``generator``, which must live on ``x``'s device (a CPU
    generator for CPU tensors). One ``affine_grid`` + bilinear ``grid_sample``, no Python loop over samples.
    With ``scale=(1, 1)`` and ``flip=False`` the result is ``x`` resized (exactly ``x`` when ``out_size == H == W``).
    Bilinear sampling does not antialias, so shrinking far below the crop's size aliases.
    """
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"augment_batch expects a float (B, C, H, W) batch, got {tuple(x.shape)} {x.dtype}")
    theta = _crop_thetas(x.shape[0], x.shape[-2], x.shape[-1], generator, x.device, scale, ratio, flip)
    return _apply_thetas(x, theta, out_size)


# ------------------------------------------------------------------------------------------- mixup / cutmix


_GAMMA_CANDIDATES = 32


def _sample_log_gamma(
    alpha: float, shape: tuple[int, ...], generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """``log`` of Gamma(alpha, 1) samples, shape ``shape``, from ``generator`` (Marsaglia & Tsang, 2000).

    For ``alpha >= 1``: d = alpha - 1/3, c = 1/sqrt(9d); with z ~ N(0, 1), u ~ U(0, 1) and v = (1 + c z)^3,
    accept d v when v > 0 and log u < z^2/2 + d - d v + d log v. Each sample gets 32 candidates at once and keeps
    the first accepted (acceptance >= 0.95 per candidate, so all 32 fail with probability < 1e-41; then d is
    used). For ``alpha < 1``: Gamma(alpha) = Gamma(alpha + 1) * U^(1/alpha), done in log space so tiny values
    cannot underflow. No host synchronisation.
    """
    a = alpha if alpha >= 1 else alpha + 1.0
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    z = torch.randn(*shape, _GAMMA_CANDIDATES, generator=generator, device=device)
    u = 1.0 - torch.rand(*shape, _GAMMA_CANDIDATES, generator=generator, device=device)  # (0, 1]
    v = (1.0 + c * z) ** 3
    log_v = torch.log(v.clamp_min(1e-30))
    accept = (v > 0) & (torch.log(u) < 0.5 * z * z + d - d * v + d * log_v)
    first = accept.float().argmax(dim=-1, keepdim=True)
    log_g = math.log(d) + torch.where(accept.any(dim=-1), log_v.gather(-1, first).squeeze(-1), 0.0)
    if alpha < 1:
        u2 = 1.0 - torch.rand(*shape, generator=generator, device=device)
        log_g = log_g + torch.log(u2) / alpha
    return log_g


def _sample_beta(alpha: float, n: int, generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
    """``(n,)`` samples of the symmetric Beta(alpha, alpha) as X / (X + Y), X, Y ~ Gamma(alpha, 1)."""
    if alpha <= 0:
        raise ValueError(f"Beta alpha must be > 0, got {alpha}")
    log_g = _sample_log_gamma(alpha, (2, n), generator, torch.device(device))
    return torch.sigmoid(log_g[0] - log_g[1])  # X / (X + Y) = 1 / (1 + exp(log Y - log X))


def mixup_cutmix(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    generator: torch.Generator,
    mixup_alpha: float = 0.8,
    cutmix_alpha: float = 1.0,
    switch_prob: float = 0.5,
    label_smoothing: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup or CutMix of a batch with itself reversed, plus label smoothing. Returns ``(x_mixed, targets)``.

    ``x`` ``(B, C, H, W)`` float, ``y`` ``(B,)`` int64 -> ``x_mixed`` ``(B, C, H, W)`` and soft ``targets``
    ``(B, num_classes)`` float32 whose rows sum to 1. Targets start as smoothed one-hots (``1 - ls + ls/K`` on the
    label, ``ls/K`` elsewhere). One lambda ~ Beta(alpha, alpha) per batch, partner of sample i is sample B-1-i:

    * Mixup: ``x = lam * x + (1 - lam) * x.flip(0)``;
    * CutMix: a box of area about ``(1 - lam) * H * W`` at a uniform center (clipped to the image) is pasted from
      ``x.flip(0)``; lam is then corrected to the kept area fraction;

    and ``targets = lam * t + (1 - lam) * t.flip(0)``. With both alphas > 0, CutMix is chosen with probability
    ``switch_prob``; an alpha of 0 disables that method; both 0 returns ``x`` unchanged with smoothed targets.
    All randomness comes from ``generator`` (on ``x``'s device); nothing synchronises with the host.
    """
    if x.dim() != 4 or y.shape != (x.shape[0],):
        raise ValueError(f"mixup_cutmix expects x (B, C, H, W) and y (B,), got {tuple(x.shape)}, {tuple(y.shape)}")
    device = x.device
    off = label_smoothing / num_classes
    targets = F.one_hot(y, num_classes).to(torch.float32) * (1.0 - label_smoothing) + off
    use_mixup, use_cutmix = mixup_alpha > 0, cutmix_alpha > 0
    if not (use_mixup or use_cutmix):
        return x, targets
    H, W = x.shape[-2:]
    u = torch.rand(3, generator=generator, device=device)  # method switch, box center row, box center column
    lam_mix = _sample_beta(mixup_alpha, 1, generator, device)[0] if use_mixup else None
    lam_cut = _sample_beta(cutmix_alpha, 1, generator, device)[0] if use_cutmix else None
    if lam_cut is not None:
        cut_h = torch.floor(H * torch.sqrt(1.0 - lam_cut))
        cut_w = torch.floor(W * torch.sqrt(1.0 - lam_cut))
        cy, cx = torch.floor(u[1] * H), torch.floor(u[2] * W)
        y0, x0 = (cy - torch.floor(cut_h / 2)).clamp(0, H), (cx - torch.floor(cut_w / 2)).clamp(0, W)
        y1, x1 = (cy - torch.floor(cut_h / 2) + cut_h).clamp(0, H), (cx - torch.floor(cut_w / 2) + cut_w).clamp(0, W)
        rows = torch.arange(H, device=device, dtype=torch.float32)[:, None]
        cols = torch.arange(W, device=device, dtype=torch.float32)[None, :]
        in_box = (rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1)  # (H, W)
        keep_cut = (~in_box).to(torch.float32)
        lam_cut = keep_cut.mean()  # corrected to the real box area
    if lam_mix is not None and lam_cut is not None:
        cutmix = u[0] < switch_prob
        weight = torch.where(cutmix, keep_cut, lam_mix)  # (H, W): per-pixel weight of x
        lam = torch.where(cutmix, lam_cut, lam_mix)
    elif lam_cut is not None:
        weight, lam = keep_cut, lam_cut
    else:
        weight, lam = lam_mix, lam_mix
    weight = weight.to(x.dtype)
    mixed = x * weight + x.flip(0) * (1 - weight)
    return mixed, lam * targets + (1.0 - lam) * targets.flip(0)


# ------------------------------------------------------------------------------------------------ loading


def _derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (an LCG-style mix), so (seed, epoch, stream) pairs don't collide trivially."""
    h = 0x243F6A8885A308D3
    for p in parts:
        h = (h * 6364136223846793005 + (int(p) & 0xFFFFFFFFFFFFFFFF) + 1442695040888963407) % 2**64
        h ^= h >> 29
    return h % 2**63


class DeviceLoader:
    """Yields ``(x, y)`` batches already on ``device``: ``x`` float ``(b, 3, S, S)`` normalised, ``y`` int64 ``(b,)``.

    ``S`` is ``image_size`` (default: the stored image size). The whole :class:`ImageSet` is moved to ``device``
    once (uint8) at construction; batches are gathered, augmented and normalised there.

    ``batch_size`` is the *global* batch size ``B``; with ``world_size > 1`` it must be divisible by ``world_size``
    (``ValueError`` otherwise) and this rank gets the contiguous slice ``rank*B/ws : (rank+1)*B/ws`` of every
    global batch, from a permutation that is the same on every rank. So the union over ranks of step i is exactly
    the single-process batch of step i. The augmentation parameters are also drawn for the whole global batch
    (from a generator in the same state on every rank) and sliced, so even augmented batches match a
    single-process run. A last partial batch (``drop_last=False``) is split into ``world_size`` near-equal
    contiguous parts; a rank whose part is empty skips it (``len`` counts that).

    ``train=True``: shuffled, ``drop_last`` (default True), augmentation (:func:`augment_batch`, flip only if
    ``data.flip``) when ``augment``. ``train=False``: dataset order, ``drop_last`` default False, only a resize
    to ``S`` if needed (bilinear, antialiased when shrinking).

    Reproducibility: epoch e's order comes from a CPU ``torch.Generator`` seeded with ``(seed, e)``; the
    augmentation generator :attr:`generator` (on ``device``) is reseeded with ``(seed, e)`` at the start of each
    pass. ``set_epoch(e)`` selects the epoch; iterating twice without it repeats the same batches.
    :attr:`generator` may also drive :func:`mixup_cutmix`; ``state_dict`` then covers those draws too.
    ``state_dict()`` taken between batches records ``epoch``, ``batch`` (batches of this epoch already yielded)
    and the generator state; after ``load_state_dict`` the next pass over that epoch continues with batch
    ``batch`` exactly as the interrupted run would have (``set_epoch`` to the same epoch keeps this; another
    epoch discards it).
    """

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        device: torch.device | str = "cpu",
        train: bool = True,
        augment: bool = True,
        image_size: int | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool | None = None,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(world_size, int) or world_size < 1:
            raise ValueError(f"world_size must be a positive int, got {world_size!r}")
        if batch_size % world_size:
            raise ValueError(
                f"batch_size {batch_size} is the global batch size and must be divisible by world_size {world_size}"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..{world_size - 1}, got {rank}")
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.train = train
        self.augment = augment and train
        self.flip = data.flip
        self.seed = int(seed)
        self.rank = rank
        self.world_size = world_size
        self.drop_last = train if drop_last is None else drop_last
        self.num_classes = data.num_classes
        self.classes = list(data.classes)
        self.name = data.name
        self.image_size = int(image_size) if image_size is not None else int(data.images.shape[-2])
        if len(data) == 0:
            raise ValueError("DeviceLoader got an empty ImageSet")
        if self.drop_last and len(data) < batch_size:
            raise ValueError(f"drop_last with {len(data)} images and batch_size {batch_size} gives no batch at all")
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        self.generator = torch.Generator(device=self.device)
        self.epoch = 0
        self._batches_done = 0  # batches of self.epoch already yielded by the current/last pass
        self._resume: tuple[int, torch.Tensor | None] | None = None  # (batch, generator state) from load_state_dict

    def __len__(self) -> int:
        """Batches per epoch for this rank."""
        n, B = len(self.images), self.batch_size
        full, rest = divmod(n, B)
        if self.drop_last or rest == 0:
            return full
        return full + int(rest * (self.rank + 1) // self.world_size > rest * self.rank // self.world_size)

    def set_epoch(self, epoch: int) -> None:
        """Select epoch ``epoch``'s order and augmentation. A resume point for another epoch is discarded."""
        epoch = int(epoch)
        if epoch != self.epoch:
            self._resume = None
        self.epoch = epoch

    def _order(self) -> torch.Tensor:
        n = len(self.images)
        if not self.train:
            return torch.arange(n, device=self.device)
        g = torch.Generator().manual_seed(_derive_seed(self.seed, self.epoch, 0))
        return torch.randperm(n, generator=g).to(self.device)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        start, state = self._resume if self._resume is not None else (0, None)
        self._resume = None
        if state is not None:
            self.generator.set_state(state)
        else:
            self.generator.manual_seed(_derive_seed(self.seed, self.epoch, 1))
        order = self._order()
        n, B, S = len(self.images), self.batch_size, self.image_size
        n_global = n // B if self.drop_last else -(-n // B)
        self._batches_done = 0
        for step in range(n_global):
            lo, hi = step * B, min(step * B + B, n)
            size = hi - lo  # this global batch, B except maybe the last
            a, b = size * self.rank // self.world_size, size * (self.rank + 1) // self.world_size
            if b == a:
                continue  # partial last batch smaller than world_size: nothing for this rank
            if step < start:
                self._batches_done += 1
                continue
            idx = order[lo + a : lo + b]
            x = self.images.index_select(0, idx).float().div_(255.0)
            if self.augment:
                theta = _crop_thetas(size, x.shape[-2], x.shape[-1], self.generator, self.device,
                                     (0.35, 1.0), (3 / 4, 4 / 3), self.flip)  # fmt: skip
                x = _apply_thetas(x, theta[a:b], S)
            elif tuple(x.shape[-2:]) != (S, S):
                x = F.interpolate(x, size=(S, S), mode="bilinear", align_corners=False, antialias=x.shape[-1] > S)
            self._batches_done += 1
            yield normalize(x), self.labels.index_select(0, idx)

    def state_dict(self) -> dict[str, Any]:
        """``{"epoch", "batch", "generator", "generator_device", "seed"}``: where this loader is, for exact resume."""
        return {
            "epoch": self.epoch,
            "batch": self._batches_done,
            "generator": self.generator.get_state(),
            "generator_device": self.device.type,
            "seed": self.seed,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output: the next pass over ``state["epoch"]`` resumes at ``state["batch"]``.

        At an epoch boundary (``batch`` 0, or ``len(self)``: the epoch was finished) only the epoch and seed matter,
        on any device; mid-epoch the generator state must come from a loader on the same device type (CPU and CUDA
        generators differ).
        """
        self.seed = int(state.get("seed", self.seed))
        self.epoch = int(state["epoch"])
        batch = min(int(state.get("batch", 0)), len(self))
        gen_state = None
        if 0 < batch < len(self):
            if state.get("generator_device", self.device.type) != self.device.type:
                raise ValueError(
                    f"cannot resume mid-epoch: the saved generator is a {state['generator_device']} generator, "
                    f"this loader's is {self.device.type}; resume from an epoch boundary instead"
                )
            gen_state = state["generator"].detach().to("cpu", torch.uint8)
        self._resume = (batch, gen_state)
        self._batches_done = batch


def synthetic_batches(
    batch_size: int, image_size: int, num_classes: int, device: torch.device | str, steps: int, seed: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``steps`` batches ``(x, y)``: ``x`` ``(batch_size, 3, image_size, image_size)`` float32 ~ N(0, 1), ``y``
    ``(batch_size,)`` int64 in ``0..num_classes - 1``, generated directly on ``device``.

    For throughput measurements only (no data loading in the timed loop): the tensors are generated once and the
    same pair is yielded every step. Nothing can be learned from them.
    """
    device = torch.device(device)
    g = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(batch_size, 3, image_size, image_size, generator=g, device=device)
    y = torch.randint(0, num_classes, (batch_size,), generator=g, device=device)
    for _ in range(steps):
        yield x, y
