"""Where images come from: data sets held in memory, and image folders indexed for streaming.

In memory (:class:`ImageSet`: ``images`` ``(N, 3, H, W)`` uint8, ``labels`` ``(N,)``), for small sets:

* :func:`load_digits`: scikit-learn's bundled handwritten digits, the offline default (nothing to download);
* :func:`load_cifar10`: the "CIFAR-10 python version" folder, if you already have it on disk (never downloaded),
  read through a restricted unpickler that only builds what the format holds;
* :func:`load_image_folder`: an ImageFolder tree decoded whole (Imagenette-sized sets).

Indexed (:class:`FolderIndex`: paths and labels only, no pixels), for any size: :func:`scan_image_folder` lists an
ImageFolder tree; :class:`~swin_viz.data.loaders.StreamingLoader` decodes its images in worker processes.
:func:`scan_splits` checks that the ``train`` and ``val`` splits name the same classes.
"""

from __future__ import annotations

import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .transforms import decode_rgb, eval_crop, pil_to_uint8

__all__ = [
    "IMAGE_EXTENSIONS",
    "FolderIndex",
    "ImageSet",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_image_folder",
    "scan_image_folder",
    "scan_splits",
]

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


# Only what the CIFAR-10 python batches hold: dicts, lists, str, bytes, ints and numpy arrays of them.
_CIFAR_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    """A pickle reader that refuses every global outside :data:`_CIFAR_ALLOWED_GLOBALS`, so it cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _CIFAR_ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: a CIFAR-10 batch holds only dicts, lists, str, bytes, ints and "
            f"numpy arrays, so this file is not one (or was tampered with)"
        )


def _unpickle(path: Path) -> dict[bytes, Any]:
    """Read one CIFAR-10 batch with the restricted unpickler; the result must be a dict."""
    with open(path, "rb") as f:
        try:
            obj = _RestrictedUnpickler(io.BufferedReader(f), encoding="bytes").load()
        except pickle.UnpicklingError as e:
            raise ValueError(f"{path}: {e}") from e
        except (EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
            raise ValueError(f"{path}: not a CIFAR-10 python batch ({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: a CIFAR-10 batch is a dict, got {type(obj).__name__}")
    return obj


def load_cifar10(root: str | os.PathLike, split: str = "train") -> ImageSet:
    """CIFAR-10 from the "python version" already on disk (``cifar-10-python.tar.gz``, extracted). Never downloads.

    ``root`` is the folder ``cifar-10-batches-py`` or its parent. ``split="train"`` reads ``data_batch_1`` ..
    ``data_batch_5`` (50000 images), ``split="test"`` (alias ``"val"``: CIFAR-10 has no separate validation set)
    reads ``test_batch`` (10000); class names come from ``batches.meta``. Missing files raise
    ``FileNotFoundError`` naming them.

    The files are Python pickles, the data set's standard distribution format. They are read by a restricted
    unpickler that builds only dicts, lists, str, bytes, ints and numpy arrays; any other global (the way a
    crafted pickle runs code) raises ``ValueError`` naming it, and nothing is executed.

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
    if b"label_names" not in meta:
        raise ValueError(f"{folder / CIFAR10_META_FILE}: no b'label_names' entry; not a CIFAR-10 batches.meta")
    classes = [n.decode() if isinstance(n, bytes) else str(n) for n in meta[b"label_names"]]
    data, labels = [], []
    for n in files:
        batch = _unpickle(folder / n)
        if b"data" not in batch or b"labels" not in batch:
            raise ValueError(f"{folder / n}: a CIFAR-10 batch needs b'data' and b'labels'")
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




@dataclass
class FolderIndex:
    """An ImageFolder tree listed, not decoded: ``paths`` (``N`` file paths as a numpy byte-string array, so worker
    processes share it without copy-on-access growth), ``labels`` ``(N,)`` int64, ``classes`` (label ``i`` is
    ``classes[i]``), and ``root``. About 100 bytes per image, whatever the images' size."""

    paths: np.ndarray
    labels: np.ndarray
    classes: list[str]
    root: Path

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def path(self, i: int) -> str:
        return os.fsdecode(self.paths[i])

    @property
    def name(self) -> str:
        return f"image folder {self.root} ({len(self)} images, {len(self.classes)} classes)"


def scan_image_folder(
    root: str | os.PathLike, max_per_class: int | None = None, classes: list[str] | None = None
) -> FolderIndex:
    """List ``root/<class_name>/*.{jpg,jpeg,png,bmp,webp}``: classes sorted by name, files sorted within a class.

    ``classes``: the class list to use (e.g. the training split's); the folder's sub-folders must be exactly
    these, else ``ValueError`` naming the missing and the extra ones (a val split without class ``b`` would
    otherwise shift every later label by one). Raises ``FileNotFoundError`` if ``root`` is missing, has no class
    sub-folders, or a class has no images.
    """
    if max_per_class is not None and (not isinstance(max_per_class, int) or max_per_class < 1):
        raise ValueError(f"max_per_class must be a positive int or None, got {max_per_class!r}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root} (expected root/<class_name>/<images>)")
    found_classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found_classes:
        raise FileNotFoundError(f"no class sub-folders in {root} (expected root/<class_name>/<images>)")
    if classes is not None and list(classes) != found_classes:
        missing = sorted(set(classes) - set(found_classes))
        extra = sorted(set(found_classes) - set(classes))
        raise ValueError(
            f"the classes of {root} differ from the training classes: missing {missing or 'none'}, "
            f"extra {extra or 'none'}; labels would not line up. Give every split the same class folders."
        )
    paths: list[str] = []
    labels: list[int] = []
    empty = []
    for label, c in enumerate(found_classes):
        with os.scandir(root / c) as it:
            names = sorted(
                e.name for e in it
                if e.name.lower().endswith(IMAGE_EXTENSIONS) and not e.name.startswith(".") and e.is_file()
            )  # fmt: skip
        if max_per_class is not None:
            names = names[:max_per_class]
        if not names:
            empty.append(c)
        paths += [str(root / c / n) for n in names]
        labels += [label] * len(names)
    if empty:
        raise FileNotFoundError(
            f"no images ({', '.join(IMAGE_EXTENSIONS)}) in class folder(s) {', '.join(empty)} of {root}"
        )
    return FolderIndex(
        paths=np.array([os.fsencode(p) for p in paths]),
        labels=np.asarray(labels, dtype=np.int64),
        classes=found_classes,
        root=root,
    )


def split_folder(root: str | os.PathLike, split: str) -> Path:
    """``root/split`` when it exists; ``root`` itself when it has no split sub-folders; else a clear error."""
    base = Path(root).expanduser()
    folder = base / split
    if folder.is_dir():
        return folder
    present = sorted(s for s in ("train", "val", "test") if (base / s).is_dir())
    if present:
        raise FileNotFoundError(f"{base} has split sub-folders {present} but no {split!r}")
    return base


def scan_splits(root: str | os.PathLike, max_per_class: int | None = None) -> tuple[FolderIndex, FolderIndex]:
    """The ``train`` and ``val`` splits of ``root`` (``root/train``, ``root/val``), checked to name the same classes.

    A missing or extra class in ``val`` raises ``ValueError`` naming it, before anything trains.
    """
    base = Path(root).expanduser()
    if not (base / "train").is_dir() or not (base / "val").is_dir():
        raise FileNotFoundError(f"{base} must hold train/ and val/ sub-folders, each root/<split>/<class>/<images>")
    train = scan_image_folder(base / "train", max_per_class)
    val = scan_image_folder(base / "val", max_per_class, classes=train.classes)
    return train, val


def eval_view(im: Any, size: int, center_crop: bool = True) -> torch.Tensor:
    """What evaluation sees of a PIL RGB image: ``(3, size, size)`` uint8.

    ``center_crop=True``: the shorter side resized to ``size * 256 / 224`` and the centre crop
    (:func:`~swin_viz.data.transforms.eval_crop`; the pre-training recipe's, the official ``TEST.CROP: True``).
    ``False``: the whole image resized to ``size x size`` (bicubic), as the official fine-tuning configs evaluate
    at 384 (``TEST.CROP: False``).
    """
    if center_crop:
        return eval_crop(im, size)
    from PIL import Image

    return pil_to_uint8(im.resize((size, size), Image.Resampling.BICUBIC))


def load_image_folder(
    root: str | os.PathLike | FolderIndex,
    size: int = 224,
    max_per_class: int | None = None,
    store_size: int | None = None,
    center_crop: bool = True,
) -> ImageSet:
    """An ImageFolder tree decoded whole into memory: ``images`` ``(N, 3, S, S)`` uint8, ``S = store_size or size``.

    Each image is decoded (:func:`~swin_viz.data.transforms.decode_rgb`), its shorter side resized to
    ``int(S * 256 / 224)`` (bicubic) and centre-cropped to ``S x S``: the evaluation transform (``center_crop=False``:
    resized whole to ``S x S``, :func:`eval_view`). For training,
    store a larger ``store_size`` (e.g. 256 for 224) so that random crops have room. Memory is ``N * 3 * S * S``
    bytes: Imagenette's 9469 training images at 224 take 1.4 GB. For larger sets use
    :class:`~swin_viz.data.loaders.StreamingLoader`, which decodes on the fly.
    """
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    index = root if isinstance(root, FolderIndex) else scan_image_folder(root, max_per_class)
    S = int(store_size or size)
    images = torch.empty(len(index), 3, S, S, dtype=torch.uint8)
    for i in range(len(index)):
        images[i] = eval_view(decode_rgb(index.path(i)), S, center_crop)
    return ImageSet(
        images=images,
        labels=torch.from_numpy(index.labels.copy()),
        classes=list(index.classes),
        name=f"image folder {index.root} ({len(index)} images, {len(index.classes)} classes, {S}x{S}, in memory)",
    )


def load_dataset(name: str, root: str | None = None, size: int | None = None, split: str = "train") -> ImageSet:
    """Dispatch by name: ``"digits"`` (``size`` default 32), ``"cifar10"``, ``"folder"`` (``size`` default 224).

    ``cifar10`` and ``folder`` need ``root``. For ``folder``, ``root/split`` is used when it exists.
    """
    key = name.lower()
    if key == "digits":
        return load_digits(size=32 if size is None else size, split=split)
    if key in ("cifar10", "folder", "imagefolder") and root is None:
        raise ValueError(f"load_dataset({name!r}) needs root=<path to the data on disk>")
    if key == "cifar10":
        return load_cifar10(root, split=split)
    if key in ("folder", "imagefolder"):
        return load_image_folder(split_folder(root, split), size=224 if size is None else size)
    raise ValueError(f"unknown data set {name!r}; expected 'digits', 'cifar10' or 'folder'")
