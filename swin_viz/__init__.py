"""swin_viz: the Swin Transformer, one idea per file, with a hook point on every intermediate tensor.

Files, in the order the paper introduces the ideas:

=========================  ==========================================================================
``patches.py``             patch partition and linear embedding
``windows.py``             window partition / reverse, padding, the effective window of small maps
``shift.py``               cyclic shift, the 9 regions, the shifted-window attention mask
``relative_position.py``   relative position index and bias
``attention.py``           W-MSA / SW-MSA (explicit and fused paths)
``block.py``               the Swin block (LN, attention, MLP, stochastic depth)
``merging.py``             patch merging
``model.py``               stages, ``SwinTransformer``, ``swin_t/s/b/l``
``geometry.py``            ``StageInfo``: each stage's map, padded map, channels, stride, window and shift
``flops.py``               the paper's complexity formulas and one walk over the model counting MACs
``hooks.py``               hook points, ``run_with_cache``, ``hooks``
``probes.py``              measurements written on the hooks (mask leakage, saved tensors, reach)
``attribution.py``         where the model looks: attention rollout, Grad-CAM, per-query maps
``faithfulness.py``        whether a map means anything: deletion curves, cascading randomisation
``checkpoints/``           every checkpoint layout (official / timm / torchvision / HuggingFace), loading, saving
``zoo.py``                 ``shared_model``: the one cache of shared, read-only models (random, shipped, meta)
``export.py``              ``export_onnx``: one ONNX graph for every input size, hook points as extra outputs
=========================  ==========================================================================
"""

from .attention import AttentionConfig, WindowAttention
from .attribution import attention_rollout, grad_cam, window_attention_map
from .block import BlockConfig, DropPath, Mlp, SwinBlock
from .checkpoints import (
    CheckpointError,
    LoadReport,
    convert_state_dict,
    detect_layout,
    export_state_dict,
    load_checkpoint,
    load_state_dict,
    model_from_checkpoint,
    official_state_dict,
    save_checkpoint,
)
from .export import export_onnx
from .flops import MacReport, Macs, count_macs, macs_of, measure_macs, omega_msa, omega_wmsa
from .geometry import StageInfo, stage_geometry
from .hooks import HookPoint, hook_points, hooks, run_with_cache
from .merging import PatchMerging, merge_patches
from .model import (
    CONFIGS,
    StageConfig,
    SwinConfig,
    SwinStage,
    SwinTransformer,
    create_model,
    model_config,
    register_config,
    registered_models,
    swin_b,
    swin_l,
    swin_s,
    swin_t,
)
from .patches import PatchEmbed, patch_partition
from .probes import mask_leakage, reach_counts, saved_tensor_bytes, saved_tensors
from .relative_position import RelativePositionBias, relative_offsets, relative_position_index
from .shift import MASK_VALUE, cyclic_shift, region_labels, reverse_cyclic_shift, shifted_window_mask
from .windows import effective_window, num_windows, pad_to_window, window_partition, window_reverse
from .zoo import shared_model

__version__ = "0.1.0"

__all__ = [
    "CONFIGS",
    "MASK_VALUE",
    "AttentionConfig",
    "BlockConfig",
    "CheckpointError",
    "DropPath",
    "HookPoint",
    "LoadReport",
    "MacReport",
    "Macs",
    "Mlp",
    "PatchEmbed",
    "PatchMerging",
    "RelativePositionBias",
    "StageConfig",
    "StageInfo",
    "SwinBlock",
    "SwinConfig",
    "SwinStage",
    "SwinTransformer",
    "WindowAttention",
    "attention_rollout",
    "convert_state_dict",
    "count_macs",
    "create_model",
    "cyclic_shift",
    "detect_layout",
    "effective_window",
    "export_onnx",
    "export_state_dict",
    "grad_cam",
    "hook_points",
    "hooks",
    "load_checkpoint",
    "load_state_dict",
    "macs_of",
    "mask_leakage",
    "measure_macs",
    "merge_patches",
    "model_config",
    "model_from_checkpoint",
    "num_windows",
    "official_state_dict",
    "omega_msa",
    "omega_wmsa",
    "pad_to_window",
    "patch_partition",
    "reach_counts",
    "region_labels",
    "register_config",
    "registered_models",
    "relative_offsets",
    "relative_position_index",
    "reverse_cyclic_shift",
    "run_with_cache",
    "save_checkpoint",
    "saved_tensor_bytes",
    "saved_tensors",
    "shared_model",
    "shifted_window_mask",
    "stage_geometry",
    "swin_b",
    "swin_l",
    "swin_s",
    "swin_t",
    "window_attention_map",
    "window_partition",
    "window_reverse",
]
