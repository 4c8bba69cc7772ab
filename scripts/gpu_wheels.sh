#!/usr/bin/env bash
# Download the wheels the GPU check needs that the GPU machine lacks (Python 3.12, no network there) into
# bench/wheels/ (ignored by git; hand it to the device runner as a carried path).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip download --quiet --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 --no-deps -d bench/wheels \
  webdataset braceexpand
ls -la bench/wheels
