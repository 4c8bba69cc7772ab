"""Lab 8 checks: a correct answer passes; the usual mistakes fail with their specific explanation."""

import re

import torch

import swin_viz
from swin_course.model import (
    check_capture,
    check_mask_leakage,
    check_official_renaming,
    lab_inputs,
    lab_model,
)
from swin_viz.probes import mask_leakage, official_state_dict


def _capture(remove=True, swap=None):
    def capture(model, x, name):
        store = {}
        point = model.get_submodule(swap(name) if swap else name)
        handle = point.register_forward_hook(lambda m, i, out: store.__setitem__("t", out))
        model(x)
        if remove:
            handle.remove()
        return store["t"]

    return capture


def test_capture() -> None:
    assert check_capture(_capture()).passed
    assert "a hook is still attached" in str(check_capture(_capture(remove=False)))
    wrong = str(check_capture(_capture(swap=lambda n: n.replace("probs", "logits"))))
    assert "hook point 'stage2.block1.attn.hook_logits'" in wrong
    assert "the model's output" in str(check_capture(lambda m, x, n: m(x)))
    assert not any(hp._forward_hooks for hp in swin_viz.hook_points(lab_model()).values())


def _leakage(returns=True, over="affected", align="view"):
    def leakage(model, x, block):
        attn = model.get_submodule(block + ".attn")
        saved = {}

        def zero(module, inputs, out):
            saved["mask"] = out
            if returns:
                return torch.zeros_like(out)
            return None

        handles = [attn.hook_mask.register_forward_hook(zero),
                   attn.hook_probs.register_forward_hook(lambda m, i, o: saved.__setitem__("probs", o))]  # fmt: skip
        with torch.no_grad():
            model(x)
        for h in handles:
            h.remove()
        cross = saved["mask"] != 0
        nW, N, _ = cross.shape
        if align == "view":
            leak = (saved["probs"].view(x.shape[0], nW, -1, N, N) * cross[None, :, None]).sum(-1)
            affected = cross.any(-1)[None, :, None].expand_as(leak)
        else:
            cross = cross.repeat_interleave(x.shape[0], 0)
            leak = (saved["probs"] * cross[:, None]).sum(-1)
            affected = cross.any(-1)[:, None].expand_as(leak)
        return float(leak[affected].mean() if over == "affected" else leak.mean())

    return leakage


def test_mask_leakage() -> None:
    assert check_mask_leakage(_leakage()).passed
    assert "the mask was still applied" in str(check_mask_leakage(_leakage(returns=False)))
    assert "averaged over every query" in str(check_mask_leakage(_leakage(over="all")))
    assert "not repeat_interleave" in str(check_mask_leakage(_leakage(align="interleave")))
    model, x = lab_model(), lab_inputs(3)
    assert mask_leakage(model, x, "stage1.block1", zero_mask=False) < 1e-20 < mask_leakage(model, x, "stage1.block1")


def _rename(merge_offset=2, table=True, skip=True):
    def rename(key):
        if skip and key.endswith(("relative_position_index", "attn_mask")):
            return None
        if m := re.fullmatch(r"layers\.(\d+)\.blocks\.(\d+)\.(.+)", key):
            rest = m[3].replace("relative_position_bias_table", "relative_bias.table") if table else m[3]
            return f"stage{int(m[1]) + 1}.block{m[2]}.{rest}"
        if m := re.fullmatch(r"layers\.(\d+)\.downsample\.(.+)", key):
            return f"stage{int(m[1]) + merge_offset}.downsample.{m[2]}"
        return key

    return rename


def test_official_renaming() -> None:
    assert check_official_renaming(_rename()).passed
    assert "at the END of stage" in str(check_official_renaming(_rename(merge_offset=1)))
    assert "attn.relative_bias.table" in str(check_official_renaming(_rename(table=False)))
    assert "return None to skip them" in str(check_official_renaming(_rename(skip=False)))


def test_official_state_dict_looks_official() -> None:
    sd = official_state_dict(lab_model())
    assert swin_viz.detect_layout(sd) == "official"
    assert "layers.0.blocks.1.attn_mask" in sd and "layers.0.blocks.0.attn.relative_position_index" in sd
    report = swin_viz.load_state_dict(swin_viz.SwinTransformer(**lab_model().config.__dict__), sd)
    assert report.ok and len(report.ignored) == 8
