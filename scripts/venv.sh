#!/usr/bin/env bash
# Create or reuse .venv and install a requirements file plus this package (editable).
# Usage: scripts/venv.sh REQUIREMENTS_FILE. Re-installs only when the requirements change.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
req="$root/$1"
venv="$root/.venv"
py="${PYTHON:-$(command -v python3.11 || command -v python3)}"

if [ ! -x "$venv/bin/python" ]; then
  echo "[venv] creating $venv with $("$py" --version)"
  "$py" -m venv "$venv"
fi
stamp="$venv/.installed-$(basename "$req")"
want="$(cat "$req" "$root/requirements.txt" "$root/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[venv] installing $(basename "$req")"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  # torch first, pinned, so nothing below can pull a different (CUDA) build.
  "$venv/bin/python" -m pip install --quiet "$(grep -E '^torch==' "$root/requirements.txt")"
  "$venv/bin/python" -m pip install --quiet -r "$req"
  "$venv/bin/python" -m pip install --quiet --no-deps -e "$root"
  echo "$want" > "$stamp"
fi
