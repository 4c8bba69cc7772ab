"""swin_viz.probes: the measurements the chapters use live in the library, written on its hooks; the course is apart."""

import ast
import json
from pathlib import Path

import torch

import swin_viz
from swin_viz import probes

ROOT = Path(__file__).resolve().parent.parent


def test_probes_are_exported_and_stay_in_the_core() -> None:
    for name in ("mask_leakage", "saved_tensors", "saved_tensor_bytes", "official_state_dict", "reach_counts"):
        assert getattr(swin_viz, name) is getattr(probes, name)
    tree = ast.parse((ROOT / "swin_viz" / "probes.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"viz", "train", "data", "metrics"}, imported  # core layer: no viz, train or data
    assert not any("swin_course" in (m or "") for m in imported)


def test_the_library_and_the_chapters_import_nothing_from_the_course() -> None:
    for path in (ROOT / "swin_viz").rglob("*.py"):
        assert "swin_course" not in path.read_text(), path
    for path in (ROOT / "book").glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert "swin_course" not in code and "swin_viz.labs" not in code, path


def test_mask_leakage_uses_hooks_and_leaves_none_behind() -> None:
    torch.manual_seed(0)
    model = swin_viz.SwinTransformer(embed_dim=16, depths=(2, 2), num_heads=(2, 2), window_size=4, patch_size=2).eval()
    x = torch.randn(2, 3, 32, 32)
    leaked = swin_viz.mask_leakage(model, x, "stage1.block1")
    kept = swin_viz.mask_leakage(model, x, "stage1.block1", zero_mask=False)
    assert kept < 1e-20 < leaked < 1
    assert not any(hp._forward_hooks for hp in swin_viz.hook_points(model).values())
    try:
        swin_viz.mask_leakage(model, x, "stage1.block0")  # a W-MSA block has no mask
    except ValueError as exc:
        assert "no shifted-window mask" in str(exc)
    else:
        raise AssertionError("a block without a mask was measured")
