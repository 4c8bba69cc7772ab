"""Checks for lab 8 -- the whole model, traced (``notebooks/lab08_whole_model.ipynb``).

The checks run on the small trained checkpoint the package ships (``digits-small``: three stages, 32 x 32
digits, patch 2, window 4), on validation digits, so they take well under a second:

* :func:`check_capture` -- a student's ``capture(model, x, name)`` built on ``register_forward_hook``, against
  ``run_with_cache``; a wrong tensor is named (which hook point it really is), a hook left attached is reported;
* :func:`check_mask_leakage` -- a student's ``leakage(model, x, block)``: the attention that crosses region
  boundaries once a hook zeroes the shifted-window mask, against :func:`mask_leakage`;
* :func:`check_official_renaming` -- a student's key renaming from the official layout, against
  :mod:`swin_viz.checkpoints`, then a strict load into a fresh model that must predict the same.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import torch

from swin_viz.checkpoints import layout_names
from swin_viz.hooks import hook_points
from swin_viz.model import SwinTransformer
from swin_viz.probes import leakage_parts, official_state_dict
from swin_viz.zoo import shared_model

from ._check import NOT_WRITTEN, Report, explain_difference, forbid, run_student

__all__ = [
    "CAPTURE_NAMES",
    "LEAKAGE_BLOCKS",
    "check_capture",
    "check_mask_leakage",
    "check_official_renaming",
    "lab_inputs",
    "lab_model",
]

CAPTURE_NAMES = (
    "stage2.block1.attn.hook_probs",
    "stage1.block0.mlp.hook_hidden",
    "stage2.downsample.hook_gathered",
    "stage1.block1.attn.hook_mask",
    "stage3.hook_out",
)
"""Hook points :func:`check_capture` asks for."""
LEAKAGE_BLOCKS = ("stage1.block1", "stage2.block1")
"""The shifted blocks of ``digits-small`` (stage 3's 4 x 4 map is one window: no shift, no mask)."""


def lab_model() -> SwinTransformer:
    """The shipped ``digits-small`` checkpoint in eval mode: :func:`swin_viz.shared_model` ``("digits-small",
    weights="pretrained")``, loaded once and shared with the figures (read-only; the global RNG is untouched)."""
    return shared_model("digits-small", weights="pretrained")


@functools.lru_cache(maxsize=4)
def _digits(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    from swin_viz.data import load_digits, normalize

    val = load_digits(size=32, split="val")
    return normalize(val.images[:count].float() / 255.0), val.labels[:count]


def lab_inputs(count: int = 3) -> torch.Tensor:
    """The first ``count`` validation digits, ``(count, 3, 32, 32)``, normalised as the checkpoint expects."""
    return _digits(count)[0].clone()


def _attached(model: torch.nn.Module) -> list[str]:
    """Hook points that still have forward hooks, and remove those hooks (so later checks start clean)."""
    left = [name for name, hp in hook_points(model).items() if hp._forward_hooks or hp._forward_pre_hooks]
    for name in left:
        hp = hook_points(model)[name]
        hp._forward_hooks.clear()
        hp._forward_pre_hooks.clear()
    return left


# =================================================================================================== capture
@forbid("swin_viz.hooks.run_with_cache", "swin_viz.hooks.hooks", "swin_viz.model.SwinTransformer.run_with_cache")
def check_capture(fn: Callable[[torch.nn.Module, torch.Tensor, str], torch.Tensor]) -> Report:
    """Check ``fn(model, x, name)`` returns the tensor at hook point ``name`` and leaves no hook behind."""
    model, x = lab_model(), lab_inputs(3)
    report = Report("capture a hooked tensor")
    last = ""
    with torch.no_grad():
        logits, cache = model.run_with_cache(x)
    for name in CAPTURE_NAMES:
        with torch.no_grad():
            got, why = run_student(fn, model, x.clone(), name)
        if why:
            left = _attached(model)
            extra = f" (and a hook was left on {left[0]})" if left and why != NOT_WRITTEN else ""
            report.add(name, False, why + extra)
            continue
        left = _attached(model)
        why = explain_difference(got, cache[name], f"tensor for {name!r}")
        if why and isinstance(got, torch.Tensor):
            why = _which_tensor(got, cache, logits) or why
        if not why and left:
            why = (f"the value is right, but a hook is still attached to {', '.join(left)}: keep the handle "
                   "register_forward_hook returns and call handle.remove() (in a finally: block), or every later "
                   "forward pass runs your hook too")  # fmt: skip
        report.add(name, not why, "the same mistake as above" if why and why == last else why)
        last = why or last
    return report


def _which_tensor(got: torch.Tensor, cache: dict[str, torch.Tensor], logits: torch.Tensor) -> str:
    """Name the hook point (or the logits) whose tensor ``got`` is, if any."""
    if got.shape == logits.shape and torch.allclose(got.double(), logits.double(), atol=1e-5):
        return "that is the model's output (the logits): return what the hook saw, not what model(x) returns"
    for other, t in cache.items():
        if t.shape == got.shape and torch.allclose(got.double(), t.double(), atol=1e-5, rtol=1e-4):
            return f"that tensor is the one at hook point {other!r}: look up the module by its full dotted name"
    return ""


# =================================================================================================== leakage
def _leakage_variants(model: SwinTransformer, x: torch.Tensor, block: str) -> dict[str, float]:
    """The numbers the usual slips produce, by name."""
    probs, cross = leakage_parts(model, x, block, True)
    B, nW, h, N, _ = probs.shape
    leak = (probs * cross[None, :, None]).sum(-1)
    affected = cross.any(-1)[None, :, None].expand_as(leak)
    right = float(leak[affected].mean())
    flat = probs.reshape(B * nW, h, N, N)
    interleaved = cross.repeat_interleave(B, 0) if B > 1 else cross
    wrong_batch = (flat * interleaved[:, None]).sum(-1)
    wrong_affected = interleaved.any(-1)[:, None].expand_as(wrong_batch)
    masked_probs, masked_cross = leakage_parts(model, x, block, False)
    masked = (masked_probs * masked_cross[None, :, None]).sum(-1)
    return {
        "right": right,
        "all queries": float(leak.mean()),
        "per key": right / N,
        "same region": 1.0 - right,
        "wrong batch": float(wrong_batch[wrong_affected].mean()),
        "mask kept": float(masked[affected].mean()),
    }


_LEAKAGE_SLIPS = {
    "mask kept": ("about 0: the mask was still applied -- a forward hook changes the output only by RETURNING the "
                  "new tensor (return torch.zeros_like(out)), and the forward must run while the hook is attached"),
    "all queries": ("you averaged over every query; average only over the queries that have keys of another region "
                    "in their window (rows of the mask with a non-zero entry) -- the others cannot leak"),
    "per key": ("you averaged over keys; sum each query's probabilities over its other-region keys, then average "
                "over queries"),
    "same region": "you measured the attention that stays in the query's own region (mask == 0); leakage is mask != 0",
    "wrong batch": ("the windows of image b are rows b*nW .. (b+1)*nW - 1 of attn.hook_probs: view probs as "
                    "(B, nW, heads, N, N) (or mask.repeat(B, 1, 1)), not repeat_interleave"),
}  # fmt: skip


@forbid("swin_viz.probes.mask_leakage", "swin_viz.probes.leakage_parts")
def check_mask_leakage(fn: Callable[[torch.nn.Module, torch.Tensor, str], float]) -> Report:
    """Check ``fn(model, x, block)``: the leakage of :func:`mask_leakage` (mask zeroed by a hook), hooks removed."""
    model, x = lab_model(), lab_inputs(3)
    report = Report("attention leakage without the mask")
    for block in LEAKAGE_BLOCKS:
        name = f"{block}, a batch of {x.shape[0]} digits"
        got, why = run_student(fn, model, x.clone(), block)
        if why:
            _attached(model)
            report.add(name, False, why)
            continue
        left = _attached(model)
        try:
            got = float(got)
        except (TypeError, ValueError):
            report.add(name, False, f"return a float (a 0-d tensor works too), got {type(got).__name__}")
            continue
        variants = _leakage_variants(model, x, block)
        want = variants["right"]
        why = ""
        if abs(got - want) > 1e-4 * max(1.0, abs(want)):
            why = f"got {got:.4g}, expected {want:.4g}"
            for slip, text in _LEAKAGE_SLIPS.items():
                if abs(got - variants[slip]) <= 1e-4 * max(1e-3, abs(variants[slip])):
                    why += f": {text}"
                    break
        elif left:
            why = (f"the value is right, but a hook is still attached to {', '.join(left)}: remove it "
                   "(handle.remove(), or use the swin_viz.hooks context), or the model keeps leaking")  # fmt: skip
        report.add(name, not why, why)
    return report


# =================================================================================================== renaming
def _official_to_ours(model: SwinTransformer) -> dict[str, str]:
    return {layout_names(k, "official")[0]: k for k in model.state_dict()}


_DERIVED = re.compile(r"(relative_position_index|attn_mask)$")


def _explain_key(key: str, got: Any, want: str | None) -> str:
    """Why ``got`` is not the right swin_viz name ``want`` (``None``: skip) for official ``key``."""
    if want is None:
        return (f"{key} -> {got!r}: relative_position_index and attn_mask are recomputed by swin_viz (they are "
                "not in its state dict): return None to skip them")  # fmt: skip
    if got is None:
        return f"{key} -> None: that is a weight, rename it (expected {want!r})"
    if not isinstance(got, str):
        return f"{key} -> {got!r}: return a str (or None)"
    if m := re.fullmatch(r"layers\.(\d+)\.downsample\.(.+)", key):
        i = int(m[1])
        if got == f"stage{i + 1}.downsample.{m[2]}":
            return (f"{key} -> {got!r}: the official code keeps patch merging at the END of stage i (layers.{i} "
                    f"is stage {i + 1}); in swin_viz it BEGINS the next stage: {want!r}")  # fmt: skip
        return f"{key} -> {got!r}, expected {want!r} (patch merging of layers.{i} begins stage {i + 2})"
    if m := re.fullmatch(r"layers\.(\d+)\.blocks\.(\d+)\.(.+)", key):
        i, j, rest = int(m[1]), int(m[2]), m[3]
        if got.startswith(f"stage{i}.") and not want.startswith(f"stage{i}."):
            return f"{key} -> {got!r}: stages are numbered from 1 (layers.{i} is stage{i + 1}), blocks from 0"
        if f"block{j}." not in got:
            return f"{key} -> {got!r}: blocks are named block{j} (layers.{i}.blocks.{j} -> stage{i + 1}.block{j})"
        if "relative_position_bias_table" in got:
            return f"{key} -> {got!r}: the bias table is called attn.relative_bias.table in swin_viz"
        return f"{key} -> {got!r}, expected {want!r} (the part after blocks.{j}. is {rest!r})"
    return f"{key} -> {got!r}: outside the stages (patch_embed, norm, head) the names are the same: {want!r}"


@forbid("swin_viz.checkpoints.layout_names", "swin_viz.checkpoints.convert_state_dict")
def check_official_renaming(fn: Callable[[str], str | None]) -> Report:
    """Check ``fn(official_key) -> swin_viz key or None`` on every key of an official checkpoint of the lab model,
    then load the renamed dict strictly into a fresh model and compare its predictions."""
    model, x = lab_model(), lab_inputs(8)
    sd = official_state_dict(model)
    truth = _official_to_ours(model)
    report = Report("official -> swin_viz key renaming")
    kinds = {"blocks (layers.i.blocks.j.*)": [], "patch merging (layers.i.downsample.*)": [],
             "derived buffers (skip: return None)": [], "patch_embed, norm, head": []}  # fmt: skip
    for key in sd:
        if _DERIVED.search(key):
            kinds["derived buffers (skip: return None)"].append(key)
        elif ".blocks." in key:
            kinds["blocks (layers.i.blocks.j.*)"].append(key)
        elif ".downsample." in key:
            kinds["patch merging (layers.i.downsample.*)"].append(key)
        else:
            kinds["patch_embed, norm, head"].append(key)
    renamed: dict[str, torch.Tensor] = {}
    all_ok = True
    for kind, keys in kinds.items():
        why = ""
        wrong = 0
        for key in keys:
            got, err = run_student(fn, key)
            if err == NOT_WRITTEN:
                why = err
                wrong = len(keys)
                break
            if err:
                why = why or f"{key}: {err}"
                wrong += 1
                continue
            want = None if _DERIVED.search(key) else truth.get(key)
            if got != want:
                wrong += 1
                why = why or _explain_key(key, got, want)
            if isinstance(got, str):
                renamed[got] = sd[key]
        if wrong and not why.startswith("not written"):
            why = f"{wrong} of {len(keys)} wrong, e.g. {why}"
        all_ok &= report.add(f"{kind}: {len(keys)} keys", not why, why)
    if not all_ok:
        if not all(why == NOT_WRITTEN for _, ok, why in report.results if not ok):  # a stub: nothing more to say
            report.add("a fresh model loads the renamed dict and predicts the same", False, "fix the renaming first")
        return report
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        fresh = SwinTransformer(**asdict(model.config)).eval()
    try:
        fresh.load_state_dict(renamed, strict=True)
    except RuntimeError as exc:
        report.add("a fresh model loads the renamed dict and predicts the same", False, str(exc).splitlines()[0])
        return report
    with torch.no_grad():
        why = explain_difference(fresh(x), model(x), "logits of the reloaded model")
    report.add("a fresh model loads the renamed dict (strict) and predicts the same", not why, why)
    return report
