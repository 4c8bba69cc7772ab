import torch

from swin_course import Report, compare, explain_difference


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
