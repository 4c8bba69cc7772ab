"""The shared vocabulary of lab checks: a :class:`Report` of named checks and a tensor comparison that explains."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch


@dataclass
class Report:
    """The outcome of one exercise's checks; printing it shows each check with its reason."""

    exercise: str
    results: list[tuple[str, bool, str]] = field(default_factory=list)

    def add(self, name: str, ok: bool, why: str = "") -> bool:
        self.results.append((name, bool(ok), why))
        return bool(ok)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(ok for _, ok, _ in self.results)

    def __str__(self) -> str:
        lines = [f"{self.exercise}: {'PASSED' if self.passed else 'NOT YET'}"]
        for name, ok, why in self.results:
            lines.append(f"  [{'ok' if ok else '!!'}] {name}" + (f" -- {why}" if why and not ok else ""))
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython shows the text, not the dataclass
        p.text(str(self))


def explain_difference(got: Any, want: torch.Tensor, what: str = "result") -> str:
    """Empty string when ``got`` equals ``want`` (to float tolerance), else the most useful explanation."""
    if got is None:
        return f"the {what} is None: did the function return its value?"
    if not isinstance(got, torch.Tensor):
        return f"the {what} should be a torch.Tensor, got {type(got).__name__}"
    if tuple(got.shape) != tuple(want.shape):
        same_numel = got.numel() == want.numel()
        hint = " (same number of elements: a reshape or permute is off)" if same_numel else ""
        return f"the {what} has shape {tuple(got.shape)}, expected {tuple(want.shape)}{hint}"
    g, w = got.detach().double(), want.detach().double()
    if torch.allclose(g, w, atol=1e-5, rtol=1e-4):
        return ""
    if torch.allclose(g.flatten().sort().values, w.flatten().sort().values, atol=1e-5, rtol=1e-4):
        return f"the {what} holds the right numbers in the wrong places: check the order of your permute/reshape"
    if torch.allclose(g, -w, atol=1e-5, rtol=1e-4):
        return f"the {what} has the opposite sign: check the direction (e.g. roll by -s, not +s)"
    diff = (g - w).abs()
    where = tuple(int(i) for i in torch.nonzero(diff == diff.max())[0])
    return f"the {what} differs from swin_viz's by up to {diff.max().item():.3g} (first at index {where})"


def compare(report: Report, name: str, fn: Callable[..., Any], args: tuple, want: torch.Tensor) -> bool:
    """Call ``fn(*args)`` and add a check that its result equals ``want`` (an exception is an explained failure)."""
    try:
        got = fn(*args)
    except NotImplementedError:
        return report.add(name, False, "not written yet (NotImplementedError)")
    except Exception as exc:  # the student's code failed: say how, do not stop the notebook
        return report.add(name, False, f"raised {type(exc).__name__}: {exc}")
    why = explain_difference(got, want)
    return report.add(name, not why, why)


def run_student(fn: Callable[..., Any], *args: Any) -> tuple[Any, str]:
    """``(fn(*args), "")``, or ``(None, why)`` when the student's function raised: never stops the notebook."""
    try:
        return fn(*args), ""
    except NotImplementedError:
        return None, "not written yet (NotImplementedError)"
    except Exception as exc:  # the student's code failed: say how
        return None, f"raised {type(exc).__name__}: {exc}"


def call_student(report: Report, name: str, fn: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
    """``(True, fn(*args))``, or ``(False, None)`` after adding the explained failure to ``report``."""
    result, why = run_student(fn, *args)
    if why:
        report.add(name, False, why)
        return False, None
    return True, result


_F = TypeVar("_F", bound=Callable[..., Report])


def own_rng(check: _F) -> _F:
    """Run a check (and the student's code inside it) on a forked, seeded RNG: checking never moves the global seed."""

    @functools.wraps(check)
    def wrapper(*args: Any, **kwargs: Any) -> Report:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return check(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
