"""``python -m swin_viz [img_size]``: parameters and MACs of Swin-T/S/B/L."""

from __future__ import annotations

import sys

from .flops import count_macs
from .model import CONFIGS
from .zoo import shared_model


def model_table(img_size: int = 224) -> str:
    """Parameters and MACs of Swin-T/S/B/L at ``img_size`` (the shared meta-device models: no memory used)."""
    lines = [f"{'model':7s} {'params':>12s} {'G MACs':>8s} {'matmul G MACs':>14s} {'GFLOPs (2x matmul)':>19s}"]
    for name in CONFIGS:
        model = shared_model(name, weights="meta")
        params = sum(p.numel() for p in model.parameters())
        report = count_macs(model, img_size)
        lines.append(
            f"{name:7s} {params:12,d} {report.total / 1e9:8.3f} {report.macs.matmul / 1e9:14.4f} "
            f"{report.macs.flops / 1e9:19.3f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(model_table(int(sys.argv[1]) if len(sys.argv) > 1 else 224))
