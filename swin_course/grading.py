"""What the autograder's tests call: a student's function on held-out inputs, with the library's reference off.

The public tests of a lab (in the student's notebook too) run the lab's checks; the hidden tests, which only the
instructor's release holds, call :func:`agrees` on inputs the student has not seen.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ._check import NOT_WRITTEN, Report, explain_difference, forbid, run_student

__all__ = ["agrees"]


def agrees(
    fn: Callable[..., Any],
    args: tuple,
    want: Any,
    *refs: str,
    what: str = "result",
    accept: Callable[[Any], bool] | None = None,
) -> None:
    """Assert that ``fn(*args)`` equals ``want`` (a tensor to float tolerance, or a number), with the references
    ``refs`` (dotted names, e.g. ``"swin_viz.shift.cyclic_shift"``) switched off while ``fn`` runs.

    ``accept(got)``, when given, decides instead of equality (e.g. labels that give the same mask). Raises
    ``AssertionError`` with the explanation the lab's checks give (``not written yet`` for a stub).
    """

    @forbid(*refs)
    def run() -> tuple[Any, str]:
        return run_student(fn, *args)

    got, why = run()
    if not why:
        if accept is not None:
            try:
                ok = bool(accept(got))
            except Exception as exc:  # a malformed answer: say what it was
                ok, why = False, f"the {what} could not be read ({type(exc).__name__}: {exc}): got {got!r}"
            why = why or ("" if ok else f"the {what} is not right on a held-out input: got {got!r}")
        elif isinstance(want, torch.Tensor):
            why = explain_difference(got, want, what)
        elif isinstance(want, (int, float)) and not isinstance(want, bool):
            ok = isinstance(got, (int, float, torch.Tensor)) and not isinstance(got, bool)
            ok = ok and math.isclose(float(got), float(want), rel_tol=1e-6, abs_tol=1e-12)
            why = "" if ok else f"the {what} is {got!r}, expected {want!r}"
        elif got != want:
            why = f"the {what} is {got!r}, expected {want!r}"
    if why:
        report = Report(f"held-out input to {getattr(fn, '__name__', 'your function')}")
        report.add(f"{len(args)} argument(s)", False, why)
        raise AssertionError(str(report) if why != NOT_WRITTEN else f"{report.exercise}: {NOT_WRITTEN}")
