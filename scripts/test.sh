#!/usr/bin/env bash
# Run every check: lint, the library's tests, and the notebooks (nbval). Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/venv.sh" requirements-test.txt
cd "$root"
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
