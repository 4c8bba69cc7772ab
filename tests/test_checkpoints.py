import pickle
from pathlib import Path

import pytest
import torch

import swin_viz
from swin_viz import SwinConfig, SwinTransformer
from swin_viz.checkpoints import LAYOUTS, detect_layout, export_state_dict, layout_names


def _scramble(model: torch.nn.Module, std: float = 0.1) -> None:
    """Move every parameter away from its init (LayerNorm weights included) so any mix-up shows in the logits."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * std)


@pytest.mark.parametrize("layout", [lay for lay in LAYOUTS if lay != "swin_viz"])
def test_export_then_import_round_trips_exactly(make_tiny, layout: str) -> None:
    a, b = make_tiny(), make_tiny()
    _scramble(a)
    exported = export_state_dict(a, layout)
    assert detect_layout(exported) == layout
    report = swin_viz.load_state_dict(b, exported)
    assert report.ok and report.layout == layout
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name


def test_official_and_timm_names_for_swin_t() -> None:
    with torch.device("meta"):
        model = swin_viz.swin_t()
    official = {k: tuple(v.shape) for k, v in export_state_dict(model, "official").items()}
    timm = set(export_state_dict(model, "timm"))
    tv = set(export_state_dict(model, "torchvision"))
    assert official["layers.0.downsample.reduction.weight"] == (192, 384)
    assert official["layers.0.downsample.norm.weight"] == (384,)
    assert official["layers.3.blocks.1.attn.relative_position_bias_table"] == (169, 24)
    assert official["patch_embed.proj.weight"] == (96, 3, 4, 4)
    assert official["head.weight"] == (1000, 768)
    assert not any(k.startswith("layers.3.downsample") for k in official)
    assert {"layers.1.downsample.reduction.weight", "head.fc.weight"} <= timm
    assert not any(k.startswith("layers.0.downsample") for k in timm)
    assert {"features.0.0.weight", "features.0.2.weight", "features.2.reduction.weight", "features.7.1.mlp.3.bias",
            "features.1.0.attn.relative_position_bias_table", "norm.weight", "head.weight"} <= tv  # fmt: skip
    assert layout_names("stage1.block0.attn.qkv.weight", "hf") == [
        "swin.encoder.layers.0.blocks.0.attention.self.query.weight",
        "swin.encoder.layers.0.blocks.0.attention.self.key.weight",
        "swin.encoder.layers.0.blocks.0.attention.self.value.weight",
    ]


def test_derived_buffers_are_skipped_and_reported(make_tiny) -> None:
    a = make_tiny()
    sd = export_state_dict(a, "official")
    sd["layers.0.blocks.1.attn_mask"] = torch.zeros(4, 16, 16)
    sd["layers.0.blocks.0.attn.relative_position_index"] = torch.zeros(16, 16, dtype=torch.long)
    report = swin_viz.load_state_dict(make_tiny(), {"model": sd})  # official files wrap the dict in "model"
    assert report.ok
    assert sorted(report.ignored) == ["layers.0.blocks.0.attn.relative_position_index", "layers.0.blocks.1.attn_mask"]


def _hf_swin(**config):
    import transformers  # a test dependency (requirements-test.txt): a failed import fails, never skips

    return transformers.SwinForImageClassification(transformers.SwinConfig(**config)).eval()


@pytest.mark.parametrize(("size", "window"), [(64, 4), (100, 4), (112, 7)])
def test_huggingface_logits_match(size: int, window: int) -> None:
    hf = _hf_swin(image_size=size, embed_dim=24, depths=[2, 2, 2], num_heads=[2, 4, 8], window_size=window,
                  num_labels=11)  # fmt: skip
    _scramble(hf)
    ours = SwinTransformer(SwinConfig(24, (2, 2, 2), (2, 4, 8), window_size=window, num_classes=11)).eval()
    report = swin_viz.load_state_dict(ours, hf.state_dict())
    assert report.ok and report.layout in ("hf", "hf5")
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        expected = hf(pixel_values=x).logits
        got = ours(x)
    assert expected.abs().max() > 0.1
    assert (got - expected).abs().max() < 1e-4


@pytest.mark.slow
def test_huggingface_swin_t_logits_match() -> None:
    hf = _hf_swin(image_size=224, embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=7,
                  num_labels=1000)  # fmt: skip
    _scramble(hf, 0.02)
    ours = swin_viz.swin_t().eval()
    swin_viz.load_state_dict(ours, hf.state_dict())
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (ours(x) - hf(pixel_values=x).logits).abs().max() < 1e-4


def test_wrong_model_is_reported_by_name(make_tiny) -> None:
    small = make_tiny()
    wider = make_tiny(embed_dim=32, num_heads=(2, 4, 8))
    with pytest.raises(
        ValueError,
        match=r"mis-shaped: patch_embed.proj.weight expects \(32, 3, 4, 4\), the checkpoint has \(16, 3, 4, 4\)",
    ):
        swin_viz.load_state_dict(wider, small.state_dict())
    deeper = make_tiny(depths=(2, 2, 4))
    with pytest.raises(ValueError, match=r"missing \(26\): stage3.block2.norm1.weight"):
        swin_viz.load_state_dict(deeper, small.state_dict())
    sd = small.state_dict()
    sd["stage9.block0.extra"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"unexpected \(1\): stage9.block0.extra"):
        swin_viz.load_state_dict(make_tiny(), sd)


def test_non_strict_loads_the_backbone_under_a_new_head(make_tiny) -> None:
    src, dst = make_tiny(), make_tiny(num_classes=3)
    _scramble(src)
    report = swin_viz.load_state_dict(dst, src.state_dict(), strict=False)
    assert [name for name, *_ in report.mismatched] == ["head.weight", "head.bias"]
    assert torch.equal(dst.stage2.block1.attn.qkv.weight, src.stage2.block1.attn.qkv.weight)


def test_save_and_load_round_trip(tmp_path: Path, make_tiny) -> None:
    model = make_tiny(window_size=2, depths=(2, 2, 2))
    _scramble(model)
    path = tmp_path / "ckpt" / "tiny.pt"
    swin_viz.save_checkpoint(model, path, epoch=3, metrics={"top1": 0.5})
    assert [p.name for p in path.parent.iterdir()] == ["tiny.pt"]  # written atomically, no temp file left
    fresh = make_tiny(window_size=2, depths=(2, 2, 2))
    assert swin_viz.load_checkpoint(fresh, path).ok
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name
    rebuilt = swin_viz.model_from_checkpoint(path).eval()
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(rebuilt(x), model(x))
    raw = torch.load(path, weights_only=True)
    assert raw["epoch"] == 3 and raw["config"]["window_size"] == 2


class _Evil:
    def __reduce__(self):
        return (print, ("this would run on load",))


def test_loading_uses_weights_only(tmp_path: Path, make_tiny) -> None:
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": make_tiny().state_dict(), "x": _Evil()}, f, protocol=2)
    with pytest.raises(swin_viz.CheckpointError, match=r"weights_only=True.*never builds") as info:
        swin_viz.load_checkpoint(make_tiny(), path)
    assert isinstance(info.value.__cause__, pickle.UnpicklingError)  # torch refused to build the object
    assert "weights_only=False" not in str(info.value)  # no advice to turn the safety off


def test_undetectable_layout_raises() -> None:
    with pytest.raises(ValueError, match="cannot tell the checkpoint layout"):
        detect_layout({"foo.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="unknown checkpoint layout"):
        layout_names("norm.weight", "keras")
