"""Fine-tuning (swin_viz.train.finetune): a new head, bias tables at another window, what is trained, bad input, and a
short run from the shipped checkpoint that beats training from scratch."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import swin_viz
from swin_viz.checkpoints import export_state_dict, layout_names
from swin_viz.pretrained import ASSETS, PRETRAINED
from swin_viz.relative_position import relative_position_index, resize_bias_table
from swin_viz.train import finetune as FT

SHIPPED = ASSETS / f"{PRETRAINED['digits-small']}.pt"


def _backbone(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}


# ============================================================================================ head and layouts
@pytest.mark.parametrize("layout", ["swin_viz", "official", "timm", "torchvision", "hf"])
def test_checkpoint_of_any_layout_goes_under_a_new_head(make_tiny, layout: str) -> None:
    source = make_tiny(num_classes=10)
    state = export_state_dict(source, layout)
    model = make_tiny(num_classes=3)
    report = FT.init_from_checkpoint(model, state)

    assert report.layout == layout
    got, want = _backbone(model), _backbone(source)
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in want)
    theirs = layout_names("head.weight", layout)[0]
    assert report.head_dropped == [(theirs, (10, 64)), (layout_names("head.bias", layout)[0], (10,))]
    assert report.head_initialised == [("head.weight", (3, 64)), ("head.bias", (3,))]
    assert torch.equal(model.head.bias, torch.zeros(3))
    assert 0.005 < model.head.weight.std().item() < 0.04  # truncated normal, std 0.02
    assert f"head dropped (another number of classes): {theirs} (10, 64)" in str(report)
    assert "head initialised" in str(report)


def test_a_bare_huggingface_backbone_without_the_swin_prefix(make_tiny) -> None:
    """``SwinModel`` (no classifier) saves ``embeddings.*`` / ``encoder.*`` without the ``swin.`` prefix."""
    source = make_tiny(num_classes=10)
    state = {k.removeprefix("swin."): v for k, v in export_state_dict(source, "hf").items()
             if not k.startswith("classifier.")}  # fmt: skip
    model = make_tiny(num_classes=3, window_size=2)
    report = FT.init_from_checkpoint(model, state)
    assert report.layout == "hf" and report.arch is not None and report.arch.num_classes == 0
    assert len(report.resized) == 6 and report.head_dropped == []
    assert [n for n, _ in report.head_initialised] == ["head.weight", "head.bias"]
    assert torch.equal(model.patch_embed.proj.weight, source.patch_embed.proj.weight)


def test_transformers_own_swin_goes_under_a_new_head_at_another_window() -> None:
    """A state dict written by HuggingFace transformers' own Swin (random weights, nothing downloaded)."""
    transformers = pytest.importorskip("transformers")
    config = transformers.SwinConfig(image_size=64, embed_dim=24, depths=[2, 2, 2], num_heads=[2, 4, 8],
                                     window_size=4, num_labels=11)  # fmt: skip
    hf = transformers.SwinForImageClassification(config).eval()
    model = swin_viz.SwinTransformer(embed_dim=24, depths=(2, 2, 2), num_heads=(2, 4, 8), window_size=8, num_classes=3)
    report = FT.init_from_checkpoint(model, hf.state_dict())
    assert report.layout in ("hf", "hf5") and report.arch is not None and report.arch.num_classes == 11
    assert [n for n, _ in report.head_dropped] == ["classifier.weight", "classifier.bias"]
    assert len(report.resized) == 6 and all(a == (49, b[1]) and b[0] == 225 for _, a, b in report.resized)
    theirs = hf.state_dict()[layout_names("stage2.block1.mlp.fc1.weight", report.layout)[0]]
    assert torch.equal(model.stage2.block1.mlp.fc1.weight, theirs)


def test_official_file_round_trip_into_a_new_head(make_tiny, tmp_path: Path) -> None:
    """An official-layout file ({"model": ...}, with the official derived buffers) into a 5-class model."""
    source = make_tiny(num_classes=10)
    state = export_state_dict(source, "official")
    for s, depth in enumerate(source.config.depths):
        for j in range(depth):
            state[f"layers.{s}.blocks.{j}.attn.relative_position_index"] = relative_position_index(4)
    path = tmp_path / "official.pth"
    torch.save({"model": state}, path)

    model = make_tiny(num_classes=5)
    report = FT.init_from_checkpoint(model, path)
    assert report.layout == "official" and report.arch is not None
    assert report.arch.depths == (2, 2, 2) and report.arch.num_heads == (2, 4, 8) and report.arch.num_classes == 10
    assert len(report.ignored) == 6 and report.resized == []
    assert [n for n, _ in report.head_dropped] == ["head.weight", "head.bias"]
    x = torch.randn(2, 3, 32, 32)
    feats = source.forward_features(x)
    assert torch.equal(model.forward_features(x), feats)
    assert model(x).shape == (2, 5)
    # Back out and in again: the fine-tuned model exports and reloads exactly.
    again = make_tiny(num_classes=5)
    FT.init_from_checkpoint(again, export_state_dict(model, "official"))
    assert torch.equal(again(x), model(x))


def test_same_classes_keep_the_head(make_tiny) -> None:
    source = make_tiny(num_classes=10)
    model = make_tiny(num_classes=10)
    report = FT.init_from_checkpoint(model, source.state_dict())
    assert report.head_dropped == [] and report.head_initialised == []
    assert torch.equal(model.head.weight, source.head.weight)


def test_a_backbone_only_checkpoint_gets_a_new_head_and_a_headless_model_drops_one(make_tiny) -> None:
    source = make_tiny(num_classes=10)
    backbone = _backbone(source)
    model = make_tiny(num_classes=4)
    report = FT.init_from_checkpoint(model, backbone)
    assert report.head_dropped == [] and [n for n, _ in report.head_initialised] == ["head.weight", "head.bias"]

    headless = make_tiny(num_classes=0)
    report = FT.init_from_checkpoint(headless, source.state_dict())
    assert report.head_dropped == [("head.weight", (10, 64)), ("head.bias", (10,))]
    assert report.head_initialised == []


# ============================================================================================== window resize
def _keys_cubic(x: np.ndarray, a: float = -0.75) -> np.ndarray:
    """Keys' cubic convolution kernel (a = -0.75, the value PyTorch's bicubic uses)."""
    x = np.abs(x)
    return np.where(
        x <= 1, (a + 2) * x**3 - (a + 3) * x**2 + 1, np.where(x < 2, a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a, 0.0)
    )


def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` matrix of a 1-D bicubic resize with half-pixel centres and replicated borders."""
    out = np.zeros((n_out, n_in))
    for i in range(n_out):
        src = (i + 0.5) * n_in / n_out - 0.5
        x0 = math.floor(src)
        for tap in range(x0 - 1, x0 + 3):
            out[i, min(max(tap, 0), n_in - 1)] += _keys_cubic(np.array(src - tap))
    return out


def _independent_resize(table: np.ndarray, window: int) -> np.ndarray:
    """Resize each head's (2M-1) x (2M-1) grid over (dy, dx) with the separable matrices above, in float64."""
    rows, heads = table.shape
    side, new = math.isqrt(rows), 2 * window - 1
    R = _resize_matrix(side, new)
    grids = table.T.reshape(heads, side, side)
    return np.stack([R @ g @ R.T for g in grids]).reshape(heads, new * new).T


def test_resize_7_to_12_shape_and_agreement_with_an_independent_resize() -> None:
    table = torch.randn(169, 4, dtype=torch.float64)
    resized = resize_bias_table(table, 12)
    assert resized.shape == (23 * 23, 4) and resized.dtype == torch.float64
    np.testing.assert_allclose(resized.numpy(), _independent_resize(table.numpy(), 12), rtol=0, atol=1e-12)
    # float32 tables too, and shrinking (12 -> 7).
    t32 = torch.randn(529, 3)
    np.testing.assert_allclose(resize_bias_table(t32, 7).numpy(), _independent_resize(t32.double().numpy(), 7),
                               rtol=0, atol=1e-5)  # fmt: skip
    # Offset (0, 0) sits at the centre of both grids (row 6*13+6 = 84 of 169, row 11*23+11 = 264 of 529), where an
    # odd-to-odd resize with half-pixel centres samples the old grid exactly: the zero-offset bias is kept.
    assert torch.allclose(resized[264], table[84], rtol=0, atol=1e-12)


def test_resize_to_the_same_window_is_the_identity_bit_for_bit() -> None:
    table = torch.randn(169, 3)
    assert resize_bias_table(table, 7) is table


def test_resize_rejects_a_table_that_is_not_an_odd_square() -> None:
    with pytest.raises(ValueError, match=r"odd square.*got 168 rows"):
        resize_bias_table(torch.zeros(168, 3), 12)
    with pytest.raises(ValueError, match=r"\(\(2M-1\)\^2, heads\)"):
        resize_bias_table(torch.zeros(169), 12)


def test_checkpoint_at_window_7_loads_into_a_window_12_model(make_tiny) -> None:
    source = make_tiny(window_size=7, patch_size=4)
    model = make_tiny(window_size=12, patch_size=4, num_classes=10)
    report = FT.init_from_checkpoint(model, export_state_dict(source, "official"))

    tables = [k for k in source.state_dict() if k.endswith("relative_bias.table")]
    assert [n for n, _, _ in report.resized] == tables
    for name, before, after in report.resized:
        heads = before[1]
        assert before == (169, heads) and after == (529, heads)
        want = resize_bias_table(source.state_dict()[name], 12)
        assert torch.equal(model.state_dict()[name], want)
    assert "window 7 -> 12" in str(report)
    attn = model.stage1.block0.attn.relative_bias
    assert torch.equal(attn.index, relative_position_index(12))  # the new model's index, not the checkpoint's
    other = {k: v for k, v in _backbone(source).items() if not k.endswith("relative_bias.table")}
    assert all(torch.equal(model.state_dict()[k], v) for k, v in other.items())
    assert model(torch.randn(1, 3, 192, 192)).shape == (1, 10)  # 48 tokens: windows of 12 at 48, 24, 12


# ============================================================================================== what is trained
def _steps(model: torch.nn.Module, n: int = 3, layer_decay: float | None = None) -> None:
    opt = torch.optim.AdamW(FT.param_groups(model, 0.05, layer_decay), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(n):
        x, y = torch.randn(4, 3, 32, 32, generator=gen), torch.randint(0, 10, (4,), generator=gen)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("mode", ["linear", "last-1", "last-2"])
def test_frozen_parameters_are_unchanged_after_steps(make_tiny, mode: str) -> None:
    model = make_tiny()
    info = FT.apply_finetune_mode(model, mode)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _steps(model)
    trained = {"linear": ("head.",), "last-1": ("head.", "norm.", "stage3."),
               "last-2": ("head.", "norm.", "stage3.", "stage2.")}[mode]  # fmt: skip
    for name, p in model.named_parameters():
        if name.startswith(trained):
            assert p.requires_grad and not torch.equal(p, before[name]), name
        else:
            assert not p.requires_grad and torch.equal(p, before[name]), name
    assert info["trainable"] == sum(p.numel() for n, p in model.named_parameters() if n.startswith(trained))


def test_lora_parameter_count_and_merge(make_tiny) -> None:
    model = make_tiny(embed_dim=16)
    x = torch.randn(2, 3, 32, 32)
    plain = model(x)
    r = 2
    info = FT.apply_finetune_mode(model, "lora", lora_rank=r)
    # Each block: qkv (C -> 3C) gets r*(C + 3C), proj (C -> C) gets r*(C + C): 6rC; plus the head.
    want = sum(6 * r * 16 * 2**i * d for i, d in enumerate(model.config.depths)) + 64 * 10 + 10
    assert info["trainable"] == want == FT.count_parameters(model)[0]
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert all(".attn.qkv.lora_" in n or ".attn.proj.lora_" in n or n.startswith("head.") for n in names)
    assert len([n for n in names if ".lora_A." in n]) == 2 * sum(model.config.depths)
    assert torch.allclose(model(x), plain, atol=1e-6)  # B starts at zero: same function
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    _steps(model)
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)
    model.eval()
    tuned = model(x)
    assert not torch.allclose(tuned, plain, atol=1e-4)
    FT.merge_lora(model)
    assert all("lora" not in k and "base_layer" not in k for k in model.state_dict())
    assert torch.allclose(model(x), tuned, atol=1e-5)
    reloaded = swin_viz.SwinTransformer(**dataclasses.asdict(model.config)).eval()
    reloaded.load_state_dict(model.state_dict())
    assert torch.allclose(reloaded(x), tuned, atol=1e-5)


def test_a_lora_rank_that_does_not_fit_is_named(make_tiny) -> None:
    with pytest.raises(ValueError, match=r"lora_rank 17 does not fit stage1\.block0\.attn\.qkv \(Linear 16 -> 48\)"):
        FT.apply_finetune_mode(make_tiny(embed_dim=16), "lora", lora_rank=17)
    with pytest.raises(ValueError, match="needs lora_rank >= 1, got 0"):
        FT.apply_finetune_mode(make_tiny(), "lora", lora_rank=0)
    with pytest.raises(ValueError, match="only used with finetune='lora'"):
        FT.apply_finetune_mode(make_tiny(), "full", lora_rank=4)


def test_unknown_modes_are_rejected(make_tiny) -> None:
    with pytest.raises(ValueError, match=r"'last-N' \(N = 1\.\.3 stages\).*got 'frozen'"):
        FT.apply_finetune_mode(make_tiny(), "frozen")
    with pytest.raises(ValueError, match=r"has 3 stages, so N must be 1\.\.3"):
        FT.apply_finetune_mode(make_tiny(), "last-4")


def test_layer_decay_groups_keep_the_no_weight_decay_rule(make_tiny) -> None:
    model = make_tiny()
    d, L = 0.5, sum(model.config.depths)
    groups = FT.param_groups(model, 0.05, layer_decay=d)
    name_of = {id(p): n for n, p in model.named_parameters()}
    seen = 0
    for g in groups:
        for p in g["params"]:
            name = name_of[id(p)]
            seen += 1
            no_decay = p.ndim <= 1 or name.endswith("relative_bias.table")
            assert g["weight_decay"] == (0.0 if no_decay else 0.05), name
            assert g["lr_scale"] == d ** (L + 1 - FT.layer_id(name, model.config.depths)), name
    assert seen == len(list(model.parameters()))
    scale = {name_of[id(p)]: g["lr_scale"] for g in groups for p in g["params"]}
    assert scale["head.weight"] == 1.0 and scale["norm.weight"] == 1.0
    assert scale["stage3.block1.attn.qkv.weight"] == d and scale["stage3.block0.mlp.fc1.weight"] == d**2
    assert scale["stage2.downsample.reduction.weight"] == scale["stage2.block0.norm1.weight"] == d**4
    assert scale["patch_embed.proj.weight"] == d ** (L + 1)
    assert groups[0]["lr_scale"] == 1.0
    with_lr = FT.param_groups(model, 0.05, layer_decay=d, lr=1e-3)
    assert [g["lr"] for g in with_lr] == [1e-3 * g["lr_scale"] for g in groups]
    assert all(g["lr"] == 2e-3 for g in FT.param_groups(model, 0.05, lr=2e-3))
    with pytest.raises(ValueError, match=r"layer_decay must be in \(0, 1\], got 1.5"):
        FT.param_groups(model, 0.05, layer_decay=1.5)


# ================================================================================================== bad input
def test_another_depth_is_named(make_tiny) -> None:
    state = make_tiny(depths=(2, 2, 4)).state_dict()
    with pytest.raises(ValueError, match=r"another depth.*\(2, 2, 4\).*stage 3: 4 blocks in the checkpoint, 2 in the"):
        FT.init_from_checkpoint(make_tiny(), state)


def test_another_number_of_heads_is_named(make_tiny) -> None:
    state = export_state_dict(make_tiny(num_heads=(1, 4, 8)), "timm")
    with pytest.raises(ValueError, match=r"another number of heads: \(1, 4, 8\).*stage 1: 1 in the checkpoint, 2 in"):
        FT.init_from_checkpoint(make_tiny(), state)


def test_another_architecture_is_named(make_tiny) -> None:
    with pytest.raises(ValueError, match=r"another architecture: embed_dim 96 .*the model has 16"):
        FT.init_from_checkpoint(make_tiny(), swin_viz.swin_t(num_classes=0, depths=(2, 2, 2), num_heads=(3, 6, 12))
                                .state_dict())  # fmt: skip
    vit = {
        "cls_token": torch.zeros(1, 1, 8),
        "pos_embed": torch.zeros(1, 5, 8),
        "blocks.0.attn.qkv.weight": torch.zeros(24, 8),
    }
    with pytest.raises(ValueError, match=r"not a Swin Transformer checkpoint this library knows.*cls_token"):
        FT.init_from_checkpoint(make_tiny(), vit)
    v2 = export_state_dict(make_tiny(), "timm")
    v2["layers.0.blocks.0.attn.logit_scale"] = torch.zeros(2, 1, 1)
    with pytest.raises(ValueError, match=r"Swin V2 checkpoint .*'layers\.0\.blocks\.0\.attn\.logit_scale'"):
        FT.init_from_checkpoint(make_tiny(), v2)


def test_a_checkpoint_with_lora_adapters_says_what_to_do(make_tiny) -> None:
    model = make_tiny()
    FT.apply_finetune_mode(model, "lora", lora_rank=2)
    with pytest.raises(ValueError, match=r"holds LoRA adapters \(e\.g\. 'stage1\.block0\.attn\.qkv\..*merge_lora"):
        FT.init_from_checkpoint(make_tiny(), model.state_dict())


def test_a_missing_or_mis_shaped_backbone_key_stops_with_its_name(make_tiny) -> None:
    state = export_state_dict(make_tiny(), "official")
    del state["layers.1.blocks.1.norm1.weight"]
    model = make_tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"missing: stage2\.block1\.norm1\.weight \(as 'layers\.1\.blocks\.1\.norm1"):
        FT.init_from_checkpoint(model, state)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # nothing was loaded
    with pytest.raises(
        ValueError, match=r"mis-shaped: stage1\.block0\.mlp\.fc1\.weight expects \(64, 16\), .* \(32, 16\)"
    ):
        FT.init_from_checkpoint(make_tiny(), make_tiny(mlp_ratio=2.0).state_dict())


def test_init_together_with_resume_starts_from_the_init_when_there_is_no_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--init`` with ``--resume`` is one command to resubmit: the first time (no checkpoint) it starts from the
    init; later the checkpoint wins (``tests/test_train_commands.py`` resumes one on 2 processes)."""
    from swin_viz.train import TrainConfig, train

    cfg = TrainConfig(init=str(SHIPPED), resume=True, out=str(tmp_path), model="small", data="digits", epochs=1,
                      batch_size=16, max_steps_per_epoch=1, mixup=0.0, cutmix=0.0, randaugment="", reprob=0.0,
                      device="cpu", progress=False, finetune="linear")  # fmt: skip
    train(cfg)
    out = capsys.readouterr().out
    assert "no checkpoint at" in out and f"init from {SHIPPED}" in out
    run = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert run["train_config"]["init"] == str(SHIPPED)
    shipped = torch.load(SHIPPED, weights_only=True)["state_dict"]
    assert torch.equal(run["state_dict"]["patch_embed.proj.weight"], shipped["patch_embed.proj.weight"])


# ========================================================================================== the training engine
def test_train_from_the_shipped_checkpoint_with_a_frozen_backbone(tmp_path: Path) -> None:
    """``--init`` through the engine: a linear probe leaves every backbone tensor as shipped; the constant
    schedule holds the rate; the run's summary counts the trained parameters."""
    from swin_viz.train import parse_args, train

    cfg = parse_args(["--preset", "cpu-demo", "--init", str(SHIPPED), "--finetune", "linear", "--epochs", "1",
                      "--max-steps-per-epoch", "2", "--lr", "1e-3", "--lr-schedule", "constant",
                      "--out", str(tmp_path), "--no-progress"])  # fmt: skip
    assert cfg.init == str(SHIPPED) and cfg.finetune == "linear"
    summary = train(cfg)
    assert summary["trainable_parameters"] == 128 * 10 + 10
    assert summary["metrics"][0]["lr"] == 1e-3
    run = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["state_dict"]
    shipped = torch.load(SHIPPED, weights_only=True)["state_dict"]
    for k, v in shipped.items():
        assert torch.equal(run[k], v) != k.startswith("head."), k  # the head moved, nothing else did


def test_the_finetune_preset_is_the_papers_recipe() -> None:
    from swin_viz.train import TrainConfig, parse_args

    cfg = parse_args(["--preset", "finetune", "--init", "w.pth", "--data-root", "imagenet"])
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.weight_decay) == (30, 1024, 1e-5, 1e-8)
    assert (cfg.lr_schedule, cfg.warmup_epochs, cfg.drop_path, cfg.image_size) == ("constant", 0, 0.1, 384)
    assert cfg.model_kwargs == {"window_size": 12} and cfg.init == "w.pth"
    # The official fine-tuning config's evaluation (resize to 384, no crop); one GPU accumulates 16 x 64.
    assert cfg.eval_crop is False and cfg.max_device_batch == 64
    assert (cfg.resolved_accum_steps(1), cfg.resolved_accum_steps(8)) == (16, 2)
    lines = FT.recipe_lines(base=dataclasses.asdict(TrainConfig()))
    assert "epochs           30   (pre-training: 300)" in lines
    assert "weight_decay     1e-08   (pre-training: 0.05)" in lines


def _parity_task(size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A new task: odd or even, on the 359 validation digits the shipped checkpoint never trained on, halved."""
    from swin_viz.data import load_digits, normalize

    val = load_digits(size=size, split="val")
    x, y = normalize(val.images.float() / 255), val.labels % 2
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    train_idx, test_idx = perm[: len(y) // 2], perm[len(y) // 2 :]
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx]


def _fit_and_score(model: torch.nn.Module, task: tuple[torch.Tensor, ...], steps: int = 30) -> float:
    xt, yt, xv, yv = task
    opt = torch.optim.AdamW(FT.param_groups(model, 0.05), lr=1e-3)
    gen = torch.Generator().manual_seed(1)
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(yt), (32,), generator=gen)
        loss = F.cross_entropy(model(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return (model(xv).argmax(1) == yv).float().mean().item()


@pytest.mark.parametrize(("size", "window", "steps"), [(32, 4, 30), (48, 6, 20)])
def test_fine_tuning_the_shipped_checkpoint_beats_training_from_scratch(size: int, window: int, steps: int) -> None:
    """Same model, data, steps and optimiser; only the starting weights differ. At 48x48 with window 6 the
    checkpoint's 4x4-window bias tables are resized (7x7 -> 11x11 grids)."""
    torch.set_num_threads(1)
    task = _parity_task(size)
    shipped, _ = swin_viz.pretrained.load_pretrained()
    kwargs = {**dataclasses.asdict(shipped.config), "num_classes": 2, "window_size": window, "drop_path_rate": 0.0}
    scores = {}
    for start in ("scratch", "shipped"):
        torch.manual_seed(0)
        model = swin_viz.SwinTransformer(**kwargs)
        if start == "shipped":
            report = FT.init_from_checkpoint(model, SHIPPED)
            assert len(report.resized) == (6 if window != 4 else 0)
        scores[start] = _fit_and_score(model, task, steps)
    assert scores["shipped"] >= 0.85, scores
    assert scores["shipped"] >= scores["scratch"] + 0.15, scores
