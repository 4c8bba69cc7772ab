import pytest
import torch
import torch.nn.functional as F

from swin_viz import WindowAttention, shifted_window_mask


def attention_pair(dim: int = 32, heads: int = 4, M: int = 7) -> tuple[WindowAttention, WindowAttention]:
    explicit = WindowAttention(dim, heads, M, attn_impl="explicit").eval()
    fused = WindowAttention(dim, heads, M, attn_impl="fused").eval()
    fused.load_state_dict(explicit.state_dict())
    with torch.no_grad():  # a bias table far from zero, so a mis-indexed bias would show
        explicit.relative_bias.table.normal_(0, 1)
        fused.relative_bias.table.copy_(explicit.relative_bias.table)
    return explicit, fused


@pytest.mark.parametrize("shifted", [False, True])
def test_fused_and_explicit_paths_agree(shifted: bool) -> None:
    explicit, fused = attention_pair()
    B, H, W, M = 3, 14, 21, 7
    nW = (H // M) * (W // M)
    x = torch.randn(B * nW, M * M, 32)
    mask = shifted_window_mask(H, W, M, 3) if shifted else None
    a, b = explicit(x, mask=mask), fused(x, mask=mask)
    assert (a - b).abs().max() < 1e-5


def test_attention_matches_a_direct_formula() -> None:
    """softmax(QK^T/sqrt(d) + B + mask) V, head by head, with nothing fused."""
    attn, _ = attention_pair(dim=16, heads=2, M=4)
    x = torch.randn(4, 16, 16)
    mask = shifted_window_mask(8, 8, 4, 2)
    out = attn(x, mask=mask)
    q, k, v = F.linear(x, attn.qkv.weight, attn.qkv.bias).chunk(3, dim=-1)
    bias = attn.relative_bias()
    heads = []
    for h in range(2):
        sl = slice(8 * h, 8 * h + 8)
        logits = q[..., sl] @ k[..., sl].transpose(1, 2) / 8**0.5 + bias[h] + mask
        heads.append(torch.softmax(logits, -1) @ v[..., sl])
    expected = attn.proj(torch.cat(heads, dim=-1))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_probs_respect_the_mask() -> None:
    attn = WindowAttention(16, 2, 4, attn_impl="explicit").eval()
    mask = shifted_window_mask(8, 8, 4, 2)
    cache = {}
    attn.hook_probs.register_forward_hook(lambda m, i, o: cache.setdefault("probs", o))
    attn(torch.randn(8, 16, 16), mask=mask)
    probs = cache["probs"].view(2, 4, 2, 16, 16)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, 4, 2, 16))
    assert probs.transpose(1, 2)[:, :, mask != 0].max() < 1e-30  # exp(-100) underflows next to in-region logits


def test_dropout_only_in_training() -> None:
    attn = WindowAttention(16, 2, 4, attn_drop=0.5, proj_drop=0.5)
    x = torch.randn(2, 16, 16)
    attn.eval()
    torch.testing.assert_close(attn(x), attn(x))
    attn.train()
    assert not torch.allclose(attn(x), attn(x))


def test_auto_switches_to_explicit_when_someone_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    attn = WindowAttention(16, 2, 4).eval()
    calls = []
    real = F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **k: calls.append(1) or real(*a, **k))
    x = torch.randn(2, 16, 16)
    attn(x)
    assert calls == [1] and not attn.uses_explicit_path()
    handle = attn.hook_probs.register_forward_hook(lambda m, i, o: None)
    attn(x)
    assert calls == [1] and attn.uses_explicit_path()
    handle.remove()
    assert not attn.uses_explicit_path()


def test_bad_configurations_raise() -> None:
    with pytest.raises(ValueError, match="num_heads 5 must divide dim 96"):
        WindowAttention(96, 5)
    with pytest.raises(ValueError, match="attn_impl must be one of"):
        WindowAttention(96, 3, attn_impl="flash")
    attn = WindowAttention(16, 2, 4, attn_impl="fused")
    attn.hook_probs.register_forward_hook(lambda m, i, o: None)
    with pytest.raises(ValueError, match="never materialises"):
        attn(torch.randn(2, 16, 16))
    with pytest.raises(ValueError, match=r"expects windows \(B\*nW, N, 16\)"):
        WindowAttention(16, 2, 4)(torch.randn(2, 16, 8))
    with pytest.raises(ValueError, match="has 16 tokens but the input has N=9"):
        WindowAttention(16, 2, 4)(torch.randn(2, 9, 16))
