import pytest
import torch

import swin_viz
from swin_viz import SwinBlock, SwinTransformer

PAPER_PARAMS = {"swin_t": 28_288_354, "swin_s": 49_606_258, "swin_b": 87_768_224, "swin_l": 196_532_476}


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS))
def test_parameter_counts_match_the_reference_exactly(name: str) -> None:
    with torch.device("meta"):
        model = swin_viz.create_model(name)
    assert sum(p.numel() for p in model.parameters()) == PAPER_PARAMS[name]


def test_configs_match_the_paper() -> None:
    t, s, b, large = (swin_viz.CONFIGS[n] for n in ("swin_t", "swin_s", "swin_b", "swin_l"))
    assert (t.embed_dim, t.depths, t.num_heads) == (96, (2, 2, 6, 2), (3, 6, 12, 24))
    assert (s.embed_dim, s.depths, s.num_heads) == (96, (2, 2, 18, 2), (3, 6, 12, 24))
    assert (b.embed_dim, b.depths, b.num_heads) == (128, (2, 2, 18, 2), (4, 8, 16, 32))
    assert (large.embed_dim, large.depths, large.num_heads) == (192, (2, 2, 18, 2), (6, 12, 24, 48))
    for cfg in (t, s, b, large):  # head dim 32 everywhere
        assert all(cfg.embed_dim * 2**i // h == 32 for i, h in enumerate(cfg.num_heads))


def test_blocks_alternate_w_msa_and_sw_msa() -> None:
    model = swin_viz.swin_t()
    shifts = [[blk.shift_size for blk in stage.blocks] for stage in model.stages]
    assert shifts == [[0, 3], [0, 3], [0, 3, 0, 3, 0, 3], [0, 3]]
    assert model.stage1.downsample is None
    assert [stage.downsample.dim for stage in model.stages[1:]] == [96, 192, 384]


@pytest.mark.parametrize(("H", "W"), [(64, 64), (200, 200), (224, 160), (36, 100), (4, 4)])
def test_any_multiple_of_four_works(tiny: SwinTransformer, H: int, W: int) -> None:
    logits = tiny(torch.randn(2, 3, H, W))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()


def test_swin_t_at_200x200() -> None:
    model = swin_viz.swin_t(num_classes=7).eval()
    feats = model.features(torch.randn(1, 3, 200, 200))
    assert [tuple(f.shape) for f in feats.values()] == [(1, 96, 50, 50), (1, 192, 25, 25), (1, 384, 13, 13),
                                                        (1, 768, 7, 7)]  # fmt: skip


def test_multiscale_features_have_strides_4_8_16_32(tiny: SwinTransformer) -> None:
    feats = tiny.features(torch.randn(1, 3, 128, 96))
    assert list(feats) == ["stage1", "stage2", "stage3"]
    assert [tuple(f.shape) for f in feats.values()] == [(1, 16, 32, 24), (1, 32, 16, 12), (1, 64, 8, 6)]


def test_forward_equals_pooled_features(tiny: SwinTransformer) -> None:
    x = torch.randn(2, 3, 64, 48)
    feats = tiny.features(x)
    pooled = tiny.norm(feats["stage3"].permute(0, 2, 3, 1)).mean((1, 2))
    torch.testing.assert_close(tiny(x), tiny.head(pooled))


def test_padding_happens_before_the_shift() -> None:
    """On a 10x10 map with M=7 the map is padded to 14x14 first, then rolled by -3: the zero rows 10..13 land
    on rows 7..10 of the shifted map, where the mask separates them from the real tokens."""
    block = SwinBlock(dim=8, num_heads=2, window_size=7, shift_size=3).eval()
    cache = {}
    block.hook_shifted.register_forward_hook(lambda m, i, o: cache.setdefault("shifted", o))
    x = torch.randn(1, 10, 10, 8)
    out = block(x)
    shifted = cache["shifted"]
    assert out.shape == x.shape and shifted.shape == (1, 14, 14, 8)
    assert shifted[:, 7:11].abs().sum() == 0 and shifted[:, :, 7:11].abs().sum() == 0
    assert shifted[:, :7, :7].abs().min() > 0


def test_small_maps_use_one_window_without_shift() -> None:
    model = swin_viz.swin_t().eval()
    _, cache = model.run_with_cache(torch.randn(1, 3, 224, 224), names=["*.attn.hook_mask", "stage4.*.hook_windows"])
    assert sorted(n.split(".attn")[0] for n in cache if n.endswith("mask")) == [
        "stage1.block1", "stage2.block1", "stage3.block1", "stage3.block3", "stage3.block5"]  # fmt: skip
    assert cache["stage4.block1.hook_windows"].shape == (1, 49, 768)  # a single 7x7 window


def test_gradient_checkpointing_gives_the_same_outputs_and_gradients(make_tiny) -> None:
    a, b = make_tiny().train(), make_tiny().train()
    b.load_state_dict(a.state_dict())
    b.set_grad_checkpointing(True)
    x = torch.randn(2, 3, 64, 64)
    la, lb = a(x).square().sum(), b(x).square().sum()
    la.backward()
    lb.backward()
    torch.testing.assert_close(la, lb)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, msg=name)


def test_stochastic_depth_is_random_in_training_and_off_in_eval(make_tiny) -> None:
    model = make_tiny(drop_path_rate=0.5)
    rates = [blk.drop_path.p for stage in model.stages for blk in stage.blocks]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.5) and rates == sorted(rates)
    x = torch.randn(4, 3, 32, 32)
    model.train()
    assert not torch.allclose(model(x), model(x))
    model.eval()
    torch.testing.assert_close(model(x), model(x))


def test_stage_shapes() -> None:
    rows = swin_viz.swin_t().stage_shapes(224)
    assert all(r["padded"] == r["resolution"] for r in rows)
    assert [r["padded"] for r in swin_viz.swin_t().stage_shapes(200)] == [(56, 56), (28, 28), (14, 14), (7, 7)]
    assert [(r["resolution"], r["channels"], r["window"], r["shift"]) for r in rows] == [
        ((56, 56), 96, (7, 7), (3, 3)), ((28, 28), 192, (7, 7), (3, 3)), ((14, 14), 384, (7, 7), (3, 3)),
        ((7, 7), 768, (7, 7), (0, 0))]  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(num_heads=(3, 5, 12, 24)), r"stage2: num_heads 5 must divide its dim 192"),
        (dict(depths=(2, 2, 6)), "same, non-zero length"),
        (dict(attn_impl="nope"), "attn_impl must be one of"),
        (dict(drop_path_rate=1.0), r"drop_path_rate must be in \[0, 1\)"),
        (dict(window_size=0), "window_size must be a positive int"),
    ],
)
def test_bad_configurations_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message), torch.device("meta"):
        swin_viz.swin_t(**kwargs)


def test_bad_block_inputs_raise() -> None:
    with pytest.raises(ValueError, match="need 0 <= shift < window"):
        SwinBlock(16, 2, window_size=4, shift_size=4)
    with pytest.raises(ValueError, match=r"expects C=16 channels"):
        SwinBlock(16, 2, 4)(torch.randn(1, 8, 8, 12))
    with pytest.raises(ValueError, match=r"\(B, H, W, C\) feature map"):
        SwinBlock(16, 2, 4)(torch.randn(8, 8, 16))
