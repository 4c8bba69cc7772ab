"""ONNX export with a dynamic height and width (chapter 9; issue 22).

:func:`export_onnx` writes one ONNX file that serves every input size the model accepts -- any multiple of the
patch size, including sizes whose maps must be padded to a multiple of the window, or are smaller than a window --
and can expose chosen hook points (say every block's ``attn.hook_probs``) as extra named outputs.

What made it hard, and what the model does about it when traced (``swin_viz._validate.symbolic``):

* Exporters that trace with concrete sizes bake them into every ``Reshape`` (timm #1844): here the PyTorch 2
  exporter (``torch.export`` + ``torch.onnx.export(dynamo=True)``) traces with *symbolic* sizes, so each reshape
  computes its shape from the input's in the graph.
* A symbolic size cannot steer a Python ``if``. Eager Swin branches on sizes three times: padding only when the
  window does not divide the map, shrinking the window and dropping the shift on an axis no larger than the window
  (:func:`~swin_viz.effective_window`), and padding an odd map before patch merging. The traced block
  (:meth:`swin_viz.SwinBlock._forward_traced`) keeps the window at ``M``, pads by an amount that may be 0, makes the
  shift a tensor that is 0 on such an axis, and masks that axis's padding keys to probability exactly 0, which gives
  the real tokens the smaller window's numbers.
* ``torch.roll`` by a shift that depends on the size becomes two gathers (:func:`swin_viz.shift.roll_by_index`;
  roll's export was missing for years, pytorch #56355).
* Reshapes of a size that happens to be 1 in the example would be specialised to 1, so the example input is chosen
  so that no map, window count or batch is 1 or 0, and the trace treats sizes as "not 0 or 1" without a guard
  (``backed_size_oblivious``), as the reshapes are correct for those sizes too. The tests check sizes the export
  never saw, among them sizes whose last stage is a single, smaller window.

Exported probabilities (and other per-window hook points) have the eager shapes, except on an axis no larger than
the window: there the traced block keeps an ``M``-wide window whose padding keys get probability 0, so a hook's
tensor is the padded one (its real tokens equal the eager values).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import nn

from .hooks import match_names, run_with_cache
from .model import SwinTransformer

__all__ = ["DEFAULT_OPSET", "export_example_size", "export_onnx"]

DEFAULT_OPSET = 18
"""ONNX opset of the graph: 18 is what the PyTorch 2 exporter writes natively and onnxruntime (web too) runs."""


class _WithHookOutputs(nn.Module):
    """``image -> (logits, *hook tensors)``: the model plus the chosen hook points as outputs."""

    def __init__(self, model: SwinTransformer, names: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.names = list(names)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, cache = run_with_cache(self.model, x, names=self.names)
        return (logits, *[cache[n] for n in self.names])


def export_example_size(model: SwinTransformer) -> tuple[int, int]:
    """``(H, W)`` of the example image :func:`export_onnx` traces with: every stage's map larger than two windows
    and no window count equal on the two axes, so no size in the trace is 0 or 1, or equal by chance."""
    cfg = model.config
    step = cfg.patch_size * 2 ** (model.num_stages - 1)
    return step * (2 * cfg.window_size + 1), step * (2 * cfg.window_size + 3)


@contextlib.contextmanager
def _export_mode(model: SwinTransformer) -> Iterator[None]:
    """Eval mode and explicit attention for the trace (the graph computes the probabilities); restored after."""
    training = model.training
    impls = [block.attn.attn_impl for stage in model.stages for block in stage.blocks]
    model.eval()
    model.set_attn_impl("explicit")
    try:
        yield
    finally:
        model.train(training)
        for impl, block in zip(impls, (b for stage in model.stages for b in stage.blocks)):
            block.attn.attn_impl = impl


def export_onnx(
    model: SwinTransformer,
    path: str | os.PathLike[str],
    *,
    hook_outputs: str | Iterable[str] = (),
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
) -> list[str]:
    """Write ``model`` as one ONNX file whose input ``image`` is ``(B, in_chans, H, W)`` with any ``H, W`` that
    are multiples of ``patch_size`` (and any ``B`` if ``dynamic_batch``). Returns the output names.

    Outputs: ``logits`` ``(B, num_classes)``, then one output per hook point matched by ``hook_outputs`` (names or
    globs as in :func:`swin_viz.run_with_cache`, e.g. ``"*.attn.hook_probs"``), named after the hook point, in the
    model's order. The model is traced in eval mode with explicit attention; its own mode is restored. The file is
    self-contained (weights inside). Needs the ``onnx`` and ``onnxscript`` packages.
    """
    if not isinstance(model, SwinTransformer):
        raise TypeError(f"export_onnx expects a swin_viz.SwinTransformer, got {type(model).__name__}")
    if model.absolute_pos_embed is not None:
        raise ValueError(
            "position='absolute' fixes the input size (one learned vector per token of an img_size image), so it "
            "has no dynamic-size export; export a model with position='relative' or 'none'"
        )
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < DEFAULT_OPSET:
        raise ValueError(f"opset must be an int >= {DEFAULT_OPSET} (the PyTorch 2 exporter's lowest), got {opset!r}")
    patterns = [hook_outputs] if isinstance(hook_outputs, str) else list(hook_outputs)
    names = match_names(model, patterns) if patterns else []
    cfg = model.config
    H, W = export_example_size(model)
    example = torch.zeros(2 if dynamic_batch else 1, cfg.in_chans, H, W)
    p = cfg.patch_size
    dims = {2: p * torch.export.Dim("h", min=1, max=8192), 3: p * torch.export.Dim("w", min=1, max=8192)}
    if dynamic_batch:
        dims[0] = torch.export.Dim("batch", min=1, max=4096)
    module = _WithHookOutputs(model, names)
    with _export_mode(model), torch.no_grad(), torch.fx.experimental._config.patch(backed_size_oblivious=True):
        program = torch.export.export(module, (example,), dynamic_shapes={"x": dims}, strict=False)
    outputs = ["logits", *names]
    torch.onnx.export(
        program, (example,), os.fspath(path), input_names=["image"], output_names=outputs, opset_version=opset,
        dynamo=True, external_data=False, optimize=True, verbose=False,
    )  # fmt: skip
    return outputs
