"""Train the small Swin on the bundled digits and export the checkpoint the package ships.

    .venv/bin/python scripts/make_digits_checkpoint.py            # trains (minutes on 2 CPU cores), then exports
    .venv/bin/python scripts/make_digits_checkpoint.py --from RUN  # only export an existing run folder

Writes swin_viz/assets/digits_small.pt (weights and model config only, no optimiser state) and
swin_viz/assets/digits_small.json (the command, the final metrics, the per-class report, versions).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

import swin_viz
from swin_viz.pretrained import ASSETS
from swin_viz.train import main as train_main

COMMAND = ["--preset", "digits-small", "--no-progress"]


def export(run: Path) -> dict:
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    model = swin_viz.SwinTransformer(**state["config"])
    swin_viz.load_state_dict(model, state["state_dict"], layout="swin_viz")
    summary = json.loads((run / "summary.json").read_text())
    last = state["metrics"][-1]
    info = {
        "name": "digits-small",
        "what": state["train_config"]["label"],
        "command": "python -m swin_viz.train " + " ".join(COMMAND),
        "data": "scikit-learn load_digits: 1797 8x8 grey images of 10 digits, upsampled to 32x32; "
        "a seeded 80/20 train/validation split",
        "classes": state["classes"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "epochs": last["epoch"],
        "val_top1": last["val_top1"],
        "val_top5": last["val_top5"],
        "val_loss": last["val_loss"],
        "train_seconds": round(sum(r["epoch_s"] for r in state["metrics"]), 1),
        "metrics": state["metrics"],
        "per_class": summary.get("per_class"),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    ASSETS.mkdir(exist_ok=True)
    swin_viz.save_checkpoint(model, ASSETS / "digits_small.pt", classes=state["classes"])
    (ASSETS / "digits_small.json").write_text(json.dumps(info, indent=1) + "\n")
    size = (ASSETS / "digits_small.pt").stat().st_size
    print(f"exported {info['parameters']:,} parameters ({size / 1e6:.2f} MB), val top-1 {info['val_top1']:.2f}%")
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="run", type=Path, default=None, help="export this run folder, do not train")
    parser.add_argument("--out", type=Path, default=Path("runs/digits-small"), help="where to train")
    args = parser.parse_args()
    run = args.run
    if run is None:
        run = args.out
        if train_main([*COMMAND, "--out", str(run)]) != 0:
            raise SystemExit("training failed")
    export(run)


if __name__ == "__main__":
    main()
