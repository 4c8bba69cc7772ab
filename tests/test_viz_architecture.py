"""The architecture figure (the book's spine): sizes and channels from the model, the lit part, the links, and the
cell that opens every chapter."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest
import torch
import yaml

import swin_viz
from swin_viz.viz import architecture as arch

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"


def parts_of(svg: str) -> dict[str, ET.Element]:
    """``{data-part: <a> element}`` of an SVG string (which must be well-formed XML)."""
    root = ET.fromstring(svg)
    return {a.get("data-part"): a for a in root.iter(f"{SVG}a")}


def text_of(a: ET.Element) -> list[str]:
    return [t.text for t in a.iter(f"{SVG}text")]


def lit(svg: str) -> set[str]:
    return {name for name, a in parts_of(svg).items() if "swin-arch-lit" in a.get("class", "").split()}


def stage_labels(svg: str) -> list[str]:
    parts = parts_of(svg)
    return [text_of(parts[f"stage{i}.map"])[0] for i in range(1, 10) if f"stage{i}.map" in parts]


def test_chapters_are_the_toc() -> None:
    """The library's chapter list is the numbered part of _toc.yml, in order, with each chapter's own title."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    (numbered,) = [p for p in toc["parts"] if p.get("numbered")]
    stems = [Path(entry["file"]).name for entry in numbered["chapters"]]
    assert list(arch.CHAPTERS) == stems
    for stem, title in arch.CHAPTERS.items():
        nb = nbformat.read(ROOT / "book" / f"{stem}.ipynb", as_version=4)
        assert nb.cells[0].source.splitlines()[0] == f"# {title}", stem
    assert arch.chapter_number("07_block") == 7


def test_every_chapter_has_a_part() -> None:
    assert set(arch.PART_CHAPTERS.values()) == set(arch.CHAPTERS)
    svg = arch.architecture_svg("swin_t")
    assert {a.get("data-chapter") for a in parts_of(svg).values()} == set(arch.CHAPTERS)
    for chapter in arch.CHAPTERS:
        assert lit(arch.architecture_svg("swin_t", here=chapter)), chapter


def test_swin_t_sizes_and_channels() -> None:
    """The paper's Table 1 / Fig. 3a for Swin-T at 224: H/4 x W/4 x C, ..., H/32 x W/32 x 8C with C = 96."""
    svg = arch.architecture_svg("swin_t", 224)
    assert stage_labels(svg) == ["Stage 1: 56×56×96", "Stage 2: 28×28×192", "Stage 3: 14×14×384", "Stage 4: 7×7×768"]
    parts = parts_of(svg)
    assert text_of(parts["partition.map"]) == ["56×56×48", "H/4×W/4×48"]
    assert text_of(parts["stage4.map"])[1] == "H/32×W/32×8C"
    assert [text_of(parts[f"stage{i}.blocks"])[1] for i in range(1, 5)] == ["×2", "×2", "×6", "×2"]
    assert text_of(parts["stage3.blocks"])[2] == "12 heads, M=7"
    assert "stage1.embedding" in parts and "stage1.merging" not in parts
    assert all(f"stage{i}.merging" in parts for i in (2, 3, 4))
    assert text_of(parts["head.classifier"]) == ["Linear", "→ 1000"]
    assert "4.49 G MACs" in svg  # the paper's 4.5G


def test_swin_b_at_384() -> None:
    svg = arch.architecture_svg("swin_b", 384)
    assert stage_labels(svg) == [
        "Stage 1: 96×96×128", "Stage 2: 48×48×256", "Stage 3: 24×24×512", "Stage 4: 12×12×1024",
    ]  # fmt: skip
    assert text_of(parts_of(svg)["stage3.blocks"])[1] == "×18"
    assert "384×384×3" in text_of(parts_of(svg)["input"])


def test_small_model_any_configuration() -> None:
    """A two-stage model on a non-square image: every label follows its geometry, including odd sides."""
    with torch.device("meta"):
        model = swin_viz.SwinTransformer(embed_dim=16, depths=(1, 3), num_heads=(2, 4), window_size=4, num_classes=10)
    svg = arch.architecture_svg(model, 40, 56)
    assert stage_labels(svg) == ["Stage 1: 10×14×16", "Stage 2: 5×7×32"]
    parts = parts_of(svg)
    assert "stage3.map" not in parts and text_of(parts["stage2.blocks"])[1] == "×3"
    assert text_of(parts["head.classifier"]) == ["Linear", "→ 10"] and "40×56×3" in text_of(parts["input"])
    assert text_of(parts["stage2.map"])[1] == "H/8×W/8×2C"


def test_lit_parts() -> None:
    assert lit(arch.architecture_svg("swin_t")) == set()
    assert lit(arch.architecture_svg("swin_t", here="05_attention_mask")) == {"block1.mask"}
    assert lit(arch.architecture_svg("swin_t", here="10_where_swin_looks")) == {"block0.probs", "block1.probs"}
    assert lit(arch.architecture_svg("swin_t", here="02_patches")) == {"partition", "partition.map", "stage1.embedding"}
    assert lit(arch.architecture_svg("swin_t", here="08_hierarchy")) == {
        "stage2.merging", "stage3.merging", "stage4.merging",
        "stage1.map", "stage2.map", "stage3.map", "stage4.map",
    }  # fmt: skip
    block = lit(arch.architecture_svg("swin_t", here="07_block"))
    assert {"stage1.blocks", "block0.norm1", "block1.mlp", "block1.residual2"} <= block
    assert not any("msa" in name for name in block)
    small = arch.architecture_svg("swin_t", here="07_block", small=True)
    assert "You are here: chapter 7, The Swin block and window attention" in small
    assert "max-width:min(100%, 820px)" in small


def test_links() -> None:
    """Each part is a relative link to its chapter's page; in the book build, .html; in Jupyter, .ipynb."""
    svg = arch.architecture_svg("swin_t", suffix=".html")
    for a in parts_of(svg).values():
        href, chapter = a.get("href"), a.get("data-chapter")
        assert chapter == arch.PART_CHAPTERS[a.get("data-kind")] and href == chapter + ".html"
        assert re.fullmatch(r"\d\d_[a-z_]+\.html", href), href
        assert a.find(f"{SVG}title").text.startswith(f"Chapter {arch.chapter_number(a.get('data-chapter'))}: ")
    hrefs = {a.get("href") for a in parts_of(svg).values()}
    assert hrefs == {f"{stem}.html" for stem in arch.CHAPTERS}
    assert "<script" not in svg and "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert " id=" not in svg  # several figures share a page: no element ids to collide


def test_link_suffix_follows_the_build() -> None:
    """In the book build (SWIN_VIZ_BOOK_BUILD=1) the parts link to .html pages, in Jupyter to the .ipynb files."""
    code = (
        "import os\n"
        "from swin_viz.viz.architecture import architecture_svg\n"
        "for value in ('1', ''):\n"
        "    os.environ['SWIN_VIZ_BOOK_BUILD'] = value\n"
        "    svg = architecture_svg('swin_t')\n"
        "    print(svg.count('.html\"'), svg.count('.ipynb\"'))\n"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    (html_build, html_ipynb), (jupyter_html, jupyter_ipynb) = (
        map(int, line.split()) for line in done.stdout.split("\n")[:2]
    )
    assert html_build > 0 and html_ipynb == 0 and jupyter_html == 0 and jupyter_ipynb == html_build


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="here='13_extra' is not a chapter"):
        arch.architecture_svg("swin_t", here="13_extra")
    with pytest.raises(ValueError, match="here='appendix' is not a chapter"):
        arch.you_are_here("appendix")
    with pytest.raises(ValueError, match="unknown chapter"):
        arch.chapter_number("appendix")
    with pytest.raises(TypeError, match="SwinTransformer or a model name"):
        arch.architecture_svg(torch.nn.Linear(2, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="multiple of patch_size"):
        arch.architecture_svg("swin_t", 226)


@pytest.mark.parametrize("stem", list(arch.CHAPTERS))
def test_every_chapter_opens_with_its_figure(stem: str) -> None:
    """The cell after the title: one call, input hidden, that draws the figure with this chapter lit."""
    nb = nbformat.read(ROOT / "book" / f"{stem}.ipynb", as_version=4)
    cell = nb.cells[1]
    assert cell.cell_type == "code" and "remove-input" in cell.metadata.get("tags", [])
    tree = ast.parse(cell.source)
    *setup, last = tree.body
    assert isinstance(last, ast.Expr) and len(cell.source.splitlines()) <= 3
    namespace: dict[str, object] = {}
    exec(compile(ast.Module(setup, []), stem, "exec"), namespace)
    figure = eval(compile(ast.Expression(last.value), stem, "eval"), namespace)
    html = figure._repr_html_()
    assert figure.svg in html and lit(figure.svg)
    assert all(a.get("data-chapter") == stem for name, a in parts_of(figure.svg).items() if name in lit(figure.svg))


def test_caption_points_to_the_one_cell_swin() -> None:
    """Each chapter's figure says which lines of "Swin in one cell" it unfolds; those tags are in that cell."""
    assert set(arch.UNFOLDS) == set(arch.CHAPTERS) - {arch.ONE_CELL}
    nb = nbformat.read(ROOT / "book" / f"{arch.ONE_CELL}.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and c.source.lstrip().startswith("import torch.nn")]
    tags = {int(t) for line in cell.source.splitlines() for t in re.findall(r"\[(\d+)\]", line.partition("#")[2])}
    for chapter, text in arch.UNFOLDS.items():
        n = arch.chapter_number(chapter)
        assert (f"[{n}]" in text) == (n in tags), chapter
    html = arch.you_are_here("06_relative_position")._repr_html_()
    assert "lines marked [6]" in html and f'href="{arch.ONE_CELL}{arch.link_suffix()}#' in html
    assert "swin-architecture-caption" not in arch.you_are_here(arch.ONE_CELL)._repr_html_()


@pytest.mark.parametrize("stem", list(arch.CHAPTERS))
def test_every_chapter_ends_with_its_exercises(stem: str) -> None:
    """3 to 5 end-of-chapter exercises under the chapter's own label (``chNN-exercises``, NN its number in the toc);
    a chapter that marks answers *checked* has a hidden cell after them that asserts something."""
    nb = nbformat.read(ROOT / "book" / f"{stem}.ipynb", as_version=4)
    n = arch.chapter_number(stem)
    (block,) = [c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## Exercises")]
    assert f":label: ch{n:02d}-exercises\n" in block.source, f"{stem}: label ch{n:02d}-exercises"
    body = block.source.partition("````{exercise}")[2].partition("````")[0]
    count = len(re.findall(r"^\d+\. ", body, flags=re.M))
    assert 3 <= count <= 5, f"{stem}: {count} exercises"
    labels = re.findall(r":label: (ch\d+-exercises)", "".join(c.source for c in nb.cells if c.cell_type == "markdown"))
    assert set(labels) <= {f"ch{n:02d}-exercises"}, f"{stem}: another chapter's label {labels}"
    if "(*checked*)" in body:
        after = nb.cells[nb.cells.index(block) + 1 :]
        hidden = [c for c in after if c.cell_type == "code" and "remove-cell" in c.metadata.get("tags", [])]
        assert hidden and any("assert " in c.source for c in hidden), f"{stem}: checked answers with no hidden check"
