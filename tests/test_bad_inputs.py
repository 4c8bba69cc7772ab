"""Every invalid input to the public API raises an error from swin_viz that names the constraint; valid edge cases
work. Each case is ``(id, call, error type, regex the message must match)``; the regex names the constraint, so a
bare reshape, ZeroDivisionError or torch error deep inside fails the test."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import swin_viz
from swin_viz import (
    DropPath,
    Mlp,
    PatchEmbed,
    PatchMerging,
    RelativePositionBias,
    SwinBlock,
    SwinTransformer,
    WindowAttention,
)
from swin_viz.model import SwinStage


def _tiny(**kw: object) -> SwinTransformer:
    return swin_viz.create_model("tiny", **kw).eval()


def _cfg(**kw: object) -> Callable[[], object]:
    return lambda: swin_viz.create_model("tiny", **kw)


T = torch.randn
E, TE = ValueError, TypeError

# ------------------------------------------------------------------------------------------------- sizes and ranks
SIZES = [
    ("image 3-d", lambda: _tiny()(T(3, 32, 32)), E, "add a batch axis"),
    ("image 5-d", lambda: _tiny()(T(1, 1, 3, 32, 32)), E, r"got a 5-d tensor"),
    ("image 2-d", lambda: _tiny()(T(32, 32)), E, r"got a 2-d tensor"),
    ("image channels-last", lambda: _tiny()(T(1, 32, 32, 3)), E, "channels-last"),
    ("image 1 channel", lambda: _tiny()(T(1, 1, 32, 32)), E, "expected 3 input channels"),
    ("image H=0 W=0", lambda: _tiny()(T(1, 3, 0, 0)), E, "smaller than one patch"),
    ("image H=0", lambda: _tiny()(T(1, 3, 0, 32)), E, "smaller than one patch"),
    ("image 2x2 < patch", lambda: _tiny()(T(1, 3, 2, 2)), E, "smaller than one patch"),
    ("image H not multiple", lambda: _tiny()(T(1, 3, 30, 32)), E, "multiple of patch_size 4"),
    ("image W not multiple", lambda: _tiny()(T(1, 3, 32, 33)), E, "W=33 must be a multiple"),
    ("image uint8", lambda: _tiny()(torch.zeros(1, 3, 32, 32, dtype=torch.uint8)), TE, "floating-point"),
    ("image list", lambda: _tiny()([[0.0]]), TE, "expected an image tensor"),
    ("patch_partition 3-d", lambda: swin_viz.patch_partition(T(3, 8, 8)), E, "add a batch axis"),
    ("patch_partition 0 channels", lambda: swin_viz.patch_partition(T(1, 0, 8, 8)), E, "at least one channel"),
    ("patch_partition p=0", lambda: swin_viz.patch_partition(T(1, 3, 8, 8), 0), E, "patch_size must be a positive"),
    ("patch_partition numpy", lambda: swin_viz.patch_partition(T(1, 3, 8, 8).numpy()), TE, "image tensor"),
    ("window_partition 3-d", lambda: swin_viz.window_partition(T(8, 8, 4), 4), E, r"\(B, H, W, C\)"),
    ("window_partition H=0", lambda: swin_viz.window_partition(T(1, 0, 8, 4), 4), E, "H, W, C >= 1"),
    ("window_partition C=0", lambda: swin_viz.window_partition(T(1, 8, 8, 0), 4), E, "H, W, C >= 1"),
    ("window_partition not divisible", lambda: swin_viz.window_partition(T(1, 30, 28, 4), 7), E,
     "window_size 7 must divide H=30; pad or resize"),
    ("window_partition list", lambda: swin_viz.window_partition([1, 2], 4), TE, "torch.Tensor"),
    ("window_reverse wrong window", lambda: swin_viz.window_reverse(T(4, 3, 3, 2), 4, 8, 8), E,
     r"windows of shape \(B\*nW, 4, 4, C\)"),
    ("window_reverse partial batch", lambda: swin_viz.window_reverse(T(5, 4, 4, 2), 4, 8, 8), E,
     "not a whole number"),
    ("window_reverse H=0", lambda: swin_viz.window_reverse(T(4, 4, 4, 2), 4, 0, 8), E, "H must be an int >= 1"),
    ("window_reverse H not divisible", lambda: swin_viz.window_reverse(T(4, 4, 4, 2), 4, 10, 8), E,
     "must divide the map size"),
    ("pad_to_window 5-d", lambda: swin_viz.pad_to_window(T(1, 1, 8, 8, 4), 4), E, r"\(B, H, W, C\)"),
    ("num_windows H=0", lambda: swin_viz.num_windows(0, 8, 4), E, "H must be an int >= 1"),
    ("num_windows W=-1", lambda: swin_viz.num_windows(8, -1, 4), E, "W must be an int >= 1"),
    ("effective_window H=0", lambda: swin_viz.effective_window(0, 0, 7, 3), E, "H must be an int >= 1"),
    ("region_labels 0x0", lambda: swin_viz.region_labels(0, 0, 7, 3), E, "H must be an int >= 1"),
    ("mask 0x0", lambda: swin_viz.shifted_window_mask(0, 0, 7, 3), E, "H must be an int >= 1"),
    ("mask H float", lambda: swin_viz.shifted_window_mask(14.0, 14, 7, 3), E, "H must be an int >= 1"),
    ("mask not divisible", lambda: swin_viz.shifted_window_mask(15, 14, 7, 3), E, "must divide H=15"),
    ("mask value nan", lambda: swin_viz.shifted_window_mask(14, 14, 7, 3, mask_value=float("nan")), E,
     "mask_value must be a number"),
    ("cyclic_shift 3-d", lambda: swin_viz.cyclic_shift(T(8, 8, 4), 2), E, r"\(B, H, W, C\)"),
    ("merge_patches 3-d", lambda: swin_viz.merge_patches(T(8, 8, 4)), E, r"\(B, H, W, C\)"),
    ("PatchMerging channels", lambda: PatchMerging(8)(T(1, 4, 4, 6)), E, "expects C=8 channels"),
    ("SwinBlock channels", lambda: SwinBlock(16, 2, 4)(T(1, 8, 8, 12)), E, "expects C=16 channels"),
    ("SwinBlock 3-d", lambda: SwinBlock(16, 2, 4)(T(8, 8, 16)), E, r"\(B, H, W, C\) feature map"),
    ("SwinBlock H=0", lambda: SwinBlock(16, 2, 4)(T(1, 0, 8, 16)), E, "H, W, C >= 1"),
    ("SwinStage channels", lambda: SwinStage(16, 2, 2, window_size=4)(T(1, 8, 8, 8)), E, "expects C=16"),
    ("attention wrong C", lambda: WindowAttention(16, 2, 4)(T(2, 16, 8)), E, r"expects windows \(B\*nW, N, 16\)"),
    ("attention 4-d", lambda: WindowAttention(16, 2, 4)(T(2, 4, 4, 16)), E, r"expects windows \(B\*nW, N, 16\)"),
    ("attention N vs window", lambda: WindowAttention(16, 2, 4)(T(2, 9, 16)), E, "has 16 tokens but the input has N=9"),
    ("attention mask (N, N)", lambda: WindowAttention(16, 2, 4)(T(4, 16, 16), mask=torch.zeros(16, 16)), E,
     r"mask must be \(nW, 16, 16\)"),
    ("attention mask nW", lambda: WindowAttention(16, 2, 4)(T(6, 16, 16), mask=torch.zeros(4, 16, 16)), E,
     "nW dividing 6 windows"),
    ("attention mask empty", lambda: WindowAttention(16, 2, 4)(T(4, 16, 16), mask=torch.zeros(0, 16, 16)), E,
     r"mask must be \(nW, 16, 16\)"),
    ("attention list input", lambda: WindowAttention(16, 2, 4)([1.0]), TE, "torch.Tensor"),
    ("stage_info not multiple", lambda: _tiny().stage_info(30), E, "multiple of patch_size 4"),
    ("stage_info 0", lambda: _tiny().stage_info(0), E, "H must be an int >= 1"),
    ("count_macs 0", lambda: swin_viz.count_macs(_tiny(), 0), E, "H must be an int >= 1"),
    ("count_macs on a block", lambda: swin_viz.count_macs(SwinBlock(8, 2, 4), 32), TE, "expects a SwinTransformer"),
    ("macs_of wrong arity", lambda: swin_viz.macs_of(SwinBlock(8, 2, 4), 8), E, r"takes a map size \(H, W\)"),
    ("macs_of attention arity", lambda: swin_viz.macs_of(WindowAttention(8, 2, 4), 4, 4), E, "tokens per window"),
    ("macs_of size 0", lambda: swin_viz.macs_of(SwinBlock(8, 2, 4), 0, 8), E, "must be a positive int"),
    ("macs_of unknown module", lambda: swin_viz.macs_of(torch.nn.Linear(2, 2), 4, 4), TE, "macs_of knows"),
    ("forward_intermediates index", lambda: _tiny().forward_intermediates(T(1, 3, 32, 32), [3]), E,
     "out of range for 3 stages"),
    ("forward_intermediates n", lambda: _tiny().forward_intermediates(T(1, 3, 32, 32), 4), E, "the model has 3"),
    ("forward_intermediates empty", lambda: _tiny().forward_intermediates(T(1, 3, 32, 32), []), E,
     "indices is empty"),
    ("forward_intermediates float", lambda: _tiny().forward_intermediates(T(1, 3, 32, 32), 1.5), TE,
     "indices must be None, an int or a sequence"),
    ("forward_intermediates fmt", lambda: _tiny().forward_intermediates(T(1, 3, 32, 32), output_fmt="NLC"), E,
     "output_fmt must be"),
]

# ------------------------------------------------------------------------------------- numeric constructor arguments
NUMBERS = [
    ("embed_dim 0", _cfg(embed_dim=0), E, "embed_dim must be a positive int"),
    ("embed_dim float", _cfg(embed_dim=16.0), E, "embed_dim must be a positive int"),
    ("embed_dim True", _cfg(embed_dim=True), E, "embed_dim must be a positive int"),
    ("depths negative", _cfg(depths=(2, -1, 2)), E, r"stage2: depth \(depths\[1\]\) must be a positive int"),
    ("depths zero", _cfg(depths=(2, 0, 2)), E, r"stage2: depth"),
    ("depths float", _cfg(depths=(2, 2.0, 2)), E, r"stage2: depth"),
    ("depths empty", _cfg(depths=(), num_heads=()), E, "same, non-zero length"),
    ("depths length", _cfg(depths=(2, 2)), E, "same, non-zero length"),
    ("depths string", _cfg(depths="222", num_heads="248"), E, "sequences of ints"),
    ("num_heads 0", _cfg(num_heads=(2, 0, 8)), E, r"stage2: num_heads \(num_heads\[1\]\) must be a positive int"),
    ("num_heads negative", _cfg(num_heads=(-2, 4, 8)), E, r"stage1: num_heads"),
    ("num_heads not dividing", _cfg(num_heads=(2, 5, 8)), E, "stage2: num_heads 5 must divide its dim 32"),
    ("window_size 0", _cfg(window_size=0), E, "window_size must be a positive int"),
    ("window_size -7", _cfg(window_size=-7), E, "window_size must be a positive int"),
    ("window_size float", _cfg(window_size=7.0), E, "window_size must be a positive int"),
    ("window_size True", _cfg(window_size=True), E, "window_size must be a positive int"),
    ("window_size tuple", _cfg(window_size=(7, 7)), E, "window_size must be a positive int"),
    ("patch_size 0", _cfg(patch_size=0), E, "patch_size must be a positive int"),
    ("patch_size float", _cfg(patch_size=4.5), E, "patch_size must be a positive int"),
    ("in_chans 0", _cfg(in_chans=0), E, "in_chans must be a positive int"),
    ("num_classes -3", _cfg(num_classes=-3), E, r"num_classes \(0 for a features-only model\) must be an int >= 0"),
    ("num_classes float", _cfg(num_classes=10.0), E, "num_classes"),
    ("mlp_ratio 0", _cfg(mlp_ratio=0), E, "mlp_ratio must be a finite number > 0"),
    ("mlp_ratio negative", _cfg(mlp_ratio=-4.0), E, "mlp_ratio must be a finite number > 0"),
    ("mlp_ratio nan", _cfg(mlp_ratio=float("nan")), E, "mlp_ratio must be a finite number > 0"),
    ("mlp_ratio inf", _cfg(mlp_ratio=float("inf")), E, "mlp_ratio must be a finite number > 0"),
    ("mlp_ratio tiny", _cfg(mlp_ratio=0.01), E, "MLP of width"),
    ("mlp_ratio string", _cfg(mlp_ratio="4"), E, "mlp_ratio must be a finite number"),
    ("drop_rate negative", _cfg(drop_rate=-0.1), E, r"drop_rate must be in \[0, 1\)"),
    ("drop_rate 1", _cfg(drop_rate=1.0), E, r"drop_rate must be in \[0, 1\)"),
    ("attn_drop_rate negative", _cfg(attn_drop_rate=-0.1), E, r"attn_drop_rate must be in \[0, 1\)"),
    ("attn_drop_rate 2", _cfg(attn_drop_rate=2), E, r"attn_drop_rate must be in \[0, 1\)"),
    ("drop_path_rate 1", _cfg(drop_path_rate=1.0), E, r"drop_path_rate must be in \[0, 1\)"),
    ("drop_path_rate nan", _cfg(drop_path_rate=float("nan")), E, r"drop_path_rate must be in \[0, 1\)"),
    ("drop_path_rate string", _cfg(drop_path_rate="0.1"), E, r"drop_path_rate must be in \[0, 1\)"),
    ("qkv_bias string", _cfg(qkv_bias="yes"), TE, "qkv_bias must be True or False"),
    ("patch_norm int", _cfg(patch_norm=1), TE, "patch_norm must be True or False"),
    ("grad_checkpointing None", _cfg(grad_checkpointing=None), TE, "grad_checkpointing must be True or False"),
    ("attn_impl", _cfg(attn_impl="flash"), E, "attn_impl must be one of"),
    ("unknown model", lambda: swin_viz.create_model("swin_xl"), E, "unknown model 'swin_xl'"),
    ("unknown override", lambda: swin_viz.create_model("tiny", embed=8), E, r"unknown SwinTransformer argument"),
    ("register not a config", lambda: swin_viz.register_config("x", {"embed_dim": 8}), TE, "expects a SwinConfig"),
    ("register twice", lambda: swin_viz.register_config("tiny", swin_viz.CONFIGS["swin_t"]), E,
     "already registered"),
    ("set_attn_impl", lambda: _tiny().set_attn_impl("flash"), E, "attn_impl must be one of"),
    ("PatchEmbed patch 0", lambda: PatchEmbed(0), E, "patch_size must be a positive int"),
    ("PatchEmbed in_chans -1", lambda: PatchEmbed(4, -1), E, "in_chans must be a positive int"),
    ("PatchEmbed embed_dim 0", lambda: PatchEmbed(4, 3, 0), E, "embed_dim must be a positive int"),
    ("PatchEmbed norm string", lambda: PatchEmbed(4, 3, 8, "no"), TE, "patch_norm must be True or False"),
    ("WindowAttention dim 0", lambda: WindowAttention(0, 1), E, "dim must be a positive int"),
    ("WindowAttention heads 0", lambda: WindowAttention(16, 0), E, "num_heads must be a positive int"),
    ("WindowAttention heads not dividing", lambda: WindowAttention(96, 5), E, "num_heads 5 must divide dim 96"),
    ("WindowAttention window 0", lambda: WindowAttention(16, 2, 0), E, "window_size must be a positive int"),
    ("WindowAttention attn_drop", lambda: WindowAttention(16, 2, 4, attn_drop=-0.1), E, r"attn_drop must be in"),
    ("WindowAttention proj_drop", lambda: WindowAttention(16, 2, 4, proj_drop=1.5), E, r"proj_drop must be in"),
    ("WindowAttention qkv_bias", lambda: WindowAttention(16, 2, 4, qkv_bias=None), TE, "qkv_bias must be True"),
    ("WindowAttention impl", lambda: WindowAttention(16, 2, 4, attn_impl="flash"), E, "attn_impl must be one of"),
    ("SwinBlock dim 0", lambda: SwinBlock(0, 1), E, "dim must be a positive int"),
    ("SwinBlock mlp_ratio 0", lambda: SwinBlock(16, 2, 4, mlp_ratio=0), E, "mlp_ratio must be a finite number"),
    ("SwinBlock drop_path", lambda: SwinBlock(16, 2, 4, drop_path=1.0), E, r"drop_path probability must be in"),
    ("SwinBlock drop", lambda: SwinBlock(16, 2, 4, drop=-1), E, r"drop must be in"),
    ("SwinStage depth 0", lambda: SwinStage(16, 0, 2), E, "a stage needs depth >= 1"),
    ("SwinStage depth float", lambda: SwinStage(16, 2.0, 2), E, "a stage needs depth >= 1"),
    ("SwinStage drop_path count", lambda: SwinStage(16, 2, 2, drop_path=[0.1]), E, "one rate per block"),
    ("PatchMerging dim 0", lambda: PatchMerging(0), E, "dim must be a positive int"),
    ("PatchMerging out_dim 0", lambda: PatchMerging(8, 0), E, "out_dim must be a positive int"),
    ("Mlp hidden 0", lambda: Mlp(8, 0), E, "hidden_dim"),
    ("Mlp drop", lambda: Mlp(8, 8, drop=2.0), E, r"drop must be in"),
    ("DropPath p=1", lambda: DropPath(1.0), E, r"drop_path probability must be in \[0, 1\)"),
    ("DropPath p negative", lambda: DropPath(-0.5), E, r"drop_path probability must be in \[0, 1\)"),
    ("DropPath p string", lambda: DropPath("0.1"), E, r"drop_path probability must be in"),
    ("RelativePositionBias window 0", lambda: RelativePositionBias(0, 2), E, "window_size must be a positive int"),
    ("RelativePositionBias heads 0", lambda: RelativePositionBias(7, 0), E, "num_heads must be a positive int"),
]

# --------------------------------------------------------------------------------------- window and shift: type, range
WINDOWS = [
    ("partition window 0", lambda: swin_viz.window_partition(T(1, 8, 8, 2), 0), E, "window_size must be >= 1"),
    ("partition window -2", lambda: swin_viz.window_partition(T(1, 8, 8, 2), -2), E, "window_size must be >= 1"),
    ("partition window float", lambda: swin_viz.window_partition(T(1, 8, 8, 2), 4.0), TE, "int or a pair of ints"),
    ("partition window True", lambda: swin_viz.window_partition(T(1, 8, 8, 2), True), TE, "int or a pair of ints"),
    ("partition window triple", lambda: swin_viz.window_partition(T(1, 8, 8, 2), (4, 4, 4)), TE,
     "int or a pair of ints"),
    ("partition window string", lambda: swin_viz.window_partition(T(1, 8, 8, 2), "4"), TE, "int or a pair of ints"),
    ("partition window None", lambda: swin_viz.window_partition(T(1, 8, 8, 2), None), TE, "int or a pair of ints"),
    ("reverse window 0", lambda: swin_viz.window_reverse(T(4, 4, 4, 2), 0, 8, 8), E, "window_size must be >= 1"),
    ("pad window 0", lambda: swin_viz.pad_to_window(T(1, 8, 8, 2), 0), E, "window_size must be >= 1"),
    ("num_windows window 0", lambda: swin_viz.num_windows(8, 8, 0), E, "window_size must be >= 1"),
    ("num_windows window float", lambda: swin_viz.num_windows(8, 8, 2.5), TE, "int or a pair of ints"),
    ("effective window 0", lambda: swin_viz.effective_window(8, 8, 0, 0), E, "window_size must be >= 1"),
    ("effective shift = window", lambda: swin_viz.effective_window(56, 56, 7, 7), E, "need 0 <= shift < window"),
    ("effective shift negative", lambda: swin_viz.effective_window(56, 56, 7, -1), E, "shift_size must be >= 0"),
    ("effective shift float", lambda: swin_viz.effective_window(56, 56, 7, 3.5), TE, "int or a pair of ints"),
    ("cyclic shift -1", lambda: swin_viz.cyclic_shift(T(1, 4, 4, 1), -1), E, "shift_size must be >= 0"),
    ("cyclic shift float", lambda: swin_viz.cyclic_shift(T(1, 4, 4, 1), 1.5), TE, "int or a pair of ints"),
    ("cyclic shift True", lambda: swin_viz.cyclic_shift(T(1, 4, 4, 1), True), TE, "int or a pair of ints"),
    ("reverse shift -1", lambda: swin_viz.reverse_cyclic_shift(T(1, 4, 4, 1), (0, -1)), E, "shift_size must be >= 0"),
    ("mask shift = window", lambda: swin_viz.shifted_window_mask(14, 14, 7, 7), E, "need 0 <= shift < window"),
    ("mask window 0", lambda: swin_viz.shifted_window_mask(14, 14, 0, 0), E, "window_size must be >= 1"),
    ("mask window True", lambda: swin_viz.shifted_window_mask(14, 14, True, 0), TE, "int or a pair of ints"),
    ("mask shift float", lambda: swin_viz.shifted_window_mask(14, 14, 7, 3.0), TE, "int or a pair of ints"),
    ("labels shift negative", lambda: swin_viz.region_labels(14, 14, 7, -3), E, "shift_size must be >= 0"),
    ("SwinBlock shift = window", lambda: SwinBlock(16, 2, window_size=4, shift_size=4), E, "need 0 <= shift"),
    ("SwinBlock shift negative", lambda: SwinBlock(16, 2, window_size=4, shift_size=-1), E, "shift_size must be"),
    ("SwinBlock shift float", lambda: SwinBlock(16, 2, window_size=4, shift_size=1.5), TE, "int or a pair"),
    ("SwinBlock window float", lambda: SwinBlock(16, 2, window_size=4.0), E, "window_size must be a positive int"),
    ("index window 0", lambda: swin_viz.relative_position_index(0), E, "window_size must be >= 1"),
    ("index window float", lambda: swin_viz.relative_position_index(7.0), TE, "int or a pair of ints"),
    ("index table 0", lambda: swin_viz.relative_position_index(3, table_size=0), E, "table_size must be a positive"),
    ("index window > table", lambda: swin_viz.relative_position_index(8, table_size=7), E, "larger than the bias"),
    ("offsets window True", lambda: swin_viz.relative_offsets(True), TE, "int or a pair of ints"),
    ("bias window too big", lambda: RelativePositionBias(4, 2)((5, 5)), E, "larger than the bias table"),
    ("bias window 0", lambda: RelativePositionBias(4, 2)((0, 4)), E, "window must be >= 1"),
    ("attention window float", lambda: WindowAttention(16, 2, 4)(T(2, 16, 16), window=(4.0, 4.0)), TE,
     "int or a pair of ints"),
]


# ---------------------------------------------------------------------------------------------------------- hooks
def _hook_run(pattern: str, hook: object, attn_impl: str = "auto") -> Callable[[], object]:
    def run() -> object:
        model = _tiny(attn_impl=attn_impl)
        with swin_viz.hooks(model, {pattern: hook}):
            return model(T(2, 3, 32, 32))

    return run


HOOKS = [
    ("hook not callable", _hook_run("*.attn.hook_probs", 3), TE,
     r"hook for '\*.attn.hook_probs' is a int, not a callable"),
    ("hook None", _hook_run("*.attn.hook_mask", None), TE, "not a callable"),
    ("hook pairs malformed", lambda: swin_viz.hooks(_tiny(), [("*.attn.hook_mask",)]).__enter__(), TE,
     r"\(name, hook\) pairs"),
    ("hook probs wrong shape", _hook_run("stage1.block1.attn.hook_probs", lambda m, i, o: o[..., :3]), E,
     r"hook on 'stage1.block1.attn.hook_probs' returned shape \(8, 2, 16, 3\)"),
    ("hook q wrong shape", _hook_run("stage1.block0.attn.hook_q", lambda m, i, o: o[..., :4]), E,
     r"hook on 'stage1.block0.attn.hook_q' returned shape"),
    ("hook mask broadcast", _hook_run("stage1.block1.attn.hook_mask", lambda m, i, o: o[:1]), E,
     r"hook on 'stage1.block1.attn.hook_mask' returned shape \(1, 16, 16\); it must return the shape it replaces"),
    ("hook bias broadcast", _hook_run("stage1.block0.attn.hook_rel_bias", lambda m, i, o: o[:1]), E,
     r"hook on 'stage1.block0.attn.hook_rel_bias' returned shape \(1, 16, 16\)"),
    ("hook pooled wrong shape", _hook_run("hook_pooled", lambda m, i, o: o[:, :10]), E,
     r"hook on 'hook_pooled' returned shape \(2, 10\)"),
    ("hook returns a list", _hook_run("stage1.hook_out", lambda m, i, o: [o]), TE,
     r"hook on 'stage1.hook_out' returned list"),
    ("hook on fused logits", _hook_run("*.attn.hook_logits", lambda m, i, o: None, "fused"), E, "never materialises"),
    ("hook pattern typo", _hook_run("stage1.blk0.*", lambda m, i, o: None), E, "matches no hook point"),
]

# ---------------------------------------------------------------------------------------------------- cache patterns
CACHE = [
    ("names empty list", lambda: _tiny().run_with_cache(T(1, 3, 32, 32), names=[]), E, "list of hook names is empty"),
    ("names empty tuple", lambda: swin_viz.run_with_cache(_tiny(), T(1, 3, 32, 32), names=()), E, "is empty"),
    ("predicate matches nothing", lambda: _tiny().run_with_cache(T(1, 3, 32, 32), names=lambda n: False), E,
     "predicate .* matches no hook point"),
    ("glob typo", lambda: _tiny().run_with_cache(T(1, 3, 32, 32), names="stage1.blk0.*"), E,
     r"hook pattern 'stage1.blk0.\*' matches no hook point"),
    ("one of several globs",
     lambda: _tiny().run_with_cache(T(1, 3, 32, 32), names=["stage1.hook_out", "stage9.hook_out"]), E,
     "'stage9.hook_out' matches no hook point"),
    ("pattern int", lambda: _tiny().run_with_cache(T(1, 3, 32, 32), names=5), TE, "hook names must be a glob"),
    ("pattern list of ints", lambda: _tiny().run_with_cache(T(1, 3, 32, 32), names=[5]), TE, "must be a string"),
    ("model without hook points", lambda: swin_viz.run_with_cache(torch.nn.Linear(2, 2), T(1, 2)), E,
     "has no hook points"),
]


# ------------------------------------------------------------------------------------------------------ checkpoints
def _file(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def _saved(tmp: Path) -> Path:
    path = tmp / "good.pt"
    swin_viz.save_checkpoint(_tiny(), path)
    return path


def _nan_state() -> dict[str, torch.Tensor]:
    sd = _tiny().state_dict()
    sd["stage2.block1.attn.qkv.weight"] = sd["stage2.block1.attn.qkv.weight"].clone()
    sd["stage2.block1.attn.qkv.weight"][0, 0] = float("nan")
    sd["head.bias"] = torch.full_like(sd["head.bias"], float("inf"))
    return sd


CHECKPOINTS: list[tuple[str, Callable[[Path], object], type, str]] = [
    ("empty file", lambda t: swin_viz.load_checkpoint(_tiny(), _file(t, "e.pt", b"")), swin_viz.CheckpointError,
     r"is empty \(0 bytes\)"),
    ("truncated", lambda t: swin_viz.load_checkpoint(_tiny(), _file(t, "t.pt", _saved(t).read_bytes()[:5000])),
     swin_viz.CheckpointError, "not a readable PyTorch checkpoint"),
    ("random bytes", lambda t: swin_viz.load_checkpoint(_tiny(), _file(t, "r.pt", os.urandom(4096))),
     swin_viz.CheckpointError, "weights_only=True|not a readable PyTorch checkpoint"),
    ("random bytes with pickle header", lambda t: swin_viz.load_checkpoint(
        _tiny(), _file(t, "p.pt", b"\x80\x02" + os.urandom(4096))), swin_viz.CheckpointError,
     "weights_only=True|not a readable PyTorch checkpoint"),
    ("text file", lambda t: swin_viz.load_checkpoint(_tiny(), _file(t, "x.pt", b"hello\n" * 10)),
     swin_viz.CheckpointError, "weights_only=True|not a readable PyTorch checkpoint"),
    ("directory", lambda t: swin_viz.load_checkpoint(_tiny(), t), swin_viz.CheckpointError, "is a directory"),
    ("missing file", lambda t: swin_viz.load_checkpoint(_tiny(), t / "nope.pt"), FileNotFoundError, "no checkpoint at"),
    ("directory, model_from_checkpoint", lambda t: swin_viz.model_from_checkpoint(t), swin_viz.CheckpointError,
     "is a directory"),
    ("empty, model_from_checkpoint", lambda t: swin_viz.model_from_checkpoint(_file(t, "e2.pt", b"")),
     swin_viz.CheckpointError, "is empty"),
    ("non-finite weights", lambda t: swin_viz.load_state_dict(_tiny(), _nan_state()), E,
     r"non-finite \(NaN or inf, not loaded\) \(2\): stage2.block1.attn.qkv.weight, head.bias"),
    ("non-finite weights, non-strict", lambda t: swin_viz.load_state_dict(_tiny(), _nan_state(), strict=False), E,
     "non-finite"),
    ("no state dict inside", lambda t: swin_viz.load_state_dict(_tiny(), {"epoch": 3}), E, "holds no state dict"),
    ("a list", lambda t: swin_viz.load_state_dict(_tiny(), [torch.zeros(1)]), E, "holds no state dict"),
    ("unknown layout", lambda t: swin_viz.load_state_dict(_tiny(), _tiny().state_dict(), layout="keras"), E,
     "unknown checkpoint layout"),
    ("undetectable layout", lambda t: swin_viz.detect_layout({"foo.weight": torch.zeros(1)}), E,
     "cannot tell the checkpoint layout"),
    ("not a swin_viz file", lambda t: swin_viz.model_from_checkpoint(
        _file_obj(t, {"state_dict": _tiny().state_dict()})), E, "not a swin_viz checkpoint with a config"),
    ("save extra object", lambda t: swin_viz.save_checkpoint(_tiny(), t / "o.pt", optimizer=object()), E,
     r"extra value optimizer is a object"),
    ("save extra nested", lambda t: swin_viz.save_checkpoint(_tiny(), t / "o.pt", meta={"when": Path("x")}), E,
     r"extra value meta\['when'\] is a PosixPath"),
    ("save extra set", lambda t: swin_viz.save_checkpoint(_tiny(), t / "o.pt", classes={1, 2}), E, "is a set"),
    ("save extra overwrites", lambda t: swin_viz.save_checkpoint(_tiny(), t / "o.pt", state_dict={}), E,
     "would overwrite"),
    ("save to a directory", lambda t: swin_viz.save_checkpoint(_tiny(), t), swin_viz.CheckpointError,
     "is a directory"),
]


def _file_obj(tmp: Path, obj: object) -> Path:
    path = tmp / "obj.pt"
    torch.save(obj, path)
    return path


CASES = SIZES + NUMBERS + WINDOWS + HOOKS + CACHE


@pytest.mark.parametrize(("call", "error", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_input_raises_a_named_error(call: Callable[[], object], error: type, message: str) -> None:
    with pytest.raises(error, match=message) as info:
        call()
    _assert_raised_by_swin_viz(info)


def _assert_raised_by_swin_viz(info: pytest.ExceptionInfo) -> None:
    """The innermost frame is a ``raise`` statement in the package: not torch, not Python, not a len() of a float."""
    frame = info.traceback[-1]
    assert "swin_viz" in str(frame.path), f"raised from {frame.path}"
    assert str(frame.statement).lstrip().startswith("raise"), f"raised by {str(frame.statement).strip()!r}"


@pytest.mark.parametrize(("call", "error", "message"), [c[1:] for c in CHECKPOINTS], ids=[c[0] for c in CHECKPOINTS])
def test_invalid_checkpoint_raises_a_named_error(tmp_path: Path, call, error: type, message: str) -> None:
    with pytest.raises(error, match=message) as info:
        call(tmp_path)
    _assert_raised_by_swin_viz(info)


def test_the_battery_is_large_and_counted() -> None:
    """The closing note of issue 13 quotes these numbers."""
    counts = {"sizes": len(SIZES), "numbers": len(NUMBERS), "windows": len(WINDOWS), "hooks": len(HOOKS),
              "cache": len(CACHE), "checkpoints": len(CHECKPOINTS)}  # fmt: skip
    assert sum(counts.values()) >= 150, counts
    assert len({c[0] for c in CASES + CHECKPOINTS}) == len(CASES) + len(CHECKPOINTS)  # ids are unique


def test_meta_state_dicts_still_convert() -> None:
    """A state dict on the meta device (structure only, no values) has nothing to check for NaN."""
    with torch.device("meta"):
        sd = swin_viz.export_state_dict(_tiny(), "official")
        model = _tiny()
    assert swin_viz.load_state_dict(model, sd).ok


def test_nothing_is_loaded_from_a_file_with_nan(tmp_path: Path) -> None:
    model = _tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="non-finite"):
        swin_viz.load_state_dict(model, _nan_state(), strict=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_plain_extra_values_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    extra = dict(epoch=3, metrics={"top1": 0.5, "loss": [1.0, float("inf")]}, note=None, flags=(True, "a"),
                 ema=torch.ones(2))  # fmt: skip
    swin_viz.save_checkpoint(_tiny(), path, **extra)
    raw = torch.load(path, weights_only=True)
    assert raw["epoch"] == 3 and raw["metrics"]["top1"] == 0.5 and raw["flags"] == (True, "a")
    assert torch.equal(raw["ema"], torch.ones(2))


# ----------------------------------------------------------------------------------------------- valid edge cases
def test_empty_batch_gives_an_empty_result() -> None:
    model = _tiny()
    for impl in ("fused", "explicit"):
        model.set_attn_impl(impl)
        assert model(T(0, 3, 32, 32)).shape == (0, 10)
    assert swin_viz.window_partition(T(0, 8, 8, 3), 4).shape == (0, 4, 4, 3)
    assert swin_viz.window_reverse(T(0, 4, 4, 3), 4, 8, 8).shape == (0, 8, 8, 3)
    _, cache = model.run_with_cache(T(0, 3, 32, 32), names="stage1.block1.attn.hook_probs")
    assert cache["stage1.block1.attn.hook_probs"].shape == (0, 2, 16, 16)
    assert [f.shape[0] for f in model.forward_intermediates(T(0, 3, 32, 32), intermediates_only=True)] == [0, 0, 0]


@pytest.mark.parametrize(("H", "W"), [(4, 4), (4, 400), (400, 4), (8, 4)])
def test_extreme_aspect_and_tiny_images(H: int, W: int) -> None:
    model = _tiny()
    x = T(2, 3, H, W)
    logits = model(x)
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    assert model.stage_info(H, W)[0].resolution == (H // 4, W // 4)
    # Each image on its own gives the same logits: padding and windows never mix images.
    torch.testing.assert_close(model(x[1:]), logits[1:], atol=1e-5, rtol=1e-5)


def test_channels_last_and_non_contiguous_inputs() -> None:
    model = _tiny()
    x = T(2, 3, 32, 48)
    expected = model(x)
    torch.testing.assert_close(model(x.to(memory_format=torch.channels_last)), expected, atol=1e-5, rtol=1e-5)
    wide = T(2, 3, 32, 96)[..., ::2]  # a strided view
    assert not wide.is_contiguous()
    torch.testing.assert_close(model(wide), model(wide.contiguous()), atol=1e-5, rtol=1e-5)
    transposed = x.transpose(2, 3).contiguous().transpose(2, 3)  # same values, other strides
    torch.testing.assert_close(model(transposed), expected, atol=1e-5, rtol=1e-5)
    fmap = T(1, 8, 12, 16).transpose(1, 2).transpose(1, 2)[:, :, ::1]
    assert swin_viz.window_partition(T(1, 12, 8, 16).transpose(1, 2), 4).shape == (6, 4, 4, 16)
    assert swin_viz.merge_patches(fmap).shape == (1, 4, 6, 64)


def test_rearrangements_take_any_dtype() -> None:
    """Partitions, shifts and merges only move values: integer maps are fine (the book prints token numbers)."""
    x = torch.arange(64).reshape(1, 1, 8, 8)
    assert swin_viz.patch_partition(x, 4)[0, 0, 0].tolist() == x[0, 0, :4, :4].reshape(-1).tolist()
    ids = torch.arange(64).reshape(1, 8, 8, 1)
    assert torch.equal(swin_viz.window_reverse(swin_viz.window_partition(ids, 4), 4, 8, 8), ids)
    assert swin_viz.merge_patches(ids).dtype == torch.int64


def test_features_only_model_and_rectangular_windows() -> None:
    model = _tiny(num_classes=0)
    assert model(T(1, 3, 32, 32)).shape == (1, 64)
    assert swin_viz.window_partition(T(1, 6, 8, 2), (3, 4)).shape == (4, 3, 4, 2)
    assert swin_viz.shifted_window_mask(6, 8, (3, 4), (1, 2)).shape == (4, 12, 12)
