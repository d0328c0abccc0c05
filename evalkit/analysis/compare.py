"""Two finished runs side by side: every dataset × metric, each arm's value in both, the change."""

from __future__ import annotations

from dataclasses import dataclass

from evalkit.names import ARMS
from evalkit.results import MetricResult, Results


@dataclass(frozen=True)
class Change:
    """One arm's value of a metric in run A and in run B, and B − A (None where either lacks it)."""

    a: float | None
    b: float | None

    @property
    def change(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass(frozen=True)
class ComparedMetric:
    dataset: str
    section: str
    metric: str
    higher_is_better: bool
    same_items: bool | None  # None when a run does not record the dataset's hash (probes)
    arms: dict[str, Change]


def _key(m: MetricResult) -> tuple[str, str, str]:
    return m.dataset, m.section, m.metric


def compare_runs(a: Results, b: Results) -> list[ComparedMetric]:
    """One row per dataset × metric in either run (A's order first); None where a run lacks it.

    `same_items` says whether the dataset hashed the same in both runs: changes on different
    items are not like for like.
    """
    rows_a = {_key(m): m for m in a.metrics}
    rows_b = {_key(m): m for m in b.metrics}
    out = []
    for key in [*rows_a, *(k for k in rows_b if k not in rows_a)]:
        ma, mb = rows_a.get(key), rows_b.get(key)
        dataset, section, metric = key
        ha, hb = a.dataset_hashes.get(dataset), b.dataset_hashes.get(dataset)
        either = ma or mb
        assert either is not None  # the key came from one of them
        out.append(
            ComparedMetric(
                dataset=dataset,
                section=section,
                metric=metric,
                higher_is_better=either.higher_is_better,
                same_items=None if ha is None or hb is None else ha == hb,
                arms={
                    arm: Change(ma[arm] if ma else None, mb[arm] if mb else None) for arm in ARMS
                },
            )
        )
    return out
