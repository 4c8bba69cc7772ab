"""Explorer 8 -- attention maps on real inputs, and how far information travels with and without the shift.

Two explorers share this module:

* **Attention maps** (``attention_maps_*``). Each input goes through a :class:`swin_viz.SwinTransformer` once,
  with :meth:`~swin_viz.SwinTransformer.run_with_cache` recording every block's ``attn.hook_probs``
  ``(B*nW, heads, N, N)`` (and the logits). Choosing a block, a query token and a head then only slices that
  cache: the query's row of probabilities is put back on the block's ``H x W`` token map (zeros outside its
  window), next to the input image with the query's patch and its window outlined in pixels (a token of stage
  ``s`` covers ``patch_size * 2**(s-1)`` pixels a side, ``patch_size`` read from the model's config). In a shifted
  block the window is found where the model really put it: the token positions go through
  :func:`~swin_viz.pad_to_window`, :func:`~swin_viz.cyclic_shift` and :func:`~swin_viz.window_partition`, so a
  window that wraps round the map edge is outlined as its pieces. Where weights and inputs come from
  (``source``), always named on the figure:

  - ``"digits-small"`` (the default): the small Swin the package ships (:func:`swin_viz.pretrained.load_pretrained`),
    trained on scikit-learn's handwritten digits, on validation digits it never trained on (32 x 32, patch 2:
    16 x 16 tokens, 4 x 4 windows, three stages). The title gives the checkpoint's validation top-1 and the
    caption what it is and its prediction for the chosen digit, all read from the checkpoint and the forward pass;
  - ``"random"``: a small, seeded, *randomly initialised* Swin (4 stages, M = 7) on bundled photographs at 224,
    labelled "randomly initialised weights";
  - ``model=`` (e.g. official weights a user loads), on ``images=`` (an :class:`swin_viz.data.ImageSet`), or on
    the bundled photographs at 224 when ``images`` is omitted; ``weights_label`` names the weights.
* **Receptive field** (``receptive_field_*``). A stack of four real :class:`~swin_viz.SwinBlock` s on a
  ``28 x 28`` map with ``M = 7`` -- once alternating shift 0 / 3 as in the model, once never shifting, with the
  same weights -- and one chosen input token. An output token is *reached* after ``k`` blocks when its features
  change if the chosen input token is perturbed (float64; in shifted blocks the masked pairs carry
  ``exp(-100)`` of weight, far below the threshold). Each token is coloured by the number of blocks after which
  it is first reached.

``BENCH_CHANGES`` (attention maps) and ``RECEPTIVE_FIELD_BENCH_CHANGES`` list the control changes the widget
benchmark (``bench/bench_widgets.py``) replays. Changing the input image needs one forward pass (cached per
image and weights); every other change only slices caches.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F

from ..model import SwinTransformer, model_config
from ..pretrained import pretrained_info
from ..probes import RF_DEPTH, RF_DIM, RF_SIZE, RF_WINDOW, reach_counts, receptive_field_stacks
from ..shift import cyclic_shift
from ..windows import effective_window, pad_to_window, window_partition
from ..zoo import shared_model
from . import palette
from .explorer import Explorer, State, static_figure, torch_threads
from .images import IMAGES, load_image, normalize
from .spec import FigureSpec, Panel, Rect, Series

if TYPE_CHECKING:
    from ..data.sources import ImageSet

__all__ = [
    "BENCH_CHANGES",
    "DEFAULT_SOURCE",
    "RECEPTIVE_FIELD_BENCH_CHANGES",
    "SOURCES",
    "AttentionCache",
    "attention_maps_clamp",
    "attention_maps_explorer",
    "attention_maps_spec",
    "attention_maps_static",
    "default_model",
    "digits_val",
    "pick_images",
    "reach_counts",
    "receptive_field_clamp",
    "receptive_field_explorer",
    "receptive_field_spec",
    "receptive_field_static",
    "trained_model",
    "trained_weights_label",
    "window_layout",
]

IMAGE_SIZE = 224
"""The model sees every photograph at 224 x 224 (a patch-4 model: stage 1 has 56 x 56 tokens)."""
DEFAULT_SOURCE = "digits-small"
SOURCES = ("digits-small", "random")
"""``source`` values: the shipped trained checkpoint on validation digits, or the random model on photographs."""
DEFAULT_WEIGHTS_LABEL = "randomly initialised weights"
CALLER_WEIGHTS_LABEL = "weights supplied by the caller"
DEFAULT_MODEL_KWARGS: dict = model_config("demo")
"""The random model: the real Swin structure (4 stages, W-MSA/SW-MSA pairs, M = 7) with few channels."""
STATIC_DISPLAY = 112
"""Largest side in pixels of the input image in the static figure (each slider step carries the image as JSON)."""
INPUT_COUNT = 12
"""Images offered from a data set: the first of each class, then the next ones in data-set order."""
PHOTO_QUERY = (20, 26)
"""Default stage-1 query on the photographs (a 56 x 56 map): on the astronaut's face."""


# ================================================================================================ attention maps
def default_model() -> SwinTransformer:
    """The small ``"demo"`` Swin (``DEFAULT_MODEL_KWARGS``) with seed-0 random weights, in eval mode; shared and
    read-only (:func:`swin_viz.shared_model`), the global RNG untouched."""
    return shared_model("demo")


def trained_model(name: str = DEFAULT_SOURCE) -> tuple[SwinTransformer, dict[str, Any]]:
    """A checkpoint the package ships: ``(model in eval mode, provenance)``, as ``load_pretrained`` returns them.

    The model is :func:`swin_viz.shared_model` ``(name, weights="pretrained")``: loaded once, shared, read-only.
    """
    return shared_model(name, weights="pretrained"), pretrained_info(name)


def trained_weights_label(name: str = DEFAULT_SOURCE) -> str:
    """What the figure title says about a shipped checkpoint, read from its provenance."""
    info = trained_model(name)[1]
    return f"trained weights ({name}, val top-1 {float(info['val_top1']):.1f}%)"


@functools.lru_cache(maxsize=1)
def digits_val() -> ImageSet:
    """The validation digits the shipped checkpoint never trained on: ``load_digits(size=32, split="val")``."""
    from ..data.sources import load_digits

    return load_digits(size=32, split="val")


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


@functools.lru_cache(maxsize=64)
def window_layout(H: int, W: int, window: tuple[int, int], shift: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Where each token of an ``H x W`` map lands in the attention batch, computed by the library.

    Returns ``coords`` ``(nW, N, 2)``: the map (row, col) of token ``n`` of window ``w`` (``-1`` for padding),
    and ``slot`` ``(H, W, 2)``: the (window, token-in-window) index of every map position -- the row of
    ``attn.hook_probs`` that holds its attention. Positions go through ``pad_to_window``, ``cyclic_shift`` (when
    ``shift`` is non-zero) and ``window_partition``, exactly as :meth:`swin_viz.SwinBlock.forward` moves features.
    """
    pos = torch.stack(torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij"), -1)[None] + 1  # (1, H, W, 2)
    pos, _ = pad_to_window(pos.float(), window)  # padding is 0 -> -1 below
    if shift != (0, 0):
        pos = cyclic_shift(pos, shift)
    coords = window_partition(pos, window).reshape(-1, window[0] * window[1], 2).long().numpy() - 1
    slot = np.zeros((H, W, 2), dtype=np.int64)
    valid = coords[..., 0] >= 0
    w_idx, n_idx = np.nonzero(valid)
    slot[coords[valid, 0], coords[valid, 1]] = np.stack([w_idx, n_idx], -1)
    return coords, slot


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """Sorted integers as half-open runs of consecutive values: ``[0, 1, 2, 5, 6] -> [(0, 3), (5, 7)]``."""
    values = np.unique(values)
    breaks = np.nonzero(np.diff(values) != 1)[0]
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks + 1, [len(values)]])
    return [(int(values[s]), int(values[e - 1]) + 1) for s, e in zip(starts, ends)]


def window_pieces(coords: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The map rectangles ``(r0, c0, r1, c1)`` (half-open) covered by one window's tokens ``coords`` ``(N, 2)``.

    A regular window is one rectangle; a shifted window that wraps round the map edge is up to four.
    """
    valid = coords[coords[:, 0] >= 0]
    return [(r0, c0, r1, c1) for r0, r1 in _runs(valid[:, 0]) for c0, c1 in _runs(valid[:, 1])]


def _same_patch(value: int, old_stride: int, new_stride: int, size: int) -> int:
    """The token of a map with ``new_stride`` px tokens whose patch holds the centre of token ``value`` of the old."""
    return min((2 * value + 1) * old_stride // (2 * new_stride), size - 1)


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


def _cache_for(
    model: SwinTransformer | None = None, source: str = DEFAULT_SOURCE, images: ImageSet | None = None
) -> AttentionCache:
    """The cache of ``model`` on ``images``; without a model, that of ``source`` (see :data:`SOURCES`)."""
    options: dict[str, Any] = {}
    if model is None:
        if source == "digits-small":
            model = trained_model(source)[0]
            if images is None:
                images, options = digits_val(), dict(noun="digit", split="val")
        elif source == "random":
            model = default_model()
        else:
            raise ValueError(f"unknown source {source!r}: choose one of {SOURCES}, or pass model=")
    per_model = _CACHES.setdefault(model, {})
    key = id(images) if images is not None else None
    if key not in per_model:  # the entry holds ``images``, so its id cannot be reused while the entry lives
        per_model[key] = (images, AttentionCache(model, images=images, **options))
    return per_model[key][1]


def _weights_text(model: SwinTransformer | None, weights_label: str | None, source: str) -> tuple[str, str]:
    """``(title label, caption sentence)`` saying which weights drew the figure."""
    if model is None and source in SOURCES and source != "random":
        info = trained_model(source)[1]
        about = f"Weights: {info['what']}, {info['epochs']} epochs (swin_viz.pretrained.load_pretrained({source!r}))."
        return weights_label or trained_weights_label(source), about
    if weights_label:
        return weights_label, ""
    return (DEFAULT_WEIGHTS_LABEL if model is None else CALLER_WEIGHTS_LABEL), ""


def _resolve_query(cache: AttentionCache, info: BlockInfo, row: int | None, col: int | None) -> tuple[int, int]:
    """``row``/``col``, or where missing the cache's default stage-1 query moved to ``info``'s map."""
    first = next(iter(cache.blocks.values()))
    r0, c0 = cache.default_query
    row = _same_patch(r0, first.stride, info.stride, info.H) if row is None else row
    col = _same_patch(c0, first.stride, info.stride, info.W) if col is None else col
    return row, col


def _image_name(cache: AttentionCache, image: str | int | None) -> str:
    """An input's name: ``None`` is the first, an int a position in ``cache.names``."""
    if image is None:
        return cache.names[0]
    if isinstance(image, int):
        return cache.names[image]
    return image


def attention_maps_spec(
    image: str | int | None = None,
    block: str = "stage1.block1",
    row: int | None = None,
    col: int | None = None,
    head: int = 0,
    model: SwinTransformer | None = None,
    weights_label: str | None = None,
    display_size: int | None = None,
    source: str = DEFAULT_SOURCE,
    images: ImageSet | None = None,
) -> FigureSpec:
    """The input image with the query's patch, and the query's attention on the block's ``H x W`` token map.

    ``image`` names one of the inputs (``None``: the first; an int: its position in the list); ``source``,
    ``model`` and ``images`` choose weights and inputs (see the module docstring). ``row, col`` index the block's
    token map (stage ``s``: ``image_size / patch_size / 2**(s-1)`` a side; ``None``: the default query, moved to
    this stage); ``head`` one of the stage's heads. The heatmap is row ``n`` of ``attn.hook_probs[w, head]``
    (``w, n`` = the query's window and place in it, see :func:`window_layout`) scattered back to map positions:
    it sums to 1 over the window (minus what goes to padding tokens, if the window does not divide the map). The
    image is ``display_size`` pixels a side (``None``: the size the model sees); outlines are drawn in its pixels.
    When the inputs have class names the caption gives the model's prediction, from the same forward pass.
    """
    cache = _cache_for(model, source, images)
    image = _image_name(cache, image)
    if image not in cache.names:
        raise ValueError(f"unknown {cache.noun} {image!r}; choose one of {list(cache.names)}")
    display_size = display_size or cache.image_size
    info = cache.blocks[block]
    row, col = _resolve_query(cache, info, row, col)
    coords, slot = window_layout(info.H, info.W, info.window, info.shift)
    w, n = (int(v) for v in slot[row, col])
    attn = cache.probs(image)[block][w, head, n]  # (N,) over the window's tokens
    window_coords = coords[w]
    valid = window_coords[:, 0] >= 0
    heat = np.zeros((info.H, info.W), dtype=np.float32)
    heat[window_coords[valid, 0], window_coords[valid, 1]] = attn[valid]
    pieces = window_pieces(window_coords)

    scale = info.stride * display_size / cache.image_size  # display pixels per token
    photo_rects = [Rect(r0 * scale, c0 * scale, r1 * scale, c1 * scale) for r0, c0, r1, c1 in pieces]
    photo_rects.append(Rect(row * scale, col * scale, (row + 1) * scale, (col + 1) * scale, "highlight"))
    map_rects = [Rect(*p) for p in pieces] + [Rect(row, col, row + 1, col + 1, "highlight")]

    label, about = _weights_text(model, weights_label, source)
    what = image
    if cache.classes is not None:
        k, p = cache.prediction(image)
        predicted, truth = cache.classes[k], cache.truth.get(image)
        verdict = "" if truth is None else (" (correct)" if predicted == truth else f" (wrong: it is {truth})")
        what = f"{image}: the model predicts {predicted} with probability {p:.3f}{verdict}"
    Mh, Mw = info.window
    pad_mass = float(attn[~valid].sum())
    if len(pieces) > 1:
        note = f"the window wraps round the map edge ({len(pieces)} pieces); the mask keeps the query in its own"
    elif pad_mass > 0:
        note = f"{pad_mass:.3f} of the attention goes to padding tokens"
    else:
        note = f"attention sums to {float(attn.sum()):.3f} over the window"
    return FigureSpec(
        title=f"Attention of query ({row}, {col}) in {block} ({info.kind}), head {head}: {label}",
        caption=(f"{what}; {info.H} x {info.W} tokens of {info.stride} px, {Mh} x {Mw} windows, "
                 f"shift {info.shift[0]}; {note}. {about}").strip(),
        panels=[
            Panel(f"{cache.noun.capitalize()}: query patch ({info.stride} px) and window", "image",
                  z=cache.photo(image, display_size), rects=photo_rects, x_label="pixel column",
                  y_label="pixel row", hover="pixel (%{y}, %{x})<extra></extra>"),
            Panel(f"Attention over {block}'s tokens", "heatmap", z=heat,
                  colorscale=palette.SEQUENTIAL, zmin=0.0, colorbar="attention probability", rects=map_rects,
                  x_label="token column", y_label="token row",
                  hover="token (%{y}, %{x}): attention %{z:.4f}<extra></extra>"),
        ],
    )  # fmt: skip


def attention_maps_clamp(
    state: State,
    model: SwinTransformer | None = None,
    previous: State | None = None,
    source: str = DEFAULT_SOURCE,
    images: ImageSet | None = None,
) -> tuple[State, str]:
    """Make (image, block, row, col, head) consistent with the model and its inputs, and say what changed.

    When only the block changed (``previous`` is the last state drawn) and it lies in another stage, the query
    moves to the token of the new stage that covers the same image pixels; otherwise an out-of-range query or
    head is clamped to the block's token map and the stage's heads.
    """
    cache = _cache_for(model, source, images)
    state = dict(state)
    notes = []
    if isinstance(state["image"], int) and 0 <= state["image"] < len(cache.names):
        state["image"] = cache.names[state["image"]]
    if state["image"] not in cache.names:
        notes.append(f"Unknown {cache.noun} {state['image']!r}: showing {cache.names[0]}.")
        state["image"] = cache.names[0]
    if state["block"] not in cache.blocks:
        first = next(iter(cache.blocks))
        notes.append(f"This model has no block {state['block']!r}: showing {first}.")
        state["block"] = first
    info = cache.blocks[state["block"]]
    old = cache.blocks.get(previous["block"]) if previous else None
    moved_block = old is not None and old.stride != info.stride
    if moved_block and (state["row"], state["col"]) == (previous["row"], previous["col"]):
        # The token of the new stage whose patch contains the centre of the old query's patch.
        r = _same_patch(state["row"], old.stride, info.stride, info.H)
        c = _same_patch(state["col"], old.stride, info.stride, info.W)
        if (r, c) != (state["row"], state["col"]):
            notes.append(
                f"{state['block']} has {info.H} x {info.W} tokens of {info.stride} px: the query moved from "
                f"({state['row']}, {state['col']}) to ({r}, {c}), the token over the same image patch."
            )
        state["row"], state["col"] = r, c
    for axis, size in (("row", info.H), ("col", info.W)):
        value = state[axis]
        if not 0 <= value < size:
            state[axis] = min(max(value, 0), size - 1)
            notes.append(f"Query {axis} {value} is outside {state['block']}'s {info.H} x {info.W} token map: "
                         f"clamped to {state[axis]}.")  # fmt: skip
    if not 0 <= state["head"] < info.heads:
        value = state["head"]
        state["head"] = min(max(value, 0), info.heads - 1)
        notes.append(f"Stage {info.stage} has {info.heads} head(s): head {value} clamped to {state['head']}.")
    return state, " ".join(notes)


def attention_maps_explorer(
    model: SwinTransformer | None = None,
    weights_label: str | None = None,
    image: str | int | None = None,
    block: str = "stage1.block1",
    row: int | None = None,
    col: int | None = None,
    head: int = 0,
    display_size: int | None = None,
    source: str = DEFAULT_SOURCE,
    images: ImageSet | None = None,
) -> Explorer:
    """Input image, block, query row/col and head; only a new image (or new weights) runs the model.

    By default the shipped trained model on validation digits (``source="digits-small"``); ``source="random"``
    is the random model on photographs; ``model=`` (and ``images=``) bring your own. ``display_size`` is the side
    of the image as drawn, in pixels (``None``: the size the model sees).
    """
    import ipywidgets as widgets

    cache = _cache_for(model, source, images)
    first = next(iter(cache.blocks.values()))
    most_heads = max(b.heads for b in cache.blocks.values())
    block = block if block in cache.blocks else first.name  # a Dropdown refuses unknown values
    row, col = _resolve_query(cache, cache.blocks[block], row, col)
    try:
        image = _image_name(cache, image)
    except IndexError:
        image = cache.names[0]
    image = image if image in cache.names else cache.names[0]
    controls = {
        "image": widgets.Dropdown(options=list(cache.names), value=image, description=cache.noun),
        "block": widgets.Dropdown(options=list(cache.blocks), value=block, description="block"),
        "row": widgets.IntSlider(value=row, min=0, max=max(first.H - 1, row), description="query row"),
        "col": widgets.IntSlider(value=col, min=0, max=max(first.W - 1, col), description="query col"),
        "head": widgets.IntSlider(value=head, min=0, max=max(most_heads - 1, head), description="head"),
    }
    drawn: dict[str, State] = {}

    def clamp(state: State) -> tuple[State, str]:
        state, note = attention_maps_clamp(state, model, drawn.get("state"), source=source, images=images)
        drawn["state"] = state
        return state, note

    def limits(state: State) -> dict[str, tuple[int, int]]:
        info = cache.blocks[state["block"]]
        return {"row": (0, info.H - 1), "col": (0, info.W - 1), "head": (0, info.heads - 1)}

    render = functools.partial(attention_maps_spec, model=model, weights_label=weights_label,
                               display_size=display_size, source=source, images=images)  # fmt: skip
    return Explorer(controls, render, clamp, limits, title="Attention of one query, block by block")


BENCH_CHANGES = [dict(block="stage1.block0"), dict(row=12, col=3), dict(block="stage2.block1"), dict(head=1),
                 dict(block="stage3.block0", head=3), dict(row=0, col=3), dict(block="stage3.block1", head=7),
                 dict(block="stage1.block1", head=0), dict(row=15, col=15), dict(col=3)]  # fmt: skip
"""Control changes the widget benchmark replays on the default (digits) explorer: block, query and head only
(a new image runs the model once and is timed apart)."""

STATIC_STATES = [
    dict(image=3, block="stage1.block0", row=2, col=6, head=0),
    dict(image=3, block="stage1.block1", row=2, col=6, head=0),
    dict(image=3, block="stage1.block1", row=7, col=8, head=1),
    dict(image=8, block="stage1.block1", row=15, col=6, head=0),
    dict(image=8, block="stage2.block1", row=4, col=3, head=2),
    dict(image=0, block="stage3.block0", row=1, col=1, head=5),
]
"""The static figure's steps on the default inputs (``image``: position in the list of validation digits, sorted
by digit: 3 is the first 3, 8 the first 7, 0 the first 0)."""


def attention_maps_static(
    model: SwinTransformer | None = None,
    weights_label: str | None = None,
    states: list[State] | None = None,
    source: str = DEFAULT_SOURCE,
    images: ImageSet | None = None,
) -> go.Figure:
    """Kernel-free version: a slider over a few (image, block, query, head) choices.

    ``states`` default to :data:`STATIC_STATES` (for the default inputs); give your own for other inputs.
    """
    states = states or STATIC_STATES
    cache = _cache_for(model, source, images)
    states = [{**s, "image": _image_name(cache, s["image"])} for s in states]
    render = functools.partial(attention_maps_spec, model=model, weights_label=weights_label, source=source,
                               images=images, display_size=min(STATIC_DISPLAY, cache.image_size))  # fmt: skip
    labels = [f"{s['image']}, {s['block']}, ({s['row']}, {s['col']}), head {s['head']}" for s in states]
    return static_figure(render, states, labels, f"{cache.noun}, block, query, head")


# =============================================================================================== receptive field
# reach_counts and receptive_field_stacks are a probe of the library (swin_viz.probes); this module draws them.


def _reach_hover(first: np.ndarray, k: int) -> np.ndarray:
    """``(size, size)`` hover strings: when each token is first reached, or that it is not within ``k`` blocks."""
    words = [f"reached after {j} block" + ("s" if j != 1 else "") for j in range(k + 1)]
    words[0] = "the chosen token"
    never = f"not reached in {k} block" + ("s" if k != 1 else "")
    size = first.shape[1]
    return np.array([f"token ({i // size}, {i % size}): " + (words[j] if j <= k else never)
                     for i, j in enumerate(first.ravel().tolist())]).reshape(first.shape)  # fmt: skip


def receptive_field_spec(k: int = 2, row: int = 10, col: int = 10) -> FigureSpec:
    """Tokens reached from input token ``(row, col)`` after ``k`` blocks, with and without the shift, and the
    number of tokens reached after each block. Heatmaps are ``(28, 28)``: blocks until first reached, blank when
    not reached within ``k`` blocks."""
    counts = reach_counts(row, col)
    stacks, _ = receptive_field_stacks()
    panels = []
    reached_k = {}
    for name, first in counts.items():
        z = np.where(first <= k, first, np.nan).astype(float)
        reached_k[name] = int((first <= k).sum())
        # Window outlines of block 1 (regular) and, in the shifted stack, block 2 (shifted), where the model puts them.
        rects = [Rect(*window_pieces(c)[0]) for c in window_layout(RF_SIZE, RF_SIZE, (RF_WINDOW,) * 2, (0, 0))[0]]
        shift = stacks[name][1].shift_size if RF_DEPTH > 1 else 0
        if shift:
            shifted_coords = window_layout(RF_SIZE, RF_SIZE, (RF_WINDOW,) * 2, (shift, shift))[0]
            rects += [Rect(*p, style="dashed") for c in shifted_coords for p in window_pieces(c)]
        rects.append(Rect(row, col, row + 1, col + 1, "highlight"))
        shifts = ", ".join(str(b.shift_size) for b in stacks[name])
        panels.append(Panel(
            f"{name.capitalize()} (shifts {shifts}): {reached_k[name]} tokens", "heatmap", z=z,
            colorscale=palette.SEQUENTIAL, zmin=0, zmax=RF_DEPTH, colorbar="blocks until reached (blank: not yet)",
            rects=rects, x_label="token column", y_label="token row", hovertext=_reach_hover(first, k),
        ))  # fmt: skip
    blocks = list(range(RF_DEPTH + 1))
    series = [Series(name, blocks, [int((first <= j).sum()) for j in blocks],
                     color=palette.HIGHLIGHT if name == "shifted" else palette.OUTLINE, dash=name != "shifted")
              for name, first in counts.items()]  # fmt: skip
    panels.append(Panel("Tokens reached after each block", "lines", series=series, x_label="blocks",
                        y_label="tokens reached"))  # fmt: skip
    return FigureSpec(
        title=(f"Receptive field: token ({row}, {col}) reaches {reached_k['shifted']} tokens in {k} block(s) with the "
               f"shift, {reached_k['not shifted']} without"),
        caption=(f"{RF_DEPTH} SwinBlocks (dim {RF_DIM}, random weights, the same in both), {RF_SIZE} x {RF_SIZE} map, "
                 f"M={RF_WINDOW}; reached = output changes when the token is perturbed; dashed: shifted windows"),
        panels=panels,
    )  # fmt: skip


def receptive_field_clamp(state: State) -> tuple[State, str]:
    """``k`` runs from 1 to the stack depth; the token lies on the map."""
    state = dict(state)
    notes = []
    if not 1 <= state["k"] <= RF_DEPTH:
        value = state["k"]
        state["k"] = min(max(value, 1), RF_DEPTH)
        notes.append(f"The stacks have {RF_DEPTH} blocks: k={value} clamped to {state['k']}.")
    for axis in ("row", "col"):
        value = state[axis]
        if not 0 <= value < RF_SIZE:
            state[axis] = min(max(value, 0), RF_SIZE - 1)
            notes.append(f"Token {axis} {value} is outside the {RF_SIZE} x {RF_SIZE} map: clamped to {state[axis]}.")
    return state, " ".join(notes)


def receptive_field_explorer(k: int = 2, row: int = 10, col: int = 10) -> Explorer:
    """Blocks ``k`` and the input token; each token's reach (all ``k`` at once) is computed once and cached."""
    import ipywidgets as widgets

    controls = {
        "k": widgets.IntSlider(value=k, min=1, max=RF_DEPTH, description="blocks k"),
        "row": widgets.IntSlider(value=row, min=0, max=RF_SIZE - 1, description="token row"),
        "col": widgets.IntSlider(value=col, min=0, max=RF_SIZE - 1, description="token col"),
    }
    return Explorer(controls, receptive_field_spec, receptive_field_clamp, title="How far a token reaches")


RECEPTIVE_FIELD_BENCH_CHANGES = [dict(k=1), dict(k=3), dict(k=4), dict(row=0, col=0), dict(k=2), dict(row=13, col=13),
                                 dict(k=4), dict(row=20, col=6), dict(k=1), dict(col=27)]  # fmt: skip
"""Control changes the widget benchmark replays for the receptive-field explorer."""

RECEPTIVE_FIELD_STATIC_STATES = [dict(k=1, row=10, col=10), dict(k=2, row=10, col=10), dict(k=3, row=10, col=10),
                                 dict(k=4, row=10, col=10), dict(k=4, row=0, col=0),
                                 dict(k=4, row=13, col=20)]  # fmt: skip


def receptive_field_static(states: list[State] | None = None) -> go.Figure:
    """Kernel-free version: a slider over a few (k, token) choices."""
    states = states or RECEPTIVE_FIELD_STATIC_STATES
    labels = [f"k={s['k']}, token ({s['row']}, {s['col']})" for s in states]
    return static_figure(receptive_field_spec, states, labels, "blocks, token")
