"""Shared models: the one cache of read-only models that figures, labs and checks borrow (the whole book).

Many pages draw from the same few models -- Swin-T with seeded random weights, the shipped ``digits-small``
checkpoint, a structure-only model on the meta device -- and building one costs from 0.1 s to a few seconds.
:func:`shared_model` builds each once per key and hands every caller the same object:

* ``weights="random"``: ``create_model(name)`` with the weights drawn after ``torch.manual_seed(seed)``;
* ``weights="pretrained"``: a checkpoint the package ships, ``name`` one of ``swin_viz.pretrained.PRETRAINED``,
  loaded by :func:`swin_viz.pretrained.load_pretrained` (its provenance: :func:`swin_viz.pretrained.pretrained_info`);
* ``weights="meta"``: ``create_model(name)`` on the meta device (shapes and structure, no memory, no arithmetic).

Every model is built under ``torch.random.fork_rng``, so asking for one never moves the caller's random stream,
and is returned in eval mode with ``requires_grad_(False)``.

**Shared means read-only.** Every caller holds the same object: a caller that changes it (``train()``,
``requires_grad_``, ``set_attn_impl``, ``load_state_dict``, editing a weight in place) changes it for every other
page, lab and check. Take a private copy instead: ``copy.deepcopy(shared_model(...))``, or build one with
:func:`swin_viz.create_model`. Each call checks that promise, cheaply (no pass over the weights' values): every
module in eval mode, no parameter requiring grad, every block's ``attn_impl`` as asked, and every parameter and
buffer the same tensor, never written in place since the build (its storage, dtype and autograd version counter).
A caller that broke it gets a ``RuntimeError`` saying what changed and how to take a copy; the broken model is
dropped, so the next call builds a fresh one. (A write through ``.data`` bypasses the version counter, so it is
not seen: the tests check that the library's own callers leave every weight as they found it.)
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import torch

from .attention import ATTN_IMPLS
from .model import SwinConfig, SwinTransformer, create_model, registered_config, registered_models

__all__ = ["WEIGHTS", "cache_clear", "cached_keys", "shared_model"]

WEIGHTS = ("random", "pretrained", "meta")
"""What :func:`shared_model` can fill a model with: seeded random weights, a shipped checkpoint, or nothing (meta)."""


class _Key(NamedTuple):
    name: str
    weights: str
    seed: int | None
    attn_impl: str
    config: SwinConfig | None  # the registered config (random/meta): a re-registered name is a new model


_MODELS: dict[_Key, _Snapshot] = {}
_LOCK = threading.RLock()


def _key(name: str, weights: str, seed: int | None, attn_impl: str | None) -> _Key:
    """Check the arguments and normalise them into the cache key (``attn_impl=None`` is the model's ``"auto"``)."""
    if not isinstance(name, str):
        raise ValueError(f"name must be a string (a registered model or a shipped checkpoint), got {name!r}")
    if not isinstance(weights, str) or weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, got {weights!r}")
    if attn_impl is not None and (not isinstance(attn_impl, str) or attn_impl not in ATTN_IMPLS):
        raise ValueError(f"attn_impl must be one of {ATTN_IMPLS} (or None: the model's default), got {attn_impl!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed must be an int (or None), got {seed!r}")
    from .pretrained import PRETRAINED

    if weights == "pretrained":
        if name not in PRETRAINED:
            config_name = name in registered_models()
            hint = f"; {name!r} is a model config: pass weights='random' or 'meta'" if config_name else ""
            raise ValueError(
                f"unknown checkpoint {name!r} for weights='pretrained'; shipped: {sorted(PRETRAINED)}{hint}"
            )
        if seed is not None:
            raise ValueError("seed applies to weights='random' only: a shipped checkpoint's weights are fixed")
        return _Key(name, weights, None, attn_impl or "auto", None)
    config = registered_config(name)  # the frozen config itself: model_config's dict copy costs ~50 us per call
    if config is None:
        hint = f"; {name!r} is a shipped checkpoint: pass weights='pretrained'" if name in PRETRAINED else ""
        raise ValueError(f"unknown model {name!r} for weights={weights!r}; choose one of {registered_models()}{hint}")
    if weights == "meta" and seed is not None:
        raise ValueError("seed applies to weights='random' only: a meta-device model has no weights")
    if weights == "random" and seed is None:
        seed = 0
    return _Key(name, weights, seed, attn_impl or "auto", config)


def _build(key: _Key) -> SwinTransformer:
    # Normal tensors even when the first caller runs under torch.inference_mode (inference tensors could never be
    # used with autograd by a later caller); a forked RNG, since building draws initial weights.
    with torch.inference_mode(False), torch.random.fork_rng(devices=[]):
        if key.weights == "pretrained":
            from .pretrained import load_pretrained

            model = load_pretrained(key.name)[0]
        elif key.weights == "meta":
            with torch.device("meta"):
                model = create_model(key.name)
        else:
            torch.manual_seed(key.seed)
            model = create_model(key.name)
    model.set_attn_impl(key.attn_impl)
    return model.eval().requires_grad_(False)


def _describe(key: _Key) -> str:
    args = [repr(key.name), f"weights={key.weights!r}"]
    if key.seed:
        args.append(f"seed={key.seed}")
    if key.attn_impl != "auto":
        args.append(f"attn_impl={key.attn_impl!r}")
    return f"shared_model({', '.join(args)})"


class _Snapshot:
    """What a shared model was when it was built, in flat lists, so the check on each call walks no module tree.

    ``modules``: ``(name, parent, attribute, child)`` of every submodule; ``tensors``: ``(name, owner, table, key,
    tensor, (version, storage, dtype))`` of every parameter and buffer -- any in-place write bumps the version
    (``load_state_dict``, ``add_`` under ``no_grad``, an optimiser step), ``.double()`` or ``.to()`` change the rest.
    """

    def __init__(self, model: SwinTransformer) -> None:
        self.root = model
        self.modules = [(f"{prefix}.{attr}".lstrip("."), parent, attr, child)
                        for prefix, parent in model.named_modules() for attr, child in parent._modules.items()
                        if child is not None]  # fmt: skip
        self.tensors = [(f"{prefix}.{key}".lstrip("."), owner, table, key, t, self._state(t))
                        for prefix, owner in model.named_modules() for table in ("_parameters", "_buffers")
                        for key, t in getattr(owner, table).items() if t is not None]  # fmt: skip
        self.attns = [block.attn for stage in model.stages for block in stage.blocks]

    @staticmethod
    def _state(t: torch.Tensor) -> tuple:
        return t._version, t.data_ptr(), t.dtype

    def changed(self, attn_impl: str) -> str:
        """What a caller changed since the build (empty if nothing this check can see)."""
        if self.root.training:
            return "the model is in training mode"
        for name, parent, attr, child in self.modules:
            if parent._modules.get(attr) is not child:
                return f"{name} was replaced"
            if child.training:
                return f"{name} is in training mode"
        for name, owner, table, key, t, state in self.tensors:
            if getattr(owner, table).get(key) is not t:
                return f"{name} was replaced"
            if t.requires_grad:
                return f"{name} requires grad"
            now = self._state(t)
            if now != state:
                return f"{name} was {'written in place' if now[1:] == state[1:] else 'converted or moved'}"
        for attn in self.attns:
            if attn.attn_impl != attn_impl:
                return f"its attn_impl is {attn.attn_impl!r}, not {attn_impl!r}"
        return ""


def shared_model(
    name: str, *, weights: str = "random", seed: int | None = None, attn_impl: str | None = None
) -> SwinTransformer:
    """The shared, read-only model ``name`` with ``weights``: built once per arguments, the same object after.

    * ``name``: a registered config (``swin_viz.registered_models()``: ``"swin_t"`` .. ``"swin_l"``, ``"small"``,
      ``"tiny"``, ``"demo"``) for ``weights="random"`` or ``"meta"``; a shipped checkpoint (``"digits-small"``)
      for ``weights="pretrained"``.
    * ``weights``: ``"random"`` (drawn after ``torch.manual_seed(seed)``), ``"pretrained"`` or ``"meta"``.
    * ``seed``: for ``"random"`` only (``None`` is 0); an error with the others, whose weights it cannot change.
    * ``attn_impl``: every block's attention path (``"auto"``, ``"explicit"``, ``"fused"``); ``None`` is ``"auto"``.
      ``"explicit"`` is what ``FlopCounterMode`` can measure.

    The model is in eval mode, with ``requires_grad`` off; forward: ``(B, in_chans, H, W) -> (B, num_classes)``.
    The caller's random stream is untouched. **Do not change it**: it is shared with every other caller. For a
    private one, ``copy.deepcopy(shared_model(...))`` or ``swin_viz.create_model(name)``. A model found in train
    mode, with gradients on, another ``attn_impl``, or weights written or converted raises ``RuntimeError`` (and is
    rebuilt on the next call); that check walks lists recorded at build, 0.1-1 ms per call.

    Raises ``ValueError`` naming the choices for an unknown ``name``, ``weights`` or ``attn_impl``.
    """
    key = _key(name, weights, seed, attn_impl)
    with _LOCK:
        entry = _MODELS.get(key)
        if entry is not None:
            why = entry.changed(key.attn_impl)
            if why:
                del _MODELS[key]
                own = (f"swin_viz.pretrained.load_pretrained({name!r})[0]" if weights == "pretrained"
                       else f"swin_viz.create_model({name!r})")  # fmt: skip
                raise RuntimeError(
                    f"{_describe(key)} was changed by a caller: {why}. Shared models are read-only (every figure, "
                    f"lab and check holds the same object); take a private copy with copy.deepcopy({_describe(key)}) "
                    f"or build your own with {own}. The next call builds a fresh shared model."
                )
            return entry.root
        model = _build(key)
        _MODELS[key] = _Snapshot(model)
        return model


def cache_clear() -> None:
    """Forget every shared model (for tests; the next :func:`shared_model` call builds afresh)."""
    with _LOCK:
        _MODELS.clear()


def cached_keys() -> list[tuple[str, str, int | None, str]]:
    """``(name, weights, seed, attn_impl)`` of every model built so far, in the order they were built."""
    with _LOCK:
        return [(k.name, k.weights, k.seed, k.attn_impl) for k in _MODELS]
