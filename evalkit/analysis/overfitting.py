"""Overfitting signals side by side: training vs held-out, in-domain vs out-of-domain,
memorisation and style collapse, each with a one-line reading.

Each reading compares the candidate with the baseline, never with an absolute ideal: a base
model also does better on some sets than on others, and what the fine-tune adds to that gap is
what it learnt too narrowly. The thresholds are documented in docs/style-collapse.md.
"""

from __future__ import annotations

from evalkit.names import TRAINING_SAMPLE
from evalkit.results import Analysis, Generalisation, OverfitSignal, StyleResult

GAP = 0.10  # a gap this much larger than the baseline's (a tenth of the metric's range)
COPY_RATE = 0.05  # memorisation: at least 5% of the candidate's answers copy a training target
TRAINING = "training vs held-out"
TRANSFER = "in-domain vs out-of-domain"
MEMORY = "memorisation"
COLLAPSE = "style collapse"


def metric_range(metric: str, analysis: Analysis) -> float:
    """The width of a metric's scale: chrF is 0–100, a rubric score spans its scale, the rest 0–1."""
    if metric == "chrf":
        return 100.0
    if metric.startswith("rubric."):
        name = metric.split(".")[1]
        rubric = next((r for r in analysis.rubrics if r.rubric == name), None)
        if rubric and metric.endswith(".overall"):
            return float(rubric.scale.max - rubric.scale.min) or 1.0
    return 1.0


def _gap_reading(
    name: str, where: str, base: float | None, cand: float | None, limit: float, worse: str
) -> OverfitSignal:
    if base is None or cand is None:
        return OverfitSignal(
            name=name, status="not_measured", reading=f"no {where} score for both arms"
        )
    warning = cand - base >= limit
    reading = (
        f"{where}: candidate gap {cand:+.3f}, baseline gap {base:+.3f}; "
        + (worse if warning else "no larger than the baseline's beyond the threshold")
        + f" (threshold: {limit:+.3g} more than the baseline's)"
    )
    return OverfitSignal(name=name, status="warning" if warning else "ok", reading=reading)


def _training(g: Generalisation | None, limit: float) -> OverfitSignal:
    arms = g.arms if g else {}
    trained = {arm: a.training_sample for arm, a in arms.items()}
    if not trained or any(t is None for t in trained.values()):
        return OverfitSignal(
            name=TRAINING,
            status="not_measured",
            reading="not measured: the suite names no training_data to sample",
        )
    return _gap_reading(
        TRAINING,
        f"training sample − held-out {g.metric if g else ''}",
        trained["baseline"].gap,  # type: ignore[union-attr]
        trained["candidate"].gap,  # type: ignore[union-attr]
        limit,
        "the candidate does clearly better on items it trained on: it may have memorised them",
    )


def _transfer(g: Generalisation | None, limit: float) -> list[OverfitSignal]:
    names = list(dict.fromkeys(n for a in (g.arms.values() if g else []) for n in a.out_of_domain))
    if not g or not names:
        return [
            OverfitSignal(
                name=TRANSFER,
                status="not_measured",
                reading="not measured: the suite has no out-of-domain dataset",
            )
        ]
    return [
        _gap_reading(
            TRANSFER,
            f"held-out − {name} {g.metric}",
            g.arms["baseline"].out_of_domain[name].gap
            if name in g.arms["baseline"].out_of_domain
            else None,
            g.arms["candidate"].out_of_domain[name].gap
            if name in g.arms["candidate"].out_of_domain
            else None,
            limit,
            "the candidate's gain does not carry over to this set as the baseline's skill does",
        )
        for name in names
    ]


def _memorisation(analysis: Analysis, task_type: str) -> OverfitSignal:
    if task_type == "classification":
        return OverfitSignal(
            name=MEMORY,
            status="not_measured",
            reading="not measured: a label task's answers are labels, and repeating one is the task",
        )
    rows = [
        m
        for m in analysis.metrics
        if m.metric == "copies_training"
        and m.dataset != TRAINING_SAMPLE
        and m.candidate is not None
    ]
    if not rows:
        return OverfitSignal(
            name=MEMORY,
            status="not_measured",
            reading="not measured: the suite names no training_data to compare answers with",
        )
    flagged = [
        m for m in rows if (m.candidate or 0) >= COPY_RATE and m.ci_low is not None and m.ci_low > 0
    ]
    shown = flagged[0] if flagged else max(rows, key=lambda m: m.candidate or 0.0)
    reading = (
        f"{(shown.candidate or 0) * 100:.1f}% of the candidate's answers on {shown.dataset} copy a "
        f"training target verbatim for an unseen input (baseline {(shown.baseline or 0) * 100:.1f}%)"
    )
    if flagged:
        return OverfitSignal(
            name=MEMORY,
            status="warning",
            reading=reading
            + f": it recites training answers (threshold ≥ {COPY_RATE:.0%}, the interval above 0)",
        )
    return OverfitSignal(name=MEMORY, status="ok", reading=reading)


def _collapse(style: list[StyleResult]) -> OverfitSignal:
    held = next((s for s in style if s.dataset == "heldout"), None)
    if held is None or held.collapsed is None:
        return OverfitSignal(
            name=COLLAPSE,
            status="not_measured",
            reading="not flagged for this task: a label or JSON answer is meant to follow one "
            "template (the style section still shows the figures)",
        )
    fired = [s.name for s in held.signals if s.fired]
    if fired:
        return OverfitSignal(
            name=COLLAPSE,
            status="warning",
            reading=f"the candidate's held-out answers collapse: {', '.join(fired)}",
        )
    return OverfitSignal(
        name=COLLAPSE,
        status="ok",
        reading="no collapse signal fires on held-out: the candidate writes with the baseline's variety",
    )


def overfitting_signals(analysis: Analysis, metric: str, task_type: str) -> list[OverfitSignal]:
    """The four readings, from the generalisation table, copies_training and the style flag."""
    limit = GAP * metric_range(metric, analysis)
    g = analysis.generalisation
    return [
        _training(g, limit),
        *_transfer(g, limit),
        _memorisation(analysis, task_type),
        _collapse(analysis.style),
    ]
