import pytest
import torch

import swin_viz
from swin_viz import SwinTransformer

BLOCK_POINTS = [
    "input", "shifted", "windows", "attn.q", "attn.k", "attn.v", "attn.rel_bias", "attn.mask", "attn.logits",
    "attn.probs", "attn.context", "attn.out", "attn_out", "mlp.hidden", "mlp_out", "out",
]  # fmt: skip


def test_every_intermediate_has_a_named_hook_point(tiny: SwinTransformer) -> None:
    names = list(tiny.hook_points())
    for point in BLOCK_POINTS:
        assert f"stage1.block1.{point}" in names
    for name in ["patch_embed.out", "stage2.downsample.gathered", "stage2.downsample.out", "stage1.out",
                 "stage3.out", "normed", "pooled"]:  # fmt: skip
        assert name in names
    assert all(point.name == name for name, point in tiny.hook_points().items())


def test_run_with_cache_returns_the_right_shapes(tiny: SwinTransformer) -> None:
    x = torch.randn(2, 3, 32, 32)  # 8x8 tokens, M=4: 4 windows per image in stage 1
    logits, cache = tiny.run_with_cache(x, names=["stage1.block1.*", "stage*.out", "patch_embed.out"])
    torch.testing.assert_close(logits, tiny(x))
    b = "stage1.block1."
    assert cache["patch_embed.out"].shape == (2, 8, 8, 16)
    assert cache[b + "shifted"].shape == (2, 8, 8, 16)
    assert cache[b + "windows"].shape == (8, 16, 16)
    assert cache[b + "attn.q"].shape == (8, 2, 16, 8)
    assert cache[b + "attn.rel_bias"].shape == (2, 16, 16)
    assert cache[b + "attn.mask"].shape == (4, 16, 16)
    assert cache[b + "attn.logits"].shape == cache[b + "attn.probs"].shape == (8, 2, 16, 16)
    assert cache[b + "attn.out"].shape == (8, 16, 16)
    assert cache[b + "mlp.hidden"].shape == (2, 8, 8, 64)
    assert [cache[f"stage{i}.out"].shape for i in (1, 2, 3)] == [(2, 8, 8, 16), (2, 4, 4, 32), (2, 2, 2, 64)]
    torch.testing.assert_close(cache[b + "attn.probs"].sum(-1), torch.ones(8, 2, 16))
    # The cache holds exactly what the model computed: the shift is a roll of the normed input.
    normed = tiny.stage1.block1.norm1(cache[b + "input"])
    torch.testing.assert_close(cache[b + "shifted"], torch.roll(normed, (-2, -2), (1, 2)))


def test_cached_probabilities_equal_the_fused_forward(tiny: SwinTransformer) -> None:
    """Caching switches the listened blocks to the explicit path; the logits must not change."""
    x = torch.randn(2, 3, 32, 32)
    fused = tiny(x)
    logits, cache = tiny.run_with_cache(x, names="*.attn.probs")
    assert (logits - fused).abs().max() < 1e-5
    assert len(cache) == 6


def test_hooks_can_replace_values_and_zeroing_the_mask_leaks_attention(tiny: SwinTransformer) -> None:
    x = torch.randn(1, 3, 32, 32)
    _, masked = tiny.run_with_cache(x, names="stage1.block1.attn.probs")
    with swin_viz.hooks(tiny, {"stage1.block1.attn.mask": lambda m, i, out: torch.zeros_like(out)}):
        _, leaky = tiny.run_with_cache(x, names="stage1.block1.attn.probs")
    mask = swin_viz.shifted_window_mask(8, 8, 4, 2)  # (4, 16, 16)
    across = (mask != 0)[:, None].expand(4, 2, 16, 16)
    p_masked, p_leaky = masked["stage1.block1.attn.probs"], leaky["stage1.block1.attn.probs"]
    assert p_masked[across].max() < 1e-30
    assert p_leaky[across].sum(-1).mean() > 0.05  # real attention now flows between regions
    # The hook is gone after the with-block.
    _, again = tiny.run_with_cache(x, names="stage1.block1.attn.probs")
    torch.testing.assert_close(again["stage1.block1.attn.probs"], p_masked)


def test_plain_register_forward_hook_works(tiny: SwinTransformer) -> None:
    seen = []
    point = tiny.get_submodule("stage2.block1.attn.probs")
    handle = point.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    tiny(torch.randn(1, 3, 32, 32))
    handle.remove()
    assert seen == [torch.Size([1, 4, 16, 16])]


def test_unknown_pattern_raises(tiny: SwinTransformer) -> None:
    with pytest.raises(ValueError, match=r"hook pattern 'stage1.blk0.\*' matches no hook point"):
        tiny.run_with_cache(torch.randn(1, 3, 32, 32), names="stage1.blk0.*")


def test_no_hook_left_behind_after_an_exception(tiny: SwinTransformer) -> None:
    with pytest.raises(ValueError), swin_viz.hooks(tiny, {"*.attn.probs": lambda m, i, o: None}):
        raise ValueError("boom")
    assert not any(p.has_hooks() for p in tiny.hook_points().values())
