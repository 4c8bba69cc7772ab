"""Hook points: a named identity on every intermediate tensor.

Every tensor a reader may want to look at passes through a :class:`HookPoint`, an ``nn.Identity`` that
knows its dotted name (``stage1.block1.attn.hook_probs``). As in TransformerLens, the last part of every hook
name starts with ``hook_``: ``stage1.block1.attn`` is a layer, ``stage1.block1.attn.hook_probs`` a tensor.
Because a hook point is an ordinary module, PyTorch's own ``register_forward_hook`` reads the tensor, and a
hook that *returns* a tensor replaces it: that is how the book zeroes the shifted-window mask to show
attention leaking between regions.

With nobody listening, a hook point is one module call that returns its input; the benchmark
``bench/bench_hooks.py`` measures what that costs.

The helpers here work on any ``nn.Module`` that contains hook points:

* :func:`hook_points` -- ``{name: HookPoint}`` for the whole model;
* :func:`run_with_cache` -- run the model once and return the tensors whose names match;
* :func:`hooks` -- a context manager that attaches hooks by name (or pattern) and removes them after.
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Callable, Iterable, Iterator, Mapping

import torch
from torch import nn
from torch.nn.modules import module as _module_internals

__all__ = ["HOOK_PREFIX", "HookPoint", "hook_name_for", "hook_points", "hooks", "match_names", "run_with_cache"]

HOOK_PREFIX = "hook_"
"""Every hook point's attribute name starts with this, so ``attn.hook_probs`` (a tensor) never reads like a layer."""

HookFn = Callable[[nn.Module, tuple, torch.Tensor], torch.Tensor | None]


class HookPoint(nn.Identity):
    """An identity module that gives a tensor a stable name.

    The name is the module's dotted path inside the model (``stage2.block0.attn.hook_logits``); it is
    filled in by :func:`hook_points` the first time the model's hook points are listed (and by the
    model's constructor), so a hook point can say who it is in error messages and caches.
    """

    def __init__(self) -> None:
        super().__init__()
        self.name: str = ""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Run the hooks; a hook that replaces the tensor must return one of the same shape.

        A broadcastable stand-in (a ``(1, N, N)`` mask for ``(nW, N, N)``) would apply one window's or one head's
        values to all of them without a word, so it is refused with an error that names the hook point.
        """
        out = super().__call__(x)
        if out is not x:
            if not isinstance(out, torch.Tensor):
                raise TypeError(
                    f"a hook on {self.name or 'a hook point'!r} returned {type(out).__name__}; a hook returns None "
                    f"(keep the value) or a tensor of shape {tuple(x.shape)}"
                )
            if out.shape != x.shape:
                raise ValueError(
                    f"a hook on {self.name or 'a hook point'!r} returned shape {tuple(out.shape)}; it must return "
                    f"the shape it replaces, {tuple(x.shape)} (no broadcasting)"
                )
        return out

    def has_hooks(self) -> bool:
        """True when someone listens: a forward (pre-)hook here or a global module hook."""
        return bool(
            self._forward_hooks
            or self._forward_pre_hooks
            or _module_internals._global_forward_hooks
            or _module_internals._global_forward_pre_hooks
        )

    def extra_repr(self) -> str:
        return f"name={self.name!r}" if self.name else ""


def hook_points(model: nn.Module) -> dict[str, HookPoint]:
    """All hook points of ``model`` by dotted name, in the order a forward pass meets them."""
    points = {name: m for name, m in model.named_modules() if isinstance(m, HookPoint)}
    for name, m in points.items():
        if not name.rpartition(".")[2].startswith(HOOK_PREFIX):
            raise ValueError(
                f"the hook point {name!r} must be an attribute named {HOOK_PREFIX}..., so that hook names can be "
                f"told apart from module names"
            )
        m.name = name
    return points


def match_names(model: nn.Module, patterns: str | Iterable[str] | Callable[[str], bool] | None) -> list[str]:
    """Names of the hook points that match.

    ``patterns`` is a shell-style glob (``"*.attn.hook_probs"``), a list of globs, a predicate on the name, or
    ``None`` for every hook point. In a glob ``*`` also matches dots: ``"stage?.hook_out"`` is the four stage
    outputs, while ``"stage*.hook_out"`` also matches every ``stageN.blockJ.hook_out`` and ``...attn.hook_out``.
    A pattern that matches nothing raises ``ValueError`` naming the pattern, so a typo never silently
    returns an empty cache.
    """
    names = list(hook_points(model))
    if not names:
        raise ValueError(f"{type(model).__name__} has no hook points (swin_viz.HookPoint modules)")
    if patterns is None:
        return names
    if callable(patterns):
        chosen_by_predicate = [n for n in names if patterns(n)]
        if not chosen_by_predicate:
            raise ValueError(
                f"the name predicate {getattr(patterns, '__name__', patterns)!r} matches no hook point; names look "
                f"like {names[:3]} (see swin_viz.hook_points(model) for all {len(names)})"
            )
        return chosen_by_predicate
    if isinstance(patterns, str):
        patterns = [patterns]
    try:
        patterns = list(patterns)
    except TypeError:
        raise TypeError(
            f"hook names must be a glob, a list of globs, a predicate or None, got {type(patterns).__name__}"
        ) from None
    if not patterns:
        raise ValueError("the list of hook names is empty, so nothing would be cached; pass None for every hook point")
    chosen: list[str] = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(f"a hook name pattern must be a string, got {pattern!r}")
        hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise ValueError(f"hook pattern {pattern!r} matches no hook point; {_hint(pattern, names)}")
        chosen.extend(h for h in hits if h not in chosen)
    return [n for n in names if n in chosen]


def hook_name_for(pattern: str) -> str:
    """``pattern`` with ``hook_`` put before its last part (``"*.attn.probs"`` -> ``"*.attn.hook_probs"``)."""
    head, dot, last = pattern.rpartition(".")
    return pattern if last.startswith(("hook_", "*", "?", "[")) else f"{head}{dot}{HOOK_PREFIX}{last}"


def _hint(pattern: str, names: list[str]) -> str:
    """What to say when ``pattern`` matches nothing: the ``hook_`` spelling when that matches, else examples."""
    fixed = hook_name_for(pattern)
    if fixed != pattern and any(fnmatch.fnmatchcase(n, fixed) for n in names):
        return f"hook points are named {HOOK_PREFIX}*, so did you mean {fixed!r}?"
    return f"names look like {names[:3]} (see swin_viz.hook_points(model) for all {len(names)})"


@contextlib.contextmanager
def hooks(model: nn.Module, fwd_hooks: Mapping[str, HookFn] | Iterable[tuple[str, HookFn]]) -> Iterator[None]:
    """Attach forward hooks by hook-point name or glob for the duration of a ``with`` block.

    A hook is PyTorch's ``hook(module, inputs, output)``; returning a tensor replaces ``output``::

        with swin_viz.hooks(model, {"*.attn.hook_mask": lambda m, i, out: torch.zeros_like(out)}):
            logits = model(x)          # every shifted block now attends across regions
    """
    items = list(fwd_hooks.items() if isinstance(fwd_hooks, Mapping) else fwd_hooks)
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise TypeError(f"hooks expects {{name: hook}} or (name, hook) pairs, got {item!r}")
        if not callable(item[1]):
            raise TypeError(
                f"the hook for {item[0]!r} is a {type(item[1]).__name__}, not a callable hook(module, inputs, output)"
            )
    points = hook_points(model)
    handles = []
    try:
        for pattern, fn in items:
            for name in match_names(model, pattern):
                handles.append(points[name].register_forward_hook(fn))
        yield
    finally:
        for h in handles:
            h.remove()


def run_with_cache(
    model: nn.Module,
    *args: object,
    names: str | Iterable[str] | Callable[[str], bool] | None = None,
    detach: bool = True,
    **kwargs: object,
) -> tuple[object, dict[str, torch.Tensor]]:
    """Run ``model(*args, **kwargs)`` once and return ``(output, cache)``.

    ``cache`` maps each matching hook-point name to the tensor that passed through it (detached unless
    ``detach=False``). With gradient checkpointing a block runs twice in backward; the cache keeps the
    forward value.
    """
    cache: dict[str, torch.Tensor] = {}

    def make_hook(name: str) -> HookFn:
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if name not in cache:
                cache[name] = output.detach() if detach else output

        return record

    points = hook_points(model)
    handles = [points[n].register_forward_hook(make_hook(n)) for n in match_names(model, names)]
    try:
        out = model(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
    return out, cache
