"""A course's book build without solutions: ``bash scripts/build_book.sh --no-solutions``.

The flag writes a configuration with ``scripts/book_config.py`` and builds with it. Here the script runs in a fresh
process, and a one-page book with a lab-style exercise and solution is built twice with ``jupyter-book``: with the
``sphinx`` section of the shipped ``_config.yml`` (the solution is on the page, collapsed) and with the one the
script wrote (no solution). The full book build is the lead's (it executes every notebook).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
SECRET = "the-answer-is-forty-two"


def write_course_config(tmp_path: Path) -> dict:
    out = tmp_path / "course" / "_config.yml"
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "book_config.py"), "--no-solutions", str(out)],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return yaml.safe_load(out.read_text())


def test_the_course_config_is_the_book_without_solutions(tmp_path: Path) -> None:
    shipped = yaml.safe_load((ROOT / "_config.yml").read_text())
    course = write_course_config(tmp_path)
    assert course["sphinx"]["config"].pop("hide_solutions") is True
    assert "hide_solutions" not in shipped["sphinx"]["config"]  # the default build keeps the solutions
    for name, path in course["sphinx"].pop("local_extensions").items():
        assert Path(path).is_absolute() and Path(path) == (ROOT / shipped["sphinx"]["local_extensions"][name]).resolve()
    shipped["sphinx"].pop("local_extensions")
    assert course == shipped  # nothing else differs
    build_sh = (ROOT / "scripts" / "build_book.sh").read_text()
    assert "--no-solutions" in build_sh and "scripts/book_config.py --no-solutions" in build_sh


def build_lab_page(tmp_path: Path, sphinx: dict) -> str:
    book = tmp_path / "book"
    book.mkdir(parents=True)
    config = {"title": "t", "execute": {"execute_notebooks": "off"},
              "sphinx": {"extra_extensions": sphinx["extra_extensions"], "config": {
                  k: v for k, v in sphinx["config"].items() if k == "hide_solutions"}}}  # fmt: skip
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n- file: lab\n")
    (book / "intro.md").write_text("# Intro\n")
    nb = nbformat.v4.new_notebook()
    exercise = "# Lab\n\n```{exercise-start}\n:label: ex1\n:nonumber:\n```\nWrite it.\n```{exercise-end}\n```"
    solution = f"````{{solution}} ex1\n:class: dropdown\n\n{SECRET}\n````"
    nb.cells = [nbformat.v4.new_markdown_cell(exercise), nbformat.v4.new_markdown_cell(solution)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, book / "lab.ipynb")
    jb = Path(sys.executable).with_name("jupyter-book")
    run = subprocess.run([str(jb), "build", str(book)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return (book / "_build" / "html" / "lab.html").read_text()


def test_the_course_build_has_no_solution_and_the_default_build_has_it(tmp_path: Path) -> None:
    shipped = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]
    assert SECRET in build_lab_page(tmp_path / "default", shipped)
    page = build_lab_page(tmp_path / "course", write_course_config(tmp_path)["sphinx"])
    assert SECRET not in page and "Write it." in page
