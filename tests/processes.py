"""Running the engine in fresh processes, one or several (``torchrun`` with gloo), for the multi-process tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*argv: str, nproc: int = 1, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python ARGV`` (one process) or ``torchrun --nproc_per_node=NPROC ARGV`` (gloo on the CPU), captured.

    ``ARGV`` starts like a ``python`` command line: ``"-m", "swin_viz.train", ...`` or ``"script.py", ...``.
    """
    launch = [sys.executable]
    if nproc > 1:
        launch += ["-m", "torch.distributed.run", f"--nproc_per_node={nproc}", f"--master_port={free_port()}"]
    return subprocess.run([*launch, *argv], env=ENV, capture_output=True, text=True, timeout=timeout)
