"""CI gates: a finished run's numbers + the suite's `gates:` → pass/fail per rule, with evidence.

Every check is judged on an interval, never on a point estimate alone, so a gate cannot pass
on noise: a difference must clear its bound with its whole confidence interval.

Metric paths: `<dataset>.<metric>` for task datasets (`*.macro_f1` = every evaluated task
dataset; the training-sample set is left out of wildcards but can be named), and
`probes.<pack>.<metric>` / `probes.*.<metric>` for forgetting probes. The metric part is
everything after the dataset part, so `heldout.format.json` and `heldout.rubric.tone.overall`
work. A path that matches nothing is an InputError, never a silent pass.

Each kind of check is one handler in `GATE_RULES`, registered under the name of its key in
the suite's `GateCheck` schema; tests/test_gate.py holds the two to the same names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Any

import pandas as pd
from pydantic import ValidationError

from evalkit.analysis.metrics import MetricContext, metrics_for, statistics_for
from evalkit.analysis.stats import PairedResult, compare, paired_bootstrap, quantile_key
from evalkit.errors import InputError
from evalkit.names import (
    ARMS,
    HUMAN,
    PROBE,
    PROBES_PREFIX,
    REFUSAL_PREFIX,
    TASK,
    TRAINING_KIND,
    TRAINING_SAMPLE,
)
from evalkit.registry import Registry
from evalkit.results import GateOutcome, Gates, MetricResult, Results, StoredRun
from evalkit.scoring.format import default_checks, run_checks
from evalkit.scoring.probes import score_names
from evalkit.suite.load import LoadedSuite
from evalkit.suite.schema import COMPARATOR, GateCheck, NonInferior, Regression

ERRORS_RULE = "errors"


@dataclass(frozen=True)
class GateContext:
    """What a check may read besides its metric row: the whole run, its rows, an earlier run."""

    results: Results
    samples: pd.DataFrame | None = None
    earlier: StoredRun | None = None


Handler = Callable[[str, MetricResult, Any, GateContext], GateOutcome]
GATE_RULES = Registry[Handler]("gate rule")


def gate_rule(name: str) -> Callable[[Handler], Handler]:
    """Register the decorated `(rule, row, config, context) → GateOutcome` as check `name`."""

    def register(handler: Handler) -> Handler:
        return GATE_RULES.register(name, handler)

    return register


def gates_from_results(results: Results) -> list[dict[str, GateCheck]]:
    """The suite's gates as stored in results.json, validated again with the suite schema."""
    try:
        return [
            {path: GateCheck.model_validate(check) for path, check in gate.items()}
            for gate in results.suite.config.get("gates", [])
        ]
    except (ValidationError, AttributeError) as e:
        raise InputError(
            f"the stored gates are not valid: {e}", where="results.json suite.config.gates"
        ) from e


def max_errors_from_results(results: Results) -> int:
    return int(results.suite.config.get("run", {}).get("max_errors", 0))


# ---- paths ---------------------------------------------------------------------------------


def _split(path: str) -> tuple[str, str, str] | None:
    """(section, dataset pattern, metric) or None when the path has no metric part."""
    section, rest = (
        (PROBE, path[len(PROBES_PREFIX) + 1 :])
        if path.startswith(PROBES_PREFIX + ".")
        else (TASK, path)
    )
    dataset, _, metric = rest.partition(".")
    return (section, dataset, metric) if dataset and metric else None


def _is_pattern(text: str) -> bool:
    return any(c in text for c in "*?[")


def expand_path(path: str, metrics: Sequence[MetricResult]) -> list[MetricResult]:
    """The metric rows a gate path names (wildcards in the dataset part); [] when none."""
    parts = _split(path)
    if parts is None:
        return []
    section, dataset, metric = parts
    wildcard = _is_pattern(dataset)
    return [
        m
        for m in metrics
        if m.section == section
        and m.metric == metric
        and (
            fnmatchcase(m.dataset, dataset) and m.kind != TRAINING_KIND
            if wildcard
            else m.dataset == dataset
        )
    ]


def metric_names(loaded: LoadedSuite, section: str) -> list[str]:
    """The metrics a dataset of `section` reports, read from the metric registry before any
    run; rubric scores (`rubric.<name>.<metric>`) come on top."""
    suite = loaded.suite
    checks: dict[str, bool] = {}
    if section == TASK:
        classification = suite.task.type == "classification"
        spec = suite.scorers.format or default_checks(suite.task.answer_format, classification)
        # the checks a run computes are the keys run_checks returns for any output
        checks = run_checks("", spec, json_schema={} if spec.schema_path else None,
                            label_in_set=False)  # fmt: skip
    rows = pd.DataFrame({"checks": [checks]})
    scorers = tuple(s.info for s in loaded.scorers)
    ctx = MetricContext(
        suite.task.type, loaded.labels, section, scorers, fields=loaded.fields,
        refusal=suite.refusal_classifiers() if section == TASK else (),
    )  # fmt: skip
    names = [m.name for m in metrics_for(rows, rows, ctx)]
    if section == PROBE:  # each pack's own scores (accuracy_norm, refusal rates, IFEval's)
        names += dict.fromkeys(n for p in loaded.probes for n in score_names(p.pack, p.method))
    return names


def check_gate_targets(loaded: LoadedSuite) -> None:
    """Before any model call: every gate names a dataset or probe the suite runs, and a metric
    it reports."""
    suite, suite_path = loaded.suite, loaded.path
    probe_names = [p.name for p in loaded.probes]
    datasets = [*suite.datasets, *([TRAINING_SAMPLE] if suite.training_data else [])]
    for i, gate in enumerate(suite.gates):
        for path in gate:
            parts = _split(path)
            if parts is None:
                raise InputError(
                    f"gate path {path!r} needs '<dataset>.<metric>' or 'probes.<pack>.<metric>'",
                    path=suite_path,
                    where=f"gates[{i}]",
                )
            section, name, metric = parts
            if section == TASK and name == HUMAN:
                continue  # people's metrics exist once ratings are imported (evalkit review)
            known = probe_names if section == PROBE else datasets
            if not any(fnmatchcase(k, name) for k in known):
                what = "probe pack" if section == PROBE else "dataset"
                raise InputError(
                    f"gate path {path!r}: no {what} matches {name!r}; "
                    f"{what}s in this suite: {', '.join(known) or 'none'}",
                    path=suite_path,
                    where=f"gates[{i}]",
                )
            # rubric and criterion names are checked once the run has its rubric scores
            rubric = section == TASK and metric.startswith("rubric.") and metric.count(".") == 2
            judged = (
                rubric
                or (section == TASK and metric == f"{REFUSAL_PREFIX}.judge")
                or any(p.name == name and p.classifier == "judge" for p in loaded.probes)
            )
            if gate[path].require_calibrated_judge and not judged:
                raise InputError(
                    f"gate path {path!r}: require_calibrated_judge applies to a judge's metrics "
                    "(rubric.<name>.<metric>, refusal.judge, or a refusal probe with classifier: judge)",
                    path=suite_path,
                    where=f"gates[{i}]",
                )
            names = metric_names(loaded, section)
            if not rubric and metric not in names:
                raise InputError(
                    f"gate path {path!r}: no metric {metric!r} here; "
                    f"{'probes' if section == PROBE else 'datasets'} of this suite report "
                    f"{', '.join(names)}"
                    + (
                        ", rubric.<rubric>.<criterion|overall|pass_rate>" if section == TASK else ""
                    ),
                    path=suite_path,
                    where=f"gates[{i}]",
                )


# ---- checks --------------------------------------------------------------------------------


def _comparator(text: str) -> tuple[str, float]:
    m = COMPARATOR.match(text)
    if m is None:  # the schema's pattern already rejects these; kept for stored results
        raise InputError(f"not a comparator: {text!r} (expected e.g. '>= 0.8')")
    return m.group(1), float(m.group(2))


def _pct(confidence: float) -> str:
    return f"{confidence * 100:g}%"


def _absolute(rule: str, row: MetricResult, arm: str, comparator: str) -> GateOutcome:
    op, bound = _comparator(comparator)
    check = f"{arm} {op} {bound:g}"
    value = row[arm]
    if value is None:
        return GateOutcome(
            rule=rule,
            check=check,
            passed=False,
            evidence=f"{arm} has no value for this metric",
            bound=bound,
        )
    passed = compare(value, op, bound)
    evidence = f"{arm} = {value:.4f} ({'meets' if passed else 'does not meet'} {op} {bound:g})"
    return GateOutcome(
        rule=rule, check=check, passed=passed, evidence=evidence, value=value, bound=bound
    )


@gate_rule("baseline")
def _baseline_bound(rule: str, row: MetricResult, comparator: str, ctx: GateContext) -> GateOutcome:
    """An absolute bound on the baseline's value."""
    return _absolute(rule, row, "baseline", comparator)


@gate_rule("candidate")
def _candidate_bound(
    rule: str, row: MetricResult, comparator: str, ctx: GateContext
) -> GateOutcome:
    """An absolute bound on the candidate's value."""
    return _absolute(rule, row, "candidate", comparator)


def _uninformative(
    rule: str, check: str, row: MetricResult, ctx: GateContext
) -> GateOutcome | None:
    """Not evaluated, when the row is a verdict metric of a probe whose baseline had nothing to lose.

    A baseline at chance (or one that could not answer most items) cannot get worse, so the
    candidate being "not worse" says nothing about forgetting: such a check must not pass.
    """
    if row.section != PROBE:
        return None
    probe = next(
        (p for p in ctx.results.probes if p.probe == row.dataset and p.metric == row.metric),
        None,
    )
    if probe is None or probe.informative:
        return None
    return GateOutcome(
        rule=rule,
        check=check,
        passed=None,
        evidence=f"not evaluated: the probe is uninformative (baseline {row.metric} "
        f"{probe.baseline or 0.0:.4f}, chance {probe.chance:.4f}, unparsable "
        f"{probe.unparsed_rate.baseline or 0.0:.0%}): the baseline had no ability to lose, so "
        "the comparison says nothing about forgetting",
    )


@gate_rule("candidate_minus_baseline")
def _difference(rule: str, row: MetricResult, comparator: str, ctx: GateContext) -> GateOutcome:
    """The bound applies to the CI: '>=' needs its lower end, '<=' its upper end."""
    op, bound = _comparator(comparator)
    check = f"candidate_minus_baseline {op} {bound:g}"
    if vacuous := _uninformative(rule, check, row, ctx):
        return vacuous
    low, high, diff = row.ci_low, row.ci_high, row.diff
    if low is None or high is None or diff is None:
        return GateOutcome(
            rule=rule,
            check=check,
            passed=False,
            evidence="no interval for this metric",
            bound=bound,
        )
    end, value = ("lower", low) if op in (">=", ">") else ("upper", high)
    passed = compare(value, op, bound)
    ci = f"{_pct(row.confidence)} CI [{low:+.4f}, {high:+.4f}]"
    if passed:
        evidence = f"diff {diff:+.4f}, {ci}: the {end} end {value:+.4f} meets {op} {bound:g}"
    elif compare(diff, op, bound):
        evidence = (
            f"the point estimate {diff:+.4f} meets {op} {bound:g} but the {ci} does not: its "
            f"{end} end is {value:+.4f}. The interval must clear the bound (n={row.n}; "
            "more items or a larger effect would)"
        )
    else:
        evidence = f"diff {diff:+.4f}, {ci}: does not meet {op} {bound:g}"
    return GateOutcome(
        rule=rule, check=check, passed=passed, evidence=evidence, value=value, bound=bound
    )


@gate_rule("non_inferior")
def _non_inferior(rule: str, row: MetricResult, spec: NonInferior, ctx: GateContext) -> GateOutcome:
    """One-sided bound of candidate − baseline beyond −margin (beyond +margin if lower is better)."""
    c = spec.confidence
    check = f"non_inferior margin {spec.margin:g} at {_pct(c)}"
    if vacuous := _uninformative(rule, check, row, ctx):
        return vacuous
    if row.higher_is_better:
        value, bound = row.quantiles.get(quantile_key(1 - c)), -spec.margin or 0.0
        op, end = ">", "lower"
    else:
        value, bound = row.quantiles.get(quantile_key(c)), spec.margin
        op, end = "<", "upper"
    if value is None or row.diff is None:
        return GateOutcome(
            rule=rule,
            check=check,
            passed=False,
            evidence=f"no {_pct(c)} bound stored for this metric",
        )
    passed = compare(value, op, bound)
    direction = "" if row.higher_is_better else " (lower is better)"
    evidence = (
        f"diff {row.diff:+.4f}; one-sided {_pct(c)} {end} bound {value:+.4f} "
        f"{'is' if passed else 'is not'} {op} {bound:+g}{direction}"
    )
    return GateOutcome(
        rule=rule, check=check, passed=passed, evidence=evidence, value=value, bound=bound
    )


def cross_run_change(
    old: pd.DataFrame, new: pd.DataFrame, row: MetricResult, arm: str, results: Results
) -> PairedResult | None:
    """new − old for one arm's metric, paired-bootstrapped over the items both runs share.

    Reuses the metric definitions of the arm comparison, with the earlier run in the
    baseline slot; None when no items are shared or the metric is not per-item (rubrics).
    """
    pick = (old["dataset"] == row.dataset) & (old["arm"] == arm)
    o = old[pick].set_index("id")
    n = new[(new["dataset"] == row.dataset) & (new["arm"] == arm)].set_index("id")
    shared = [i for i in o.index if i in n.index]
    if not shared:
        return None
    suite = results.suite
    ctx = MetricContext(suite.task_type, tuple(suite.labels), row.section, tuple(suite.scorers),
                        fields=tuple(suite.fields))  # fmt: skip
    statistics = statistics_for(o.loc[shared], n.loc[shared], ctx)
    if row.metric not in statistics:
        return None
    paired, stats = statistics[row.metric], results.stats
    change = paired_bootstrap(
        {row.metric: (paired.baseline, paired.candidate)},
        len(shared),
        resamples=stats.bootstrap,
        seed=stats.seed,
        confidence=stats.confidence,
    )[row.metric]
    return change if paired.n is None else replace(change, n=paired.n)


@gate_rule("no_regression")
def _no_regression(rule: str, row: MetricResult, spec: Regression, ctx: GateContext) -> GateOutcome:
    """This run's arm may not drop more than `tolerance` below the earlier run's, on an interval."""
    arm, tol, earlier = spec.arm, spec.tolerance, ctx.earlier
    check = f"no_regression {arm} tolerance {tol:g}"
    if earlier is None:
        return GateOutcome(
            rule=rule,
            check=check,
            passed=None,
            evidence="not evaluated: no baseline run given (--baseline)",
        )
    old_row = earlier.results.metric(row.dataset, row.metric, row.section)
    if old_row is None or old_row[arm] is None:
        return GateOutcome(
            rule=rule,
            check=check,
            passed=None,
            evidence=f"not evaluated: the baseline run {earlier.path} has no {rule}",
        )
    if row[arm] is None:  # e.g. a rubric criterion no item of this run was scored on
        return GateOutcome(
            rule=rule,
            check=check,
            passed=False,
            evidence=f"this run has no {arm} value for {rule} (the baseline run has "
            f"{old_row[arm]:.4f}), so it cannot show that it did not regress",
        )
    higher = row.higher_is_better
    # a drop for higher-is-better metrics, a rise for lower-is-better ones
    bound = (-tol or 0.0) if higher else tol  # `or 0.0`: never print -0
    op = ">=" if higher else "<="
    change = None
    if ctx.samples is not None and earlier.samples is not None:
        change = cross_run_change(earlier.samples, ctx.samples, row, arm, ctx.results)
    if change is None:
        # rubric scores and runs without samples.jsonl: only the point values are comparable
        value = row[arm] - old_row[arm]
        passed = compare(value, op, bound)
        evidence = (
            f"{arm} {old_row[arm]:.4f} → {row[arm]:.4f} ({value:+.4f}); no per-item rows to pair "
            f"(none shared, or not a per-item metric), so judged on point values: {'meets' if passed else 'does not meet'} {op} {bound:+g}"
        )
        return GateOutcome(
            rule=rule, check=check, passed=passed, evidence=evidence, value=value, bound=bound
        )
    value = change.ci_low if higher else change.ci_high
    passed = compare(value, op, bound)
    end = "lower" if higher else "upper"
    evidence = (
        f"{arm} {change.baseline:.4f} → {change.candidate:.4f} ({change.diff:+.4f}) on "
        f"{change.n} items shared with {earlier.path.name}; {_pct(change.confidence)} CI of the "
        f"change [{change.ci_low:+.4f}, {change.ci_high:+.4f}]: its {end} end "
        f"{'meets' if passed else 'does not meet'} {op} {bound:+g}"
    )
    return GateOutcome(
        rule=rule, check=check, passed=passed, evidence=evidence, value=value, bound=bound
    )


def _uncalibrated(row: MetricResult, results: Results, index: int) -> GateOutcome | None:
    """A failed check when the row's judge is not calibrated (the gate asked for one)."""
    status = results.judge_status(row)
    if status is None:
        raise InputError(
            f"require_calibrated_judge on {row.path!r}: no judge made this metric "
            "(it applies to rubric.<name>.* rows and refusal probes classified by the judge)",
            path=results.suite.path,
            where=f"gates[{index}]",
        )
    if status == "calibrated":
        return None
    rubric = results.judge_of(row)
    why = rubric.calibration_reason if rubric else "the refusal judge is not measured in the run"
    return GateOutcome(
        rule=row.path,
        check="require_calibrated_judge",
        passed=False,
        evidence=f"the judge behind this metric is {status} ({why}); this gate needs a "
        "calibrated judge, so it fails closed: add human labels or import people's ratings",
    )


def _no_ratings(path: str, results: Results) -> GateOutcome:
    """A gate on people's ratings fails closed until ratings that give it a value are imported."""
    people = results.people
    what = (
        "no human ratings are imported yet"
        if people is None
        else f"the imported ratings give no {path.partition('.')[2]!r} "
        f"(people's metrics here: {', '.join(m.path for m in results.metrics if m.dataset == HUMAN) or 'none'})"
    )
    return GateOutcome(
        rule=path,
        check="needs human ratings",
        passed=False,
        evidence=f"{what}: rate with `evalkit review`, then `evalkit review import RUN FILES`",
    )


def errors_gate(results: Results, max_errors: int) -> GateOutcome:
    """Fails when any dataset × arm lost more samples than `run.max_errors` allows."""
    check = f"errored samples <= {max_errors} per dataset and arm"
    over = [
        f"{name}: {arm} {d.errors[arm]} of {d.n}"
        for name, d in results.datasets.items()
        for arm in ARMS
        if d.errors[arm] > max_errors
    ]
    if over:
        return GateOutcome(
            rule=ERRORS_RULE,
            check=check,
            passed=False,
            evidence=f"samples errored ({'; '.join(over)}); run.max_errors allows {max_errors}",
        )
    total = sum(d.errors.baseline + d.errors.candidate for d in results.datasets.values())
    return GateOutcome(
        rule=ERRORS_RULE, check=check, passed=True, evidence=f"{total} errored samples in all"
    )


def evaluate_gates(
    results: Results,
    gates: Sequence[dict[str, GateCheck]],
    *,
    max_errors: int,
    samples: pd.DataFrame | None = None,
    earlier: StoredRun | None = None,
) -> Gates:
    """Judge every gate on a finished run's results (and per-item rows, for no_regression)."""
    ctx = GateContext(results=results, samples=samples, earlier=earlier)
    judged: list[GateOutcome] = []
    for i, gate in enumerate(gates):
        for path, check in gate.items():
            rows = expand_path(path, results.metrics)
            if not rows and path.startswith(f"{HUMAN}."):
                judged.append(_no_ratings(path, results))
                continue
            if not rows:
                available = ", ".join(m.path for m in results.metrics) or "none"
                raise InputError(
                    f"gate {path!r} matches no metric of this run; available: {available}",
                    path=results.suite.path,
                    where=f"gates[{i}]",
                )
            name, config = check.rule()
            handler = GATE_RULES.lookup(name)
            for row in rows:
                uncalibrated = (
                    _uncalibrated(row, results, i) if check.require_calibrated_judge else None
                )
                judged.append(uncalibrated or handler(row.path, row, config, ctx))
    errors = errors_gate(results, max_errors)
    # with no gates configured the errors check still speaks up, but only when it fails
    if judged or errors.passed is False:
        judged.insert(0, errors)
    judged += audit_gates(results)
    return Gates(passed=all(r.passed is not False for r in judged), results=judged)


def audit_gates(results: Results) -> list[GateOutcome]:
    """One outcome per finding the suite's `audit.fail_on` names: passed when none was found."""
    audit = results.audit
    if audit is None:
        return []
    return [
        GateOutcome(
            rule=f"audit.{kind}",
            check="none found",
            passed=audit.found[kind] == 0,
            evidence=f"{audit.found[kind]} found by the data audit of {audit.data} "
            f"(see {audit.page})",
            value=audit.found[kind],
            bound=0,
        )
        for kind in audit.fail_on
    ]


def judge_run(run: StoredRun, earlier: StoredRun | None = None) -> Gates:
    """`evalkit gate`: judge a finished run with the gates stored in its own results.json."""
    return evaluate_gates(
        run.results,
        gates_from_results(run.results),
        max_errors=max_errors_from_results(run.results),
        samples=run.samples,
        earlier=earlier,
    )
