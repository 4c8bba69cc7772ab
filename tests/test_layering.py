"""The layering of the house as one test: the import graph of ``swin_viz`` and ``swin_course``, read from the code
(imports inside functions included), held against the table of DESIGN.md (the shared design note).

    chapters (book/)  ->  library and figures, never the course
    course            ->  anything of the library
    train             ->  core, data                     (never viz: the engine hands viz plain records)
    viz               ->  core (probes included), the data sources
    data              ->  core
    core              ->  nothing above it; inside it, the building blocks know nothing of the model, and the model
                          nothing of checkpoints, zoo, probes or counting

and no import cycle anywhere.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("swin_viz", "swin_course")

ALLOWED_LAYERS: dict[str, set[str]] = {
    "core": {"core"},
    "data": {"core", "data", "data sources"},
    "viz": {"core", "viz", "data sources"},
    "train": {"core", "data", "data sources", "train"},
    "course": {"core", "data", "data sources", "viz", "train", "course"},
    "chapters": {"core", "data", "data sources", "viz", "train"},
}
"""Which layers each layer may import (DESIGN.md: arrows point down)."""

DATA_SOURCES = {"swin_viz.data.sources", "swin_viz.data.tasks", "swin_viz.data.transforms"}
"""The part of ``swin_viz.data`` that viz may read: the sources of sample images and the normalisation constants
(not the loaders, shards or augmentation)."""

BUILDING_BLOCKS = {"patches", "windows", "shift", "relative_position", "attention", "block", "merging", "geometry",
                   "hooks", "_validate", "atomic"}  # fmt: skip
"""Core rank 0; ``model`` is rank 1; everything else of the core (checkpoints, pretrained, zoo, probes, flops,
metrics, the package itself) is rank 2. A core module imports core modules of its own rank or below."""


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(name: str, known: set[str]) -> str | None:
    """The longest known module that ``name`` names or lies in (``swin_viz.model.SwinTransformer`` -> the module)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, source: str, known: set[str], is_package: bool = False) -> set[str]:
    """Every known module that ``source`` imports, at any depth (imports inside functions and classes included)."""
    here = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join([*here[: len(here) - node.level + 1], node.module or ""]) if node.level else node.module
            base = (base or "").strip(".")
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` when there is one, else a name of ``pkg``.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found.update(t for t in (_resolve(t, known) for t in targets) if t)
    found.discard(module)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """``{module: modules it imports}`` over the packages' own modules."""
    files = {module_name(p, root): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))}
    known = set(files)
    return {m: imports_of(m, p.read_text(), known, p.name == "__init__.py") for m, p in files.items()}


def layer(module: str) -> str:
    if module.startswith("swin_course"):
        return "course"
    if module in DATA_SOURCES:
        return "data sources"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ("data", "viz", "train") else "core"


def core_rank(module: str) -> int:
    name = module.split(".")[-1]
    return 0 if name in BUILDING_BLOCKS else 1 if name == "model" else 2


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks the table, and every cycle."""
    bad = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            a, b = layer(module), layer(target)
            if b not in ALLOWED_LAYERS[a if a != "data sources" else "data"]:
                bad.append(f"{module} ({a}) imports {target} ({b})")
            elif a == b == "core" and core_rank(target) > core_rank(module):
                bad.append(f"{module} (core rank {core_rank(module)}) imports {target} (rank {core_rank(target)})")
    bad += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return bad


WEIGHTS_AND_DATA = {"swin_viz.zoo", "swin_viz.pretrained", "swin_viz.data"}
"""Where models, weights and images come from: an explorer reaches them only through ``swin_viz.viz.sources``."""


def explorer_violations(graph: dict[str, set[str]], explorers: set[str]) -> list[str]:
    """DESIGN.md: explorers get their models and data from one place in viz, not from each other."""
    bad = []
    for module in sorted(explorers):
        for target in sorted(graph[module]):
            if target in explorers:
                bad.append(f"explorer {module} imports explorer {target}")
            elif any(target == w or target.startswith(w + ".") for w in WEIGHTS_AND_DATA):
                bad.append(f"explorer {module} imports {target} (take models and data from swin_viz.viz.sources)")
    return bad


def explorer_modules(root: Path = ROOT) -> set[str]:
    """The modules of swin_viz.viz that define an ``*_explorer`` function."""
    found = set()
    for path in sorted((root / "swin_viz" / "viz").glob("*.py")):
        tree = ast.parse(path.read_text())
        if any(isinstance(n, ast.FunctionDef) and n.name.endswith("_explorer") for n in tree.body):
            found.add(module_name(path, root))
    return found


PRIVATE_IMPORTS_LEFT: set[tuple[str, str]] = set()
"""Private names one module still takes from another: none."""


def private_imports(root: Path = ROOT) -> set[tuple[str, str]]:
    """``(module, name)`` for every ``from other_module import _name`` in swin_viz (dunder names aside)."""
    found = set()
    for path in sorted((root / "swin_viz").rglob("*.py")):
        module = module_name(path, root)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                found |= {(module, a.name) for a in node.names if a.name[:1] == "_" and a.name[:2] != "__"}
    return found


def chapter_imports(known: set[str]) -> dict[str, set[str]]:
    """The modules each chapter's code cells import (magics and shell lines dropped), plus any course name."""
    out = {}
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        lines = [
            line
            for c in cells
            if c["cell_type"] == "code"
            for line in "".join(c["source"]).splitlines()
            if not line.lstrip().startswith(("%", "!"))
        ]
        code = "\n".join(lines)
        names = imports_of(f"book.{path.stem}", code, known | {"swin_course"})
        out[path.name] = names | ({"swin_course"} if "swin_course" in code else set())
    return out


# ------------------------------------------------------------------------------------------------------- tests
def test_the_library_and_the_course_hold_the_layering() -> None:
    graph = import_graph()
    assert {"swin_viz.model", "swin_viz.viz.attention_maps", "swin_viz.train.loop", "swin_course.model"} <= set(graph)
    assert "swin_viz.model" in graph["swin_viz.flops"]  # the graph sees imports at all
    assert "swin_viz.data.tasks" in graph["swin_viz.viz.experiments"]  # ...inside functions too
    assert violations(graph) == []


def test_explorers_take_models_and_data_from_one_place_not_from_each_other() -> None:
    graph, explorers = import_graph(), explorer_modules()
    assert {"swin_viz.viz.attention_maps", "swin_viz.viz.block_path", "swin_viz.viz.receptive_field"} <= explorers
    assert explorer_violations(graph, explorers) == []
    for added, expected in (("swin_viz.viz.attention_maps", "explorer swin_viz.viz.block_path imports explorer"),
                            ("swin_viz.zoo", "explorer swin_viz.viz.block_path imports swin_viz.zoo")):  # fmt: skip
        broken = {**graph, "swin_viz.viz.block_path": graph["swin_viz.viz.block_path"] | {added}}
        assert any(v.startswith(expected) for v in explorer_violations(broken, explorers)), added


def test_no_module_takes_a_private_name_from_another() -> None:
    assert private_imports() - PRIVATE_IMPORTS_LEFT == set()


def test_the_chapters_import_the_library_never_the_course() -> None:
    known = set(import_graph())
    chapters = chapter_imports(known)
    assert len(chapters) >= 12 and all(any(m.startswith("swin_viz") for m in ms) for ms in chapters.values())
    bad = {name: sorted(m for m in ms if layer(m) not in ALLOWED_LAYERS["chapters"]) for name, ms in chapters.items()}
    assert {name: ms for name, ms in bad.items() if ms} == {}


FORBIDDEN = [
    ("swin_viz/block.py", "from .model import SwinTransformer", "swin_viz.block (core rank 0) imports swin_viz.model"),
    ("swin_viz/model.py", "from .flops import count_macs", "swin_viz.model (core rank 1) imports swin_viz.flops"),
    ("swin_viz/probes.py", "from .viz import palette", "swin_viz.probes (core) imports swin_viz.viz"),
    ("swin_viz/data/sources.py", "from ..train import config", "swin_viz.data.sources (data sources) imports"),
    ("swin_viz/viz/shift.py", "from ..train import loop", "swin_viz.viz.shift (viz) imports swin_viz.train.loop"),
    ("swin_viz/viz/mask.py", "from ..data import loaders", "swin_viz.viz.mask (viz) imports swin_viz.data.loaders"),
    ("swin_viz/train/log.py", "from ..viz import training", "swin_viz.train.log (train) imports swin_viz.viz"),
    ("swin_viz/zoo.py", "import swin_course", "swin_viz.zoo (core) imports swin_course"),
    ("swin_viz/geometry.py", "from .model import SwinConfig", "import cycle: swin_viz.geometry -> swin_viz.model"),
    ("swin_viz/checkpoints/__init__.py", "from ..zoo import shared_model", "import cycle: swin_viz.checkpoints"),
]


@pytest.mark.parametrize(("path", "line", "expected"), FORBIDDEN, ids=[f[0] for f in FORBIDDEN])
def test_a_forbidden_import_fails_the_check(path: str, line: str, expected: str) -> None:
    """The check can fail: one forbidden import, written inside a function, is reported (the files stay as they are)."""
    graph = import_graph()
    module = module_name(ROOT / path)
    source = (ROOT / path).read_text() + f"\n\ndef _added() -> None:\n    {line}\n"
    graph[module] = imports_of(module, source, set(graph) | {"swin_course"}, path.endswith("__init__.py"))
    found = violations(graph)
    assert any(v.startswith(expected) for v in found), found
