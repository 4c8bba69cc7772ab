"""Attribution maps (swin_viz.attribution): rollout through windows, Grad-CAM on any layer, per-query maps, and the
checks that say whether they mean anything (deletion against a random ranking, cascading randomisation)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest
import torch

import swin_viz
from swin_viz import attribution as A
from swin_viz import faithfulness as faith
from swin_viz import probes

ROOT = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def digits_batch(count: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``count`` validation digits (normalised, as the model was trained) and their labels."""
    from swin_viz.data import load_digits, normalize

    val = load_digits(size=32, split="val")
    return normalize(val.images[:count].float() / 255.0), val.labels[:count]


def digits_model() -> swin_viz.SwinTransformer:
    return swin_viz.shared_model("digits-small", weights="pretrained")


def test_exported_from_probes_and_the_package_and_stays_in_the_core() -> None:
    for name in ("attention_rollout", "grad_cam", "window_attention_map"):
        assert getattr(probes, name) is getattr(A, name) is getattr(swin_viz, name)
    for name in ("deletion_curve", "random_deletion_curve", "cascading_randomization", "rank_correlation"):
        assert getattr(probes, name) is getattr(faith, name)
    for module in ("attribution.py", "faithfulness.py"):
        tree = ast.parse((ROOT / "swin_viz" / module).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {m.split(".")[0] for m in imported} & {"viz", "train", "data", "metrics", "swin_course"}, imported


# ================================================================================================= rollout
def identity_probs(module: torch.nn.Module, inputs: tuple, probs: torch.Tensor) -> torch.Tensor:
    return torch.eye(probs.shape[-1]).expand_as(probs).clone()


def test_rollout_of_identity_attention_is_the_identity() -> None:
    model = digits_model()
    x, _ = digits_batch()
    x = x[:3]
    with swin_viz.hooks(model, {"*.attn.hook_probs": identity_probs}):
        flows = A.rollout_matrices(model, x)
        rollout = A.attention_rollout(model, x)
    geometry = A.block_geometry(model, 32, 32)
    h1, w1 = geometry["stage1.block0"].resolution
    for name in ("stage1.block0", "stage1.block1"):  # no merging yet: the flow is exactly the identity
        assert torch.equal(flows[name], torch.eye(h1 * w1).expand(3, -1, -1)), name
    # After the merges, token (r, c) of stage s flows only from the stage-1 tokens under it, in equal shares.
    for name, g in geometry.items():
        h, w = g.resolution
        f = 2 ** (g.stage - 1)
        r1, c1 = torch.meshgrid(torch.arange(h1), torch.arange(w1), indexing="ij")
        owner = ((r1 // f) * w + c1 // f).reshape(-1)
        expected = (owner[None, :] == torch.arange(h * w)[:, None]).float() / f**2
        torch.testing.assert_close(flows[name], expected.expand(3, -1, -1), rtol=0, atol=1e-6)
    # and the pooled output depends on every patch equally
    torch.testing.assert_close(rollout, torch.full_like(rollout, 1.0 / (h1 * w1)), rtol=0, atol=1e-7)


def test_the_shift_is_undone_a_shifted_block_mixes_only_its_windows_regions() -> None:
    model = digits_model()
    x, _ = digits_batch()
    g = A.block_geometry(model, 32, 32)["stage1.block1"]
    (h, w), (M, _), (s, _) = g.resolution, g.window, g.shift
    assert s > 0
    _, cache = model.run_with_cache(x[:2], names="stage1.block1.attn.hook_probs")
    a = A.token_attention_matrix(cache["stage1.block1.attn.hook_probs"], g, 2)
    # Independently of the library: where token (r, c) sits after the roll, its window and its region there.
    r, c = (t.reshape(-1) for t in torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij"))
    sr, sc = (r - s) % h, (c - s) % w

    def band(v: torch.Tensor, size: int) -> torch.Tensor:
        return (v >= size - M).long() + (v >= size - s).long()

    window = (sr // M) * (w // M) + sc // M
    region = 3 * band(sr, h) + band(sc, w)
    allowed = (window[:, None] == window[None, :]) & (region[:, None] == region[None, :])
    assert torch.equal(a[0] > 1e-20, allowed) and torch.equal(a[1] > 1e-20, allowed)
    torch.testing.assert_close(a.sum(-1), torch.ones(2, h * w))


def test_rollout_rows_are_distributions_and_the_map_sums_to_one_over_patches() -> None:
    model = digits_model()
    x, _ = digits_batch()
    flows = A.rollout_matrices(model, x[:4])
    for name, f in flows.items():
        torch.testing.assert_close(f.sum(-1), torch.ones(f.shape[:2]), msg=name)
        assert (f >= 0).all()
    r = A.attention_rollout(model, x[:4])
    assert r.shape == (4, 32, 32)
    p = model.config.patch_size
    torch.testing.assert_close(r.sum((1, 2)) / p**2, torch.ones(4))


# ================================================================================================ Grad-CAM
def test_grad_cam_puts_window_batches_back_where_the_shift_took_them() -> None:
    model = digits_model()
    x, y = digits_batch()
    on_map = A.grad_cam(model, x[:4], y[:4], "stage1.block1.norm1")  # (B, h, w, C) map
    on_windows = A.grad_cam(model, x[:4], y[:4], "stage1.block1.hook_windows")  # shifted, windowed: (B*nW, N, C)
    assert on_map.shape == (4, 32, 32) and on_map.abs().sum() > 0
    torch.testing.assert_close(on_windows, on_map, rtol=1e-4, atol=1e-6)
    assert not any(p.requires_grad for p in model.parameters())  # the shared model is left as it was
    assert A.default_grad_cam_layer(model) == "stage3.block1.norm1"
    torch.testing.assert_close(A.grad_cam(model, x[:4], y[:4]), A.grad_cam(model, x[:4], y[:4], "stage3.block1.norm1"))


def test_window_attention_map_is_the_query_row_on_its_window() -> None:
    model = digits_model()
    x, _ = digits_batch()
    m = A.window_attention_map(model, x[:2], (5, 6), "stage1.block0", head=1)
    assert m.shape == (2, 32, 32)
    tokens = m[:, ::2, ::2]  # one value per stage-1 token (patch 2)
    outside = torch.ones(16, 16, dtype=torch.bool)
    outside[4:8, 4:8] = False  # query (5, 6) of a W-MSA block with 4 x 4 windows: the window at rows 4-7, cols 4-7
    assert (tokens[:, outside] == 0).all()
    torch.testing.assert_close(tokens.sum((1, 2)), torch.ones(2))


def fused(model: swin_viz.SwinTransformer) -> swin_viz.SwinTransformer:
    copy = swin_viz.create_model("small", num_classes=10).eval()
    copy.load_state_dict(model.state_dict())
    copy.set_attn_impl("fused")
    return copy


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda m, x: A.window_attention_map(m, x, (16, 0), "stage1.block0"), "outside stage1.block0's 16 x 16"),
        (lambda m, x: A.window_attention_map(m, x, (0, 0), "stage9.block0"), "unknown block 'stage9.block0'"),
        (lambda m, x: A.window_attention_map(m, x, (0, 0), "stage1.block0", head=2), "not one of stage1.block0's 2"),
        (lambda m, x: A.grad_cam(m, x, 0, "stage3.block1.norm3"), "unknown layer 'stage3.block1.norm3'"),
        (lambda m, x: A.grad_cam(m, x, 10), "target classes must lie in 0..9"),
        (lambda m, x: A.grad_cam(m, x, 0, "stage3.block1.attn.hook_probs"), "is not a map of this model's tokens"),
        (lambda m, x: A.attention_rollout(m, x[:, :, :31]), "must be a multiple of patch_size 2"),
        (lambda m, x: faith.deletion_curve(m, x, x[:, 0], 0, fill="blur"), "fill must be one of"),
        (lambda m, x: A.attention_rollout(fused(m), x), "never materialises attention"),
    ],
)
def test_bad_input_names_the_constraint(call, words: str) -> None:
    model = digits_model()
    x, _ = digits_batch()
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        call(model, x[:2])


# ============================================================================================ faithfulness
def test_deleting_each_maps_top_quarter_hurts_more_than_a_random_quarter() -> None:
    """Averaged over 64 fixed validation digits. The margin (0.05 of probability) is far above what a last-bit
    difference between CPUs can move: ties are broken by a seeded order, and the measured gaps are over 0.1."""
    model = digits_model()
    x, y = digits_batch()
    maps = {
        "rollout": A.attention_rollout(model, x),
        "grad_cam (default layer)": A.grad_cam(model, x, y),
        "window (last block, centre query)": A.window_attention_map(model, x, (2, 2), "stage3.block1"),
    }
    kw = dict(steps=4)  # fractions 0, 0.25, ... 1
    rnd = faith.random_deletion_curve(model, x, y, **kw)
    random_drop = float((rnd.probs[:, 0] - rnd.at(0.25)).mean())
    for name, saliency in maps.items():
        curve = faith.deletion_curve(model, x, saliency, y, **kw)
        drop = float((curve.probs[:, 0] - curve.at(0.25)).mean())
        assert drop > random_drop + 0.05, (name, drop, random_drop)
        assert curve.mean_auc < rnd.mean_auc, (name, curve.mean_auc, rnd.mean_auc)


def test_cascading_randomisation_changes_the_maps() -> None:
    model = digits_model()
    x, y = digits_batch()
    before = [p.clone() for p in model.parameters()]
    for method in ("rollout", "grad_cam", "window"):
        steps = faith.cascading_randomization(model, x[:8], method, y[:8])
        assert [s.layer for s in steps][:3] == ["head", "norm", "stage3.block1"]
        assert steps[-1].layer == "patch_embed"
        final = float(steps[-1].correlation.nanmean())
        assert final < 0.5, (method, final)
        assert min(float(s.correlation.nanmean()) for s in steps) < 0.5
    # rollout reads attention only: randomising the classifier leaves it exactly as it was
    assert torch.allclose(faith.cascading_randomization(model, x[:8], "rollout")[0].correlation, torch.ones(8))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # on a copy


def test_rank_correlation_handles_ties() -> None:
    a = torch.tensor([[1.0, 1.0, 2.0, 3.0]])
    assert float(faith.rank_correlation(a, a)) == pytest.approx(1.0)
    assert float(faith.rank_correlation(a, -a)) == pytest.approx(-1.0)
    assert float(faith.rank_correlation(a, a * 10 + 3)) == pytest.approx(1.0)


# ================================================================================================ explorer
def test_the_explorer_draws_every_method_and_its_static_twin_steps() -> None:
    from swin_viz.viz import where_it_looks as W

    ex = W.where_it_looks_explorer()
    for change in W.BENCH_CHANGES:
        ex.set(**change)
        assert "Could not draw" not in ex.message.value and "not a valid" not in ex.message.value, change
        for panel in ex.spec.panels:
            panel.validate()
    assert ex.state == {"image": 3, "method": "rollout", "block": "stage2.block1"}
    assert "digit 3" in ex.spec.panels[0].title
    fig = W.where_it_looks_static(states=W.STATIC_STATES[:2])
    assert len(fig.layout.sliders[0].steps) == 2
    spec = W.where_it_looks_spec(0, "Grad-CAM norm1", "stage3.block1")
    curve = spec.panels[2].series[0]
    assert curve.y[0] > curve.y[-1] and len(curve.x) == W.STEPS + 1
    with pytest.raises(ValueError, match="unknown method 'saliency'"):
        W.where_it_looks_spec(0, "saliency")


# ================================================================================================ the command
def test_the_deletion_auc_command_prints_every_method_at_every_block() -> None:
    from processes import run

    done = run(str(ROOT / "scripts" / "deletion_auc.py"), "--count", "4")
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("stage")]
    assert [r[0] for r in rows] == ["stage1.block0", "stage1.block1", "stage2.block0", "stage2.block1",
                                    "stage3.block0", "stage3.block1"]  # fmt: skip
    assert all(len(r) == 5 and all(0 <= float(v) <= 1 for v in r[1:]) for r in rows)
    assert "random patches" in done.stdout and "centre first" in done.stdout
    missing = run(str(ROOT / "scripts" / "deletion_auc.py"), str(ROOT / "no_such_checkpoint.pth"))
    assert missing.returncode != 0 and "no_such_checkpoint.pth" in missing.stderr
