import pytest
import torch

import swin_viz
from swin_viz import SwinTransformer

BLOCK_POINTS = [
    "hook_input", "hook_shifted", "hook_windows", "attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_rel_bias",
    "attn.hook_mask", "attn.hook_logits", "attn.hook_probs", "attn.hook_context", "attn.hook_out", "hook_attn_out",
    "mlp.hook_hidden", "hook_mlp_out", "hook_out",
]  # fmt: skip


def test_every_intermediate_has_a_named_hook_point(tiny: SwinTransformer) -> None:
    names = list(tiny.hook_points())
    for point in BLOCK_POINTS:
        assert f"stage1.block1.{point}" in names
    for name in ["patch_embed.hook_out", "stage2.downsample.hook_gathered", "stage2.downsample.hook_out",
                 "stage1.hook_out", "stage3.hook_out", "hook_normed", "hook_pooled"]:  # fmt: skip
        assert name in names
    assert all(point.name == name for name, point in tiny.hook_points().items())


def test_run_with_cache_returns_the_right_shapes(tiny: SwinTransformer) -> None:
    x = torch.randn(2, 3, 32, 32)  # 8x8 tokens, M=4: 4 windows per image in stage 1
    logits, cache = tiny.run_with_cache(x, names=["stage1.block1.*", "stage*.hook_out", "patch_embed.hook_out"])
    torch.testing.assert_close(logits, tiny(x))
    b = "stage1.block1."
    assert cache["patch_embed.hook_out"].shape == (2, 8, 8, 16)
    assert cache[b + "hook_shifted"].shape == (2, 8, 8, 16)
    assert cache[b + "hook_windows"].shape == (8, 16, 16)
    assert cache[b + "attn.hook_q"].shape == (8, 2, 16, 8)
    assert cache[b + "attn.hook_rel_bias"].shape == (2, 16, 16)
    assert cache[b + "attn.hook_mask"].shape == (4, 16, 16)
    assert cache[b + "attn.hook_logits"].shape == cache[b + "attn.hook_probs"].shape == (8, 2, 16, 16)
    assert cache[b + "attn.hook_out"].shape == (8, 16, 16)
    assert cache[b + "mlp.hook_hidden"].shape == (2, 8, 8, 64)
    assert [cache[f"stage{i}.hook_out"].shape for i in (1, 2, 3)] == [(2, 8, 8, 16), (2, 4, 4, 32), (2, 2, 2, 64)]
    torch.testing.assert_close(cache[b + "attn.hook_probs"].sum(-1), torch.ones(8, 2, 16))
    # The cache holds exactly what the model computed: the shift is a roll of the normed input.
    normed = tiny.stage1.block1.norm1(cache[b + "hook_input"])
    torch.testing.assert_close(cache[b + "hook_shifted"], torch.roll(normed, (-2, -2), (1, 2)))


def test_cached_probabilities_equal_the_fused_forward(tiny: SwinTransformer) -> None:
    """Caching switches the listened blocks to the explicit path; the logits must not change."""
    x = torch.randn(2, 3, 32, 32)
    fused = tiny(x)
    logits, cache = tiny.run_with_cache(x, names="*.attn.hook_probs")
    assert (logits - fused).abs().max() < 1e-5
    assert len(cache) == 6


def test_hooks_can_replace_values_and_zeroing_the_mask_leaks_attention(tiny: SwinTransformer) -> None:
    x = torch.randn(1, 3, 32, 32)
    _, masked = tiny.run_with_cache(x, names="stage1.block1.attn.hook_probs")
    with swin_viz.hooks(tiny, {"stage1.block1.attn.hook_mask": lambda m, i, out: torch.zeros_like(out)}):
        _, leaky = tiny.run_with_cache(x, names="stage1.block1.attn.hook_probs")
    mask = swin_viz.shifted_window_mask(8, 8, 4, 2)  # (4, 16, 16)
    across = (mask != 0)[:, None].expand(4, 2, 16, 16)
    p_masked, p_leaky = masked["stage1.block1.attn.hook_probs"], leaky["stage1.block1.attn.hook_probs"]
    assert p_masked[across].max() < 1e-30
    assert p_leaky[across].sum(-1).mean() > 0.05  # real attention now flows between regions
    # The hook is gone after the with-block.
    _, again = tiny.run_with_cache(x, names="stage1.block1.attn.hook_probs")
    torch.testing.assert_close(again["stage1.block1.attn.hook_probs"], p_masked)


def test_plain_register_forward_hook_works(tiny: SwinTransformer) -> None:
    seen = []
    point = tiny.get_submodule("stage2.block1.attn.hook_probs")
    handle = point.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    tiny(torch.randn(1, 3, 32, 32))
    handle.remove()
    assert seen == [torch.Size([1, 4, 16, 16])]


def test_unknown_pattern_raises(tiny: SwinTransformer) -> None:
    with pytest.raises(ValueError, match=r"hook pattern 'stage1.blk0.\*' matches no hook point"):
        tiny.run_with_cache(torch.randn(1, 3, 32, 32), names="stage1.blk0.*")


def test_no_hook_left_behind_after_an_exception(tiny: SwinTransformer) -> None:
    with pytest.raises(ValueError), swin_viz.hooks(tiny, {"*.attn.hook_probs": lambda m, i, o: None}):
        raise ValueError("boom")
    assert not any(p.has_hooks() for p in tiny.hook_points().values())


def test_hook_names_can_be_told_apart_from_module_names(tiny: SwinTransformer) -> None:
    modules = {name for name, m in tiny.named_modules() if not isinstance(m, swin_viz.HookPoint)}
    hooks = tiny.hook_points()
    assert len(hooks) == 1 + 3 + 2 * 2 + 6 * 16 + 2  # embed, 3 stage outputs, 2 merges, 6 blocks x 16, normed/pooled
    for name in hooks:
        assert name.rpartition(".")[2].startswith("hook_"), name
        assert name not in modules
        assert name.rpartition(".")[0] in modules | {""}  # a hook hangs off a real module: its path reads as one


def test_an_old_style_name_is_answered_with_its_hook_spelling(tiny: SwinTransformer) -> None:
    x = torch.randn(1, 3, 32, 32)
    with pytest.raises(ValueError, match=r"did you mean '\*\.attn\.hook_probs'"):
        tiny.run_with_cache(x, names="*.attn.probs")
    with pytest.raises(ValueError, match=r"did you mean 'stage1\.hook_out'"):
        tiny.run_with_cache(x, names=["stage1.hook_out", "stage1.out"])
    with pytest.raises(ValueError, match="names look like"):  # no hook_ spelling matches either: examples instead
        tiny.run_with_cache(x, names="stage1.block0.attn.qkv")


def test_a_hook_point_not_named_hook_is_refused() -> None:
    class Bad(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.probs = swin_viz.HookPoint()

    with pytest.raises(ValueError, match="'probs' must be an attribute named hook_"):
        swin_viz.hook_points(Bad())
