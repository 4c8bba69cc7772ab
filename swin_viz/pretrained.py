"""The small trained checkpoint that ships with the package, so explorers can show learned weights offline.

``digits-small`` is the ``small`` Swin (``swin_viz.create_model("small")``) trained by this project's own loop
on scikit-learn's bundled handwritten digits, upsampled to 32x32 -- a real, if modest, data set that needs no
download. ``swin_viz/assets/digits_small.json`` records the command that produced it and its metrics;
``scripts/make_digits_checkpoint.py`` regenerates both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .checkpoints import model_from_checkpoint
from .model import SwinTransformer

__all__ = ["PRETRAINED", "load_pretrained", "pretrained_info"]

ASSETS = Path(__file__).resolve().parent / "assets"

PRETRAINED = {"digits-small": "digits_small"}
"""Name -> file stem in ``swin_viz/assets`` (``.pt`` weights, ``.json`` provenance)."""


def pretrained_info(name: str = "digits-small") -> dict[str, Any]:
    """Provenance of a shipped checkpoint: the command, data, metrics and versions that produced it."""
    if name not in PRETRAINED:
        raise ValueError(f"unknown checkpoint {name!r}; shipped: {sorted(PRETRAINED)}")
    path = ASSETS / f"{PRETRAINED[name]}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; run scripts/make_digits_checkpoint.py to regenerate it")
    return json.loads(path.read_text())


def load_pretrained(name: str = "digits-small") -> tuple[SwinTransformer, dict[str, Any]]:
    """``(model in eval mode, provenance)`` of a shipped checkpoint, loaded with ``weights_only=True``."""
    info = pretrained_info(name)
    model = model_from_checkpoint(ASSETS / f"{PRETRAINED[name]}.pt")
    return model.eval(), info
