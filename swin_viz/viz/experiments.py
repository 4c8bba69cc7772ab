"""Figures of the controlled experiments (book chapters 4, 5, 6 and 12), drawn from their shipped records.

``scripts/run_experiments.py`` trains every run with ``swin_viz.train`` and writes one record per experiment to
``swin_viz/assets/experiments/<name>.json``: the question, the conditions, the command, the commit, and every run's
config and per-epoch log. This module only reads those records (viz never imports the engine).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "RECORDS",
    "Score",
    "curves_spec",
    "experiment_names",
    "load_record",
    "scores",
    "scores_spec",
    "table4_spec",
    "task_examples_spec",
]

RECORDS = Path(__file__).resolve().parents[1] / "assets" / "experiments"
"""Where the records ship (package data)."""


def experiment_names() -> list[str]:
    """The experiments whose records ship, sorted."""
    return sorted(p.stem for p in RECORDS.glob("*.json"))


def load_record(name: str) -> dict[str, Any]:
    """The record of experiment ``name`` (``shift``, ``mask``, ``position``, ``table4``) as plain data."""
    path = RECORDS / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no record for experiment {name!r} at {path}; shipped: {experiment_names()}. "
            f"Make it with: OMP_NUM_THREADS=1 python scripts/run_experiments.py --only {name}"
        )
    return json.loads(path.read_text())


@dataclass(frozen=True)
class Score:
    """One condition's final accuracy over its seeds: ``values`` per seed, their mean and (sample) spread."""

    condition: str
    values: tuple[float, ...]
    seeds: tuple[int, ...]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0

    def __str__(self) -> str:
        return f"{self.condition}: {self.mean:.1f} ± {self.std:.1f} % (n={len(self.values)})"


def scores(record: dict[str, Any], key: str = "val_top1") -> dict[str, Score]:
    """Each condition's ``key`` after the last epoch, over its seeds, in the record's condition order."""
    out: dict[str, Score] = {}
    for condition in record["conditions"]:
        runs = [r for r in record["runs"] if r["condition"] == condition]
        if not runs:
            raise ValueError(f"record {record['experiment']!r} has no run of condition {condition!r}")
        out[condition] = Score(condition, tuple(r["metrics"][-1][key] for r in runs), tuple(r["seed"] for r in runs))
    return out


def scores_spec(record: dict[str, Any], title: str = ""):
    """Final validation (and training) accuracy per condition: the mean over seeds as bars, as a FigureSpec."""
    from . import palette
    from .spec import FigureSpec, Panel, Series

    val, tr = scores(record, "val_top1"), scores(record, "train_top1")
    names = list(val)
    c = palette.REGION_COLORS
    bars = [
        Series("validation top-1 (mean over seeds)", names, [val[n].mean for n in names], c[1]),
        Series("training top-1 (last epoch, mean)", names, [tr[n].mean for n in names], c[0]),
    ]
    rows = [[n, f"{val[n].mean:.1f} ± {val[n].std:.1f}", ", ".join(f"{v:.1f}" for v in val[n].values),
             f"{tr[n].mean:.1f}"] for n in names]  # fmt: skip
    panels = [
        Panel("Accuracy after the last epoch", "bars", series=bars, x_label="condition", y_label="top-1 (%)"),
        Panel("Over seeds", "table", header=["condition", "val mean ± std", "per seed", "train"], rows=rows),
    ]
    caption = f"{record['question']} Task {record['task']!r}; {len(record['runs'])} runs; commit {record['commit'][:9]}"
    return FigureSpec(title or f"Experiment {record['experiment']}", panels, caption=caption, height=380)


def curves_spec(record: dict[str, Any], key: str = "val_top1", title: str = ""):
    """``key`` per epoch for every run (one colour per condition, one line per seed), as a FigureSpec."""
    from . import palette
    from .spec import FigureSpec, Panel, Series

    colours = {c: palette.REGION_COLORS[i % len(palette.REGION_COLORS)] for i, c in enumerate(record["conditions"])}
    series = [
        Series(f"{r['condition']}, seed {r['seed']}", [m["epoch"] for m in r["metrics"]],
               [m[key] for m in r["metrics"]], colours[r["condition"]], dash=r["seed"] % 2 == 1)
        for r in record["runs"]
    ]  # fmt: skip
    y_label = "top-1 (%)" if "top1" in key else key
    panel = Panel(f"{key} per epoch", "lines", series=series, x_label="epoch", y_label=y_label)
    return FigureSpec(title or f"Experiment {record['experiment']}: learning curves", [panel], height=380)


def table4_spec(record: dict[str, Any], title: str = "Table 4 in miniature"):
    """Our six conditions (mean ± std over seeds) next to the paper's Table 4 numbers, as a table FigureSpec."""
    from .spec import FigureSpec, Panel

    paper = record.get("paper", {})
    val = scores(record)
    rows = []
    for name, s in val.items():
        ref = paper.get("rows", {}).get(name)
        rows.append([name, f"{s.mean:.1f} ± {s.std:.1f}", ", ".join(f"{v:.1f}" for v in s.values),
                     "—" if ref is None else f"{ref:.1f}"])  # fmt: skip
    header = ["condition", "ours: val top-1 (mean ± std)", "ours: per seed", "paper: ImageNet top-1 (Swin-T)"]
    panel = Panel("Table 4 in miniature", "table", header=header, rows=rows)
    return FigureSpec(title, [panel], caption=f"Paper's numbers: {paper.get('source', 'not in the record')}",
                      height=320)  # fmt: skip


def task_examples_spec(task: str, n: int = 6, split: str = "train", title: str = ""):
    """The first ``n`` images of a generated task with their labels, as a FigureSpec of image panels."""
    from ..data.tasks import load_task
    from .spec import FigureSpec, Panel

    data = load_task(task, split)
    panels = [
        Panel(
            f"{data.classes[int(data.labels[i])]}",
            "image",
            z=data.images[i].permute(1, 2, 0).numpy(),
            x_label="pixel column",
            y_label="pixel row",
        )
        for i in range(min(n, len(data)))
    ]
    return FigureSpec(title or f"Task {task!r} ({split})", panels, caption=data.name, height=220, columns=len(panels))
