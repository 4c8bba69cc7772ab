"""Run All goes through a lab whose exercises are not all written yet.

A lab's demo cells call the student's functions (``labels = my_region_labels(8, 8, 4, 2)``). While such a function
is still the stub (``raise NotImplementedError``), the cell would stop Run All with a traceback, and the checks of
the later exercises would never run. After :func:`keep_going`, that cell says so in one line and counts as run, so
the next cells run. Any other error (and a ``NotImplementedError`` raised by a library) keeps its usual traceback
and stops Run All as before.

The JupyterLab student pages (``scripts/course.py lab``) call it in their first code cell.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["keep_going", "unwritten_message"]


def _cell_files(shell: Any) -> set[str]:
    return set(getattr(getattr(shell, "compile", None), "_filename_map", {}) or {})


def _in_a_cell(filename: str, cells: set[str]) -> bool:
    """Whether code compiled from ``filename`` was typed into the notebook (IPython names a cell's code so)."""
    return filename in cells or filename.startswith("<ipython-input-") or "/ipykernel_" in filename


def unwritten_message(tb: types.TracebackType | None, cells: frozenset[str] | set[str] = frozenset()) -> str | None:
    """The one line for a ``NotImplementedError`` whose traceback ``tb`` ends in a function defined in the
    notebook (a stub), or ``None`` when it was raised elsewhere."""
    last = None
    while tb is not None:
        last, tb = tb, tb.tb_next
    if last is None:
        return None
    code = last.tb_frame.f_code
    if code.co_name == "<module>" or not _in_a_cell(code.co_filename, set(cells)):
        return None
    return (f"{code.co_name} is not written yet (it raises NotImplementedError): this cell runs once you have "
            f"written it above; Run All goes on.")  # fmt: skip


def _handler(shell: Any, etype: type, value: BaseException, tb: types.TracebackType, tb_offset: Any = None) -> list:
    """IPython's custom exception handler (it shows what it wants; what it returns is not shown)."""
    line = unwritten_message(tb, _cell_files(shell))
    if line is None:  # not a stub of the notebook's: the usual traceback, and the cell failed
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset, running_compiled_code=True)
        return []
    print(line, file=sys.stderr)
    result = getattr(getattr(shell, "displayhook", None), "exec_result", None)
    if result is not None:  # the cell counts as run: the kernel answers "ok", and Run All goes on
        result.error_in_exec = None
    return [line]


def keep_going() -> None:
    """In IPython (a Jupyter kernel), show a stub's ``NotImplementedError`` as one line and go on; elsewhere do
    nothing."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - a lab runs in a Jupyter kernel
        return
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((NotImplementedError,), _handler)
