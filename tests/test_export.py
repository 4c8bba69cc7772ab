"""swin_viz.export_onnx: one ONNX graph for every input size, checked with onnxruntime (CPU) against the library.

The export runs once, in a fresh process, as a user runs it; the graph is then run at sizes the trace never saw
(it traces a 72x88 image): square and not, sizes whose maps need padding, sizes whose last stage is smaller than a
window (the traced block then masks the padding keys), a 2x2 image (every map 1x1), and batches of 1 and 3.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import processes
import pytest
import torch

import swin_viz
from swin_viz.pretrained import load_pretrained

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

# (B, H, W): none is the traced 72x88. 36, 20x44: padded maps in every stage; 16, 2: last stage smaller than a window.
SIZES = [(1, 32, 32), (3, 36, 36), (1, 20, 44), (1, 16, 16), (2, 2, 2), (1, 64, 48), (1, 30, 18)]
PROBS = "*.attn.hook_probs"

EXPORT = """
import sys
from swin_viz.export import export_onnx
from swin_viz.pretrained import load_pretrained
model, _ = load_pretrained()
print("\\n".join(export_onnx(model, sys.argv[1], hook_outputs=[{probs!r}, "stage?.hook_out", "*.block?.hook_out"])))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("onnx") / "digits_small.onnx"
    result = processes.run("-c", EXPORT.format(probs=PROBS), str(path), timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    return path, result.stdout.split()


@pytest.fixture(scope="module")
def session(exported: tuple[Path, list[str]]) -> ort.InferenceSession:
    return ort.InferenceSession(str(exported[0]), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def model() -> swin_viz.SwinTransformer:
    return load_pretrained()[0]


def test_the_graph_has_a_symbolic_height_width_and_batch(session: ort.InferenceSession, exported) -> None:
    (image,) = session.get_inputs()
    assert image.name == "image"
    assert image.shape[1] == 3 and all(isinstance(d, str) for d in (image.shape[0], image.shape[2], image.shape[3]))
    names = [o.name for o in session.get_outputs()]
    assert names == exported[1]
    assert names[0] == "logits" and sum(n.endswith("attn.hook_probs") for n in names) == 6


@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
def test_logits_and_hook_outputs_match_the_library_at_unseen_sizes(session, exported, model, size) -> None:
    torch.manual_seed(sum(size))
    x = torch.rand(size[0], 3, *size[1:])
    names = exported[1][1:]
    with torch.no_grad():
        logits, cache = swin_viz.run_with_cache(model, x, names=names)
    outputs = session.run(None, {"image": x.numpy()})
    np.testing.assert_allclose(outputs[0], logits.numpy(), atol=1e-4, rtol=0)
    for name, out in zip(names, outputs[1:]):
        ref = cache[name].numpy()
        if out.shape == ref.shape:
            np.testing.assert_allclose(out, ref, atol=1e-4, rtol=0, err_msg=name)
        else:  # an axis no larger than the window: the graph keeps M x M windows, padding keys at probability 0
            assert name.endswith("hook_probs"), name
            _check_padded_probs(model, name, out, ref)


def _check_padded_probs(model: swin_viz.SwinTransformer, name: str, out: np.ndarray, ref: np.ndarray) -> None:
    """``out`` ``(B*nW, h, M*M, M*M)`` holds ``ref`` ``(B*nW, h, mh*mw, mh*mw)`` at the real tokens and 0 elsewhere."""
    M = model.config.window_size
    n = ref.shape[-1]
    shapes = [(mh, n // mh) for mh in range(1, M + 1) if n % mh == 0 and n // mh <= M]
    for mh, mw in shapes:  # the (mh, mw) window the eager block used: the one whose real tokens match
        real = np.array([i * M + j for i in range(mh) for j in range(mw)])
        if out.shape[0] == ref.shape[0] and np.allclose(out[:, :, real][:, :, :, real], ref, atol=1e-4, rtol=0):
            pad = np.setdiff1d(np.arange(M * M), real)
            assert np.all(out[:, :, real][:, :, :, pad] == 0), f"{name}: padding keys got attention"
            return
    raise AssertionError(f"{name}: no real-token block of the exported {out.shape} equals the library's {ref.shape}")


def test_absolute_position_has_no_dynamic_export(tmp_path: Path) -> None:
    model = swin_viz.SwinTransformer(embed_dim=16, depths=(1,), num_heads=(2,), window_size=4, patch_size=2,
                                     num_classes=3, position="absolute", img_size=16)  # fmt: skip
    with pytest.raises(ValueError, match="absolute"):
        swin_viz.export_onnx(model, tmp_path / "m.onnx")
