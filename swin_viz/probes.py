"""Probes: measurements of a model written on its hook points (:func:`swin_viz.hooks`) and autograd's hooks.

The chapters use these to measure what a mechanism does; the labs ask the student to write some of them.

=============================  ==========================================================================
:func:`mask_leakage`           attention a shifted block gives across regions, mask zeroed or kept (ch. 9)
:func:`saved_tensors`          every tensor autograd saves for backward (ch. 11)
:func:`saved_tensor_bytes`     the bytes those tensors keep alive (ch. 11)
:func:`official_state_dict`    weights named as an official checkpoint, with its derived buffers (ch. 9)
:func:`reach_counts`           after how many blocks each token first depends on one input token (ch. 4)
=============================  ==========================================================================
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .block import SwinBlock
from .checkpoints import official_state_dict  # its home; re-exported here, where chapter 8 found it
from .hooks import hooks
from .model import SwinTransformer

__all__ = [
    "RF_DEPTH",
    "RF_SIZE",
    "RF_WINDOW",
    "SavedTensor",
    "leakage_parts",
    "mask_leakage",
    "official_state_dict",
    "reach_counts",
    "receptive_field_stacks",
    "saved_tensor_bytes",
    "saved_tensors",
]


# ====================================================================================================== leakage
def leakage_parts(
    model: SwinTransformer, x: torch.Tensor, block: str, zero_mask: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(probs (B, nW, heads, N, N), cross-region pairs (nW, N, N) bool)`` of shifted ``block`` on images ``x``.

    ``zero_mask=True`` zeroes the block's mask (hook point ``{block}.attn.hook_mask``) during the forward pass.
    Raises ``ValueError`` when the block has no shifted-window mask.
    """
    store: dict[str, torch.Tensor] = {}

    def on_mask(module: nn.Module, inputs: tuple, out: torch.Tensor) -> torch.Tensor | None:
        store["mask"] = out.detach().clone()
        return torch.zeros_like(out) if zero_mask else None

    def on_probs(module: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
        store["probs"] = out.detach()

    with torch.no_grad(), hooks(model, {f"{block}.attn.hook_mask": on_mask, f"{block}.attn.hook_probs": on_probs}):
        model(x)
    if "mask" not in store:
        raise ValueError(f"{block} has no shifted-window mask (a W-MSA block, or its map fits in one window)")
    mask, probs = store["mask"], store["probs"]
    nW, N, _ = mask.shape
    return probs.view(x.shape[0], nW, -1, N, N), mask != 0


def mask_leakage(model: SwinTransformer, x: torch.Tensor, block: str, zero_mask: bool = True) -> float:
    """Mean attention probability that a query of shifted ``block`` gives to keys of *other* regions.

    Averaged over every image, head and query that has at least one other-region key in its window (the
    queries the mask is there for). ``zero_mask=True`` measures it with the mask zeroed by a hook (the leakage);
    ``False`` with the mask in place (about ``exp(-100)``: nothing). ``x`` is ``(B, 3, H, W)``.
    """
    probs, cross = leakage_parts(model, x, block, zero_mask)
    leak = (probs * cross[None, :, None]).sum(-1)  # (B, nW, heads, N)
    affected = cross.any(-1)[None, :, None].expand_as(leak)  # (B, nW, heads, N)
    return float(leak[affected].mean())


# ================================================================================================ saved tensors
@dataclass(frozen=True)
class SavedTensor:
    """One tensor autograd saved for backward, as a pack hook saw it."""

    storage: int
    """``untyped_storage().data_ptr()``: tensors that share memory (views, the same tensor saved twice) share it."""
    storage_bytes: int
    tensor_bytes: int
    numel: int
    is_parameter: bool
    """Whether the memory belongs to a parameter of the module (it is in memory whether or not autograd saves it)."""
    dtype: torch.dtype
    shape: tuple[int, ...]


def saved_tensors(module: nn.Module, *inputs: torch.Tensor) -> list[SavedTensor]:
    """Run ``module(*inputs)`` with gradients on and list every tensor autograd saves for backward, in order.

    A ``torch.autograd.graph.saved_tensors_hooks`` pack hook sees each tensor an operation saves (and returns it
    unchanged). Under gradient checkpointing (non-reentrant, as :meth:`SwinTransformer.set_grad_checkpointing`
    uses) the checkpointed blocks save only their inputs: their inner activations are recomputed in backward.
    """
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    seen: list[SavedTensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen.append(SavedTensor(storage.data_ptr(), storage.nbytes(), t.numel() * t.element_size(), t.numel(),
                                storage.data_ptr() in params, t.dtype, tuple(t.shape)))  # fmt: skip
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(*inputs)
    return seen


def saved_tensor_bytes(module: nn.Module, *inputs: torch.Tensor) -> int:
    """Bytes of memory that autograd keeps alive for backward while ``module(*inputs)`` runs (the activations).

    Each distinct storage counts once, whole (a saved view keeps its whole storage alive; a tensor saved by two
    operations is stored once); the module's parameters are left out (they are in memory anyway).
    This is the memory that gradient checkpointing trades for recomputation; the peak memory of a training step
    also holds parameters, gradients, optimiser state and short-lived temporaries.
    """
    distinct = {s.storage: s.storage_bytes for s in saved_tensors(module, *inputs) if not s.is_parameter}
    return sum(distinct.values())


# ============================================================================================ receptive field
RF_SIZE = 28
RF_WINDOW = 7
RF_DEPTH = 4
RF_DIM = 8
RF_HEADS = 2
RF_THRESHOLD = 1e-9
"""A token is reached when its features change by more than this fraction of the largest change."""


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """These forward passes are small: a second thread gains nothing and its barriers cost time on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.lru_cache(maxsize=4)
def receptive_field_stacks(
    size: int = RF_SIZE, window: int = RF_WINDOW, depth: int = RF_DEPTH
) -> tuple[dict[str, list[SwinBlock]], torch.Tensor]:
    """Two stacks of ``depth`` real blocks with the same seeded weights -- ``"shifted"`` (shift 0, M//2, 0, ...)
    and ``"not shifted"`` (always 0) -- and the input map ``(1, size, size, RF_DIM)`` they are probed on (float64)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        shifted = [SwinBlock(RF_DIM, RF_HEADS, window, shift_size=0 if j % 2 == 0 else window // 2,
                             attn_impl="explicit") for j in range(depth)]  # fmt: skip
        x = torch.randn(1, size, size, RF_DIM, dtype=torch.float64)
    plain = [SwinBlock(RF_DIM, RF_HEADS, window, shift_size=0, attn_impl="explicit") for _ in range(depth)]
    for p, s in zip(plain, shifted):
        p.load_state_dict(s.state_dict())
    stacks = {"shifted": shifted, "not shifted": plain}
    for blocks in stacks.values():
        for b in blocks:
            b.double().eval().requires_grad_(False)
    return stacks, x


@functools.lru_cache(maxsize=256)
def reach_counts(
    row: int, col: int, size: int = RF_SIZE, window: int = RF_WINDOW, depth: int = RF_DEPTH
) -> dict[str, np.ndarray]:
    """For each stack, ``(size, size)`` ints: after how many blocks each output token first depends on input token
    ``(row, col)`` -- 0 for the token itself, ``depth + 1`` if never within the stack.

    Measured, not derived: the stack runs on the input map and on a copy whose token ``(row, col)`` is perturbed
    (one batch of 2); after block ``k`` the tokens whose features differ are those reached in ``k`` blocks.
    """
    if not (0 <= row < size and 0 <= col < size):
        raise ValueError(f"token ({row}, {col}) is outside the {size} x {size} map")
    stacks, x = receptive_field_stacks(size, window, depth)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        delta = torch.zeros_like(x)
        delta[0, row, col] = 1e-3 * torch.randn(x.shape[-1], dtype=x.dtype)
    with torch.no_grad(), _one_thread():
        return {name: _first_reached(blocks, x, delta, row, col) for name, blocks in stacks.items()}


def _first_reached(blocks: list[SwinBlock], x: torch.Tensor, delta: torch.Tensor, row: int, col: int) -> np.ndarray:
    """``(size, size)``: the first block after which each token's features change when ``delta`` is added to ``x``."""
    size, depth = x.shape[1], len(blocks)
    first = np.full((size, size), depth + 1, dtype=np.int64)
    first[row, col] = 0
    pair = torch.cat([x, x + delta])
    for k, block in enumerate(blocks, start=1):
        pair = block(pair)
        change = (pair[1] - pair[0]).abs().amax(-1)
        reached = (change > RF_THRESHOLD * change.max()).numpy()
        first[reached & (first > k)] = k
    return first


# Attribution maps and their faithfulness checks live in their own modules; re-exported here with the other probes.
from .attribution import attention_rollout, grad_cam, window_attention_map  # noqa: E402, F401
from .faithfulness import (  # noqa: E402, F401
    cascading_randomization,
    deletion_curve,
    random_deletion_curve,
    rank_correlation,
)
