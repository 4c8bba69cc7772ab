"""The shared vocabulary of lab checks: a :class:`Report` of named checks and a tensor comparison that explains."""

from __future__ import annotations

import contextlib
import functools
import importlib
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

NOT_WRITTEN = "not written yet (NotImplementedError)"
"""What a check says about a stub: the student's function still raises ``NotImplementedError``."""

NOT_ANSWERED = "not written yet (still None or ...): replace it with your answer"
"""What a check says about a prediction the student has not made yet."""


def unanswered(value: Any) -> bool:
    """Whether a predicted value is still the stub's placeholder (``None``, ``...`` or ``NotImplemented``)."""
    return value is None or value is Ellipsis or value is NotImplemented


_C = TypeVar("_C", bound=Callable[..., Any])


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
        """The verdict, then each check; a reason shared by several failed checks is given once, with the checks
        it applies to listed under it (a stub fails every case for the same reason)."""
        lines = [f"{self.exercise}: {'PASSED' if self.passed else 'NOT YET'}"]
        cases: dict[str, list[str]] = {}  # reason -> the failed checks it explains
        for name, ok, why in self.results:
            if not ok and why:
                cases.setdefault(why, []).append(name)
        shown: set[str] = set()
        for name, ok, why in self.results:
            if ok or not why or len(cases[why]) == 1:
                lines.append(f"  [{'ok' if ok else '!!'}] {name}" + (f" -- {why}" if why and not ok else ""))
            elif why not in shown:
                shown.add(why)
                lines.append(f"  [!!] {why}, in {len(cases[why])} cases:")
                lines.extend(f"         {case}" for case in cases[why])
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


# ============================================================================== the library's reference, switched off
class ReferenceCalledError(RuntimeError):
    """Raised when a student's function calls the library's own version of the step it is asked to write."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


_FORBIDDEN: ContextVar[tuple[str, ...]] = ContextVar("_FORBIDDEN", default=())


def _resolve(dotted: str) -> tuple[Any, str, Any]:
    """``"swin_viz.windows.window_partition"`` -> (owner object, attribute name, value); the owner may be a class."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:-1]:
            owner = getattr(owner, attr)
        return owner, parts[-1], getattr(owner, parts[-1])
    raise ValueError(f"cannot resolve {dotted!r}")


def _blocked(dotted: str, called: list[str]) -> Callable[..., Any]:
    def blocked(*args: Any, **kwargs: Any) -> Any:
        called.append(dotted)  # noticed even if the student's code catches the exception
        raise ReferenceCalledError(dotted)

    return blocked


def _student_globals(fn: Any) -> list[dict[str, Any]]:
    """The global namespaces a student's function (or class, or object with a ``forward``) resolves names in."""
    found: list[dict[str, Any]] = []
    candidates = [fn, getattr(fn, "__func__", None), getattr(type(fn), "forward", None), getattr(fn, "forward", None)]
    if isinstance(fn, type):
        candidates += [v for v in vars(fn).values() if callable(v)]
    for c in list(candidates):  # and the functions a wrapper (a lambda, a partial) holds
        candidates += [v for v in _held_directly(c)[1:] if callable(v)]
    for c in candidates:
        g = getattr(c, "__globals__", None)
        if isinstance(g, dict) and all(g is not f for f in found):
            found.append(g)
    return found


def _held_directly(fn: Any) -> list[Any]:
    """What ``fn`` is or holds without a name lookup: itself, what it wraps (partial, method, decorator), and the
    values its closure captured."""
    held = [fn]
    for attr in ("__func__", "func", "__wrapped__"):
        inner = getattr(fn, attr, None)
        if inner is not None:
            held.append(inner)
    for f in list(held):
        for cell in getattr(f, "__closure__", None) or ():
            with contextlib.suppress(ValueError):  # an empty cell
                held.append(cell.cell_contents)
    return held


@contextlib.contextmanager
def reference_off(fn: Any, refs: tuple[str, ...]) -> Iterator[list[str]]:
    """While ``fn`` runs, every way it can reach the references ``refs`` raises :class:`ReferenceCalledError`.

    Each ``refs`` entry is a dotted name (``"swin_viz.windows.window_partition"``). The reference is replaced in its
    defining module, in the top-level ``swin_viz`` namespace, and under any name the student's own globals bind it
    to (``from swin_viz import window_partition as wp``); handing in the reference itself, or a closure or partial
    over it, counts as calling it. The library's internal uses are untouched: its modules
    bound their imports when they loaded, so a student may still use the rest of the library. The context yields
    the list of the references that were called.
    """
    called: list[str] = []
    saved: list[tuple[Any, str, Any, bool]] = []  # (owner, name, old value, owner is a dict)
    try:
        for dotted in refs:
            owner, name, value = _resolve(dotted)
            if any(obj is value for obj in _held_directly(fn)):  # the library's function handed in as the answer
                called.append(dotted)
            stub = _blocked(dotted, called)
            saved.append((owner, name, value, False))
            setattr(owner, name, stub)
            homes = [importlib.import_module(dotted.split(".")[0]), sys.modules.get(getattr(value, "__module__", ""))]
            for home in homes:  # the top-level namespace, and the module that defines it when re-exported
                if home is not None and home is not owner and getattr(home, name, None) is value:
                    saved.append((home, name, value, False))
                    setattr(home, name, stub)
            for g in _student_globals(fn):
                for key, v in list(g.items()):
                    if v is value:
                        saved.append((g, key, v, True))
                        g[key] = stub
        yield called
    finally:
        for owner, name, value, is_dict in reversed(saved):
            if is_dict:
                owner[name] = value
            else:
                setattr(owner, name, value)


def forbid(*refs: str) -> Callable[[_C], _C]:
    """Decorate a check: while it runs, the student's functions it calls (through :func:`run_student`,
    :func:`call_student` or :func:`compare`) cannot reach ``refs``, the library's own answer to the exercise."""

    def decorate(check: _C) -> _C:
        @functools.wraps(check)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = _FORBIDDEN.set(_FORBIDDEN.get() + refs)
            try:
                return check(*args, **kwargs)
            finally:
                _FORBIDDEN.reset(token)

        wrapper.forbidden = refs  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _why_reference(dotted: str) -> str:
    short = dotted.split(".")[-1]
    return (f"it calls {dotted}, the library's own {short}: the exercise is to write this step yourself (the check "
            f"runs your function with swin_viz's version switched off)")  # fmt: skip


def compare(report: Report, name: str, fn: Callable[..., Any], args: tuple, want: torch.Tensor) -> bool:
    """Call ``fn(*args)`` and add a check that its result equals ``want`` (an exception is an explained failure)."""
    got, why = run_student(fn, *args)
    if why:
        return report.add(name, False, why)
    why = explain_difference(got, want)
    return report.add(name, not why, why)


def run_student(fn: Callable[..., Any], *args: Any) -> tuple[Any, str]:
    """``(fn(*args), "")``, or ``(None, why)`` when the student's function raised: never stops the notebook.

    Inside a check decorated with :func:`forbid`, the library's reference for the step is switched off meanwhile.
    """
    called: list[str] = []
    try:
        with reference_off(fn, _FORBIDDEN.get()) as called:
            result = fn(*args)
    except NotImplementedError:
        return None, NOT_WRITTEN
    except ReferenceCalledError as exc:
        return None, _why_reference(exc.name)
    except Exception as exc:  # the student's code failed: say how
        if called:
            return None, _why_reference(called[0])
        return None, f"raised {type(exc).__name__}: {exc}"
    if called:  # the student's code caught the exception and went on
        return None, _why_reference(called[0])
    return result, ""


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
