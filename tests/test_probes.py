"""swin_viz.probes: the measurements the chapters use live in the library, written on its hooks; the course is apart."""

import torch

import swin_viz
from swin_viz import probes


def test_probes_are_exported() -> None:
    for name in ("mask_leakage", "saved_tensors", "saved_tensor_bytes", "official_state_dict", "reach_counts"):
        assert getattr(swin_viz, name) is getattr(probes, name)


def test_mask_leakage_uses_hooks_and_leaves_none_behind() -> None:
    torch.manual_seed(0)
    model = swin_viz.SwinTransformer(embed_dim=16, depths=(2, 2), num_heads=(2, 2), window_size=4, patch_size=2).eval()
    x = torch.randn(2, 3, 32, 32)
    leaked = swin_viz.mask_leakage(model, x, "stage1.block1")
    kept = swin_viz.mask_leakage(model, x, "stage1.block1", zero_mask=False)
    assert kept < 1e-20 < leaked < 1
    assert not any(hp._forward_hooks for hp in swin_viz.hook_points(model).values())
    try:
        swin_viz.mask_leakage(model, x, "stage1.block0")  # a W-MSA block has no mask
    except ValueError as exc:
        assert "no shifted-window mask" in str(exc)
    else:
        raise AssertionError("a block without a mask was measured")
