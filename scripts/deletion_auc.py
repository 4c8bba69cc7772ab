"""Deletion AUC of every attribution method at every block (chapter "Where does Swin look?", issue 23).

Usage::

    python scripts/deletion_auc.py                 # the shipped digits model, the first 64 validation digits
    python scripts/deletion_auc.py SWIN_T.pth      # Swin-T with ImageNet weights from a local file (any layout),
                                                   # on the photographs bundled with scikit-image

Methods: rollout stopped after the block, Grad-CAM at the block's norm1 and norm2 (for the true class; for the
photographs, the predicted class), and the window attention of the block's centre query. Deleted pixels take the
image's mean colour; 16 steps; lower is better. The baselines: random patches, random pixels, centre first.
Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import time

import torch

import swin_viz
from swin_viz import attribution as A
from swin_viz import faithfulness as faith
from swin_viz.data import normalize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", nargs="?", help="a local Swin-T ImageNet-1K checkpoint (default: digits model)")
    parser.add_argument("--count", type=int, default=64, help="validation digits to average over (default 64)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    if args.checkpoint:
        from swin_viz.pretrained import load_imagenet_swin_t
        from swin_viz.viz.images import IMAGES, load_image

        model, _ = load_imagenet_swin_t(args.checkpoint)
        x = normalize(torch.stack([load_image(n, 224) for n in IMAGES]))
        with torch.no_grad():
            y = model(x).argmax(-1)
        what = f"Swin-T from {args.checkpoint}, {len(IMAGES)} bundled photographs, predicted class"
    else:
        from swin_viz.data import load_digits

        model = swin_viz.shared_model("digits-small", weights="pretrained")
        val = load_digits(size=32, split="val")
        x, y = normalize(val.images[: args.count].float() / 255), val.labels[: args.count]
        what = f"digits-small, the first {len(y)} validation digits, true class"
    H, W = x.shape[-2:]
    print(f"deletion AUC ({what}; fill: the image's mean colour; lower is better)")
    print(f"{'block':15s} {'rollout':>8s} {'GC norm1':>9s} {'GC norm2':>9s} {'window':>8s}")
    for name, g in A.block_geometry(model, H, W).items():
        h, w = g.resolution
        maps = [
            A.attention_rollout(model, x, block=name),
            A.grad_cam(model, x, y, f"{name}.norm1"),
            A.grad_cam(model, x, y, f"{name}.norm2"),
            A.window_attention_map(model, x, (h // 2, w // 2), name),
        ]
        print(f"{name:15s} " + " ".join(f"{faith.deletion_curve(model, x, m, y).mean_auc:8.3f} " for m in maps))
    r, c = torch.meshgrid(torch.arange(float(H)), torch.arange(float(W)), indexing="ij")
    centre = -((r - (H - 1) / 2) ** 2 + (c - (W - 1) / 2) ** 2).expand(len(y), -1, -1)
    patches, pixels = faith.random_deletion_curve(model, x, y), faith.random_deletion_curve(model, x, y, cell=1)
    centred = faith.deletion_curve(model, x, centre, y)
    print(f"baselines: random patches {patches.mean_auc:.3f}, random pixels {pixels.mean_auc:.3f}, centre first "
          f"{centred.mean_auc:.3f}  ({time.perf_counter() - start:.0f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
