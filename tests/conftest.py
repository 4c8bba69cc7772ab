"""Shared fixtures: small models that run in milliseconds, and deterministic seeds."""

from __future__ import annotations

import os

import pytest
import torch

import swin_viz

# The timm / torchvision comparisons need a reference environment (torch + torchvision + timm, several GB): they run
# only when SWIN_VIZ_REFERENCE=1, and there a failed import fails. Elsewhere test_layouts_reference.py checks the
# same names independently, and test_checkpoints.py compares logits with HuggingFace's Swin.
collect_ignore = [] if os.environ.get("SWIN_VIZ_REFERENCE") == "1" else ["test_reference_timm_torchvision.py"]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def tiny_swin(**overrides: object) -> swin_viz.SwinTransformer:
    """A 3-stage Swin with the real structure (W-MSA/SW-MSA pairs, merging) but few channels."""
    return swin_viz.create_model("tiny", **overrides).eval()


@pytest.fixture
def tiny() -> swin_viz.SwinTransformer:
    return tiny_swin()


@pytest.fixture
def make_tiny():
    """The factory itself, for tests that need several tiny models or overrides."""
    return tiny_swin


def assert_print_figure_shows(spec) -> None:
    """The matplotlib version of ``spec`` shows what a reader looks for: the figure's title and every panel's title."""
    from swin_viz.viz import to_matplotlib

    fig = to_matplotlib(spec)
    titles = {ax.get_title() for ax in fig.axes}
    missing = [p.title for p in spec.panels if p.title not in titles]
    assert not missing, f"panels without their title in the print figure: {missing}"
    assert fig._suptitle is not None and spec.title in fig._suptitle.get_text()
