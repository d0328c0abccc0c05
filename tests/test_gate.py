"""Gate logic on constructed runs: every check passes and fails, intervals beat point estimates,
wildcards expand, unknown paths are errors, lost samples fail, no_regression across runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from evalkit.errors import InputError
from evalkit.gate import GATE_RULES, evaluate_gates, expand_path
from evalkit.report.junit import junit_xml
from evalkit.report.markdown import summary_markdown
from evalkit.results import (
    ArmCounts,
    ArmValues,
    DatasetResult,
    Gates,
    MetricResult,
    ProbeVerdict,
    Results,
    StoredRun,
    SuiteInfo,
    Verdict,
    Versions,
)
from evalkit.suite.schema import GateCheck, Stats

QUANTILE_KEYS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.9", "0.95", "0.975", "0.99", "0.995")


def row(
    dataset: str,
    metric: str,
    baseline: float,
    candidate: float,
    ci: tuple[float, float],
    *,
    section: str = "task",
    kind: str = "in_domain",
    lower95: float | None = None,
    upper95: float | None = None,
) -> MetricResult:
    """A metric row; the one-sided 95% bounds default to the two-sided interval's ends."""
    low, high = ci
    quantiles = dict.fromkeys(QUANTILE_KEYS[:5], low) | dict.fromkeys(QUANTILE_KEYS[5:], high)
    quantiles["0.05"] = low if lower95 is None else lower95
    quantiles["0.95"] = high if upper95 is None else upper95
    return MetricResult(
        dataset=dataset,
        section=section,
        kind=kind,
        metric=metric,
        higher_is_better=metric not in ("error_rate", "unparsed_rate"),
        baseline=baseline,
        candidate=candidate,
        diff=candidate - baseline,
        ci_low=low,
        ci_high=high,
        confidence=0.95,
        n=200,
        resamples=2000,
        quantiles=quantiles,
    )


def results(*metrics: MetricResult, errors: dict[str, dict[str, int]] | None = None) -> Results:
    """A finished run holding these metric rows (200 items per dataset)."""
    names = dict.fromkeys(m.dataset for m in metrics)
    sections = {m.dataset: (m.section, m.kind) for m in metrics}
    errors = errors or {}
    return Results(
        run_id="r1",
        created_at="2026-01-01T00:00:00+00:00",
        duration_s=1.0,
        versions=Versions(evalkit="0", inspect_ai="0", python="3"),
        suite=SuiteInfo(name="s", path="suite.yaml", sha256="0", task_type="classification"),
        arms={},
        dataset_hashes={},
        stats=Stats(confidence=0.95, bootstrap=500, seed=0),
        metrics=list(metrics),
        datasets={
            n: DatasetResult(
                section=sections[n][0],
                kind=sections[n][1],
                n=200,
                errors=ArmCounts(**errors.get(n, {})),
            )
            for n in names
        },
    )


RUN = results(
    row("heldout", "macro_f1", 0.70, 0.80, (0.05, 0.15)),
    row("heldout", "error_rate", 0.01, 0.02, (-0.01, 0.03)),
    row("heldout", "format.json", 0.9, 0.99, (0.05, 0.12)),
    row("heldout", "rubric.tone.overall", 3.1, 3.6, (0.2, 0.8)),
    row("ood", "macro_f1", 0.60, 0.62, (-0.04, 0.08), kind="out_of_domain"),
    row("training_sample", "macro_f1", 0.7, 0.99, (0.2, 0.4), kind="training"),
    row("gsm8k", "accuracy", 0.40, 0.38, (-0.06, 0.02), section="probe", kind="probe"),
    row("mmlu", "accuracy", 0.50, 0.50, (-0.03, 0.03), section="probe", kind="probe"),
)


def judge(gates: list[dict[str, dict]], run: Results | None = None, **kw: Any) -> Gates:
    parsed = [{p: GateCheck.model_validate(c) for p, c in g.items()} for g in gates]
    return evaluate_gates(run or RUN, parsed, max_errors=kw.pop("max_errors", 0), **kw)


def only(report, rule: str):
    (r,) = [r for r in report.results if r.rule == rule]
    return r


# ---- paths ---------------------------------------------------------------------------------


def test_every_gate_check_in_the_schema_has_one_handler() -> None:
    assert set(GATE_RULES.names()) == set(GateCheck.checks())


def test_paths_and_wildcards() -> None:
    names = lambda p: [(m.dataset, m.metric) for m in expand_path(p, RUN.metrics)]  # noqa: E731
    assert names("heldout.macro_f1") == [("heldout", "macro_f1")]
    assert names("heldout.format.json") == [("heldout", "format.json")]
    assert names("heldout.rubric.tone.overall") == [("heldout", "rubric.tone.overall")]
    # wildcards cover evaluated task sets, not the training sample or probes
    assert names("*.macro_f1") == [("heldout", "macro_f1"), ("ood", "macro_f1")]
    assert names("training_sample.macro_f1") == [("training_sample", "macro_f1")]
    assert names("probes.*.accuracy") == [("gsm8k", "accuracy"), ("mmlu", "accuracy")]
    assert names("probes.gsm8k.accuracy") == [("gsm8k", "accuracy")]
    assert names("gsm8k.accuracy") == []  # a probe is only reachable under probes.


def test_wildcard_expands_to_one_result_per_dataset() -> None:
    report = judge([{"*.macro_f1": {"candidate": ">= 0.61"}}])
    assert [(r.rule, r.passed) for r in report.results[1:]] == [
        ("heldout.macro_f1", True),
        ("ood.macro_f1", True),
    ]
    report = judge([{"*.macro_f1": {"candidate": ">= 0.7"}}])
    assert not report.passed and only(report, "ood.macro_f1").passed is False


@pytest.mark.parametrize("path", ["heldout.f1", "nope.macro_f1", "probes.nope.accuracy", "heldout"])
def test_unknown_path_is_an_input_error_naming_it(path: str) -> None:
    with pytest.raises(InputError) as e:
        judge([{path: {"candidate": ">= 0.5"}}])
    assert repr(path) in str(e.value) and "heldout.macro_f1" in str(e.value)  # lists what exists
    assert "gates[0]" in str(e.value)


# ---- absolute bounds -----------------------------------------------------------------------


def test_absolute_bounds_pass_and_fail() -> None:
    report = judge(
        [
            {"heldout.macro_f1": {"baseline": ">= 0.7"}},
            {"heldout.macro_f1": {"candidate": "> 0.8"}},
            {"heldout.error_rate": {"candidate": "<= 0.05"}},
        ]
    )
    got = [(r.check, r.passed) for r in report.results[1:]]
    assert got == [
        ("baseline >= 0.7", True),
        ("candidate > 0.8", False),
        ("candidate <= 0.05", True),
    ]
    assert not report.passed


# ---- candidate_minus_baseline: the interval, not the point ----------------------------------


def test_difference_passes_when_the_whole_interval_clears_the_bound() -> None:
    r = only(
        judge([{"heldout.macro_f1": {"candidate_minus_baseline": ">= 0.03"}}]), "heldout.macro_f1"
    )
    assert r.passed and r.value == 0.05 and r.bound == 0.03


def test_point_estimate_passes_but_interval_does_not_fails() -> None:
    # diff +0.10 meets >= 0.08, the CI's lower end +0.05 does not
    r = only(
        judge([{"heldout.macro_f1": {"candidate_minus_baseline": ">= 0.08"}}]), "heldout.macro_f1"
    )
    assert r.passed is False
    assert (
        "point estimate +0.1000 meets >= 0.08" in r.evidence
        and "lower end is +0.0500" in r.evidence
    )


def test_upper_bounded_difference_uses_the_upper_end() -> None:
    gate = {"heldout.error_rate": {"candidate_minus_baseline": "<= 0.02"}}
    r = only(judge([gate]), "heldout.error_rate")  # diff +0.01 passes, upper end +0.03 does not
    assert r.passed is False and r.value == 0.03 and "point estimate" in r.evidence
    gate = {"heldout.error_rate": {"candidate_minus_baseline": "<= 0.05"}}
    assert only(judge([gate]), "heldout.error_rate").passed


# ---- non_inferior ----------------------------------------------------------------------------


def test_non_inferior_higher_is_better() -> None:
    gates = [{"probes.*.accuracy": {"non_inferior": {"margin": 0.05}}}]
    report = judge(gates)
    assert only(report, "probes.mmlu.accuracy").passed  # lower bound -0.03 > -0.05
    assert only(report, "probes.gsm8k.accuracy").passed is False  # -0.06 is not
    assert not report.passed


def test_non_inferior_uses_the_one_sided_quantile_at_its_confidence() -> None:
    run = results(row("heldout", "accuracy", 0.5, 0.5, (-0.08, 0.08), lower95=-0.04))
    gate = {"heldout.accuracy": {"non_inferior": {"margin": 0.05, "confidence": 0.95}}}
    assert only(judge([gate], run), "heldout.accuracy").passed  # 95% one-sided: -0.04
    gate["heldout.accuracy"]["non_inferior"]["confidence"] = 0.975
    assert only(judge([gate], run), "heldout.accuracy").passed is False  # 97.5%: -0.08


def test_comparisons_decide_ties_by_the_operator_not_by_rounding() -> None:
    # -13/80 as floating point computes it, a hair above -0.1625
    run = results(row("heldout", "accuracy", 0.5, 0.4, (-0.2, 0.0), lower95=0.4 - 0.5625))
    gate = {"heldout.accuracy": {"non_inferior": {"margin": 0.1625}}}
    assert only(judge([gate], run), "heldout.accuracy").passed is False
    # 0.7 + 0.2 is 0.8999999999999999: it meets >= 0.9
    run = results(row("heldout", "accuracy", 0.5, 0.7 + 0.2, (0.3, 0.5)))
    assert only(
        judge([{"heldout.accuracy": {"candidate": ">= 0.9"}}], run), "heldout.accuracy"
    ).passed


def test_an_uninformative_probe_is_not_evaluated_never_passed() -> None:
    """gsm8k's baseline is at chance in RUN: 'not worse' says nothing about forgetting."""

    def verdict(name: str, informative: bool) -> ProbeVerdict:
        return ProbeVerdict(probe=name, version="1", n=200, baseline=0.4, candidate=0.38,
                            diff=-0.02, ci_low=-0.06, ci_high=0.02, lower_bound=-0.06, margin=0.1,
                            confidence=0.95, non_inferior=True, chance=0.25,
                            unparsed_rate=ArmValues(baseline=0.0, candidate=0.0),
                            informative=informative, format_collapse=False)  # fmt: skip

    run = RUN.model_copy(update={"probes": [verdict("gsm8k", False), verdict("mmlu", True)]})
    gates = [
        {"probes.*.accuracy": {"non_inferior": {"margin": 0.1}}},
        {"probes.gsm8k.accuracy": {"candidate_minus_baseline": ">= -0.1"}},
    ]
    report = judge(gates, run)
    gsm8k = [r for r in report.results if r.rule == "probes.gsm8k.accuracy"]
    assert [r.passed for r in gsm8k] == [None, None]
    assert all("uninformative" in r.evidence for r in gsm8k)
    assert only(report, "probes.mmlu.accuracy").passed is True
    # an absolute bound still says something about the candidate
    absolute = judge([{"probes.gsm8k.accuracy": {"candidate": ">= 0.3"}}], run)
    assert only(absolute, "probes.gsm8k.accuracy").passed is True


def test_non_inferior_lower_is_better_flips_direction() -> None:
    # error_rate rose by +0.01; the one-sided 95% upper bound +0.03 must stay below +margin
    gate = {"heldout.error_rate": {"non_inferior": {"margin": 0.05}}}
    r = only(judge([gate]), "heldout.error_rate")
    assert r.passed and r.value == 0.03 and r.bound == 0.05 and "lower is better" in r.evidence
    gate = {"heldout.error_rate": {"non_inferior": {"margin": 0.02}}}
    assert only(judge([gate]), "heldout.error_rate").passed is False


# ---- errors --------------------------------------------------------------------------------


def test_errors_above_allowance_fail_even_without_gates() -> None:
    run = results(
        row("heldout", "macro_f1", 0.7, 0.8, (0.05, 0.15)),
        errors={"heldout": {"baseline": 0, "candidate": 3}},
    )
    report = judge([], run)
    assert not report.passed
    (r,) = report.results
    assert r.rule == "errors" and r.passed is False and "heldout: candidate 3 of 200" in r.evidence
    assert judge([], run, max_errors=3).passed
    assert judge([], run, max_errors=3).results == []


def test_no_gates_passes_with_an_empty_list() -> None:
    report = judge([])
    assert report.passed and report.model_dump() == {"passed": True, "results": []}


def test_to_dict_shape() -> None:
    d = judge([{"heldout.macro_f1": {"candidate": ">= 0.5"}}]).model_dump()
    assert d["passed"] is True
    fields = {"rule", "check", "passed", "evidence", "value", "bound"}
    assert [set(r) for r in d["results"]] == [fields] * 2
    assert d["results"][0]["rule"] == "errors"


# ---- no_regression ---------------------------------------------------------------------------


def samples(correct: list[bool], arm: str = "candidate", dataset: str = "heldout") -> pd.DataFrame:
    """Per-item rows as samples.jsonl holds them (only the columns accuracy needs)."""
    return pd.DataFrame(
        {
            "arm": arm,
            "dataset": dataset,
            "section": "task",
            "id": [f"i{k}" for k in range(len(correct))],
            "target": "a",
            "label": ["a" if c else "b" for c in correct],
            "error": None,
            "parsed": True,
            "correct": correct,
            "checks": [{} for _ in correct],
            "format_ok": True,
        }
    )


def run_with(accuracy: float) -> Results:
    r = results(row("heldout", "accuracy", 0.5, accuracy, (-0.1, 0.1)))
    return r.model_copy(update={"suite": r.suite.model_copy(update={"labels": ["a", "b"]})})


GATE = [{"heldout.accuracy": {"no_regression": {"tolerance": 0.02}}}]


def test_no_regression_without_baseline_is_not_evaluated_and_does_not_fail() -> None:
    report = judge(GATE, run_with(0.8))
    r = only(report, "heldout.accuracy")
    assert r.passed is None and "no baseline run given" in r.evidence
    assert report.passed and report.not_evaluated == [r]


def test_no_regression_identical_items_pass() -> None:
    items = [True] * 80 + [False] * 20
    earlier = StoredRun(Path("old"), run_with(0.8), samples(items))
    r = only(
        judge(GATE, run_with(0.8), samples=samples(items), earlier=earlier), "heldout.accuracy"
    )
    assert r.passed and "100 items shared" in r.evidence


def test_no_regression_fails_on_a_clear_drop() -> None:
    old = [True] * 80 + [False] * 20
    new = [True] * 60 + [False] * 40  # 20 items flipped to wrong
    earlier = StoredRun(Path("old"), run_with(0.8), samples(old))
    r = only(judge(GATE, run_with(0.6), samples=samples(new), earlier=earlier), "heldout.accuracy")
    assert r.passed is False and "0.8000 → 0.6000" in r.evidence


def test_no_regression_small_drop_within_tolerance_judged_on_its_interval() -> None:
    old = [True] * 800 + [False] * 200
    new = [False, *old[1:]]  # one item of a thousand flipped: -0.001, interval within -0.02
    earlier = StoredRun(Path("old"), run_with(0.8), samples(old))
    r = only(
        judge(GATE, run_with(0.799), samples=samples(new), earlier=earlier), "heldout.accuracy"
    )
    assert r.passed and r.value is not None and r.value > -0.02


def test_no_regression_uncertain_drop_fails() -> None:
    # the point drop (-0.01) is inside the tolerance, but on 100 items the interval is not
    old = [True] * 80 + [False] * 20
    new = [False, False, *old[2:]]  # two items lost ...
    new[80] = True  # ... and one gained
    earlier = StoredRun(Path("old"), run_with(0.8), samples(old))
    r = only(judge(GATE, run_with(0.79), samples=samples(new), earlier=earlier), "heldout.accuracy")
    assert r.passed is False and "does not meet >= -0.02" in r.evidence


def test_no_regression_falls_back_to_points_without_samples() -> None:
    earlier = StoredRun(Path("old"), run_with(0.8), None)
    r = only(judge(GATE, run_with(0.79), earlier=earlier), "heldout.accuracy")
    assert r.passed and "point values" in r.evidence
    r = only(judge(GATE, run_with(0.7), earlier=earlier), "heldout.accuracy")
    assert r.passed is False


def test_no_regression_fails_without_a_traceback_when_this_run_has_no_value() -> None:
    """A rubric criterion no item was scored on has no value: no regression is not shown."""
    unscored = row("heldout", "rubric.tone.overall", 0, 0, (0, 0)).model_copy(
        update=dict.fromkeys(("baseline", "candidate", "diff", "ci_low", "ci_high"))
    )
    earlier = StoredRun(
        Path("old"), results(row("heldout", "rubric.tone.overall", 3, 3.5, (0, 1))), None
    )
    gate = [{"heldout.rubric.tone.overall": {"no_regression": {}}}]
    r = only(judge(gate, results(unscored), earlier=earlier), "heldout.rubric.tone.overall")
    assert r.passed is False and "this run has no candidate value" in r.evidence


def test_no_regression_metric_missing_from_the_earlier_run_is_not_evaluated() -> None:
    earlier = StoredRun(Path("old"), results(row("ood", "accuracy", 0.5, 0.5, (0, 0))), None)
    r = only(judge(GATE, run_with(0.8), earlier=earlier), "heldout.accuracy")
    assert r.passed is None


# ---- outputs ---------------------------------------------------------------------------------


def test_junit_and_markdown_list_failures(tmp_path: Path) -> None:
    report = judge(
        [
            {"heldout.macro_f1": {"candidate": ">= 0.9"}},
            {"heldout.macro_f1": {"candidate": ">= 0.5"}},
            {"heldout.accuracy": {"no_regression": {}}},
        ],
        results(
            row("heldout", "macro_f1", 0.7, 0.8, (0.05, 0.15)),
            row("heldout", "accuracy", 0.7, 0.8, (0.05, 0.15)),
        ),
    )
    run = RUN.model_copy(
        update={"gates": report, "verdict": Verdict(outcome="unknown", sentence="x < y & z")}
    )
    xml = junit_xml(run)
    assert 'tests="4" failures="1" errors="0" skipped="1"' in xml
    assert 'type="GateFailed"' in xml and "&lt; y &amp; z" in xml
    md = summary_markdown(run)
    lines = [line for line in md.splitlines() if line.startswith("| ")]
    assert "**Gates: FAILED** (1 of 4 checks failed)" in md
    assert lines[1].startswith("| ❌ fail | `heldout.macro_f1` | candidate >= 0.9")  # failed first
    assert "⚠️ not evaluated" in lines[2]
