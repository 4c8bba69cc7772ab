"""Where a run executes: processes and devices, randomness per rank, and the device's peak for MFU.

Launched by ``torchrun`` (or by a plain ``srun``: SLURM's variables stand in for torchrun's), a run joins the
process group (NCCL on CUDA, gloo on CPU). Randomness is split in two:

* the *data order* is a function of ``(seed, epoch)`` only, the same on every rank (the loaders see to it), and
  so are each image's crop and RandAugment draws, seeded by ``(seed, epoch, index)`` wherever the image lands;
* everything drawn during a step (stochastic depth, dropout, random erasing, Mixup) comes from streams seeded by
  ``(seed, rank)``, so ranks do not draw the same stochastic-depth masks or the same erasing boxes.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["PEAK_TFLOPS", "Runtime", "first_host", "peak_tflops", "process_env", "rank_seed", "setup_runtime"]


@dataclass
class Runtime:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (itself when not distributed)."""
        if not self.distributed:
            return obj
        box = [obj if self.main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def all_reduce(self, t: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            dist.all_reduce(t)
        return t


def first_host(nodelist: str) -> str | None:
    """The first host of a SLURM node list when it is simple: ``node7``, ``node[03-05,9]`` -> ``node03``,
    ``a,b`` -> ``a``; ``None`` for anything else (several bracket groups, nested ranges)."""
    head = nodelist.split(",")[0] if "[" not in nodelist else nodelist
    m = re.fullmatch(r"([\w.-]+)\[(\d+)[-,\d]*\]", head)
    if m:
        return m.group(1) + m.group(2)
    return head if re.fullmatch(r"[\w.-]+", head) else None


def process_env(environ: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` of this process: ``torchrun``'s variables (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``), else SLURM's when launched by a plain ``srun`` (``SLURM_PROCID``, ``SLURM_NTASKS``,
    ``SLURM_LOCALID``), else one process.

    Under SLURM, ``MASTER_ADDR`` (for ``init_process_group``) defaults to the first host of ``SLURM_JOB_NODELIST``
    when the list is simple, and ``MASTER_PORT`` to 29500 + the job id mod 10000; both are written to
    ``environ``. A node list this cannot read raises ``ValueError`` asking for ``MASTER_ADDR``.
    """
    env = os.environ if environ is None else environ
    if "RANK" in env or "SLURM_PROCID" not in env:
        return int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1")), int(env.get("LOCAL_RANK", "0"))
    rank, world, local = int(env["SLURM_PROCID"]), int(env.get("SLURM_NTASKS", "1")), int(env.get("SLURM_LOCALID", "0"))
    if world > 1:
        if "MASTER_ADDR" not in env:
            nodelist = env.get("SLURM_JOB_NODELIST", env.get("SLURM_NODELIST", ""))
            host = first_host(nodelist)
            if host is None:
                raise ValueError(f"launched by srun with {world} tasks, but MASTER_ADDR is not set and the node "
                                 f"list {nodelist!r} is not simple: export MASTER_ADDR=$(scontrol show hostnames "
                                 f"\"$SLURM_JOB_NODELIST\" | head -n 1) or use scripts/slurm_train.sbatch")  # fmt: skip
            env["MASTER_ADDR"] = host
        env.setdefault("MASTER_PORT", str(29500 + int(env.get("SLURM_JOB_ID", "0")) % 10000))
        env.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(local))
    return rank, world, local


def setup_runtime(device: str = "auto") -> Runtime:
    """Join the process group when launched by ``torchrun`` or by ``srun`` with several tasks (NCCL on CUDA, gloo on
    CPU; :func:`process_env`); pick the device (``cuda:LOCAL_RANK``)."""
    rank, world_size, local_rank = process_env()
    if device == "auto":
        dev = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    else:
        dev = torch.device(device)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device(f"cuda:{local_rank}")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Runtime(rank, world_size, local_rank, dev)


def rank_seed(seed: int, rank: int, epoch: int = 0) -> int:
    """The seed of a rank's per-step randomness: distinct for every ``(seed, rank)`` (and ``epoch``, for a run
    resumed on another number of processes, whose saved per-rank streams cannot be handed out one to one)."""
    parts = [int(seed), int(rank), 0x5717] + ([int(epoch)] if epoch else [])
    return int(np.random.SeedSequence(parts).generate_state(1)[0])


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state(device: torch.device | str | None = None) -> dict[str, Any]:
    """This process's global random states (torch CPU, numpy, Python, and the CUDA generator of ``device`` only,
    the one this rank draws from), as plain data. Saving one device's state, not every visible GPU's, lets a run
    resume under another ``CUDA_VISIBLE_DEVICES`` layout."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "numpy": np_state[1].tolist(),
                             "numpy_pos": int(np_state[2]), "python": repr(random.getstate())}  # fmt: skip
    if device is not None and torch.device(device).type == "cuda":
        state["cuda_device"] = torch.cuda.get_rng_state(torch.device(device))
    return state


def set_rng_state(state: dict[str, Any], device: torch.device | str | None = None) -> None:
    """Restore :func:`rng_state`'s output; its CUDA state goes to ``device`` (this rank's)."""
    import ast

    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", np.array(state["numpy"], dtype=np.uint32), state["numpy_pos"], 0, 0.0))
    random.setstate(ast.literal_eval(state["python"]))
    if device is not None and torch.device(device).type == "cuda" and "cuda_device" in state:
        torch.cuda.set_rng_state(state["cuda_device"], torch.device(device))


PEAK_TFLOPS: tuple[tuple[str, float, str], ...] = (
    # (substring of torch.cuda.get_device_name(), dense bf16 TFLOP/s, note); the first match wins, so the more
    # specific names come first. Vendors' data sheets, without sparsity.
    ("H100 PCIe", 756.0, ""),
    ("H100 NVL", 835.0, ""),
    ("H100", 989.0, "H100 SXM"),
    ("H200 NVL", 835.0, ""),
    ("H200", 989.0, ""),
    ("A100", 312.0, ""),
    ("L4", 121.0, ""),
    ("RTX 4090", 165.0, "bf16 with fp32 accumulate"),
    ("V100", 125.0, "V100 has no bf16 tensor cores: fp16 peak"),
)


def peak_tflops(device: torch.device | str, override: float | None = None) -> tuple[float | None, str]:
    """The device's peak dense bf16 TFLOP/s and where the figure came from; ``None`` when unknown (CPUs)."""
    if override is not None:
        return override, "given"
    device = torch.device(device)
    if device.type != "cuda":
        return None, f"no peak known for {device.type}"
    name = torch.cuda.get_device_name(device)
    for key, tflops, note in PEAK_TFLOPS:
        if key.lower() in name.lower():
            return tflops, f"table entry {key!r}" + (f", {note}" if note else "")
    return None, f"{name!r} is not in the table"
