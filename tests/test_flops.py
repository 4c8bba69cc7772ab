import pytest
import torch

import swin_viz
from swin_viz import Macs, PatchEmbed, PatchMerging, SwinBlock, WindowAttention, macs_of, measure_macs
from swin_viz.flops import omega_msa, omega_wmsa

# REFERENCE.md: the paper's FLOPs (G MACs, official flops()) and the matmul-only measured counts.
OFFICIAL_GMACS = {"swin_t": 4.49, "swin_s": 8.75, "swin_b": 15.44, "swin_l": 34.49}
MEASURED_GMACS = {"swin_t": 4.4906, "swin_s": 8.7409, "swin_b": 15.4309, "swin_l": 34.4758}


@pytest.mark.parametrize("name", sorted(OFFICIAL_GMACS))
def test_model_totals_match_the_paper(name: str) -> None:
    with torch.device("meta"):
        model = swin_viz.create_model(name)
    report = swin_viz.count_macs(model, 224)
    assert report.total / 1e9 == pytest.approx(OFFICIAL_GMACS[name], rel=0.005)
    assert report.macs.matmul / 1e9 == pytest.approx(MEASURED_GMACS[name], abs=5e-5)


def test_python_m_swin_viz_prints_the_papers_table() -> None:
    """``python -m swin_viz`` (the one caller of the table) in a fresh process: one row per size, the paper's MACs."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "swin_viz", "224"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines()[1:]}
    assert list(rows) == ["swin_t", "swin_s", "swin_b", "swin_l"]
    for name, gmacs in OFFICIAL_GMACS.items():
        assert float(rows[name][2]) == pytest.approx(gmacs, rel=0.005)
    assert rows["swin_t"][1] == "28,288,354"


def test_analytic_counts_equal_flop_counter_for_every_module() -> None:
    torch.manual_seed(0)

    def block(shift: int) -> SwinBlock:
        return SwinBlock(48, 3, 7, shift_size=shift, attn_impl="explicit")

    cases = [
        (PatchEmbed(4, 3, 96), torch.randn(1, 3, 64, 48), lambda m: macs_of(m, 64, 48)),
        (PatchMerging(32), torch.randn(2, 14, 10, 32), lambda m: macs_of(m, 14, 10) * 2),
        (PatchMerging(32), torch.randn(1, 7, 9, 32), lambda m: macs_of(m, 7, 9)),  # odd sides are padded
        (block(0), torch.randn(1, 14, 14, 48), lambda m: macs_of(m, 14, 14)),
        (block(3), torch.randn(2, 14, 21, 48), lambda m: macs_of(m, 14, 21) * 2),
        (block(3), torch.randn(1, 10, 12, 48), lambda m: macs_of(m, 10, 12)),
        (block(3), torch.randn(1, 5, 6, 48), lambda m: macs_of(m, 5, 6)),
    ]
    for module, x, analytic in cases:
        assert measure_macs(module.eval(), x) == analytic(module).matmul, type(module).__name__
    attn = WindowAttention(64, 4, 7, attn_impl="explicit").eval()
    assert measure_macs(attn, torch.randn(3, 49, 64)) == 3 * macs_of(attn, 49).matmul


@pytest.mark.parametrize("size", [(224, 224), (200, 200), (224, 160)])
def test_whole_model_count_equals_flop_counter(size: tuple[int, int]) -> None:
    model = swin_viz.swin_t(attn_impl="explicit").eval()
    measured = measure_macs(model, torch.randn(1, 3, *size))
    assert measured == swin_viz.count_macs(model, size).macs.matmul


def test_window_attention_count_is_the_papers_omega() -> None:
    """Omega(W-MSA) = 4hwC^2 + 2M^2hwC is the attention's count summed over windows (qkv + proj = 4hwC^2)."""
    h = w = 56
    C, M = 96, 7
    per_window = macs_of(WindowAttention(C, 3, M), M * M)
    assert per_window.matmul * (h // M) * (w // M) == omega_wmsa(h, w, C, M)
    # With one window covering the whole map, window attention *is* global attention.
    assert macs_of(WindowAttention(C, 3, h), h * w).matmul == omega_msa(h, w, C)
    assert omega_msa(h, w, C) / omega_wmsa(h, w, C, M) > 10  # quadratic vs linear in hw


def test_macs_arithmetic() -> None:
    m = Macs(matmul=3, other=1) + Macs(matmul=2)
    assert (m.matmul, m.other, m.total, m.flops) == (5, 1, 6, 10)
    assert (2 * m).total == 12


def test_report_breakdown_sums_to_the_total() -> None:
    with torch.device("meta"):
        model = swin_viz.swin_t()
    report = swin_viz.count_macs(model, 224)
    parts = ["patch_embed", "stage1", "stage2", "stage3", "stage4", "head"]
    assert sum(report.by_prefix(p).total for p in parts) == report.total
    assert report.by_prefix("stage3").total > report.by_prefix("stage1").total  # 6 blocks vs 2
    assert "stage3.block5" in report.table()
