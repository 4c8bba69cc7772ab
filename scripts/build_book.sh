#!/usr/bin/env bash
# Build the whole book offline, every notebook executed, into _build/html.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/venv.sh" requirements.txt
cd "$root"
.venv/bin/jupyter-book build . -W -n --keep-going
echo "book: $root/_build/html/index.html"
