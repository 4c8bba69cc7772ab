"""Where the explorers' weights and inputs come from: one home, so every figure names its weights the same way.

An explorer takes a ``source`` and asks :func:`resolve_source` for a :class:`Source`:

* ``"digits-small"`` (the default): the small Swin the package ships (:func:`swin_viz.pretrained.load_pretrained`),
  trained on scikit-learn's handwritten digits, with the validation digits it never trained on
  (:func:`digits_val`); the label gives the checkpoint's validation top-1, read from its provenance;
* ``"random"`` (or ``None``): the small ``"demo"`` Swin with seed-0 random weights (:func:`default_model`), on the
  bundled photographs, labelled "randomly initialised weights";
* a model (e.g. official weights a user loads): labelled "weights supplied by the caller" unless the caller
  names them.

Every model comes from :func:`swin_viz.shared_model`: built or loaded once, shared and read-only; the explorers
that need only a structure (counting, shapes) or random weights take :func:`meta_model` and :func:`random_model`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..data.sources import ImageSet, load_digits
from ..model import SwinTransformer, model_config
from ..pretrained import PRETRAINED, pretrained_info
from ..zoo import shared_model

__all__ = [
    "CALLER_WEIGHTS_LABEL",
    "DEFAULT_MODEL_KWARGS",
    "DEFAULT_SOURCE",
    "DEFAULT_WEIGHTS_LABEL",
    "RANDOM",
    "SOURCES",
    "Source",
    "default_model",
    "digits_val",
    "meta_model",
    "random_model",
    "resolve_source",
    "trained_model",
    "trained_weights_label",
]

DEFAULT_SOURCE = "digits-small"
RANDOM = "random"
SOURCES = (*PRETRAINED, RANDOM)
"""``source`` names: a checkpoint the package ships, or the random model."""
DEFAULT_WEIGHTS_LABEL = "randomly initialised weights"
CALLER_WEIGHTS_LABEL = "weights supplied by the caller"
DEFAULT_MODEL_KWARGS: dict = model_config("demo")
"""The random model: the real Swin structure (4 stages, W-MSA/SW-MSA pairs, M = 7) with few channels."""


def default_model() -> SwinTransformer:
    """The small ``"demo"`` Swin (``DEFAULT_MODEL_KWARGS``) with seed-0 random weights, in eval mode; shared and
    read-only (:func:`swin_viz.shared_model`), the global RNG untouched."""
    return random_model("demo")


def random_model(name: str) -> SwinTransformer:
    """Registered model ``name`` with seed-0 random weights, in eval mode; shared and read-only."""
    return shared_model(name)


def meta_model(name: str, attn_impl: str | None = None) -> SwinTransformer:
    """Registered model ``name`` on the meta device: its structure and shapes, no weights, no memory."""
    return shared_model(name, weights="meta", attn_impl=attn_impl)


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
    return load_digits(size=32, split="val")


@dataclass(frozen=True)
class Source:
    """The weights and inputs of a figure, and how its title and caption name them.

    ``images`` is the data set the weights go with (``None``: the bundled photographs), ``noun`` and ``split``
    name its images (``"digit"``, ``"val"``); ``about`` is a caption sentence on the weights' provenance.
    """

    model: SwinTransformer
    label: str
    about: str = ""
    images: ImageSet | None = None
    noun: str = "image"
    split: str = ""


_IMAGES = {"digits-small": (digits_val, "digit", "val")}
"""The inputs each shipped checkpoint goes with: ``name -> (loader, noun, split)``."""


def resolve_source(source: str | nn.Module | None = DEFAULT_SOURCE, weights_label: str | None = None) -> Source:
    """The :class:`Source` of ``source``: a shipped checkpoint's name, ``"random"`` (or ``None``), or a model.

    ``weights_label`` replaces the label the figure's title gives the weights.
    """
    if isinstance(source, nn.Module):
        return Source(source, weights_label or CALLER_WEIGHTS_LABEL)
    if source is None or source == RANDOM:
        return Source(default_model(), weights_label or DEFAULT_WEIGHTS_LABEL)
    if source not in PRETRAINED:
        raise ValueError(f"unknown source {source!r}: choose one of {SOURCES}, or pass a model")
    model, info = trained_model(source)
    about = f"Weights: {info['what']}, {info['epochs']} epochs (swin_viz.pretrained.load_pretrained({source!r}))."
    load, noun, split = _IMAGES.get(source, (None, "image", ""))
    return Source(model, weights_label or trained_weights_label(source), about, load() if load else None, noun, split)
