#!/usr/bin/env bash
# Open the book's chapters and the course's labs live in JupyterLab: one command, from a fresh clone.
#
#   bash scripts/lab.sh                 # opens the explorer gallery in your browser
#   bash scripts/lab.sh --reset         # first put back the repository's notebooks (your edits in _lab/ are lost)
#   bash scripts/lab.sh --no-browser --port 8899 --ServerApp.ip=127.0.0.1   # other arguments go to jupyter lab
#
# JupyterLab serves a working copy, never the clone's own notebooks (it autosaves every 2 minutes): _lab/ (ignored
# by git; SWIN_VIZ_LAB_DIR=DIR puts it elsewhere) holds book/, the chapters, and notebooks/student/, the labs as a
# student gets them (no solutions; `scripts/course.py lab`). A file already in _lab/ is kept, so your work stays
# from one session to the next; --reset (or deleting _lab/) starts again from the repository's current notebooks.
#
# Creates or reuses .venv (requirements.txt: the library, JupyterLab with the MyST renderer, ipywidgets,
# anywidget), registers the kernel "Python (swin_viz)" inside .venv (nothing outside the clone changes), and sets
# what a saved notebook keeps (scripts/lab_config.py): no widget state, each figure once, a widget's output as
# one line "run the cell to make this live". JupyterLab's news feed is off: the book works offline.
# SWIN_VIZ_LAB_NO_INSTALL=1 uses .venv as it is (a CI job or a test that installed it already).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
work="${SWIN_VIZ_LAB_DIR:-$root/_lab}"
marker=".swin-viz-lab"  # what --reset looks for before it deletes anything

reset=0
args=()
for arg in "$@"; do
  if [ "$arg" = "--reset" ]; then reset=1; else args+=("$arg"); fi
done

if [ "${SWIN_VIZ_LAB_NO_INSTALL:-0}" != 1 ]; then
  bash "$root/scripts/venv.sh" requirements.txt
fi
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

# The working copy.
if [ "$reset" = 1 ] && [ -e "$work" ]; then
  if [ ! -f "$work/$marker" ]; then
    echo "[lab] $work was not made by lab.sh (no $marker): not deleting it" >&2
    exit 1
  fi
  rm -rf "$work"
  echo "[lab] reset: $work removed"
fi
mkdir -p "$work/book" "$work/notebooks/student"
touch "$work/$marker"
for f in "$root"/book/*.ipynb "$root"/book/*.md; do
  [ -e "$work/book/$(basename "$f")" ] || cp "$f" "$work/book/"
done
"$venv/bin/python" "$root/scripts/course.py" lab --keep --out "$work/notebooks/student"

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"  # the explorers' forward passes are small: one thread is fastest
cd "$work"
echo "[lab] starting JupyterLab in $work, a working copy (bash scripts/lab.sh --reset starts it afresh; Ctrl-C stops)"
# Open the explorer gallery, unless the arguments name another folder.
defaults=(--ServerApp.root_dir="$work" --LabApp.default_url="/lab/tree/book/explorers.ipynb")
for arg in "${args[@]+"${args[@]}"}"; do
  case "$arg" in --ServerApp.root_dir=*|--notebook-dir=*|--ServerApp.root_dir|--notebook-dir) defaults=() ;; esac
done
defaults+=(--config="$root/scripts/lab_config.py")
# Containers often run as root, which Jupyter refuses without being told.
[ "$(id -u)" = 0 ] && defaults+=(--allow-root)
exec "$venv/bin/jupyter-lab" "${defaults[@]}" "${args[@]+"${args[@]}"}"
