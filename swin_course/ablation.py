"""Checks of lab 12 (an ablation of the student's choice), on the experiments the book ships (chapters 4, 5, 6, 12).

The records (``swin_viz/assets/experiments/*.json``, read with :func:`swin_viz.viz.experiments.load_record`) hold
every run's full :class:`~swin_viz.train.config.TrainConfig`. An experiment's *baseline* is its first condition
(Swin as the paper builds it); an *ablation* is another condition that changes one mechanism (one model knob:
``shift``, ``attn_mask`` or ``position``, with the ``img_size`` an absolute embedding needs).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

from swin_viz.data.tasks import TASKS
from swin_viz.train.config import TrainConfig
from swin_viz.viz.experiments import load_record

from ._check import NOT_ANSWERED, Report, run_student, unanswered

__all__ = ["OUTCOMES", "ablations", "check_ablation_configs", "check_prediction", "outcome", "record_config", "uniform"]

OUTCOMES = ("better", "about the same", "worse, above chance", "chance")
"""What removing a mechanism can do to the final validation accuracy, as the prediction exercise offers it."""

BOOKKEEPING = ("out", "label", "progress", "log_every", "stop_after")
"""Fields that say where and how verbosely a run logs, not what it trains: not compared."""

KNOBS = ("shift", "attn_mask", "position")
"""The model switches the experiments turn off, one at a time."""


def _condition_kwargs(record: dict[str, Any], condition: str) -> dict[str, Any]:
    if condition not in record["conditions"]:
        raise ValueError(f"experiment {record['experiment']!r} has no condition {condition!r}; its conditions are "
                         f"{list(record['conditions'])}")  # fmt: skip
    return record["conditions"][condition]


def ablations(experiment: str) -> dict[str, list[str]]:
    """``{ablation condition: [model keys it changes]}``: the conditions of ``experiment`` that differ from its
    baseline (the first condition) in exactly one knob of :data:`KNOBS` (``img_size`` goes with ``position``)."""
    record = load_record(experiment)
    base, *others = record["conditions"]
    out = {}
    for cond in others:
        changed = _changed(record["conditions"][base], record["conditions"][cond])
        if len([k for k in changed if k in KNOBS]) == 1:
            out[cond] = changed
    return out


def _changed(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def record_config(experiment: str, condition: str, seed: int = 0) -> TrainConfig:
    """The :class:`TrainConfig` of the recorded run ``(condition, seed)`` of ``experiment`` (as it trained)."""
    record = load_record(experiment)
    _condition_kwargs(record, condition)
    for run in record["runs"]:
        if run["condition"] == condition and run["seed"] == seed:
            return TrainConfig(**run["config"])
    raise ValueError(f"experiment {experiment!r} has no run of {condition!r} with seed {seed}")


def _plain(cfg: TrainConfig) -> dict[str, Any]:
    d = cfg.plain()
    for k in BOOKKEEPING:
        d.pop(k, None)
    return d


def _diff(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """The fields (``model_kwargs.x`` for the model's) where ``got`` differs from ``want``."""
    out = []
    for k in sorted(set(got) | set(want)):
        if k == "model_kwargs":
            g, w = got.get(k) or {}, want.get(k) or {}
            out += [f"model_kwargs.{m}" for m in _changed(g, w)]
        elif got.get(k) != want.get(k):
            out.append(k)
    return out


def _show(d: dict[str, Any], field: str) -> Any:
    if field.startswith("model_kwargs."):
        return (d.get("model_kwargs") or {}).get(field.split(".", 1)[1], "(not set)")
    return d.get(field)


# -------------------------------------------------------------------------------- exercise 1: predict the outcome


def uniform(run: dict[str, Any], n_classes: int, tol: float = 0.005) -> bool:
    """Whether a run ends with uniform outputs: its final validation and training losses within ``tol`` of
    ``ln(n_classes)``, the loss of a model that says ``1 / n_classes`` for every class of every image. Its accuracy
    is then tie-breaking between equal outputs, not something it learned."""
    last = run["metrics"][-1]
    return all(abs(last[k] - math.log(n_classes)) < tol for k in ("val_loss", "train_loss"))


def outcome(experiment: str, ablation: str) -> tuple[str, str]:
    """``(one of OUTCOMES, why)`` from the record. "chance" when every seed of the ablation ends with uniform
    outputs (:func:`uniform`) or its mean validation top-1 is within its spread (or 5 points) of chance; otherwise
    the mean against the baseline's (a difference within the larger spread, or 2 points, is "about the same").
    ``why`` gives every seed's final validation top-1 and loss, not a mean: a spread of tie-breaks is no error bar."""
    record = load_record(experiment)
    base = next(iter(record["conditions"]))
    _condition_kwargs(record, ablation)
    n_classes = len(TASKS[record["task"]].classes)
    runs = {c: [r for r in record["runs"] if r["condition"] == c] for c in (base, ablation)}
    final = {c: [r["metrics"][-1]["val_top1"] for r in rs] for c, rs in runs.items()}
    mean = {c: statistics.fmean(v) for c, v in final.items()}
    std = {c: statistics.stdev(v) if len(v) > 1 else 0.0 for c, v in final.items()}
    chance = 100 / n_classes
    all_uniform = all(uniform(r, n_classes) for r in runs[ablation])
    noise = max(std[base], std[ablation], 2.0)
    diff = mean[ablation] - mean[base]
    if all_uniform:
        result = "chance"
    elif abs(diff) <= noise:
        result = "about the same"
    elif diff > 0:
        result = "better"
    elif mean[ablation] <= chance + max(std[ablation], 5.0):
        result = "chance"
    else:
        result = "worse, above chance"

    def seeds(c: str) -> str:
        return ", ".join(f"{r['metrics'][-1]['val_top1']:.1f} % ({r['metrics'][-1]['val_loss']:.3f})" for r in runs[c])

    why = (f"the record, each seed's validation top-1 (loss): {base} {seeds(base)}; {ablation} {seeds(ablation)}; "
           f"chance is {chance:.1f} %")  # fmt: skip
    if all_uniform:
        why += (f"; every seed of {ablation!r} ends with uniform outputs (losses at ln {n_classes} = "
                f"{math.log(n_classes):.3f}), so its accuracies are tie-breaks: at chance")  # fmt: skip
    return result, why


def check_prediction(experiment: str, ablation: str, prediction: Any) -> Report:
    """Compare a predicted outcome (one of :data:`OUTCOMES`) with what the record of ``experiment`` shows."""
    report = Report(f"your prediction for {experiment!r}, {ablation!r}")
    if unanswered(prediction):
        report.add("your prediction", False, NOT_ANSWERED)
        return report
    if experiment not in ("shift", "mask", "position", "table4"):
        report.add("the experiment", False, f"choose one of 'shift', 'mask', 'position', 'table4', got {experiment!r}")
        return report
    choices = ablations(experiment)
    if ablation not in choices:
        report.add("the ablation", False, f"{ablation!r} is not a one-mechanism ablation of {experiment!r}; choose "
                   f"one of {list(choices)}")  # fmt: skip
        return report
    if prediction not in OUTCOMES:
        report.add("your prediction", False, f"choose one of {OUTCOMES}, got {prediction!r}")
        return report
    want, why = outcome(experiment, ablation)
    report.add("your prediction", prediction == want,
               f"you predicted {prediction!r}; {why}: train both below and see why")  # fmt: skip
    if prediction == want:
        report.add(why, True)
    return report


# ---------------------------------------------------------------------------- exercise 2: the two configs


def check_ablation_configs(
    fn: Callable[[str, str], tuple[TrainConfig, TrainConfig]], experiment: str, ablation: str
) -> Report:
    """Run ``fn(experiment, ablation)``: it should return ``(baseline, ablated)`` TrainConfigs that differ in the
    ablated mechanism only and otherwise match the record's setup (any recorded seed, the same for both)."""
    report = Report(f"the configs of the {experiment!r} ablation {ablation!r}")
    got, why = run_student(fn, experiment, ablation)
    if why:
        report.add("your configs", False, why)
        return report
    if not (isinstance(got, tuple) and len(got) == 2 and all(isinstance(c, TrainConfig) for c in got)):
        report.add("your configs", False, f"expected a tuple (baseline, ablated) of two TrainConfig, got {got!r}")
        return report
    record = load_record(experiment)
    base_name = next(iter(record["conditions"]))
    knobs = ablations(experiment).get(ablation)
    if knobs is None:
        report.add("the ablation", False, f"{ablation!r} is not a one-mechanism ablation of {experiment!r}; choose "
                   f"one of {list(ablations(experiment))}")  # fmt: skip
        return report
    base, abl = (_plain(c) for c in got)
    seeds = sorted({r["seed"] for r in record["runs"]})
    if base["seed"] != abl["seed"]:
        report.add("one seed for both", False, f"the baseline has seed {base['seed']}, the ablation {abl['seed']}: "
                   "with different seeds, a difference could be the initialisation, not the mechanism")  # fmt: skip
    seed = base["seed"] if base["seed"] in seeds else seeds[0]
    between = _diff(abl, base)
    extra = [f for f in between if f not in {f"model_kwargs.{k}" for k in knobs} and f != "seed"]
    report.add(f"the two differ only in {', '.join(knobs)}", not extra,
               "they also differ in " + ", ".join(f"{f} ({_show(base, f)!r} vs {_show(abl, f)!r})" for f in extra)
               + ": an ablation changes one mechanism, or the difference can't be put on it")  # fmt: skip
    for name, mine, cond in (("baseline", base, base_name), ("ablated", abl, ablation)):
        want = _plain(record_config(experiment, cond, seed))
        off = [f for f in _diff(mine, want) if f != "seed"]
        report.add(f"the {name} config matches the record's {cond!r} run", not off,
                   "differs in " + ", ".join(f"{f} (yours {_show(mine, f)!r}, recorded {_show(want, f)!r})"
                                             for f in off))  # fmt: skip
    if base["seed"] not in seeds:
        report.add("a recorded seed", False, f"seed {base['seed']} was not recorded; the record has {seeds}")
    return report
