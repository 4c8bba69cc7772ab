"""What a run is: :class:`TrainConfig`, its validation, and the named presets (the book's chapter "Training Swin").

Defaults are the paper's ImageNet-1K recipe for Swin-T (App. A2.1, ``shared REFERENCE.md``): AdamW, 300 epochs,
batch 1024, lr 1e-3 scaled by batch/1024, weight decay 0.05, cosine decay after 20 warm-up epochs, clipping at 5,
label smoothing 0.1, stochastic depth 0.2, RandAugment ``rand-m9-mstd0.5-inc1``, Mixup 0.8, CutMix 1.0 (switch
probability 0.5), random erasing 0.25, random-resized crop (0.08, 1).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from ..model import model_config, registered_models
from .finetune import PAPER_FINETUNE

__all__ = ["PRESETS", "SMALL_MODEL", "TrainConfig", "recipe_text"]

DATA_CHOICES = ("digits", "cifar10", "folder", "shards", "synthetic", "task")
LOADER_CHOICES = ("auto", "memory", "stream")
SWITCH_CHOICES = ("auto", "on", "off")
AMP_CHOICES = ("auto", "bf16", "fp16", "off")
LR_SCHEDULES = ("cosine", "constant")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
DEFAULT_SIZES = {"digits": 32, "cifar10": 32, "folder": 224, "shards": 224, "synthetic": 224}


@dataclass
class TrainConfig:
    """Every knob of a run. Defaults are the paper's ImageNet-1K recipe for Swin-T."""

    # data
    data: str = "folder"
    """``folder`` (``root/train``, ``root/val``: ImageNet's layout, the paper's data; needs ``data_root``),
    ``digits`` (scikit-learn's bundled digits, the offline data of the book's CPU runs), ``cifar10``,
    ``shards`` (webdataset shards from ``python -m swin_viz.data.shards``), ``synthetic`` (throughput only) or
    ``task`` (a generated, controlled task of :mod:`swin_viz.data.tasks`, named by ``task``)."""
    data_root: str | None = None
    task: str = ""
    """For ``data="task"``: a generated, controlled task of :mod:`swin_viz.data.tasks` (``pair``, ``wrap``,
    ``arrangement``, ``photos``); its image size is the task's."""
    task_seed: int = 0
    """The seed that generates the task's images (fixed across model seeds unless changed)."""
    loader: str = "auto"
    """For ``folder``: ``memory`` (decode once, batches on the device), ``stream`` (DataLoader workers), or
    ``auto`` (memory when the decoded set fits in 2.5 GB per rank)."""
    workers: int = 8
    """DataLoader worker processes per rank (streaming and shards); ``bench/bench_data.py`` says how many."""
    image_size: int | None = None
    """Input side; default per data set (digits 32, cifar10 32, folder/shards/synthetic 224)."""
    augment: bool = True
    eval_crop: bool = True
    """Evaluation: the shorter side resized to ``size * 256 / 224`` and the centre crop (pre-training, the official
    ``TEST.CROP: True``), or ``False``: the whole image resized to ``size x size`` (the official fine-tuning configs
    at 384). For folders and shards; in-memory sets of small images are resized either way."""
    crop_scale: tuple[float, float] = (0.08, 1.0)
    """Area range of the random-resized crop (the paper's 0.08..1)."""
    randaugment: str = "rand-m9-mstd0.5-inc1"
    """RandAugment in timm's notation, or ``""`` for none."""
    reprob: float = 0.25
    """Random-erasing probability."""
    # model
    model: str = "swin_t"
    """``swin_t`` / ``swin_s`` / ``swin_b`` / ``swin_l``, or ``small`` (a few channels and blocks, for CPUs)."""
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    drop_path: float | None = None
    """Stochastic depth; ``None``: the model's default (0.2 T, 0.3 S, 0.5 B)."""
    # optimisation
    epochs: int = 300
    batch_size: int = 1024
    """Global batch (all GPUs together, before accumulation is split off)."""
    lr: float | None = None
    """Peak learning rate; ``None``: ``1e-3 * batch_size / 1024``."""
    warmup_epochs: float = 20
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    clip_grad: float | None = 5.0
    lr_schedule: str = "cosine"
    """``cosine`` (warm-up, then cosine decay) or ``constant`` (the paper's fine-tuning: ``lr`` throughout)."""
    mixup: float = 0.8
    cutmix: float = 1.0
    mix_switch_prob: float = 0.5
    mix_groups: int = 0
    """Mixup/CutMix pair samples inside each of this many equal slices of the global batch (0: one per rank, as
    every multi-GPU run does). One process with ``mix_groups=N`` mixes exactly as N ranks do."""
    accum_steps: int = 1
    max_device_batch: int | None = None
    """The most images one device takes in one forward and backward pass; ``None``: no limit. When the global
    batch's share per device is larger, each step is split into the fewest accumulation steps (at least
    ``accum_steps``) whose micro-batches fit and divide it evenly: the global batch and the learning rate, the
    recipe, do not change (:meth:`resolved_accum_steps`)."""
    # fine-tuning (swin_viz.train.finetune, the book's chapter "Fine-tuning a pretrained Swin")
    init: str | None = None
    """Start from this checkpoint's weights (official, timm, torchvision, HuggingFace or ours): the head is replaced
    when the classes differ, bias tables are resized to the model's window, anything else must match. With
    ``resume`` and a checkpoint in ``out``, the run continues from that checkpoint (the init is not applied again;
    its path stays in the run's config)."""
    finetune: str = "full"
    """What is trained: ``full``, ``linear`` (the head), ``last-N`` (the last N stages and the head), ``lora``."""
    layer_decay: float | None = None
    """Layer-wise lr decay: each block trains at this factor of the rate of the block above; ``None``: off."""
    lora_rank: int = 0
    """Rank of the LoRA adapters on every attention's qkv and proj (``finetune="lora"`` only)."""
    # speed
    device: str = "auto"
    amp: str = "auto"
    """``bf16`` autocast, ``fp16`` autocast with a loss scaler (``torch.amp.GradScaler``: gradients are unscaled
    before clipping, the scaler's state is in the checkpoint), ``off``, or ``auto``: bf16 on GPUs with bf16 tensor
    cores (compute capability 8.0+: A100, H100, ...), fp16 on older ones (V100, T4), off on CPUs."""
    compile: str = "auto"
    """``on``, ``off`` or ``auto`` (on for CUDA); training and evaluation are both compiled."""
    compile_mode: str = "default"
    """``torch.compile`` mode: ``default``, ``reduce-overhead`` (CUDA graphs), ``max-autotune``, ..."""
    grad_checkpointing: bool = False
    channels_last: str = "auto"
    # bookkeeping
    seed: int = 0
    out: str = "runs/swin"
    resume: bool = False
    allow_config_change: bool = False
    """Resume even though the checkpoint's config differs (the differing fields are printed)."""
    stop_after: int | None = None
    """Stop after this many epochs *in this invocation* (the schedule still spans ``epochs``); resume later."""
    max_steps_per_epoch: int | None = None
    log_every: int = 50
    """Reduce across ranks, check the loss and write a row of ``steps.csv`` every this many steps."""
    progress: bool = True
    label: str = ""
    """A line every log and figure of the run carries (presets say what they are, e.g. a short CPU schedule)."""

    def resolved_lr(self) -> float:
        return self.lr if self.lr is not None else 1e-3 * self.batch_size / 1024

    def resolved_accum_steps(self, world_size: int = 1) -> int:
        """Accumulation steps per optimiser step: ``accum_steps``, raised until each device's micro-batch
        (``batch_size / world_size / steps``) is a whole number of at most ``max_device_batch`` images."""
        per_device = self.batch_size // world_size
        steps = self.accum_steps
        while per_device % steps or (self.max_device_batch and per_device // steps > self.max_device_batch):
            steps += 1
        return steps

    def resolved_image_size(self) -> int:
        if self.image_size:
            return self.image_size
        if self.data == "task":
            from ..data.tasks import TASKS

            return TASKS[self.task].image_size if self.task in TASKS else 32
        return DEFAULT_SIZES[self.data]

    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` naming every field whose value cannot give a sensible run; return ``self``."""
        errors: list[str] = []

        def need(ok: bool, name: str, what: str) -> None:
            if not ok:
                errors.append(f"{name}={getattr(self, name)!r}: {what}")

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool)

        need(self.data in DATA_CHOICES, "data", f"choose one of {DATA_CHOICES}")
        need(self.model in registered_models(), "model", f"choose one of {registered_models()}")
        need(self.data not in ("cifar10", "folder", "shards") or bool(self.data_root), "data_root",
             f"--data {self.data} needs --data-root PATH")  # fmt: skip
        if self.data == "task":
            from ..data.tasks import task_names

            need(self.task in task_names(), "task", f"--data task needs --task, one of {task_names()}")
        need(is_int(self.task_seed) and self.task_seed >= 0, "task_seed", "must be an int >= 0")
        need(self.loader in LOADER_CHOICES, "loader", f"choose one of {LOADER_CHOICES}")
        need(is_int(self.workers) and self.workers >= 0, "workers", "must be an int >= 0")
        need(self.image_size is None or (is_int(self.image_size) and self.image_size >= 4), "image_size",
             "must be an int >= 4")  # fmt: skip
        scale = self.crop_scale
        need(len(scale) == 2 and 0 < scale[0] <= scale[1] <= 1, "crop_scale", "need 0 < low <= high <= 1")
        if self.randaugment:
            from ..data.augment import parse_randaugment

            try:
                parse_randaugment(self.randaugment)
            except ValueError as e:
                errors.append(f"randaugment={self.randaugment!r}: {e}")
        need(is_num(self.reprob) and 0 <= self.reprob <= 1, "reprob", "a probability in [0, 1]")
        need(self.drop_path is None or (is_num(self.drop_path) and 0 <= self.drop_path < 1), "drop_path",
             "must be in [0, 1)")  # fmt: skip
        need(is_int(self.epochs) and self.epochs >= 1, "epochs", "must be an int >= 1")
        need(is_int(self.batch_size) and self.batch_size >= 1, "batch_size", "must be an int >= 1")
        need(self.lr is None or (is_num(self.lr) and self.lr > 0), "lr", "must be > 0")
        need(is_num(self.warmup_epochs) and self.warmup_epochs >= 0, "warmup_epochs",
             "must be >= 0 (a warm-up longer than --epochs is clamped to the run)")  # fmt: skip
        need(is_num(self.weight_decay) and self.weight_decay >= 0, "weight_decay", "must be >= 0")
        need(is_num(self.label_smoothing) and 0 <= self.label_smoothing < 1, "label_smoothing", "must be in [0, 1)")
        need(self.clip_grad is None or (is_num(self.clip_grad) and self.clip_grad > 0), "clip_grad",
             "must be > 0 (or None for no clipping); a negative norm would not clip")  # fmt: skip
        need(is_num(self.mixup) and self.mixup >= 0, "mixup", "an alpha >= 0 (0: off)")
        need(is_num(self.cutmix) and self.cutmix >= 0, "cutmix", "an alpha >= 0 (0: off)")
        need(is_num(self.mix_switch_prob) and 0 <= self.mix_switch_prob <= 1, "mix_switch_prob", "in [0, 1]")
        need(is_int(self.mix_groups) and self.mix_groups >= 0, "mix_groups", "an int >= 0 (0: one per rank)")
        need(is_int(self.accum_steps) and self.accum_steps >= 1, "accum_steps", "must be an int >= 1")
        need(self.max_device_batch is None or (is_int(self.max_device_batch) and self.max_device_batch >= 1),
             "max_device_batch", "must be an int >= 1 (or unset: no limit)")  # fmt: skip
        need(self.lr_schedule in LR_SCHEDULES, "lr_schedule", f"choose one of {LR_SCHEDULES}")
        need(isinstance(self.finetune, str) and (self.finetune in ("full", "linear", "lora")
             or (self.finetune.startswith("last-") and self.finetune[5:].isdigit() and int(self.finetune[5:]) >= 1)),
             "finetune", "choose full, linear, last-N (N >= 1 stages) or lora")  # fmt: skip
        need(self.layer_decay is None or (is_num(self.layer_decay) and 0 < self.layer_decay <= 1), "layer_decay",
             "must be in (0, 1]")  # fmt: skip
        need(is_int(self.lora_rank) and self.lora_rank >= 0, "lora_rank", "must be an int >= 0")
        need(self.finetune != "lora" or (is_int(self.lora_rank) and self.lora_rank >= 1), "lora_rank",
             "--finetune lora needs --lora-rank >= 1")  # fmt: skip
        if is_int(self.batch_size) and is_int(self.accum_steps) and self.accum_steps >= 1:
            need(self.batch_size % self.accum_steps == 0, "batch_size",
                 f"must be divisible by accum_steps={self.accum_steps}")  # fmt: skip
        need(self.amp in AMP_CHOICES, "amp", f"choose one of {AMP_CHOICES}")
        need(self.compile in SWITCH_CHOICES, "compile", f"choose one of {SWITCH_CHOICES}")
        need(self.compile_mode in COMPILE_MODES, "compile_mode", f"choose one of {COMPILE_MODES}")
        need(self.channels_last in SWITCH_CHOICES, "channels_last", f"choose one of {SWITCH_CHOICES}")
        need(is_int(self.seed) and self.seed >= 0, "seed", "must be an int >= 0")
        need(self.stop_after is None or (is_int(self.stop_after) and self.stop_after >= 1), "stop_after", ">= 1")
        need(self.max_steps_per_epoch is None or (is_int(self.max_steps_per_epoch) and self.max_steps_per_epoch >= 1),
             "max_steps_per_epoch", "must be >= 1")  # fmt: skip
        need(is_int(self.log_every) and self.log_every >= 1, "log_every", "must be an int >= 1")
        if errors:
            raise ValueError("invalid training config:\n  " + "\n  ".join(errors))
        return self

    def plain(self) -> dict[str, Any]:
        """The config as JSON-able plain data (so a checkpoint holding it loads with ``weights_only=True``)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))


SMALL_MODEL = {k: v for k, v in model_config("small").items()
               if k in ("embed_dim", "depths", "num_heads", "window_size", "patch_size")}  # fmt: skip
"""The structure of the registered ``small`` model (``swin_viz.model``, its one home): 32 channels, 3 stages,
4x4 windows, patch 2, for 32x32 inputs."""

_DIGITS = dict(data="digits", model="small", batch_size=64, lr=2e-3, mixup=0.0, cutmix=0.0, randaugment="",
               reprob=0.0, crop_scale=(0.35, 1.0))  # fmt: skip

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "cpu-demo": dict(
        _DIGITS, epochs=3, warmup_epochs=1, drop_path=0.0,
        label="short CPU schedule: a small Swin on scikit-learn's digits, 3 epochs (not the paper's)",
    ),
    "digits-small": dict(
        _DIGITS, epochs=40, warmup_epochs=2, drop_path=0.05,
        label="small Swin trained on scikit-learn's handwritten digits (32x32), the book's checkpoint",
    ),
    "finetune": PAPER_FINETUNE,
}  # fmt: skip
"""Named configurations: ``paper`` is the default recipe (give it ``--data folder --data-root PATH``); ``cpu-demo``
is what the book runs without a GPU; ``digits-small`` made the checkpoint the book ships (``swin_viz/assets``).
The digits presets turn off what 8x8 digits cannot take (RandAugment, erasing, Mixup, crops below 35%);
``finetune`` is the paper's fine-tuning recipe (with ``--init PATH``)."""


def recipe_text(cfg: TrainConfig) -> str:
    """The recipe of a config as a few lines, as the training log prints it."""
    aug = "off"
    if cfg.augment:
        aug = (f"random-resized crop {tuple(cfg.crop_scale)}, flip if the data allows, "
               f"RandAugment {cfg.randaugment or 'off'}, random erasing {cfg.reprob}")
    return "\n".join([
        f"  optimiser: AdamW, peak lr {cfg.resolved_lr():.2e} (1e-3 x batch/1024 unless given), weight decay "
        f"{cfg.weight_decay} (not on norms, biases, bias tables), "
        + (f"{cfg.warmup_epochs} warm-up epochs then cosine" if cfg.lr_schedule == "cosine" else "constant rate"),
        f"  regularisation: label smoothing {cfg.label_smoothing}, stochastic depth "
        f"{'model default' if cfg.drop_path is None else cfg.drop_path}, clip {cfg.clip_grad}, Mixup {cfg.mixup} / "
        f"CutMix {cfg.cutmix} (switch {cfg.mix_switch_prob})",
        f"  augmentation: {aug}; evaluation: "
        + ("shorter side to size x 256/224, centre crop" if cfg.eval_crop else "resized whole to size x size"),
    ])  # fmt: skip
