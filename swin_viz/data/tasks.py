"""Generated, controlled data sets: each isolates one mechanism of Swin (book chapters 4, 5, 6 and 12).

Every task returns ``(train, val)`` :class:`~swin_viz.data.sources.ImageSet` pairs, fixed by ``seed``. The marks
tasks draw 16x16 images (24x24 for ``wrap``): a dark, faintly noisy background and 2x2-pixel coloured *marks*
aligned to the patch grid, so with ``patch_size=2`` each mark is exactly one token of an 8x8 token grid, and with
``window_size=4`` the grid has 2x2 windows (shift 2). The task decides where the marks go and what the label is:

* ``pair`` (shift, chapter 4): two marks in *different* regular windows but inside the central 4x4 tokens, i.e.
  the *same* shifted window; label: do they have the same colour? Each window holds one mark, so a model whose
  blocks never mix windows and whose head is linear on pooled features computes a sum of one term per window,
  and "same colour" is an XOR of the two: no such sum separates it. Shifted windows put both marks in one window.
* ``wrap`` (mask, chapter 5): 24x24 images (12x12 tokens, 3x3 windows); one mark on the left edge (token column 0)
  and one on the right edge (column 11) of the same row; label: same colour? Through a W-MSA block then an SW-MSA
  block, what starts in column 0 reaches columns 0..5 at most and what starts in column 11 columns 6..11: the
  legitimate windows never bring the two together. Only the cyclic shift's wrapped-around windows do, and there
  the mask keeps them apart.
* ``arrangement`` (position, chapter 6): eight pairs of a red and a green mark side by side, each pair inside one
  window (one per window and token row); label: is the red one on the left (in every pair)? The marks and the
  background are the same in both classes: only the arrangement differs. Training images put the pairs in the top
  two windows, validation images in the bottom two (positions never seen in training).
* ``photos`` (Table 4 in miniature, chapter 12): 32x32 crops of the photographs scikit-image bundles (no
  download); label: which photograph. Training crops come from the left 3/4 of each photograph, validation crops
  from the right 1/4, so no validation pixel was seen in training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .sources import ImageSet

__all__ = ["TASKS", "TaskSpec", "load_task", "task_names"]

GRID = 8  # tokens per side of the pair and arrangement tasks (16x16 pixels, patch 2)
MARK = 2  # pixels per mark side (one token)
COLOURS = {"red": (230, 40, 40), "green": (40, 210, 40), "blue": (50, 80, 240), "yellow": (230, 220, 40),
           "cyan": (40, 220, 220), "magenta": (220, 50, 220)}  # fmt: skip
"""Mark colours. With k colours, a model that adds up one term per window can be right on at most
``1/2 + 1/(2k)`` of a balanced same/different task (58% for k = 6): it can only say "same" for pairs of one colour."""


@dataclass(frozen=True)
class TaskSpec:
    """One generated task: its image side, class names, sizes and what it tests."""

    name: str
    image_size: int
    classes: tuple[str, ...]
    n_train: int
    n_val: int
    mechanism: str
    make: Callable[[int, int, np.random.Generator, str], tuple[torch.Tensor, torch.Tensor]]


def _background(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, size, size, 3)`` uint8 dark noise (24..39), independent per pixel and channel."""
    return rng.integers(24, 40, size=(n, size, size, 3), dtype=np.uint8)


def _paint(img: np.ndarray, token: tuple[int, int], colour: str) -> None:
    """Paint the 2x2-pixel mark of token ``(row, col)`` of one ``(H, W, 3)`` image."""
    r, c = token
    img[r * MARK : (r + 1) * MARK, c * MARK : (c + 1) * MARK] = COLOURS[colour]


def _balanced_labels(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` labels with every one of ``k`` classes ``n // k`` or ``n // k + 1`` times, in random order."""
    return rng.permutation(np.arange(n) % k)


def _to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels.astype(np.int64))


def _same_colour_pairs(labels: np.ndarray, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Colours of two marks: label 1 -> the same colour, 0 -> two different colours (all colours equally likely)."""
    names = list(COLOURS)
    out = []
    for y in labels:
        i = int(rng.integers(len(names)))
        j = i if y == 1 else (i + 1 + int(rng.integers(len(names) - 1))) % len(names)
        out.append((names[i], names[j]))
    return out


def _make_pair(n: int, size: int, rng: np.random.Generator, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = _background(n, size, rng), _balanced_labels(n, 2, rng)
    # The central 4x4 tokens [2, 6) x [2, 6) are one shifted window; their quadrants lie in 4 regular windows.
    quadrants = [(2, 2), (2, 4), (4, 2), (4, 4)]
    for img, (a, b) in zip(images, _same_colour_pairs(labels, rng)):
        qa, qb = rng.choice(4, size=2, replace=False)
        for q, colour in ((qa, a), (qb, b)):
            r0, c0 = quadrants[q]
            _paint(img, (r0 + int(rng.integers(2)), c0 + int(rng.integers(2))), colour)
    return _to_tensors(images, labels)


def _make_wrap(n: int, size: int, rng: np.random.Generator, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = _background(n, size, rng), _balanced_labels(n, 2, rng)
    grid = size // MARK
    for img, (a, b) in zip(images, _same_colour_pairs(labels, rng)):
        row = int(rng.integers(grid))
        _paint(img, (row, 0), a)
        _paint(img, (row, grid - 1), b)
    return _to_tensors(images, labels)


def _make_arrangement(n: int, size: int, rng: np.random.Generator, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = _background(n, size, rng), _balanced_labels(n, 2, rng)
    half = GRID // 2
    rows = range(0, half) if split == "train" else range(half, GRID)  # top windows vs bottom windows
    for img, y in zip(images, labels):
        left, right = ("red", "green") if y == 1 else ("green", "red")
        for row in rows:  # one pair per window and token row of the half: eight pairs, all arranged the same way
            for window_col in (0, half):
                col = window_col + int(rng.integers(half - 1))  # (col, col + 1) inside one window
                _paint(img, (row, col), left)
                _paint(img, (row, col + 1), right)
    return _to_tensors(images, labels)


PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "coins", "camera")
"""scikit-image photographs shipped inside its wheel (``skimage.data``; greyscale ones are replicated to RGB)."""


def _photos(names: tuple[str, ...] = PHOTOS) -> list[np.ndarray]:
    from skimage import data as skdata  # bundled files, no download

    out = []
    for name in names:
        img = np.asarray(getattr(skdata, name)())
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=-1)
        out.append(np.ascontiguousarray(img[..., :3]).astype(np.uint8))
    return out


def _make_photos(n: int, size: int, rng: np.random.Generator, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    photos = _photos()
    labels = _balanced_labels(n, len(photos), rng)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    crops = torch.empty(n, 3, size, size)
    for i, y in enumerate(labels):
        photo = photos[y]
        H, W = photo.shape[:2]
        side = int(rng.integers(40, 97))  # a 40..96-pixel square, resized to size x size
        x_lo, x_hi = (0, int(W * 0.75) - side) if split == "train" else (int(W * 0.75), W - side)
        top, left = int(rng.integers(0, H - side + 1)), int(rng.integers(x_lo, x_hi + 1))
        patch = torch.from_numpy(photo[top : top + side, left : left + side]).permute(2, 0, 1).float()[None]
        crops[i] = F.interpolate(patch, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
    images[:] = crops.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return _to_tensors(images, labels)


TASKS: dict[str, TaskSpec] = {
    "pair": TaskSpec("pair", 16, ("different", "same"), 2000, 1000,
                     "shifted windows: a relation between marks in two regular windows", _make_pair),
    "wrap": TaskSpec("wrap", 24, ("different", "same"), 1600, 800,
                     "the attention mask: a relation between the left and right image edges", _make_wrap),
    "arrangement": TaskSpec("arrangement", 16, ("red right", "red left"), 2000, 1000,
                            "position information: which of two marks in a window is on the left",
                            _make_arrangement),
    "photos": TaskSpec("photos", 32, PHOTOS, 800, 400,
                       "Table 4 in miniature: which photograph a crop comes from", _make_photos),
}  # fmt: skip
"""The generated tasks by name (``TrainConfig(data="task", task=NAME)``)."""


def task_names() -> list[str]:
    """Every task :func:`load_task` knows."""
    return list(TASKS)


def load_task(name: str, split: str = "train", seed: int = 0) -> ImageSet:
    """Generate the ``split`` (``"train"`` or ``"val"``) of task ``name``, fixed by ``seed``.

    Returns an :class:`ImageSet`: ``images`` ``(N, 3, S, S)`` uint8 (``S = TASKS[name].image_size``), ``labels``
    ``(N,)`` balanced over the classes, ``flip=False`` (a mirror would swap left and right). The two splits draw
    from independent streams of the same seed.
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {task_names()}")
    if split not in ("train", "val"):
        raise ValueError(f"load_task: split must be 'train' or 'val', got {split!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"load_task: seed must be an int >= 0, got {seed!r}")
    spec = TASKS[name]
    rng = np.random.default_rng([seed, 0 if split == "train" else 1, list(TASKS).index(name)])
    n = spec.n_train if split == "train" else spec.n_val
    images, labels = spec.make(n, spec.image_size, rng, split)
    return ImageSet(images, labels, list(spec.classes),
                    name=f"task {name} ({spec.mechanism}; {split}, {n} images {spec.image_size}x{spec.image_size}, "
                         f"seed {seed})", flip=False)  # fmt: skip
