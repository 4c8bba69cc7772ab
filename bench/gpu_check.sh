#!/usr/bin/env bash
# The GPU check (see bench/gpu_check.py). The GPU machine has torch, timm and torchvision but no network and no
# webdataset: install it from wheels carried in bench/wheels/ (made here by scripts/gpu_wheels.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d bench/wheels ]; then
  python -m pip install --quiet --no-index --find-links bench/wheels webdataset
fi
PYTHONPATH="$PWD" python bench/gpu_check.py "$@"
