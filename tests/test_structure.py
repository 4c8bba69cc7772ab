"""The core's shape: what it needs installed, one home for configs and stage geometry (its imports: test_layering)."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

import swin_viz
from swin_viz import StageInfo


def test_import_swin_viz_needs_no_plotly_matplotlib_or_sklearn() -> None:
    code = (
        "import sys\n"
        "for name in ('plotly', 'matplotlib', 'sklearn', 'skimage', 'ipywidgets', 'tqdm', 'PIL'):\n"
        "    sys.modules[name] = None  # importing any of them now raises ImportError\n"
        "import torch, swin_viz\n"
        "m = swin_viz.create_model('tiny')\n"
        "assert m(torch.randn(1, 3, 32, 32)).shape == (1, 10)\n"
        "assert swin_viz.count_macs(m, 32).total > 0\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_registry_knows_the_paper_sizes_and_the_small_models() -> None:
    names = swin_viz.registered_models()
    assert names[:4] == ["swin_t", "swin_s", "swin_b", "swin_l"] and {"small", "tiny", "demo"} <= set(names)
    assert list(swin_viz.CONFIGS) == ["swin_t", "swin_s", "swin_b", "swin_l"]  # the paper's table stays four rows
    small = swin_viz.create_model("small", num_classes=10)
    assert (small.config.embed_dim, small.config.patch_size, small.config.window_size) == (32, 2, 4)
    assert sum(p.numel() for p in small.parameters()) < 1_000_000
    assert swin_viz.model_config("tiny", num_classes=3)["num_classes"] == 3
    cfg = swin_viz.SwinConfig(8, (1,), (2,), window_size=2)
    assert swin_viz.register_config("test-one-stage", cfg) is cfg
    assert swin_viz.create_model("test-one-stage").config == cfg
    swin_viz.register_config("test-one-stage", cfg)  # the same config again is fine
    assert swin_viz.model.registered_config("test-one-stage") is cfg and swin_viz.model.registered_config("x") is None


def test_stage_info_is_the_one_geometry() -> None:
    with torch.device("meta"):
        model = swin_viz.swin_t()
    infos = model.stage_info(200)
    assert all(isinstance(i, StageInfo) for i in infos)
    assert [i.name for i in infos] == ["stage1", "stage2", "stage3", "stage4"]
    assert [i.index for i in infos] == [1, 2, 3, 4]
    assert [i.resolution for i in infos] == [(50, 50), (25, 25), (13, 13), (7, 7)]
    assert [i.padded for i in infos] == [(56, 56), (28, 28), (14, 14), (7, 7)]
    assert [i.stride for i in infos] == [4, 8, 16, 32] and [i.channels for i in infos] == [96, 192, 384, 768]
    assert [i.shift for i in infos] == [(3, 3), (3, 3), (3, 3), (0, 0)]
    assert [i.num_windows for i in infos] == [64, 16, 4, 1]
    assert [i.in_resolution for i in infos] == [(50, 50), (50, 50), (25, 25), (13, 13)]
    assert [i.merges for i in infos] == [False, True, True, True]
    # stage_shapes() is the same geometry as dicts, for older callers.
    assert model.stage_shapes(200) == [i.as_dict() for i in infos]
    assert model.stage_shapes(200)[2]["stage"] == "stage3" and model.stage_shapes(200)[2]["index"] == 3


def test_counting_walks_the_stage_geometry() -> None:
    """The count's map sizes come from stage_info: attention runs on the padded map of each stage."""
    with torch.device("meta"):
        model = swin_viz.swin_t()
    report = swin_viz.count_macs(model, 200)
    info = model.stage_info(200)[0]
    block = swin_viz.macs_of(model.stage1.block0, *info.resolution)
    assert report.by_prefix("stage1.block0") == block
    per_window = swin_viz.flops.window_attention_macs(49, 96, 3)
    assert block.matmul - 2 * 50 * 50 * 96 * 384 == per_window.matmul * info.num_windows  # 64 padded windows
    assert swin_viz.macs_of(model, 200, 200) == report.macs
    assert swin_viz.macs_of(model.stage2, 50, 50) == report.by_prefix("stage2")


def test_forward_intermediates_in_timms_sense(make_tiny) -> None:
    model = make_tiny()
    x = torch.randn(2, 3, 64, 48)
    feats = model.features(x)
    final, inter = model.forward_intermediates(x)
    assert [tuple(t.shape) for t in inter] == [(2, 16, 16, 12), (2, 32, 8, 6), (2, 64, 4, 3)]
    for t, f in zip(inter, feats.values()):
        torch.testing.assert_close(t, f)
    torch.testing.assert_close(final, model.forward_features(x))
    only = model.forward_intermediates(x, indices=[0, -1], intermediates_only=True, output_fmt="NHWC")
    assert [tuple(t.shape) for t in only] == [(2, 16, 12, 16), (2, 4, 3, 64)]
    last_two = model.forward_intermediates(x, indices=2, norm=True, intermediates_only=True)
    torch.testing.assert_close(last_two[0], feats["stage2"])
    torch.testing.assert_close(last_two[1], model.forward_features(x).permute(0, 3, 1, 2))  # norm on the last one
    early, first = model.forward_intermediates(x, indices=[0], stop_early=True)
    assert early.shape == (2, 16, 12, 16) and torch.equal(early.permute(0, 3, 1, 2), first[0])


@pytest.mark.parametrize(
    "cls", [swin_viz.SwinTransformer, swin_viz.SwinStage, swin_viz.SwinBlock, swin_viz.WindowAttention]
)
def test_each_constructor_takes_at_most_four_arguments(cls: type) -> None:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert len(params) <= 4, [p.name for p in params]
    assert "Config" in str(params[0].annotation), params[0]  # the first argument is its config


def test_the_model_builds_its_parts_from_one_config_by_keyword() -> None:
    """model.py and block.py hand each part its config (one argument), never options by position."""
    parts = {"SwinStage", "SwinBlock", "WindowAttention"}
    for name in ("model", "block"):
        tree = ast.parse((Path(swin_viz.__file__).parent / f"{name}.py").read_text())
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) in parts]
        assert calls, name
        for call in calls:
            assert len(call.args) == 1 and not call.keywords, ast.unparse(call)
            assert isinstance(call.args[0], ast.Call) and ast.unparse(call.args[0].func).endswith(
                (".stage", ".block", ".attention")
            ), ast.unparse(call)


def test_one_config_goes_down_to_every_part_with_position_a_choice() -> None:
    cfg = swin_viz.SwinConfig(16, (2, 2), (2, 4), window_size=4, position="none", attn_mask=False, drop_path_rate=0.1)
    model = swin_viz.SwinTransformer(cfg, attn_impl="explicit")
    assert model.config == cfg
    stage, block = model.stage2, model.stage2.block1
    assert stage.config == cfg.stage(1, "explicit") and stage.config.downsample_from == 16
    assert block.config == stage.config.block(1) and block.attn.config == block.config.attention()
    assert (block.config.shift_size, block.config.position, block.attn.config.position) == (2, "none", "none")
    assert block.config.drop_path == pytest.approx(0.1) and not block.use_attn_mask
    assert all(b.attn.relative_bias is None for s in model.stages for b in s.blocks)
    relative = swin_viz.SwinTransformer(replace(cfg, position="relative"))
    assert all(b.attn.relative_bias is not None for s in relative.stages for b in s.blocks)
    # the same model from the config and from its fields by keyword
    torch.manual_seed(0)
    a = swin_viz.SwinTransformer(cfg)
    torch.manual_seed(0)
    b = swin_viz.SwinTransformer(**asdict(cfg))
    assert a.config == b.config and all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values())
    )
    # a part from its config or from its fields: the same part; both at once is refused
    attn = swin_viz.WindowAttention(16, 2, window_size=4, position="absolute")
    assert attn.config == swin_viz.attention.AttentionConfig(dim=16, num_heads=2, window_size=4, position="absolute")
    with pytest.raises(TypeError, match="not both"):
        swin_viz.WindowAttention(attn.config, num_heads=2)
    with pytest.raises(TypeError, match="relative_position"):
        swin_viz.SwinBlock(16, 2, relative_position=False)  # the old bool is gone: position is the one choice
    with pytest.raises(ValueError, match="position must be one of"):
        swin_viz.SwinBlock(16, 2, position="learned")
