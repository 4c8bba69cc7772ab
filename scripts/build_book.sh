#!/usr/bin/env bash
# Build the whole book offline, every notebook executed, into _build/html.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/venv.sh" requirements.txt
cd "$root"
# The book serves its own plotly.js and MathJax (no CDN): copy them from installed packages into _vendor/.
.venv/bin/python scripts/book_assets.py
SWIN_VIZ_BOOK_BUILD=1 .venv/bin/jupyter-book build . --all -W -n --keep-going
echo "book: $root/_build/html/index.html"
