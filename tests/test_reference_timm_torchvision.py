"""Logits against timm's and torchvision's own Swin-T (random weights, nothing downloaded).

Collected only with ``SWIN_VIZ_REFERENCE=1`` (see conftest.py), in an environment that has timm and torchvision::

    pip install -r requirements-test.txt torchvision timm
    SWIN_VIZ_REFERENCE=1 python -m pytest tests/test_reference_timm_torchvision.py -p no:nbval

The imports are unconditional: in the reference environment a missing or broken package fails the run.
"""

import timm
import torch
import torchvision
from timm.models.swin_transformer import checkpoint_filter_fn

import swin_viz
from swin_viz.checkpoints import export_state_dict


def _scramble(model: torch.nn.Module, std: float = 0.02) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * std)


def test_timm_logits_match() -> None:
    ref = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False).eval()
    _scramble(ref)
    ours = swin_viz.swin_t().eval()
    assert swin_viz.load_state_dict(ours, ref.state_dict()).layout == "timm"
    # The official layout too: timm's own filter turns an official checkpoint into its layout.
    official = export_state_dict(ours, "official")
    ref.load_state_dict(checkpoint_filter_fn(official, ref), strict=False)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (ours(x) - ref(x)).abs().max() < 1e-4


def test_torchvision_logits_match() -> None:
    ref = torchvision.models.swin_t(weights=None).eval()
    _scramble(ref)
    ours = swin_viz.swin_t().eval()
    assert swin_viz.load_state_dict(ours, ref.state_dict()).layout == "torchvision"
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (ours(x) - ref(x)).abs().max() < 1e-4


def test_forward_intermediates_match_timm() -> None:
    ref = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False).eval()
    _scramble(ref)
    ours = swin_viz.swin_t().eval()
    swin_viz.load_state_dict(ours, ref.state_dict())
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        final_ref, inter_ref = ref.forward_intermediates(x, indices=[0, 2, 3], norm=True)
        final, inter = ours.forward_intermediates(x, indices=[0, 2, 3], norm=True)
    assert (final - final_ref).abs().max() < 1e-4
    for a, b in zip(inter, inter_ref):
        assert a.shape == b.shape and (a - b).abs().max() < 1e-4
