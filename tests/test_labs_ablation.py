"""Lab 12's checks (swin_course.ablation): the recorded configs pass, a second changed knob is named, a stub is
"not written yet", and the predicted outcome is read from the records."""

from __future__ import annotations

import dataclasses

import pytest

from swin_course._check import NOT_ANSWERED, NOT_WRITTEN
from swin_course.ablation import ablations, check_ablation_configs, check_prediction, outcome, record_config
from swin_viz.viz.experiments import load_record


def _recorded(experiment: str, ablation: str):
    """The record's own seed-0 configs of the baseline (the first condition) and of ``ablation``."""
    baseline = next(iter(load_record(experiment)["conditions"]))
    return record_config(experiment, baseline, 0), record_config(experiment, ablation, 0)


@pytest.mark.parametrize(
    "experiment,ablation",
    [("shift", "W-MSA only"), ("mask", "no mask"), ("position", "absolute embedding"), ("table4", "shift, none")],
)
def test_the_recorded_configs_pass(experiment: str, ablation: str) -> None:
    report = check_ablation_configs(lambda e, a: _recorded(e, a), experiment, ablation)
    assert report.passed, str(report)


def test_bookkeeping_fields_are_not_compared() -> None:
    def fn(e: str, a: str):
        base, abl = _recorded(e, a)
        return dataclasses.replace(base, out="/tmp/x", label="mine"), dataclasses.replace(abl, out="/tmp/y")

    assert check_ablation_configs(fn, "shift", "W-MSA only").passed


def test_a_second_changed_knob_is_named() -> None:
    def fn(e: str, a: str):
        base, abl = _recorded(e, a)
        return base, dataclasses.replace(abl, lr=1e-3)

    report = check_ablation_configs(fn, "shift", "W-MSA only")
    assert not report.passed
    text = str(report)
    assert "they also differ in lr (0.004 vs 0.001)" in text and "one mechanism" in text
    assert "recorded 0.004" in text  # and the ablated run no longer matches the record


def test_a_second_model_knob_is_named() -> None:
    def fn(e: str, a: str):
        base, abl = _recorded(e, a)
        return base, dataclasses.replace(abl, model_kwargs={**abl.model_kwargs, "attn_mask": False})

    report = check_ablation_configs(fn, "shift", "W-MSA only")
    assert not report.passed and "model_kwargs.attn_mask" in str(report)


def test_an_unablated_pair_fails_against_the_record() -> None:
    def fn(e: str, a: str):
        base, _ = _recorded(e, a)
        return base, base

    report = check_ablation_configs(fn, "shift", "W-MSA only")
    assert not report.passed and "model_kwargs.shift (yours True, recorded False)" in str(report)


def test_different_seeds_are_named() -> None:
    def fn(e: str, a: str):
        base, abl = _recorded(e, a)
        return base, dataclasses.replace(abl, seed=1)

    report = check_ablation_configs(fn, "shift", "W-MSA only")
    assert not report.passed and "one seed for both" in str(report)


def test_a_stub_is_not_written_yet() -> None:
    def stub(e: str, a: str):
        raise NotImplementedError

    report = check_ablation_configs(stub, "shift", "W-MSA only")
    assert not report.passed and NOT_WRITTEN in str(report)


def test_a_wrong_return_type_is_explained() -> None:
    report = check_ablation_configs(lambda e, a: None, "shift", "W-MSA only")
    assert not report.passed and "expected a tuple (baseline, ablated)" in str(report)


def test_ablations_change_one_mechanism() -> None:
    assert ablations("shift") == {"W-MSA only": ["shift"]}
    assert ablations("position") == {"absolute embedding": ["img_size", "position"], "none": ["position"]}
    assert "no shift, none" not in ablations("table4")  # two mechanisms at once: not offered


def test_outcomes_follow_the_records() -> None:
    assert outcome("shift", "W-MSA only")[0] == "chance"
    assert outcome("mask", "no mask")[0] == "better"
    assert outcome("position", "none")[0] == "chance"
    assert outcome("table4", "no shift, relative")[0] == "about the same"
    assert "uniform outputs" not in outcome("mask", "no mask")[1]  # the runs without the mask learn


def test_prediction_check() -> None:
    assert check_prediction("shift", "W-MSA only", "chance").passed
    wrong = check_prediction("shift", "W-MSA only", "about the same")
    assert not wrong.passed and "93.9 % (0.264)" in str(wrong)  # seed 0 of the shifted pair, from the record
    assert "ends with uniform outputs (losses at ln 2 = 0.693)" in str(wrong)
    assert NOT_ANSWERED in str(check_prediction("shift", "W-MSA only", None))
    assert "choose one of" in str(check_prediction("shift", "W-MSA only", "worse"))
    assert "not a one-mechanism ablation" in str(check_prediction("table4", "no shift, none", "chance"))
