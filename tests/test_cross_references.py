"""Cross-references a reader follows: every "chapter N" of the book's and the labs' prose is a link to the file that
the table of contents prints as chapter N, every lab names the chapter it goes with by its real title, every "Lab N"
is a lab that exists, and every local link leads to a file.

The chapters are numbered from ``_toc.yml`` (the part with ``numbered: true``), in the order the book prints them;
nothing here knows the numbers by heart. A lab's number is its place in the course and need not be its chapter's
(lab 7 goes with chapter 8): that is why a bare "chapter 8" is not allowed to stand in for a link.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def numbered_chapters() -> dict[int, Path]:
    """``{printed number: file}`` for the numbered part of ``_toc.yml``, numbered from 1 in its order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    parts = [p for p in toc["parts"] if p.get("numbered")]
    assert len(parts) == 1, f"expected one numbered part in _toc.yml, found {len(parts)}"
    found = {}
    for n, entry in enumerate(parts[0]["chapters"], start=1):
        stem = ROOT / entry["file"]
        (path,) = [p for p in (stem.with_suffix(".ipynb"), stem.with_suffix(".md")) if p.exists()]
        found[n] = path.resolve()
    return found


CHAPTERS = numbered_chapters()
NUMBER_OF = {path: n for n, path in CHAPTERS.items()}


def markdown_cells(path: Path) -> list[str]:
    """The markdown of a page: each markdown cell of a notebook, or the whole of a ``.md`` file."""
    if path.suffix == ".md":
        return [path.read_text()]
    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def title(path: Path) -> str:
    """A page's title: its first level-1 heading."""
    for text in markdown_cells(path):
        m = re.search(r"^# (.+?)\s*$", text, flags=re.M)
        if m:
            return m.group(1)
    raise AssertionError(f"{path.relative_to(ROOT)} has no level-1 heading")


TITLES = {n: title(path) for n, path in CHAPTERS.items()}
BOOK_PAGES = sorted((ROOT / "book").glob("*.ipynb")) + sorted((ROOT / "book").glob("*.md"))
LAB_SOURCES = sorted((ROOT / "notebooks").glob("lab*.ipynb"))
STUDENT_PAGES = sorted((ROOT / "notebooks" / "student").glob("lab*.ipynb"))
PAGES = BOOK_PAGES + LAB_SOURCES + STUDENT_PAGES
LAB_FILES = {int(m.group(1)): p for p in LAB_SOURCES if (m := re.match(r"lab(\d+)_", p.name))}

# "chapter <number>" left as plain text on purpose: {(page, the exact words): why}. An entry the page no longer has
# fails too. There is none today: every reference to a chapter is a link.
BARE_ALLOWED: dict[tuple[str, str], str] = {}

LINK = re.compile(r"(?<!!)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^()\s]+)\)")
CODE_FENCE = re.compile(r"^(`{3,})(?!\{)[^\n]*\n.*?^\1\s*$", flags=re.M | re.S)  # ```python ... ```, not ```{note}
CODE_SPAN = re.compile(r"`[^`\n]+`")
CHAPTER_WORDS = re.compile(r"\bchapters?\s+(\d+)", flags=re.I)
NEIGHBOUR = re.compile(r"\b(next|previous)\s+chapter\b", flags=re.I)
LAB_WORDS = re.compile(r"\blabs?\s+(\d+)((?:\s*(?:,|and|to|or)\s*\d+)*)", flags=re.I)


@dataclass
class Link:
    page: Path
    text: str
    target: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}: [{self.text}]({self.target})"

    @property
    def local(self) -> bool:
        return not re.match(r"[a-z][a-z0-9+.-]*:|#|/", self.target)

    @property
    def file(self) -> Path:
        return (self.page.parent / self.target.split("#")[0]).resolve()


def prose(text: str) -> str:
    """Markdown without code: fenced code blocks (not MyST directives) and inline code spans."""
    return CODE_SPAN.sub("`code`", CODE_FENCE.sub("", text))


def links(page: Path) -> list[Link]:
    return [Link(page, m.group(1), m.group(2)) for text in markdown_cells(page) for m in LINK.finditer(prose(text))]


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ============================================================================================= the numbering
def test_the_numbered_part_is_the_thirteen_chapters_and_each_file_carries_its_number() -> None:
    assert len(CHAPTERS) == 13, [rel(p) for p in CHAPTERS.values()]
    for n, path in CHAPTERS.items():
        assert path.name.startswith(f"{n:02d}_"), f"chapter {n} is printed from {rel(path)}: rename it {n:02d}_..."


def test_the_index_lists_the_chapters_in_their_printed_order() -> None:
    listed = re.findall(r"^(\d+)\. \{doc\}`([\w/]+)`", (ROOT / "book" / "index.md").read_text(), flags=re.M)
    assert [int(n) for n, _ in listed] == list(CHAPTERS)
    for n, doc in listed:
        assert (ROOT / "book" / doc).with_suffix(CHAPTERS[int(n)].suffix).resolve() == CHAPTERS[int(n)], (n, doc)


# ============================================================================================ chapter links
@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_local_links_lead_to_a_file(page: Path) -> None:
    broken = [link.where for link in links(page) if link.local and not link.file.exists()]
    assert not broken, f"links to no file: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_a_link_that_says_chapter_n_leads_to_chapter_n(page: Path) -> None:
    """[chapter 8](...), and the [next chapter](...) of chapter 7, lead to the file printed as chapter 8."""
    wrong = []
    here = NUMBER_OF.get(page.resolve())
    for link in links(page):
        said = {int(n) for n in CHAPTER_WORDS.findall(link.text)}
        if link.text.strip("* ").isdigit():  # [5](05_attention_mask.ipynb) in "chapters [4](...), [5](...)"
            said = {int(link.text.strip("* "))}
        for word in NEIGHBOUR.findall(link.text):
            assert here, f"{link.where}: only a numbered chapter has a {word} chapter"
            said.add(here + (1 if word.lower() == "next" else -1))
        if not said:
            continue
        is_chapter = NUMBER_OF.get(link.file) if link.local else None
        if said != {is_chapter}:
            where = rel(link.file) if link.local else link.target
            wrong.append(f"{link.where}: says chapter {sorted(said)}, leads to {where} (chapter {is_chapter})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_no_bare_chapter_number_in_prose(page: Path) -> None:
    bare, allowed_seen = [], set()
    for text in markdown_cells(page):
        plain = LINK.sub("[link]", prose(text))
        for m in [*CHAPTER_WORDS.finditer(plain), *NEIGHBOUR.finditer(plain)]:
            if (rel(page), m.group(0)) in BARE_ALLOWED:
                allowed_seen.add((rel(page), m.group(0)))
            else:
                bare.append(plain[max(0, m.start() - 60) : m.end() + 30].replace("\n", " "))
    assert not bare, f"{rel(page)}: write each as a link to the chapter's file, [chapter N](NN_name.ipynb): {bare}"
    stale = {key for key in BARE_ALLOWED if key[0] == rel(page)} - allowed_seen
    assert not stale, f"BARE_ALLOWED lists words the page no longer has: {stale}"


# ============================================================================================ labs
GOES_WITH = re.compile(r"goes\s+with\s+(\[chapter\s+(\d+)\]\(([^)\s]+)\)),\s+\*([^*]+)\*", flags=re.I)


@pytest.mark.parametrize("lab", LAB_SOURCES + STUDENT_PAGES, ids=rel)
def test_a_lab_names_its_chapter_with_the_chapters_title(lab: Path) -> None:
    text = "\n".join(prose(t) for t in markdown_cells(lab))
    said = GOES_WITH.findall(text)
    loose = re.findall(r"goes\s+with\s.{0,60}", LINK.sub("[link]", GOES_WITH.sub("", text)), flags=re.I)
    assert not loose, f"{rel(lab)}: write 'goes with [chapter N](...), *Title*': {loose}"
    for _, n, _, quoted in said:
        assert quoted == TITLES[int(n)], f"{rel(lab)}: chapter {n} is *{TITLES[int(n)]}*, not *{quoted}*"
    # The lab labNN_topic goes with the chapter NN'_topic: the file names share the topic, not the number.
    topic = lab.stem.split("_", 1)[1]
    chapter = [n for n, path in CHAPTERS.items() if path.stem.split("_", 1)[1] == topic]
    if chapter:
        assert [int(n) for _, n, _, _ in said] == chapter, (
            f"{rel(lab)} is the lab of {rel(CHAPTERS[chapter[0]])}: it must say once that it goes with chapter "
            f"{chapter[0]}, *{TITLES[chapter[0]]}*; it says {[(int(n), t) for _, n, _, t in said]}"
        )


@pytest.mark.parametrize("lab", LAB_SOURCES + STUDENT_PAGES, ids=rel)
def test_a_labs_heading_carries_its_files_number(lab: Path) -> None:
    assert re.match(rf"Lab 0*{int(lab.name[3:5])}\b", title(lab)), f"{rel(lab)} is titled {title(lab)!r}"


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_lab_n_is_a_lab_and_a_link_to_lab_n_leads_to_it(page: Path) -> None:
    wrong = []
    for text in markdown_cells(page):
        for m in LAB_WORDS.finditer(LINK.sub(lambda k: k.group(1), prose(text))):
            numbers = [int(m.group(1)), *map(int, re.findall(r"\d+", m.group(2)))]
            wrong += [f"{m.group(0)!r}: there is no notebooks/lab{n:02d}_*" for n in numbers if n not in LAB_FILES]
        # a path named in the prose is a real lab
        for name in re.findall(r"notebooks/(lab\d+_\w+\.ipynb)", text):
            if not (ROOT / "notebooks" / name).exists():
                wrong.append(f"notebooks/{name} does not exist")
    for link in links(page):
        m = LAB_WORDS.search(link.text)
        if m and not (link.local and link.file.name.startswith(f"lab{int(m.group(1)):02d}_")):
            wrong.append(f"{link.where}: says lab {m.group(1)}, leads to {link.target}")
    assert not wrong, f"{rel(page)}: {wrong}"


@pytest.mark.parametrize("page", BOOK_PAGES, ids=rel)
def test_a_chapter_links_each_lab_it_names(page: Path) -> None:
    bare = []
    for text in markdown_cells(page):
        plain = LINK.sub("[link]", prose(text))
        bare += [m.group(0) for m in LAB_WORDS.finditer(plain)]
    assert not bare, f"{rel(page)}: link each to its page, [Lab N](../notebooks/student/labNN_name.ipynb): {bare}"


# ======================================================================================= the student pages
@pytest.mark.parametrize("source", LAB_SOURCES, ids=rel)
def test_a_student_page_has_its_sources_links(source: Path) -> None:
    """``scripts/course.py book`` writes the page one folder deeper: the same links, to the same files."""
    page = ROOT / "notebooks" / "student" / source.name
    assert page.exists(), f"{rel(page)} is missing: .venv/bin/python scripts/course.py book {source.stem}"
    mine = sorted((link.text, str(link.file)) for link in links(source) if link.local)
    shown = sorted((link.text, str(link.file)) for link in links(page) if link.local)
    assert shown == mine, f"{rel(page)} is stale: .venv/bin/python scripts/course.py book {source.stem}"
