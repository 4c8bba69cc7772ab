"""The course's releases (scripts/course.py, Otter-Grader): what the student gets, what the book shows, and grading.

One ``release`` of every lab is made per test session (about 20 s). Grading runs ``otter run`` once per
submission (about 10 s each), so it grades two labs only: lab 4 (its solution, its stub, and a submission that hands
in the library's own functions) and the capstone's solution. nbval runs every source notebook, with its public
and hidden tests, as the solution version; Otter runs the tests in a namespace of their own, which only grading
reaches.
"""

from __future__ import annotations

import ast
import csv
import importlib.util
import re
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from swin_course import Report
from swin_course._check import NOT_WRITTEN

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("course_script", ROOT / "scripts" / "course.py")
course = importlib.util.module_from_spec(_spec)
sys.modules["course_script"] = course
_spec.loader.exec_module(course)

LABS = [p.stem for p in sorted((ROOT / "notebooks").glob("lab*.ipynb"))]

pytest.importorskip("otter", reason="the course's releases need otter-grader (requirements-test.txt)")


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("course")
    course.release([], out)
    return out


def _solution_lines(instructor: nbformat.NotebookNode) -> list[str]:
    """The lines only the solution cells hold: not blank, not a bare ``def`` or comment, in no other cell."""
    others = "\n".join(c.source for c in instructor.cells if course.SOLUTION_TAG not in c.metadata.get("tags", []))
    lines = []
    for cell in instructor.cells:
        if course.SOLUTION_TAG in cell.metadata.get("tags", []):
            for line in course._solution_code(cell).split("\n"):
                s = line.strip()
                if len(s) > 12 and not s.startswith(("def ", "#")) and s not in others:
                    lines.append(s)
    return lines


def test_every_lab_is_released(released: Path) -> None:
    assert len(LABS) == 12  # labs 2 to 10, the capstone (11), the ablation (12) and the feature pyramid (13)
    for lab in LABS:
        for kind, ext in (("student", "ipynb"), ("instructor", "ipynb"), ("autograder", "zip")):
            assert (released / kind / f"{lab}.{ext}").is_file(), (kind, lab)


@pytest.mark.parametrize("lab", LABS)
def test_student_release_has_no_solutions_and_no_hidden_tests(released: Path, lab: str) -> None:
    student = nbformat.read(released / "student" / f"{lab}.ipynb", as_version=4)
    instructor = nbformat.read(released / "instructor" / f"{lab}.ipynb", as_version=4)
    text = "\n".join(c.source for c in student.cells)
    solutions = _solution_lines(instructor)
    assert solutions, "the instructor release holds the solutions"
    leaked = [line for line in solutions if line in text]
    assert not leaked, f"solution lines in the student's notebook: {leaked[:3]}"
    assert "BEGIN SOLUTION" not in text and "test_exercise" not in text
    # Otter embeds the public tests in the metadata (for grader.check); never the hidden ones.
    tests = student.metadata.get("otter", {}).get("tests", {})
    assert tests and all("hidden=False" in t and "hidden=True" not in t for t in tests.values())
    with zipfile.ZipFile(released / "autograder" / f"{lab}.zip") as z:
        hidden = [n for n in z.namelist() if n.startswith("tests/") and "hidden=True" in z.read(n).decode()]
    functions = sum(1 for line in solutions if line.startswith("return"))
    assert hidden or not functions, "a lab with functions to write has hidden tests in its autograder"


def _check_calls(cell: nbformat.NotebookNode) -> list[str] | None:
    """The check expressions of a check cell (``check_x(...)``, maybe inside ``print``), or None if it is not one."""
    if "from swin_course." not in cell.source or "import check_" not in cell.source:
        return None
    calls = []
    for line in cell.source.split("\n"):
        m = re.fullmatch(r"print\((check_\w+\(.*\))\)|(check_\w+\(.*\))", line.strip())
        if m:
            calls.append(m.group(1) or m.group(2))
    return calls


@pytest.mark.parametrize("lab", LABS)
def test_every_stub_fails_its_check_as_not_written_yet(released: Path, lab: str) -> None:
    """Run the student's notebook as handed out, in-process: every check reports each case 'not written yet'."""
    student = nbformat.read(released / "student" / f"{lab}.ipynb", as_version=4)
    namespace: dict[str, object] = {"__name__": f"student_{lab}"}
    reports: list[Report] = []
    for cell in student.cells:
        if cell.cell_type != "code":
            continue
        calls = _check_calls(cell)
        if calls is None:
            try:  # demos after a stub call the student's function: they raise until it is written
                exec(compile(cell.source, f"<{lab}>", "exec"), namespace)
            except NotImplementedError:
                pass
            except Exception:  # a demo that needs the missing answer (e.g. None in a format string)
                pass
            continue
        imports = "\n".join(line for line in cell.source.split("\n") if line.startswith("from "))
        exec(imports, namespace)
        for call in calls:
            ast.parse(call)
            report = eval(call, namespace)
            assert isinstance(report, Report), call
            reports.append(report)
    assert reports, "the notebook has checks"
    for report in reports:
        assert not report.passed, report.exercise
        failures = [why for _, ok, why in report.results if not ok]
        assert failures and all("not written yet" in why for why in failures), str(report)
    assert any(NOT_WRITTEN in str(r) for r in reports)


@pytest.mark.parametrize("lab", LABS)
def test_book_pages_are_the_student_release_with_collapsed_solutions(released: Path, lab: str) -> None:
    student = nbformat.read(released / "student" / f"{lab}.ipynb", as_version=4)
    instructor = nbformat.read(released / "instructor" / f"{lab}.ipynb", as_version=4)
    want = course.book_page(student, instructor)
    committed = nbformat.read(ROOT / "notebooks" / "student" / f"{lab}.ipynb", as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in want.cells], (
        "notebooks/student is out of date: run `bash scripts/course.sh book`"
    )
    # Regenerating a page changes nothing that did not change: the cells Otter writes get ids from their labels.
    assert [c.id for c in committed.cells] == [c.id for c in want.cells]
    assert committed.metadata["mystnb"] == {"execution_mode": "off"}
    dropdowns = [c.source for c in committed.cells if c.source.startswith("````{solution}")]
    assert len(dropdowns) == len([c for c in instructor.cells if course.SOLUTION_TAG in c.metadata.get("tags", [])])
    assert all(":class: dropdown" in d for d in dropdowns)
    # The only solution code on the page is inside the collapsed blocks.
    outside = "\n".join(c.source for c in committed.cells if not c.source.startswith("````{solution}"))
    assert not [line for line in _solution_lines(instructor) if line in outside]


def test_grading_gives_full_marks_to_the_solution_zero_to_the_stub_and_a_csv(released: Path, tmp_path: Path) -> None:
    lab = "lab04_shifted_windows"
    subs = tmp_path / "submissions"
    subs.mkdir()
    (subs / "solution.ipynb").write_bytes((released / "instructor" / f"{lab}.ipynb").read_bytes())
    stub = nbformat.read(released / "student" / f"{lab}.ipynb", as_version=4)
    nbformat.write(stub, subs / "stub.ipynb")
    # A submission that hands in the library's own functions for exercise 1 and writes nothing else.
    for cell in stub.cells:
        if cell.source.startswith("def my_cyclic_shift"):
            cell.source = (
                "my_cyclic_shift = swin_viz.cyclic_shift\n"
                "my_reverse_cyclic_shift = swin_viz.reverse_cyclic_shift\n"
            )
    nbformat.write(stub, subs / "library.ipynb")
    # The capstone's solution: its hidden tests build a whole Swin-T, in Otter's test namespace, not the notebook's.
    capstone = "lab11_capstone"
    (subs / "capstone.ipynb").write_bytes((released / "instructor" / f"{capstone}.ipynb").read_bytes())

    out = tmp_path / "grades.csv"
    course.grade(subs, released, out)
    rows = {r["file"]: r for r in csv.DictReader(out.open())}
    assert list(next(iter(rows.values()))) == ["file", "lab", "exercise1", "exercise2", "exercise3", "exercise4",
                                              "total", "possible", "percent"]  # fmt: skip
    assert float(rows["solution.ipynb"]["total"]) == float(rows["solution.ipynb"]["possible"]) == 6
    assert float(rows["solution.ipynb"]["percent"]) == 100 and rows["solution.ipynb"]["exercise4"] == ""
    assert float(rows["stub.ipynb"]["total"]) == 0 and float(rows["stub.ipynb"]["possible"]) == 6
    assert float(rows["library.ipynb"]["exercise1"]) == 0 and float(rows["library.ipynb"]["total"]) == 0
    assert float(rows["capstone.ipynb"]["total"]) == float(rows["capstone.ipynb"]["possible"]) == 7
    assert {r["lab"] for r in rows.values()} == {lab, capstone}


@pytest.mark.parametrize("lab", LABS)
def test_jupyterlab_pages_are_the_student_release(released: Path, lab: str, tmp_path: Path) -> None:
    """``course.py lab``: what a student opens in JupyterLab (scripts/lab.sh) is the student release, no solutions,
    with Otter's assignment name (so it can be graded) and a first cell that lets Run All go past stubs."""
    (path,) = course.lab([lab], tmp_path)
    page = nbformat.read(path, as_version=4)
    student = nbformat.read(released / "student" / f"{lab}.ipynb", as_version=4)
    instructor = nbformat.read(released / "instructor" / f"{lab}.ipynb", as_version=4)
    code = [c.source for c in page.cells if c.cell_type == "code"]
    want = [c.source for c in student.cells if c.cell_type == "code"]
    assert code[0] == want[0].rstrip("\n") + course.KEEP_GOING and code[1:] == want[1:]
    assert len(page.cells) == len(student.cells)
    text = "\n".join(c.source for c in page.cells)
    assert "{solution}" not in text and not [line for line in _solution_lines(instructor) if line in text]
    assert page.metadata["otter"]["assignment_name"] == lab and "mystnb" not in page.metadata
    assert course.lab([lab], tmp_path, keep=True) == [], "--keep rewrote a page the student may have edited"


def test_a_jupyterlab_lab_runs_to_its_last_cell(tmp_path: Path) -> None:
    """Run All on lab 4 as a student first opens it (every exercise a stub), in a kernel: the demo cells that call
    an unwritten function say so in one line each, and the last check still runs."""
    from nbclient import NotebookClient

    (path,) = course.lab(["lab04"], tmp_path)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "Run All stopped before the last cell"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    said = [o.text for o in outputs if o.output_type == "stream" and "is not written yet" in o.text]
    assert said and all(t.count("\n") == 1 for t in said), said  # one line each
    assert any("my_region_labels is not written yet" in t for t in said)
    last_check = next(c for c in reversed(code) if "check_" in c.source)
    text = "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in last_check.outputs)
    assert "NOT YET" in text and text.count(NOT_WRITTEN) == 1, text  # the reason once, the cases under it
