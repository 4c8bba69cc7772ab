import functools

import torch

import swin_viz
import swin_viz.windows
from swin_course import Report, compare, explain_difference
from swin_course._check import forbid, run_student
from swin_course.grading import agrees


def test_explanations_name_the_mistake() -> None:
    want = torch.arange(24.0).reshape(2, 3, 4)
    assert explain_difference(want.clone(), want) == ""
    assert "shape (3, 2, 4)" in explain_difference(want.transpose(0, 1), want)
    assert "a reshape or permute is off" in explain_difference(want.reshape(4, 6), want)
    assert "wrong places" in explain_difference(want.flip(0), want)
    assert "opposite sign" in explain_difference(-want, want)
    assert "None" in explain_difference(None, want)
    assert "differs" in explain_difference(want + 1, want)


def test_report_collects_and_prints() -> None:
    report = Report("exercise 1")

    def not_written(x):
        raise NotImplementedError

    compare(report, "identity", lambda x: x, (torch.ones(2),), torch.ones(2))
    compare(report, "stub", not_written, (torch.ones(2),), torch.ones(2))
    compare(report, "crash", lambda x: x.reshape(3, 5), (torch.ones(2),), torch.ones(2))
    text = str(report)
    assert not report.passed and "NOT YET" in text and "not written yet" in text and "raised RuntimeError" in text
    assert Report("empty").passed is False


def test_student_calls_and_rng_isolation() -> None:
    from swin_course._check import call_student, own_rng, run_student

    assert run_student(lambda x: x + 1, 1) == (2, "")
    assert run_student(lambda: 1 / 0)[1] == "raised ZeroDivisionError: division by zero"
    report = Report("calls")
    assert call_student(report, "ok", lambda: 3) == (True, 3)
    assert call_student(report, "bad", lambda: [][0]) == (False, None) and "IndexError" in str(report)

    @own_rng
    def check() -> Report:
        torch.rand(5)
        return Report("rng")

    torch.manual_seed(1)
    before = torch.rand(3)
    torch.manual_seed(1)
    check()
    assert torch.equal(torch.rand(3), before)


# ------------------------------------------------------------------------------ the library's reference switched off

wp_alias = swin_viz.window_partition  # a name in the "student's" globals bound to the reference


def _own_partition(x, M):
    B, H, W, C = x.shape
    return x.view(B, H // M, M, W // M, M, C).permute(0, 1, 3, 2, 4, 5).reshape(-1, M, M, C)


@forbid("swin_viz.windows.window_partition")
def _checked(fn, x):
    return run_student(fn, x, 4)


def test_every_route_to_the_reference_is_refused() -> None:
    x = torch.randn(2, 8, 12, 3)
    assert _checked(_own_partition, x)[1] == ""
    routes = {
        "attribute": lambda x, M: swin_viz.window_partition(x, M),
        "module attribute": lambda x, M: swin_viz.windows.window_partition(x, M),
        "alias in globals": lambda x, M: wp_alias(x, M),
        "handed in": swin_viz.window_partition,
        "partial": functools.partial(swin_viz.window_partition),
    }
    for route, fn in routes.items():
        got, why = _checked(fn, x)
        assert got is None and "swin_viz.windows.window_partition" in why and "switched off" in why, route

    def swallows(x, M):  # catching the refusal does not help: the call is recorded
        try:
            return swin_viz.window_partition(x, M)
        except Exception:
            return _own_partition(x, M)

    assert "switched off" in _checked(swallows, x)[1]
    # Only while the student's code runs: afterwards the library is whole again, and its internal uses never break.
    assert swin_viz.window_partition is wp_alias and swin_viz.windows.window_partition is wp_alias
    assert _checked(lambda x, M: swin_viz.shifted_window_mask(8, 12, M, 2), x)[1] == ""  # uses window_partition


def test_agrees_explains_held_out_failures() -> None:
    x = torch.randn(1, 8, 8, 2)
    agrees(_own_partition, (x, 4), swin_viz.window_partition(x, 4), "swin_viz.windows.window_partition")
    def stub(x, M):
        raise NotImplementedError

    for fn, words in [(lambda x, M: swin_viz.window_partition(x, M), "switched off"), (lambda x, M: x, "shape"),
                      (stub, "not written yet")]:  # fmt: skip
        try:
            agrees(fn, (x, 4), swin_viz.window_partition(x, 4), "swin_viz.windows.window_partition")
        except AssertionError as exc:
            assert words in str(exc), str(exc)
        else:
            raise AssertionError(f"{words}: accepted")


def test_a_reason_shared_by_several_cases_is_printed_once() -> None:
    report = Report("exercise 2")
    report.add("8 x 8", False, "not written yet (NotImplementedError)")
    report.add("integers", True)
    report.add("12 x 20", False, "not written yet (NotImplementedError)")
    report.add("6 x 9", False, "the result has shape (3,)")
    lines = str(report).split("\n")
    assert str(report).count("not written yet") == 1, str(report)
    at = next(i for i, line in enumerate(lines) if "not written yet" in line)
    assert "2 cases" in lines[at] and lines[at + 1].strip() == "8 x 8" and lines[at + 2].strip() == "12 x 20"
    assert "  [ok] integers" in lines and "  [!!] 6 x 9 -- the result has shape (3,)" in lines
