"""Properties over random shapes and configurations (hypothesis). Small shapes and few examples keep this fast."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import swin_viz
from swin_viz import WindowAttention, merge_patches, relative_offsets, relative_position_index, shifted_window_mask
from swin_viz.checkpoints import LAYOUTS, export_state_dict

FAST = settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def configs(draw: st.DrawFn) -> dict:
    """A small Swin: 1-3 stages of 1-3 blocks, 1-2 heads of 4 channels in stage 1, window 1-4, patch 1-4."""
    stages = draw(st.integers(1, 3))
    heads = draw(st.integers(1, 2))
    return dict(
        embed_dim=4 * heads,
        depths=tuple(draw(st.lists(st.integers(1, 3), min_size=stages, max_size=stages))),
        num_heads=tuple(heads * 2**i for i in range(stages)),
        window_size=draw(st.integers(1, 4)),
        patch_size=draw(st.integers(1, 4)),
        num_classes=draw(st.integers(0, 5)),
        mlp_ratio=draw(st.sampled_from([1.0, 2.0, 4.0])),
        drop_path_rate=0.0,
        attn_impl=draw(st.sampled_from(["fused", "explicit"])),
    )


@FAST
@given(cfg=configs(), B=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), data=st.data())
def test_forward_shape_finite_and_images_independent(cfg: dict, B: int, h: int, w: int, data: st.DataObject) -> None:
    torch.manual_seed(data.draw(st.integers(0, 2**16)))
    model = swin_viz.SwinTransformer(**cfg).eval()
    p = cfg["patch_size"]
    x = torch.randn(B, 3, h * p, w * p)
    with torch.no_grad():
        out = model(x)
        width = cfg["num_classes"] or model.num_features
        assert out.shape == (B, width)
        assert torch.isfinite(out).all()
        # Changing one image changes no other image's output: windows, shifts and padding never mix the batch.
        k = data.draw(st.integers(0, B - 1))
        y = x.clone()
        y[k] = torch.randn_like(y[k]) * 3
        other = model(y)
        keep = [i for i in range(B) if i != k]
        torch.testing.assert_close(other[keep], out[keep], atol=1e-5, rtol=1e-4)
        # Each image alone gives the same output as inside the batch.
        torch.testing.assert_close(model(x[k : k + 1]), out[k : k + 1], atol=1e-5, rtol=1e-4)
    # The geometry agrees with the forward: the last stage's map is what the final norm sees.
    _, cache = model.run_with_cache(x, names="hook_normed")
    assert tuple(cache["hook_normed"].shape[1:3]) == model.stage_info(h * p, w * p)[-1].resolution


@settings(deadline=None, max_examples=30)
@given(Mh=st.integers(1, 9), Mw=st.integers(1, 9))
def test_relative_index_full_window_covers_the_table(Mh: int, Mw: int) -> None:
    M = max(Mh, Mw)
    index = relative_position_index((Mh, Mw), table_size=M)
    N = Mh * Mw
    assert index.shape == (N, N) and index.min() >= 0 and index.max() < (2 * M - 1) ** 2
    # Distinct offsets, distinct rows: (2Mh-1)(2Mw-1) of them, (2M-1)^2 for a full square window.
    assert index.unique().numel() == (2 * Mh - 1) * (2 * Mw - 1)
    if Mh == Mw:
        assert index.unique().numel() == (2 * M - 1) ** 2
    offsets = relative_offsets((Mh, Mw))
    # Offsets are antisymmetric: key-from-query is minus query-from-key; the diagonal is zero.
    assert torch.equal(offsets, -offsets.transpose(0, 1))
    assert torch.all(offsets.diagonal(dim1=0, dim2=1) == 0)
    # Mirrored offsets sit mirrored in the table: row r and row (2M-1)^2 - 1 - r.
    assert torch.equal(index + index.T, torch.full_like(index, (2 * M - 1) ** 2 - 1))


@settings(deadline=None, max_examples=30)
@given(B=st.integers(0, 2), H=st.integers(1, 9), W=st.integers(1, 9), C=st.integers(1, 3))
def test_patch_merging_uses_the_official_order(B: int, H: int, W: int, C: int) -> None:
    x = torch.randn(B, H, W, C)
    merged = merge_patches(x)
    Ho, Wo = -(-H // 2), -(-W // 2)
    assert merged.shape == (B, Ho, Wo, 4 * C)
    padded = torch.zeros(B, 2 * Ho, 2 * Wo, C)
    padded[:, :H, :W] = x
    for i in range(Ho):
        for j in range(Wo):
            # top-left, bottom-left, top-right, bottom-right: x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]
            expected = [padded[:, 2 * i + di, 2 * j + dj] for di, dj in ((0, 0), (1, 0), (0, 1), (1, 1))]
            assert torch.equal(merged[:, i, j], torch.cat(expected, dim=-1))


@FAST
@given(cfg=configs(), layout=st.sampled_from([lay for lay in LAYOUTS if lay != "swin_viz"]), seed=st.integers(0, 99))
def test_checkpoint_conversion_round_trips_through_every_layout(cfg: dict, layout: str, seed: int) -> None:
    torch.manual_seed(seed)
    a = swin_viz.SwinTransformer(**cfg)
    torch.manual_seed(seed + 1)
    b = swin_viz.SwinTransformer(**cfg)
    with torch.no_grad():
        for p in a.parameters():
            p.add_(torch.randn_like(p))
    exported = export_state_dict(a, layout)
    report = swin_viz.load_state_dict(b, exported, layout=layout)
    assert report.ok and not report.unexpected
    assert sorted(report.loaded) == sorted(a.state_dict())
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    # And back: exporting the loaded model gives the same file.
    again = export_state_dict(b, layout)
    assert again.keys() == exported.keys() and all(torch.equal(again[k], exported[k]) for k in exported)


@settings(deadline=None, max_examples=30)
@given(
    heads=st.integers(1, 3), head_dim=st.integers(1, 8), Mh=st.integers(1, 5), Mw=st.integers(1, 5),
    rows=st.integers(1, 3), cols=st.integers(1, 3), B=st.integers(1, 2), shifted=st.booleans(), seed=st.integers(0, 99),
)  # fmt: skip
def test_fused_equals_explicit_attention(
    heads: int, head_dim: int, Mh: int, Mw: int, rows: int, cols: int, B: int, shifted: bool, seed: int
) -> None:
    torch.manual_seed(seed)
    dim, M = heads * head_dim, max(Mh, Mw)
    explicit = WindowAttention(dim, heads, M, attn_impl="explicit").eval()
    fused = WindowAttention(dim, heads, M, attn_impl="fused").eval()
    with torch.no_grad():
        explicit.relative_bias.table.normal_(0, 1)
    fused.load_state_dict(explicit.state_dict())
    nW, N = rows * cols, Mh * Mw
    x = torch.randn(B * nW, N, dim)
    shift = (Mh // 2, Mw // 2)
    mask = shifted_window_mask(rows * Mh, cols * Mw, (Mh, Mw), shift) if shifted and shift != (0, 0) else None
    with torch.no_grad():
        a = explicit(x, mask=mask, window=(Mh, Mw))
        b = fused(x, mask=mask, window=(Mh, Mw))
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
