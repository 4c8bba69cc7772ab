"""Training Swin (the book's chapter "Training Swin"): the paper's recipe, fast on a GPU, exact to resume, on one
device or many.

    python -m swin_viz.train --preset cpu-demo                        # a short, labelled CPU schedule
    python -m swin_viz.train --data folder --data-root ~/imagenette2  # root/train, root/val (streamed if large)
    torchrun --nproc_per_node=8 -m swin_viz.train --data folder --data-root ~/imagenet
    python -m swin_viz.data.shards ~/imagenet ~/imagenet-shards       # then --data shards --data-root ...
    sbatch scripts/slurm_train.sbatch --data shards --data-root ...   # SLURM: srun torchrun, c10d; resubmit to resume

The engine, one file per concern: :mod:`.config` (what a run is, presets, validation), :mod:`.runtime`
(processes, devices, per-rank randomness), :mod:`.data` (the loaders a run picks), :mod:`.optim` (parameter
groups, schedule, loss), :mod:`.loop` (:func:`train`, :func:`train_one_epoch`, :func:`evaluate`), :mod:`.state`
(the checkpoint of a run), :mod:`.reproduce` (what a re-run must match), :mod:`.log` (step logs, TensorBoard),
:mod:`.cli` (the command line).
"""

from .cli import main, parse_args
from .config import PRESETS, SMALL_MODEL, TrainConfig, recipe_text
from .data import build_data
from .loop import NonFiniteLossError, build_model, evaluate, train, train_one_epoch
from .optim import build_optimizer, lr_at, param_groups, soft_cross_entropy, warmup_steps
from .runtime import Runtime, peak_tflops, setup_runtime

__all__ = [
    "PRESETS",
    "SMALL_MODEL",
    "NonFiniteLossError",
    "Runtime",
    "TrainConfig",
    "build_data",
    "build_model",
    "build_optimizer",
    "evaluate",
    "lr_at",
    "main",
    "param_groups",
    "parse_args",
    "peak_tflops",
    "recipe_text",
    "setup_runtime",
    "soft_cross_entropy",
    "train",
    "train_one_epoch",
    "warmup_steps",
]
