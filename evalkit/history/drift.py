"""Trends and drift over a suite's recorded runs.

**The drift rule.** For each watched metric (`watched`) and each arm, the current run is
compared with the most recent earlier run in which the *same arm* (equal model identity —
model, model args, endpoint, adapter content — and equal prompt hash) evaluated a dataset of
the *same name*. Each run's value carries its own bootstrap interval (half-widths h₁, h₂);
two independent estimates differ by more than their intervals explain when

    |current − previous| > √(h₁² + h₂²)

(the half-width of the interval of a difference of two independent estimates at the same
confidence). Such a move is a finding:

- **the model changed** when the dataset's hash is the same: identical inputs to an
  identical arm gave different answers (a provider updated the model behind its name,
  decoding is not deterministic, or the serving stack changed);
- **the data drifted** when the dataset's hash differs: the arm is unchanged and its score
  moved on new data.

An arm whose identity changed (a new adapter, another prompt) is not drift: that is what the
roll-back decision (`release.py`) compares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from evalkit.analysis.stats import compare
from evalkit.history.records import MetricRecord, RunRecord
from evalkit.history.schema import DriftFinding, History, Trend, TrendPoint
from evalkit.names import ARMS, PROBE, PROBES_PREFIX, TASK, TRAINING_KIND

# Error rates say how the endpoint behaved, not the model: the errors gate watches them, and
# every failed request already counts as a wrong answer in the metrics that are watched.
UNWATCHED = frozenset({"error_rate"})
MAX_RUNS = 30  # points per trend chart, the current run included


def watched(section: str, kind: str, metric: str, headline: bool) -> bool:
    """The metrics history follows: task datasets' headline metrics (format adherence among
    them) and each probe's accuracy; not the training sample, which is a diagnostic."""
    if section == PROBE:
        return metric == "accuracy"
    return section == TASK and kind != TRAINING_KIND and headline and metric not in UNWATCHED


def _watched_rows(run: RunRecord) -> list[MetricRecord]:
    kinds = {(d.section, d.name): d.kind for d in run.datasets}
    return [
        m
        for m in run.metrics
        if watched(m.section, kinds.get((m.section, m.dataset), ""), m.metric, m.headline)
    ]


def half_width(low: float | None, high: float | None) -> float | None:
    return None if low is None or high is None else (high - low) / 2


def explained(h1: float, h2: float) -> float:
    """The largest move between two independent estimates that their intervals explain.

    >>> round(explained(0.03, 0.04), 6)
    0.05
    """
    return math.hypot(h1, h2)


def path_of(section: str, dataset: str, metric: str) -> str:
    return f"{PROBES_PREFIX}.{dataset}.{metric}" if section == PROBE else f"{dataset}.{metric}"


def _point(run: RunRecord, row: MetricRecord, arm: str, current: bool) -> TrendPoint:
    value, low, high = row.arm(arm)
    dataset = run.dataset(row.dataset, row.section)
    return TrendPoint(
        run_id=run.run_id,
        created_at=run.created_at,
        value=value,
        ci_low=low,
        ci_high=high,
        arm_identity=run.arms[arm].key,  # type: ignore[index]
        data_sha256=dataset.sha256 if dataset else None,
        current=current,
    )


def _finding(
    arm: str, row: MetricRecord, current: RunRecord, previous: RunRecord
) -> DriftFinding | None:
    old_row = previous.metric(row.dataset, row.metric, row.section)
    if old_row is None:
        return None
    new_value, new_low, new_high = row.arm(arm)
    old_value, old_low, old_high = old_row.arm(arm)
    h_new, h_old = half_width(new_low, new_high), half_width(old_low, old_high)
    if new_value is None or old_value is None or h_new is None or h_old is None:
        return None  # no interval to judge the move by
    change, allowed = new_value - old_value, explained(h_old, h_new)
    if not compare(abs(change), ">", allowed):
        return None
    old_data = previous.dataset(row.dataset, row.section)
    new_data = current.dataset(row.dataset, row.section)
    old_hash, new_hash = (
        (old_data.sha256 if old_data else None),
        (new_data.sha256 if new_data else None),
    )
    same_data = old_hash == new_hash
    name = path_of(row.section, row.dataset, row.metric)
    moved = (
        f"{arm} {name} moved {old_value:.3f} → {new_value:.3f} ({change:+.3f}) since run "
        f"{previous.run_id}, with the same model and prompt; the two runs' intervals explain "
        f"at most ±{allowed:.3f}"
    )
    errors = [
        f"{r.run_id} had {count} failed requests"
        for r, d in ((previous, old_data), (current, new_data))
        if d is not None
        and (count := d.errors_baseline if arm == "baseline" else d.errors_candidate)
    ]
    if same_data:
        why = (
            ": on the same data, so the model changed (a provider update behind the same name, "
            "non-deterministic decoding or another serving stack)"
        )
    else:
        why = (
            f": on new data (hash {(old_hash or '?')[:12]} → {(new_hash or '?')[:12]}), so "
            "the data drifted"
        )
    return DriftFinding(
        kind="model_changed" if same_data else "data_drifted",
        arm=arm,  # type: ignore[arg-type]
        dataset=row.dataset,
        section=row.section,
        metric=row.metric,
        previous_run=previous.run_id,
        previous=old_value,
        current=new_value,
        change=change,
        allowed=allowed,
        sentence=moved + why + (f" ({'; '.join(errors)})" if errors else "") + ".",
    )


def history_of(current: RunRecord, past: Sequence[RunRecord]) -> History:
    """Trends of the watched metrics over the suite's earlier runs, and the drift findings."""
    earlier = [
        r
        for r in past
        if r.suite == current.suite
        and r.created_at <= current.created_at
        and (r.run_id, r.created_at) != (current.run_id, current.created_at)
    ]
    shown = earlier[-(MAX_RUNS - 1) :]
    trends, drift = [], []
    for row in _watched_rows(current):
        points: dict[str, list[TrendPoint]] = {}
        for arm in ARMS:
            points[arm] = [
                _point(run, old, arm, current=False)
                for run in shown
                if (old := run.metric(row.dataset, row.metric, row.section)) is not None
            ] + [_point(current, row, arm, current=True)]
            key = current.arms[arm].key  # type: ignore[index]
            same_arm = [
                r
                for r in earlier
                if arm in r.arms
                and r.arms[arm].key == key  # type: ignore[index]
                and r.metric(row.dataset, row.metric, row.section) is not None
            ]
            if same_arm and (found := _finding(arm, row, current, same_arm[-1])):
                drift.append(found)
        trends.append(
            Trend(
                dataset=row.dataset,
                section=row.section,
                metric=row.metric,
                higher_is_better=row.higher_is_better,
                points=points,  # type: ignore[arg-type]
            )
        )
    return History(past_runs=len(earlier), trends=trends, drift=drift)
