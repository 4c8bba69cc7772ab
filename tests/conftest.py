"""Shared fixtures: small models that run in milliseconds, and deterministic seeds."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import settings

import swin_viz

# Property tests draw the same examples on every run (a test that passed in review cannot fail in CI by a new draw);
# HYPOTHESIS_PROFILE=explore searches afresh each run and keeps what it finds in .hypothesis/.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

# The timm / torchvision comparisons need a reference environment (torch + torchvision + timm, several GB): they run
# only when SWIN_VIZ_REFERENCE=1, and there a failed import fails. Elsewhere test_layouts_reference.py checks the
# same names independently, and test_checkpoints.py compares logits with HuggingFace's Swin.
collect_ignore = (
    [] if os.environ.get("SWIN_VIZ_REFERENCE") == "1"
    else ["test_reference_timm_torchvision.py", "test_rand_augment_reference.py"]
)


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

