"""Independent reference checks of the checkpoint name mapping.

The round-trip tests in test_checkpoints.py export with the mapping and import with the same mapping, so a mistake
that is its own inverse (norm1 <-> norm2, mlp.0 <-> mlp.3) survives them. Here every name is written out by hand,
as the official code, timm, torchvision and HuggingFace name their parameters, and each reference name carries a
tensor of its own: loading must put that exact tensor on the parameter of ours that does the same job.
"""

from __future__ import annotations

import pytest
import torch

import swin_viz
from swin_viz.checkpoints import detect_layout

# Our parameter -> its name in each layout, for block 1 of stage 2 (a shifted block), stage 2's patch merging and
# the top-level parameters. Written from each project's module tree, not from swin_viz.checkpoints.
B = "stage2.block1."
BLOCK = {
    "official": ("layers.1.blocks.1.", {
        "norm1.weight": "norm1.weight", "norm1.bias": "norm1.bias",
        "attn.qkv.weight": "attn.qkv.weight", "attn.qkv.bias": "attn.qkv.bias",
        "attn.proj.weight": "attn.proj.weight", "attn.proj.bias": "attn.proj.bias",
        "attn.relative_bias.table": "attn.relative_position_bias_table",
        "norm2.weight": "norm2.weight", "norm2.bias": "norm2.bias",
        "mlp.fc1.weight": "mlp.fc1.weight", "mlp.fc1.bias": "mlp.fc1.bias",
        "mlp.fc2.weight": "mlp.fc2.weight", "mlp.fc2.bias": "mlp.fc2.bias"}),
    "torchvision": ("features.3.1.", {  # features: 0 embed, 1 stage1, 2 merge, 3 stage2, ...
        "norm1.weight": "norm1.weight", "norm1.bias": "norm1.bias",
        "attn.qkv.weight": "attn.qkv.weight", "attn.qkv.bias": "attn.qkv.bias",
        "attn.proj.weight": "attn.proj.weight", "attn.proj.bias": "attn.proj.bias",
        "attn.relative_bias.table": "attn.relative_position_bias_table",
        "norm2.weight": "norm2.weight", "norm2.bias": "norm2.bias",
        "mlp.fc1.weight": "mlp.0.weight", "mlp.fc1.bias": "mlp.0.bias",  # MLP(Linear, GELU, Dropout, Linear, ...)
        "mlp.fc2.weight": "mlp.3.weight", "mlp.fc2.bias": "mlp.3.bias"}),
    "hf": ("swin.encoder.layers.1.blocks.1.", {
        "norm1.weight": "layernorm_before.weight", "norm1.bias": "layernorm_before.bias",
        "attn.proj.weight": "attention.output.dense.weight", "attn.proj.bias": "attention.output.dense.bias",
        "attn.relative_bias.table": "attention.self.relative_position_bias_table",
        "norm2.weight": "layernorm_after.weight", "norm2.bias": "layernorm_after.bias",
        "mlp.fc1.weight": "intermediate.dense.weight", "mlp.fc1.bias": "intermediate.dense.bias",
        "mlp.fc2.weight": "output.dense.weight", "mlp.fc2.bias": "output.dense.bias"}),
}  # fmt: skip
BLOCK["timm"] = ("layers.1.blocks.1.", BLOCK["official"][1])
MERGE = {  # stage 2's patch merging
    "official": "layers.0.downsample.", "timm": "layers.1.downsample.", "torchvision": "features.2.",
    "hf": "swin.encoder.layers.0.downsample.",
}  # fmt: skip
TOP = {
    "official": {"patch_embed.proj.weight": "patch_embed.proj.weight",
                 "patch_embed.norm.weight": "patch_embed.norm.weight", "norm.weight": "norm.weight",
                 "head.weight": "head.weight", "head.bias": "head.bias"},
    "timm": {"patch_embed.proj.weight": "patch_embed.proj.weight", "norm.weight": "norm.weight",
             "head.weight": "head.fc.weight", "head.bias": "head.fc.bias"},
    "torchvision": {"patch_embed.proj.weight": "features.0.0.weight", "patch_embed.proj.bias": "features.0.0.bias",
                    "patch_embed.norm.weight": "features.0.2.weight", "norm.weight": "norm.weight",
                    "head.weight": "head.weight"},
    "hf": {"patch_embed.proj.weight": "swin.embeddings.patch_embeddings.projection.weight",
           "patch_embed.norm.weight": "swin.embeddings.norm.weight", "norm.weight": "swin.layernorm.weight",
           "head.weight": "classifier.weight", "head.bias": "classifier.bias"},
}  # fmt: skip


def _reference_table(layout: str) -> dict[str, str]:
    """{our name: reference name} for the parameters the tables above cover."""
    prefix, block = BLOCK[layout]
    table = {B + ours: prefix + theirs for ours, theirs in block.items()}
    merge = ("norm.weight", "norm.bias", "reduction.weight")
    table.update({f"stage2.downsample.{k}": MERGE[layout] + k for k in merge})
    table.update(TOP[layout])
    return table


@pytest.mark.parametrize("layout", ["official", "timm", "torchvision", "hf"])
def test_each_reference_name_lands_on_the_parameter_that_does_its_job(make_tiny, layout: str) -> None:
    model = make_tiny()
    exported = swin_viz.export_state_dict(model, layout)
    table = _reference_table(layout)
    assert set(table.values()) <= set(exported), sorted(set(table.values()) - set(exported))
    # A distinct value under every reference name; then load and look where each one went.
    marked = dict(exported)
    for k, theirs in enumerate(table.values()):
        marked[theirs] = torch.full_like(exported[theirs], float(k + 1))
    assert detect_layout(marked) == layout
    assert swin_viz.load_state_dict(model, marked).ok
    ours = model.state_dict()
    for k, (mine, theirs) in enumerate(table.items()):
        assert torch.all(ours[mine] == k + 1), f"{theirs} did not land on {mine}"


def test_huggingface_query_key_value_stack_in_that_order(make_tiny) -> None:
    """HF splits qkv in three; ours is one (3C, C) matrix whose rows are q, then k, then v (official order)."""
    model = make_tiny()
    sd = swin_viz.export_state_dict(model, "hf")
    p = "swin.encoder.layers.1.blocks.1.attention.self."
    for k, part in enumerate(("query", "key", "value")):
        sd[p + part + ".weight"] = torch.full_like(sd[p + part + ".weight"], float(k))
    swin_viz.load_state_dict(model, sd)
    C = model.stage2.dim
    rows = model.stage2.block1.attn.qkv.weight
    assert [rows[k * C : (k + 1) * C].unique().tolist() for k in range(3)] == [[0.0], [1.0], [2.0]]


def test_the_mapping_is_one_to_one_for_every_layout(make_tiny) -> None:
    """No two of our parameters share a name in any layout (a swap would keep this, the table test above not)."""
    model = make_tiny()
    for layout in swin_viz.checkpoints.LAYOUTS:
        names = [n for key in model.state_dict() for n in swin_viz.checkpoints.layout_names(key, layout)]
        assert len(names) == len(set(names)), layout
