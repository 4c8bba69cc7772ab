#!/usr/bin/env bash
# Build the whole book offline, every notebook executed, into _build/html.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/venv.sh" requirements.txt
cd "$root"
# The book serves its own plotly.js (no CDN): copy it from the installed package.
mkdir -p _static
cp "$(.venv/bin/python -c 'from swin_viz.viz.display import plotly_js_path; print(plotly_js_path())')" _static/
SWIN_VIZ_BOOK_BUILD=1 .venv/bin/jupyter-book build . --all -W -n --keep-going
echo "book: $root/_build/html/index.html"
