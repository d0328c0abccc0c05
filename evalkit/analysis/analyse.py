"""Analyse: the per-sample table → every number the report, results.json and the gate use."""

from __future__ import annotations

import math
from dataclasses import asdict
from statistics import NormalDist

import pandas as pd

from evalkit.analysis.collapse import style_summary
from evalkit.analysis.contamination import find_contamination
from evalkit.analysis.decision import decision_reading
from evalkit.analysis.economics import arm_economics
from evalkit.analysis.metrics import dataset_analysis, readable
from evalkit.analysis.overfitting import overfitting_signals
from evalkit.analysis.rubric import judge_cost, rubric_analysis
from evalkit.analysis.stats import non_inferior, quantile_key
from evalkit.names import ARMS, PROBE, TASK, TRAINING_SAMPLE
from evalkit.results import (
    Analysis,
    ArmGeneralisation,
    ArmValues,
    ContaminationMatch,
    DatasetResult,
    Generalisation,
    MetricResult,
    ProbeVerdict,
    Transfer,
    Verdict,
)
from evalkit.suite.load import LoadedSuite


def primary_metric(loaded: LoadedSuite) -> str:
    """The one metric the verdict sentence is about."""
    task = loaded.suite.task.type
    if task == "classification":
        return "macro_f1"
    if task == "extraction":
        return "field_micro_f1"
    # a generation suite graded by a rubric on held-out is judged by that rubric's overall
    # score; without one, by its closeness to the references where it has them
    graded = next((u for u in loaded.rubrics if "heldout" in u.datasets), None)
    if graded:
        return f"rubric.{graded.rubric.name}.overall"
    referenced = any(it.target.strip() for it in loaded.datasets["heldout"])
    return "chrf" if referenced else "format_adherence"


def probe_verdicts(analysis: Analysis, loaded: LoadedSuite) -> list[ProbeVerdict]:
    """Forgetting verdicts: for each metric a pack declares (`verdicts`), non-inferiority of
    the candidate at the suite's margin, the right way round for its direction.

    A verdict is informative only when the baseline had an ability to lose: its value beats
    the pack's chance level with confidence (a one-sided Wilson bound at the margin's
    confidence), and, for generated answers, it could answer most items.
    """
    margin = loaded.suite.probe_margin
    out = []
    for probe in loaded.probes:
        unparsed = analysis.metric(probe.name, "unparsed_rate", PROBE)
        ub = (unparsed.baseline or 0.0) if unparsed else 0.0
        uc = (unparsed.candidate or 0.0) if unparsed else 0.0
        for spec in probe.pack.verdicts:
            row = analysis.metric(probe.name, spec.metric, PROBE)
            if row is None:
                continue
            higher = spec.higher_is_better
            # the bound on the candidate's gain: candidate − baseline, or baseline − candidate
            # when lower is better; non-inferior when it clears −margin either way
            if higher:
                bound = row.quantiles.get(quantile_key(1 - margin.confidence))
            else:
                upper = row.quantiles.get(quantile_key(margin.confidence))
                bound = None if upper is None else -upper
            baseline = row.baseline
            beats = baseline is not None and beats_chance(
                baseline, row.n, spec.chance, higher, margin.confidence
            )
            out.append(
                ProbeVerdict(
                    probe=probe.name,
                    version=probe.version,
                    metric=spec.metric,
                    method=probe.method,
                    higher_is_better=higher,
                    n=row.n,
                    baseline=row.baseline,
                    candidate=row.candidate,
                    diff=row.diff,
                    ci_low=row.ci_low,
                    ci_high=row.ci_high,
                    lower_bound=bound,
                    margin=margin.margin,
                    confidence=margin.confidence,
                    non_inferior=bound is not None and non_inferior(bound, margin.margin),
                    unparsed_rate=ArmValues(
                        baseline=unparsed.baseline if unparsed else None,
                        candidate=unparsed.candidate if unparsed else None,
                    ),
                    classifier=probe.classifier,
                    chance=spec.chance,
                    # forgetting needs an ability to forget: a baseline at chance, or one that
                    # cannot answer most items, makes "not worse" vacuous
                    informative=ub < 0.5 and beats,
                    # more than half the answers unparsable where the baseline had few: the
                    # fine-tune answers in its task format instead of answering the question
                    format_collapse=uc >= 0.5 and uc - ub >= 0.25,
                )
            )
    return out


def beats_chance(value: float, n: int, chance: float, higher: bool, confidence: float) -> bool:
    """Whether a rate over `n` items is better than `chance` with one-sided `confidence`
    (the Wilson score bound; beyond it when lower is better).

    >>> beats_chance(0.35, 200, 0.25, True, 0.95), beats_chance(0.27, 200, 0.25, True, 0.95)
    (True, False)
    >>> beats_chance(0.10, 250, 1.0, False, 0.95)
    True
    """
    if n <= 0:
        return False
    z = NormalDist().inv_cdf(confidence)
    centre = (value + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(value * (1 - value) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half > chance if higher else centre + half < chance


def _gap(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def generalisation(analysis: Analysis, loaded: LoadedSuite, metric: str) -> Generalisation | None:
    """Per arm: in-domain score, each out-of-domain score and the gap; training sample vs held-out."""
    held = analysis.metric("heldout", metric)
    if held is None or held.diff is None:  # e.g. no item with a judge score for both arms
        return None
    trained = analysis.metric(TRAINING_SAMPLE, metric)
    arms = {}
    for arm in ARMS:
        out_of_domain = {
            # gap = held-out − out-of-domain: a large positive gap means it does not transfer
            name: Transfer(score=m[arm], gap=_gap(held[arm], m[arm]))
            for name in loaded.suite.datasets
            if loaded.suite.dataset_kind(name) == "out_of_domain"
            and (m := analysis.metric(name, metric))
        }
        arms[arm] = ArmGeneralisation(
            heldout=held[arm],
            out_of_domain=out_of_domain,
            # gap = training − held-out: a large positive gap suggests memorisation
            training_sample=Transfer(score=trained[arm], gap=_gap(trained[arm], held[arm]))
            if trained
            else None,
        )
    return Generalisation(metric=metric, arms=arms)


def verdict(analysis: Analysis, metric: str) -> Verdict:
    """One sentence a stakeholder can read, from the primary metric's interval and the probes."""
    m = analysis.metric("heldout", metric)
    if m is None or m.diff is None or m.ci_low is None or m.ci_high is None:
        why = (
            " No held-out item has a judge score for both arms: the judge's replies could not"
            " be used (see the rubric section for its errors)."
            if metric.startswith("rubric.")
            else ""
        )
        return Verdict(outcome="unknown", sentence=f"No held-out {metric} was computed.{why}")
    pct = round(m.confidence * 100)
    if m.ci_low > 0:
        outcome, phrase = "better", "beats the baseline"
    elif m.ci_high < 0:
        outcome, phrase = "worse", "is worse than the baseline"
    else:
        outcome, phrase = "inconclusive", "shows no clear difference from the baseline"
    sentence = (
        f"The candidate {phrase} on held-out {readable(metric)}: "
        f"{m.candidate:.3f} vs {m.baseline:.3f} ({m.diff:+.3f}, {pct}% CI "
        f"{m.ci_low:+.3f} to {m.ci_high:+.3f}, n={m.n})."
    )
    return Verdict(outcome=outcome, metric=metric, sentence=sentence + _probe_sentence(analysis))


def _probe_sentence(analysis: Analysis) -> str:
    """What the forgetting probes showed; an uninformative probe shows nothing either way."""
    informative = [p for p in analysis.probes if p.informative]
    vacuous = len(analysis.probes) - len(informative)
    if not analysis.probes:
        return ""
    if not informative:
        return (
            " No forgetting probe is informative (the baseline did not beat chance), so"
            " forgetting was not measured."
        )
    shown = sum(p.non_inferior for p in informative)
    sentence = (
        f" Non-inferiority is shown on {shown} of {len(informative)} informative forgetting probes"
    )
    if vacuous:
        sentence += f"; {vacuous} more {'is' if vacuous == 1 else 'are'} uninformative (the baseline did not beat chance)"
    return sentence + "."


def contamination(loaded: LoadedSuite) -> list[ContaminationMatch] | None:
    """Evaluation items (held-out and out-of-domain) whose text matches a training item; None without training data."""
    if not loaded.training:
        return None
    settings = loaded.suite.contamination
    evaluated = [it for items in loaded.datasets.values() for it in items]
    matches = find_contamination(evaluated, loaded.training, settings.ngram, settings.threshold)
    return [ContaminationMatch(**asdict(m)) for m in matches]


def analyse(table: pd.DataFrame, loaded: LoadedSuite) -> Analysis:
    """Every figure of the run, from the per-sample table."""
    suite = loaded.suite
    datasets: dict[str, DatasetResult] = {}
    metrics: dict[str, list[MetricResult]] = {}
    keys = table[["dataset", "section", "kind"]].drop_duplicates().itertuples(index=False)
    lower = {
        p.name: frozenset(v.metric for v in p.pack.verdicts if not v.higher_is_better)
        for p in loaded.probes
    }
    refusal = suite.refusal_classifiers()
    for dataset, section, kind in keys:
        datasets[dataset], metrics[dataset] = dataset_analysis(
            table, dataset, section=section, kind=kind, task_type=suite.task.type,
            labels=loaded.labels, stats=suite.stats,
            scorers=tuple(s.info for s in loaded.scorers), fields=loaded.fields,
            lower_is_better=lower.get(dataset, frozenset()) if section == PROBE else frozenset(),
            refusal=refusal if section == TASK and dataset in suite.refusal_datasets() else (),
        )  # fmt: skip
    rubrics, rubric_rows = rubric_analysis(table, loaded)
    for row in rubric_rows:
        metrics[row.dataset].append(row)
    analysis = Analysis(
        datasets=datasets,
        metrics=[m for rows in metrics.values() for m in rows],
        rubrics=rubrics,
        contamination=contamination(loaded),
        economics=arm_economics(table, suite),
        judge_cost=judge_cost(table, loaded),
    )
    metric = primary_metric(loaded)
    # each step reads what the ones before it found
    analysis = analysis.model_copy(update={"probes": probe_verdicts(analysis, loaded)})
    if suite.decision is not None or loaded.prompt_options:
        reading = decision_reading(analysis, table, loaded, metric)
        analysis = analysis.model_copy(update={"decision": reading})
    analysis = analysis.model_copy(
        update={
            "generalisation": generalisation(analysis, loaded, metric),
            "verdict": verdict(analysis, metric),
            "style": style_summary(table, analysis, suite.task.type),
        }
    )
    return analysis.model_copy(
        update={"overfitting": overfitting_signals(analysis, metric, suite.task.type)}
    )
