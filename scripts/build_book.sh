#!/usr/bin/env bash
# Build the whole book offline, every notebook executed, into _build/html.
#   bash scripts/build_book.sh                  the public book: each lab solution collapsed under its exercise
#   bash scripts/build_book.sh --no-solutions   a course's book, no lab solution at all: _build/course/_build/html
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
extra=()
case "${1:-}" in
  "") ;;
  --no-solutions) extra=(--config "$root/_build/course/_config.yml" --path-output "$root/_build/course") ;;
  *) echo "usage: bash scripts/build_book.sh [--no-solutions]" >&2; exit 2 ;;
esac
bash "$root/scripts/venv.sh" requirements.txt
cd "$root"
# The book serves its own plotly.js and MathJax (no CDN): copy them from installed packages into _vendor/.
.venv/bin/python scripts/book_assets.py
if [[ ${#extra[@]} -gt 0 ]]; then
  .venv/bin/python scripts/book_config.py --no-solutions "$root/_build/course/_config.yml"
fi
SWIN_VIZ_BOOK_BUILD=1 .venv/bin/jupyter-book build . --all -W -n --keep-going "${extra[@]}"
if [[ ${#extra[@]} -gt 0 ]]; then
  echo "book (no solutions): $root/_build/course/_build/html/index.html"
else
  echo "book: $root/_build/html/index.html"
fi
