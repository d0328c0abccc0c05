"""Each arm's own interval for the metrics history watches.

A run's metric rows carry the interval of candidate − baseline; whether one arm moved between
two runs needs that arm's own interval. The analysis keeps it in each metric row (`arm_ci`),
from the same paired bootstrap as the difference's (same resamples, seed and confidence).
A run made before evalkit kept them gets the same numbers from its per-sample table: that
bootstrap again, with the arm in the candidate slot and zero in the baseline slot, so
candidate − baseline is the arm's value itself. Only the watched metrics (`drift.watched`)
are listed: they are all that drift and roll-back decisions read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evalkit.analysis.metrics import MetricContext, paired_rows, statistics_for
from evalkit.analysis.stats import paired_bootstrap
from evalkit.history.drift import watched
from evalkit.history.schema import ArmInterval
from evalkit.names import ARMS
from evalkit.results import Results


def _zero(w: np.ndarray) -> np.ndarray:
    return np.zeros(w.shape[0])


def _value(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def arm_intervals(results: Results, table: pd.DataFrame) -> list[ArmInterval]:
    """Both arms' intervals for every watched metric with per-item rows (rubric scores have
    none): from the metric rows, or for an older run from its table."""
    if any(m.arm_ci is not None for m in results.metrics):
        return _kept(results)
    return _bootstrapped(results, table)


def _kept(results: Results) -> list[ArmInterval]:
    out = []
    for m in results.metrics:
        detail = results.datasets.get(m.dataset)
        if m.arm_ci is None or detail is None or detail.section != m.section:
            continue
        if not watched(m.section, detail.kind, m.metric, m.headline):
            continue
        for arm in ARMS:
            low, high = m.arm_ci[arm]
            out.append(
                ArmInterval(
                    dataset=m.dataset,
                    section=m.section,
                    metric=m.metric,
                    arm=arm,
                    value=m[arm],
                    ci_low=low,
                    ci_high=high,
                )
            )
    return out


def _bootstrapped(results: Results, table: pd.DataFrame) -> list[ArmInterval]:
    suite, stats = results.suite, results.stats
    out = []
    for dataset, detail in results.datasets.items():
        b, c = paired_rows(table, dataset)
        ctx = MetricContext(
            suite.task_type, tuple(suite.labels), detail.section, tuple(suite.scorers)
        )
        computed = statistics_for(b, c, ctx)
        statistics = {
            f"{arm}\t{name}": (_zero, p.baseline if arm == "baseline" else p.candidate)
            for name, p in computed.items()
            if watched(detail.section, detail.kind, name, p.spec.headline)
            for arm in ARMS
        }
        if not statistics:
            continue
        drawn = paired_bootstrap(
            statistics,
            len(b),
            resamples=stats.bootstrap,
            seed=stats.seed,
            confidence=stats.confidence,
        )
        for key, r in drawn.items():
            arm, name = key.split("\t", 1)
            out.append(
                ArmInterval(
                    dataset=dataset,
                    section=detail.section,
                    metric=name,
                    arm=arm,  # type: ignore[arg-type]
                    value=_value(r.diff),
                    ci_low=_value(r.ci_low),
                    ci_high=_value(r.ci_high),
                )
            )
    return out
