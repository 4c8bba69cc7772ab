"""Release the labs and grade submissions, with Otter-Grader (https://otter-grader.readthedocs.io).

One source per lab, ``notebooks/labXX_*.ipynb``, in Otter Assign's format: the questions, the stubs the student
starts from (prompts), the solutions, and public and hidden tests. From it:

``release [LAB ...] [--out DIR]``
    runs ``otter assign`` on each source and lays the releases out under ``DIR`` (default ``_course``)::

        DIR/student/labXX.ipynb          what a student gets: stubs, public checks; no solutions, no hidden tests
        DIR/instructor/labXX.ipynb       the solution notebook (stubs, then the solutions that replace them)
        DIR/autograder/labXX.zip         Otter's autograder: every test, public and hidden (also for Gradescope)

``grade SUBMISSIONS [--release DIR] [--out FILE]``
    grades every ``*.ipynb`` under ``SUBMISSIONS`` with ``otter run`` (no Docker; the lab is read from the
    notebook's metadata) and writes one CSV row per submission: ``file, lab, exercise1 ... , total, possible,
    percent``. Run ``release`` first.

``book [LAB ...]``
    writes ``notebooks/student/labXX.ipynb``, the pages the book shows: the student release with each solution
    in a collapsed block under its exercise; the book does not execute them.

``lab [LAB ...] --out DIR [--keep]``
    writes ``DIR/labXX.ipynb``, the pages a student opens in JupyterLab (``scripts/lab.sh`` serves them from
    ``_lab/notebooks/student/``): the student release, made from the book's page without its solutions, whose
    first cell lets Run All go past exercises not written yet (:func:`swin_course.notebook.keep_going`).
    ``--keep`` leaves a page that is already there (the student's work) alone. Needs no Otter.

``bash scripts/course.sh release`` and ``bash scripts/course.sh grade DIR`` run these in the project's venv.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "notebooks"
BOOK_PAGES = SOURCES / "student"
ANSWER_TAG = "otter_answer_cell"
SOLUTION_TAG = "otter_assign_solution_cell"


def sources(labs: list[str]) -> list[Path]:
    """The source notebooks, all of them or those whose name starts with one of ``labs`` (``lab04``)."""
    found = sorted(SOURCES.glob("lab*.ipynb"))
    chosen = [p for p in found if not labs or any(p.stem.startswith(lab) for lab in labs)]
    if labs and not chosen:
        raise SystemExit(f"no lab matches {labs}; the labs are {[p.stem for p in found]}")
    return chosen


def otter(*args: str) -> None:
    """Run the otter command of this Python environment; stop with its output if it fails."""
    cmd = [str(Path(sys.executable).with_name("otter")), *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _tidy_student(nb: nbformat.NotebookNode) -> None:
    """Otter leaves an empty answer cell where a solution was (its lines sat between solution markers): drop it.
    The ``# NBVAL_CHECK_OUTPUT`` markers are for the project's CI, not for students: drop them too."""
    nb.cells = [c for c in nb.cells if not (ANSWER_TAG in _tags(c) and c.cell_type == "code" and not c.source.strip())]
    for c in nb.cells:
        if c.cell_type == "code" and c.source.startswith("# NBVAL_CHECK_OUTPUT\n"):
            c.source = c.source.removeprefix("# NBVAL_CHECK_OUTPUT\n")


def release_one(src: Path, out: Path) -> dict[str, Path]:
    """``otter assign`` one source into ``out/{student,instructor,autograder}``; return the three paths."""
    name = src.stem
    with tempfile.TemporaryDirectory() as tmp:
        otter("assign", "--no-pdfs", "--no-run-tests", str(src), tmp)
        student = nbformat.read(Path(tmp, "student", src.name), as_version=4)
        _tidy_student(student)
        paths = {kind: out / kind / f"{name}{ext}" for kind, ext in
                 (("student", ".ipynb"), ("instructor", ".ipynb"), ("autograder", ".zip"))}  # fmt: skip
        for p in paths.values():
            p.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(student, paths["student"])
        shutil.copy(Path(tmp, "autograder", src.name), paths["instructor"])
        (zip_path,) = Path(tmp, "autograder").glob("*.zip")
        shutil.copy(zip_path, paths["autograder"])
    return paths


def release(labs: list[str], out: Path) -> list[dict[str, Path]]:
    made = []
    for src in sources(labs):
        made.append(release_one(src, out))
        print(f"released {src.stem}: " + ", ".join(str(p.relative_to(out)) for p in made[-1].values()))
    return made


# ================================================================================================== grading
def lab_of(path: Path) -> str:
    """The lab a submission belongs to: Otter's assignment name in the notebook's metadata."""
    meta = json.loads(path.read_text()).get("metadata", {})
    name = meta.get("otter", {}).get("assignment_name")
    if not name:
        raise ValueError(f"{path}: no otter.assignment_name in the notebook's metadata: is it a released lab?")
    return name


def grade_one(path: Path, zip_path: Path) -> dict[str, float]:
    """``otter run`` one submission; ``{exercise: score}`` plus ``total`` and ``possible``."""
    with tempfile.TemporaryDirectory() as tmp:
        otter("run", "--no-logo", "-a", str(zip_path), "-o", tmp, str(path))
        results = json.loads(Path(tmp, "results.json").read_text())
    scores: dict[str, float] = {}
    possible = 0.0
    for test in results["tests"]:
        if "max_score" not in test or test.get("max_score") is None:
            continue  # Otter's "Public Tests" summary entry
        scores[test["name"]] = float(test["score"])
        possible += float(test["max_score"])
    scores["total"] = sum(scores.values())
    scores["possible"] = possible
    return scores


def _exercise_order(name: str) -> tuple[int, str]:
    m = re.fullmatch(r"exercise(\d+)", name)
    return (int(m.group(1)), "") if m else (10**6, name)


def grade(submissions: Path, release_dir: Path, out: Path) -> list[dict[str, object]]:
    paths = sorted(p for p in submissions.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not paths:
        raise SystemExit(f"no *.ipynb under {submissions}")
    rows: list[dict[str, object]] = []
    for path in paths:
        lab = lab_of(path)
        zip_path = release_dir / "autograder" / f"{lab}.zip"
        if not zip_path.exists():
            raise SystemExit(f"{zip_path} is missing: run `bash scripts/course.sh release` first")
        scores = grade_one(path, zip_path)
        percent = 100 * scores["total"] / scores["possible"] if scores["possible"] else 0.0
        rows.append({"file": str(path.relative_to(submissions)), "lab": lab, **scores, "percent": round(percent, 1)})
        print(f"graded {path.relative_to(submissions)} ({lab}): {scores['total']:g} / {scores['possible']:g}")
    exercises = sorted({k for r in rows for k in r} - {"file", "lab", "total", "possible", "percent"},
                       key=_exercise_order)  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["file", "lab", *exercises, "total", "possible", "percent"], restval="")
        writer.writeheader()
        writer.writerows(rows)
    print(f"grades: {out}")
    return rows


# ===================================================================================================== book
def _solution_code(cell: nbformat.NotebookNode) -> str:
    lines = [ln for ln in cell.source.split("\n") if not re.fullmatch(r"\s*# (BEGIN|END) SOLUTION( NO PROMPT)?\s*", ln)]
    return "\n".join(lines).strip("\n")


MARKDOWN_LINK = re.compile(r"(\[(?:[^\[\]]|\[[^\]]*\])*\]\()([^()\s]+)\)")


def relink(markdown: str, written_in: Path, shown_in: Path) -> str:
    """``markdown`` written for a page in the folder ``written_in``, for a page in ``shown_in``: each relative link
    (``[chapter 8](../book/08_hierarchy.ipynb)``) is rewritten so that it leads to the same file from there. Links
    with a scheme (``https:``), to an anchor of the page (``#...``) or from the root (``/...``) are kept."""

    def one(m: re.Match[str]) -> str:
        target = m.group(2)
        if re.match(r"[a-z][a-z0-9+.-]*:|#|/", target):
            return m.group(0)
        path, hash_, anchor = target.partition("#")
        moved = Path(os.path.relpath(os.path.normpath(written_in / path), shown_in)).as_posix()
        return f"{m.group(1)}{moved}{hash_}{anchor})"

    return MARKDOWN_LINK.sub(one, markdown)


def book_page(student: nbformat.NotebookNode, instructor: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The book's page for a lab, from its student and instructor releases: the student's notebook, each solution in
    a collapsed block after its stub. The page lives in ``notebooks/student/``, a folder below the source: its
    relative links are rewritten to lead to the same files (:func:`relink`)."""
    student = nbformat.from_dict(student)
    solutions = [(c.cell_type, _solution_code(c)) for c in instructor.cells if SOLUTION_TAG in _tags(c)]
    markdown = "\n".join(c.source for c in student.cells if c.cell_type == "markdown")
    labels = iter(re.findall(r":label: ([\w-]+)", markdown))
    cells, k = [], 0
    for cell in student.cells:
        cells.append(cell)
        if ANSWER_TAG in _tags(cell):  # a code answer, or a written one (an Otter manual question)
            label = next(labels)
            cell.id = f"answer-{label}"  # Otter draws a new id for a written answer's cell on every release
            kind, text = solutions[k]
            body = f"```python\n{text}\n```" if kind == "code" else text
            cells.append(nbformat.v4.new_markdown_cell(f"````{{solution}} {label}\n:class: dropdown\n\n{body}\n````",
                                                       id=f"solution-{label}"))  # fmt: skip  (stable: no diff noise)
            k += 1
    if k != len(solutions):
        raise ValueError(f"{len(solutions)} solutions for {k} answer cells")
    for cell in cells:
        if cell.cell_type == "markdown":
            cell.source = relink(cell.source, SOURCES, BOOK_PAGES)
    student.cells = cells
    student.metadata.pop("otter", None)  # the public tests live in the course package's checks
    student.metadata["mystnb"] = {"execution_mode": "off"}  # the stubs would stop the build; the page shows code
    return student


KEEP_GOING = ("\n\nfrom swin_course.notebook import keep_going\n\n"
              "keep_going()  # a cell that needs a function you have not written yet says so; Run All goes on")


def lab_page(page: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The page a student opens in JupyterLab, from the book's page of lab ``name`` (:func:`book_page`): the student
    release again (each solution block removed; Otter's assignment name back in the metadata, so that
    ``course.py grade`` knows the lab), and its first code cell calls :func:`swin_course.notebook.keep_going`.
    Its relative links are those of the book's page: it is meant for a folder ``notebooks/student/`` too."""
    nb = nbformat.from_dict(page)
    nb.cells = [c for c in nb.cells if not (c.cell_type == "markdown" and c.source.startswith("````{solution}"))]
    if any("{solution}" in c.source for c in nb.cells if c.cell_type == "markdown"):
        raise ValueError(f"{name}: a solution block is left in the student's page")
    first = next(c for c in nb.cells if c.cell_type == "code")
    first.source = first.source.rstrip("\n") + KEEP_GOING
    nb.metadata.pop("mystnb", None)  # the book's setting; in JupyterLab the student runs the page
    nb.metadata["otter"] = {"assignment_name": name}
    return nb


def lab(labs: list[str], out: Path, keep: bool = False) -> list[Path]:
    """Write the JupyterLab pages (:func:`lab_page`) of ``labs`` (default: all) to ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sources(labs):
        path = out / src.name
        if keep and path.exists():
            continue
        page = nbformat.read(BOOK_PAGES / src.name, as_version=4)
        nbformat.write(lab_page(page, src.stem), path)
        written.append(path)
    return written


def book(labs: list[str]) -> None:
    BOOK_PAGES.mkdir(exist_ok=True)
    for src in sources(labs):
        with tempfile.TemporaryDirectory() as tmp:
            paths = release_one(src, Path(tmp))
            page = book_page(nbformat.read(paths["student"], as_version=4), nbformat.read(paths["instructor"], 4))
        nbformat.write(page, BOOK_PAGES / src.name)
        print(f"book page: {(BOOK_PAGES / src.name).relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("release", help="student, instructor and autograder releases of the labs")
    p.add_argument("labs", nargs="*", help="lab name prefixes (default: all)")
    p.add_argument("--out", type=Path, default=ROOT / "_course")
    p = sub.add_parser("grade", help="grade a folder of submitted notebooks to a CSV")
    p.add_argument("submissions", type=Path)
    p.add_argument("--release", type=Path, default=ROOT / "_course")
    p.add_argument("--out", type=Path, default=None, help="CSV path (default: RELEASE/grades.csv)")
    p = sub.add_parser("book", help="the book's lab pages (student version, solutions collapsed)")
    p.add_argument("labs", nargs="*")
    p = sub.add_parser("lab", help="the pages a student opens in JupyterLab (student release, no solutions)")
    p.add_argument("labs", nargs="*")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--keep", action="store_true", help="leave pages that are already there alone")
    args = parser.parse_args(argv)
    if args.command == "release":
        release(args.labs, args.out)
    elif args.command == "grade":
        grade(args.submissions, args.release, args.out or args.release / "grades.csv")
    elif args.command == "lab":
        lab(args.labs, args.out, args.keep)
    else:
        book(args.labs)


if __name__ == "__main__":
    main()
