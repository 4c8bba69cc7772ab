"""The shipped checkpoint is what its provenance file says it is."""

import pytest

import swin_viz
from swin_viz.data import DeviceLoader, load_digits
from swin_viz.pretrained import ASSETS, load_pretrained, pretrained_info
from swin_viz.train import evaluate


def test_shipped_checkpoint_is_small_and_documented() -> None:
    info = pretrained_info("digits-small")
    assert (ASSETS / "digits_small.pt").stat().st_size <= 5 * 1024 * 1024
    assert info["command"].startswith("python -m swin_viz.train --preset digits-small")
    assert len(info["metrics"]) == info["epochs"] and info["classes"] == [str(d) for d in range(10)]
    with pytest.raises(ValueError, match="unknown checkpoint"):
        pretrained_info("imagenet")


def test_shipped_checkpoint_reproduces_its_validation_accuracy() -> None:
    model, info = load_pretrained("digits-small")
    assert sum(p.numel() for p in model.parameters()) == info["parameters"]
    loader = DeviceLoader(load_digits(size=32, split="val"), 64, train=False, augment=False)
    result = evaluate(model, loader, num_classes=10)
    assert result["top1"] == pytest.approx(info["val_top1"], abs=0.3)  # at most one image of 359 differs
    assert result["top1"] > 90  # learned, not noise (chance is 10%)
    assert isinstance(model, swin_viz.SwinTransformer) and not model.training
