"""Attention probabilities of every block, from one forward pass per (input, weights): the attention explorer's
cache, and where each block sits on the map (:class:`BlockInfo`).

The inputs are the bundled photographs at :data:`IMAGE_SIZE`, or a few images of a data set (:func:`pick_images`);
the weights come from :mod:`swin_viz.viz.sources`.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from ..model import SwinTransformer
from ..windows import effective_window
from .explorer import torch_threads
from .images import IMAGES, load_image, normalize
from .sources import DEFAULT_SOURCE, resolve_source

if TYPE_CHECKING:
    from .sources import ImageSet

__all__ = ["IMAGE_SIZE", "INPUT_COUNT", "PHOTO_QUERY", "AttentionCache", "BlockInfo", "cache_for", "pick_images"]

IMAGE_SIZE = 224
"""The model sees every photograph at 224 x 224 (a patch-4 model: stage 1 has 56 x 56 tokens)."""
INPUT_COUNT = 12
"""Images offered from a data set: the first of each class, then the next ones in data-set order."""
PHOTO_QUERY = (20, 26)
"""Default stage-1 query on the photographs (a 56 x 56 map): on the astronaut's face."""


def pick_images(labels: torch.Tensor, count: int = INPUT_COUNT) -> list[int]:
    """``count`` indices into a data set: the first image of each class, then the next ones in order; the result
    sorted by class, then index (so a dropdown lists 0, 1, 2, ...)."""
    values = labels.tolist()
    first: dict[int, int] = {}
    for i, y in enumerate(values):
        first.setdefault(y, i)
    chosen = sorted(first.values())[:count]
    taken = set(chosen)
    chosen += [i for i in range(len(values)) if i not in taken][: count - len(chosen)]
    return sorted(chosen, key=lambda i: (values[i], i))


@dataclass(frozen=True)
class BlockInfo:
    """Where a block sits and how it cuts its map (window and shift as the block really uses them)."""

    name: str
    stage: int  # 1-based
    H: int
    W: int
    heads: int
    window: tuple[int, int]
    shift: tuple[int, int]
    stride: int  # image pixels per token side: patch_size * 2**(stage - 1)

    @property
    def kind(self) -> str:
        return "SW-MSA" if self.shift != (0, 0) else "W-MSA"


SMALL_MODEL = 5_000_000
"""Models with fewer parameters run their forward pass on one CPU thread (the default models have < 3 M)."""


def _weights_version(model: torch.nn.Module) -> tuple[int, ...]:
    """Changes whenever a parameter is modified in place (``load_state_dict``, an optimiser step)."""
    return tuple(p._version for p in model.parameters())


class AttentionCache:
    """Every block's attention probabilities for each input, from ONE forward pass per (input, weights).

    The inputs are the bundled photographs at ``image_size`` (``images=None``), or ``INPUT_COUNT`` images of an
    :class:`~swin_viz.data.ImageSet` (:func:`pick_images`) at their own size, named ``"{noun} {class} ({split}
    #{index})"``. ``names`` lists them; ``probs(name)`` -> ``{block name: (B*nW, heads, N, N) float32 array}``;
    ``prediction(name)`` -> ``(class index, probability)`` from the same pass; ``photo(name, size)`` -> the image
    ``(size, size, 3)`` uint8; ``blocks`` -> ``{name: BlockInfo}`` in forward order; ``truth`` -> the true class
    name of each data-set image; ``classes`` -> the class names (``None`` for the photographs).
    """

    def __init__(
        self,
        model: SwinTransformer,
        image_size: int = IMAGE_SIZE,
        images: ImageSet | None = None,
        noun: str = "image",
        split: str = "",
        count: int = INPUT_COUNT,
    ) -> None:
        self.model = model
        self._probs: dict[tuple, tuple[dict[str, np.ndarray], np.ndarray]] = {}
        self._photos: dict[tuple[str, int], np.ndarray] = {}
        self._index: dict[str, int] = {}
        self.truth: dict[str, str] = {}
        if images is None:
            self.image_size, self.noun, self.classes, self.set = image_size, "photo", None, None
            self.names: tuple[str, ...] = IMAGES
        else:
            H, W = images.images.shape[-2:]
            if H != W:
                raise ValueError(f"the attention explorer draws square images; these are {H} x {W}")
            self.image_size, self.noun, self.classes, self.set = H, noun, list(images.classes), images
            where = f"{split} #" if split else "#"
            for i in pick_images(images.labels, count):
                truth = self.classes[int(images.labels[i])]
                name = f"{noun} {truth} ({where}{i})" if noun != "image" else f"{truth} ({where}{i})"
                self._index[name], self.truth[name] = i, truth
            self.names = tuple(self._index)
        self.blocks: dict[str, BlockInfo] = {}
        for shape, stage in zip(model.stage_shapes(self.image_size), model.stages):
            H, W = shape["resolution"]
            for j, block in enumerate(stage.blocks):
                window, shift = effective_window(H, W, block.window_size, block.shift_size)
                name = f"{shape['stage']}.block{j}"
                self.blocks[name] = BlockInfo(name, shape["index"], H, W, shape["heads"], window, shift,
                                              shape["stride"])  # fmt: skip
        self.default_query = PHOTO_QUERY if images is None else self._inked_token(self.names[0])

    def pixels(self, name: str, size: int) -> torch.Tensor:
        """Input ``name`` as ``(3, size, size)`` float in [0, 1] (a data-set image resized by repeating pixels)."""
        if self.set is None:
            return load_image(name, size)
        img = self.set.images[self._index[name]].float() / 255.0
        if img.shape[-1] != size:
            img = F.interpolate(img[None], size=(size, size), mode="nearest-exact")[0]
        return img

    def _inked_token(self, name: str) -> tuple[int, int]:
        """A stage-1 token on the stroke of ``name``: of the tokens with at least 3/4 of the most ink (mean
        brightness of the patch), the one nearest the centre of the map."""
        first = next(iter(self.blocks.values()))
        ink = self.pixels(name, self.image_size).mean(0)[: first.H * first.stride, : first.W * first.stride]
        ink = ink.reshape(first.H, first.stride, first.W, first.stride).mean((1, 3)).numpy()
        r, c = np.mgrid[: first.H, : first.W]
        distance = np.hypot(r - (first.H - 1) / 2, c - (first.W - 1) / 2)
        best = np.where(ink >= 0.75 * ink.max(), distance, np.inf).argmin()
        return divmod(int(best), first.W)

    def probs(self, name: str) -> dict[str, np.ndarray]:
        return self._run(name)[0]

    def prediction(self, name: str) -> tuple[int, float]:
        """The model's top class for input ``name`` and its softmax probability (from the cached forward pass)."""
        p = self._run(name)[1]
        k = int(p.argmax())
        return k, float(p[k])

    def _run(self, name: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
        key = (name, _weights_version(self.model))
        if key not in self._probs:
            self._probs = {k: v for k, v in self._probs.items() if k[1] == key[1]}  # drop stale weights
            self._probs[key] = self._forward(name)
        return self._probs[key]

    def _forward(self, name: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
        model = self.model
        device = next(model.parameters()).device
        x = normalize(self.pixels(name, self.image_size))[None].to(device)
        was_training = model.training
        impls = [(b.attn, b.attn.attn_impl) for s in model.stages for b in s.blocks]
        try:
            model.eval()
            for attn, _ in impls:  # the fused path never materialises probs
                attn.attn_impl = "auto"
            small = device.type == "cpu" and sum(p.numel() for p in model.parameters()) < SMALL_MODEL
            with torch.no_grad(), torch_threads(1 if small else torch.get_num_threads()):
                logits, cache = model.run_with_cache(x, names="*.attn.hook_probs")
        finally:
            model.train(was_training)
            for attn, impl in impls:
                attn.attn_impl = impl
        probs = {name.removesuffix(".attn.hook_probs"): t.float().cpu().numpy() for name, t in cache.items()}
        return probs, logits[0].float().softmax(-1).cpu().numpy()

    def photo(self, name: str, size: int) -> np.ndarray:
        if (name, size) not in self._photos:
            img = self.pixels(name, size)
            self._photos[(name, size)] = (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        return self._photos[(name, size)]


_CACHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cache_for(
    model: SwinTransformer | None = None, source: str = DEFAULT_SOURCE, images: ImageSet | None = None
) -> AttentionCache:
    """The cache of ``model`` on ``images``; without a model, that of ``source``
    (:func:`~swin_viz.viz.sources.resolve_source`, with the inputs its weights go with unless ``images`` is given)."""
    options: dict[str, Any] = {}
    if model is None:
        found = resolve_source(source)
        model = found.model
        if images is None and found.images is not None:
            images, options = found.images, dict(noun=found.noun, split=found.split)
    per_model = _CACHES.setdefault(model, {})
    key = id(images) if images is not None else None
    if key not in per_model:  # the entry holds ``images``, so its id cannot be reused while the entry lives
        per_model[key] = (images, AttentionCache(model, images=images, **options))
    return per_model[key][1]
