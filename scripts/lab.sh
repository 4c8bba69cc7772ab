#!/usr/bin/env bash
# Open the book's notebooks live in JupyterLab: one command, from a fresh clone.
#
#   bash scripts/lab.sh                 # opens the book's chapters in your browser
#   bash scripts/lab.sh --no-browser --port 8899 --ServerApp.ip=127.0.0.1   # extra arguments go to jupyter lab
#
# Creates or reuses .venv (requirements.txt: the library, JupyterLab, ipywidgets, anywidget), registers the kernel
# "Python (swin_viz)" inside .venv (nothing outside the clone changes), and tells JupyterLab never to save widget
# state into a notebook (nor fetch JupyterLab's news: the book works offline). The notebooks ask for the kernel "python3", which JupyterLab started from .venv runs on
# the same interpreter.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
bash "$root/scripts/venv.sh" requirements.txt
if [ ! -x "$venv/bin/jupyter-lab" ]; then
  echo "[lab] $venv has no jupyter-lab; delete $venv/.installed-* and rerun" >&2
  exit 1
fi

kernel="$venv/share/jupyter/kernels/swin-viz"
if [ ! -f "$kernel/kernel.json" ]; then
  "$venv/bin/python" -m ipykernel install --sys-prefix --name swin-viz --display-name "Python (swin_viz)" >/dev/null
  echo "[lab] registered kernel 'Python (swin_viz)' in $kernel"
fi

# Live widgets carry megabytes of state (plotly.js inside every figure widget): never save it into a notebook.
settings="$venv/share/jupyter/lab/settings"
mkdir -p "$settings"
cat > "$settings/overrides.json" <<'JSON'
{
  "@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": false},
  "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}
}
JSON

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"  # the explorers' forward passes are small: one thread is fastest
cd "$root"
echo "[lab] starting JupyterLab in $root (Ctrl-C to stop)"
# Serve the clone and open the explorer gallery, unless the arguments name another folder.
defaults=(--ServerApp.root_dir="$root" --LabApp.default_url="/lab/tree/book/explorers.ipynb")
for arg in "$@"; do
  case "$arg" in --ServerApp.root_dir=*|--notebook-dir=*|--ServerApp.root_dir|--notebook-dir) defaults=() ;; esac
done
# Containers often run as root, which Jupyter refuses without being told.
[ "$(id -u)" = 0 ] && defaults+=(--allow-root)
exec "$venv/bin/jupyter-lab" "${defaults[@]}" "$@"
