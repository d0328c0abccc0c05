"""What the run store keeps of one finished run, built from its typed `Results`.

A `RunRecord` is a plain value: the store writes it and reads it back, `evalkit history`
lists it, and drift is computed from a suite's records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from evalkit.credentials import redact
from evalkit.names import PROBE, TRAINING_SAMPLE, ArmName, Section
from evalkit.results import ArmInfo, Results, redacted


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArmRecord(Record):
    model: str
    identity: str  # model, model args, base URL and adapter content (evalkit.run.plan)
    adapter_sha256: str | None
    prompt_sha256: str
    model_args: dict[str, Any]  # redacted

    @property
    def key(self) -> str:
        """The arm's identity: the model endpoint and the prompt it is sent."""
        return arm_key(self.identity, self.prompt_sha256)


def arm_key(identity: str, prompt_sha256: str) -> str:
    """One string for an arm's identity and prompt: equal keys, the same arm.

    >>> arm_key("0123456789abcdef", "fedcba9876543210aaaa")
    '0123456789abcdef/fedcba987654'
    """
    return f"{identity}/{prompt_sha256[:12]}"


class DatasetRecord(Record):
    name: str
    section: Section
    kind: str
    sha256: str | None  # None: the run did not record one
    n: int
    errors_baseline: int
    errors_candidate: int


class MetricRecord(Record):
    """One metric row: both arms, the difference and its interval, and each arm's own interval."""

    dataset: str
    section: Section
    metric: str
    headline: bool
    higher_is_better: bool
    confidence: float
    n: int
    baseline: float | None
    candidate: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    baseline_low: float | None = None
    baseline_high: float | None = None
    candidate_low: float | None = None
    candidate_high: float | None = None

    def arm(self, arm: str) -> tuple[float | None, float | None, float | None]:
        """(value, interval low, interval high) of one arm."""
        if arm == "baseline":
            return self.baseline, self.baseline_low, self.baseline_high
        return self.candidate, self.candidate_low, self.candidate_high


class GateRecord(Record):
    rule: str
    check: str
    passed: bool | None
    evidence: str


class RunRecord(Record):
    suite: str
    suite_sha256: str
    run_id: str
    created_at: str
    run_dir: str  # absolute
    evalkit_version: str
    inspect_version: str
    task_type: str
    merged: bool
    training_data_sha256: str | None
    gates_passed: bool | None  # None: no gate configured
    verdict: str
    arms: dict[ArmName, ArmRecord]
    datasets: list[DatasetRecord]
    metrics: list[MetricRecord]
    gates: list[GateRecord]

    def metric(self, dataset: str, name: str, section: str) -> MetricRecord | None:
        return next(
            (
                m
                for m in self.metrics
                if (m.dataset, m.metric, m.section) == (dataset, name, section)
            ),
            None,
        )

    def dataset(self, name: str, section: str) -> DatasetRecord | None:
        return next((d for d in self.datasets if (d.name, d.section) == (name, section)), None)


def _arm(info: ArmInfo, config: dict[str, Any]) -> ArmRecord:
    return ArmRecord(
        model=info.model,
        identity=info.identity,
        adapter_sha256=info.adapter_sha256,
        prompt_sha256=info.prompt_sha256,
        model_args=redact(config.get("model_args") or {}),
    )


def _data_sha256(results: Results, name: str, section: str) -> str | None:
    versions = results.data_versions
    if section == PROBE:
        probe = versions.probes.get(name) if versions else None
        return probe.sha256 if probe else None
    if name == TRAINING_SAMPLE:
        return versions.training_sample_sha256 if versions else None
    return results.dataset_hashes.get(name)


def record_of(results: Results, run_dir: Path) -> RunRecord:
    """The store's record of a finished, whole run (not a shard), redacted like every file."""
    results = redacted(results)
    arms_config = results.suite.config.get("arms") or {}
    metrics = []
    for m in results.metrics:
        intervals = {
            arm: results.arm_interval(m.dataset, m.metric, m.section, arm)
            for arm in ("baseline", "candidate")
        }
        b, c = intervals["baseline"], intervals["candidate"]
        metrics.append(
            MetricRecord(
                dataset=m.dataset,
                section=m.section,
                metric=m.metric,
                headline=m.headline,
                higher_is_better=m.higher_is_better,
                confidence=m.confidence,
                n=m.n,
                baseline=m.baseline,
                candidate=m.candidate,
                diff=m.diff,
                ci_low=m.ci_low,
                ci_high=m.ci_high,
                baseline_low=b.ci_low if b else None,
                baseline_high=b.ci_high if b else None,
                candidate_low=c.ci_low if c else None,
                candidate_high=c.ci_high if c else None,
            )
        )
    versions = results.data_versions
    return RunRecord(
        suite=results.suite.name,
        suite_sha256=results.suite.sha256,
        run_id=results.run_id,
        created_at=results.created_at,
        run_dir=str(run_dir.resolve()),
        evalkit_version=results.versions.evalkit,
        inspect_version=results.versions.inspect_ai,
        task_type=results.suite.task_type,
        merged=bool(results.merged_from),
        training_data_sha256=versions.training_data_sha256 if versions else None,
        gates_passed=results.gates.passed if results.gates and results.gates.results else None,
        verdict=results.verdict.sentence,
        arms={arm: _arm(info, arms_config.get(arm) or {}) for arm, info in results.arms.items()},
        datasets=[
            DatasetRecord(
                name=name,
                section=d.section,
                kind=d.kind,
                sha256=_data_sha256(results, name, d.section),
                n=d.n,
                errors_baseline=d.errors.baseline,
                errors_candidate=d.errors.candidate,
            )
            for name, d in results.datasets.items()
        ],
        metrics=metrics,
        gates=[
            GateRecord(rule=g.rule, check=g.check, passed=g.passed, evidence=g.evidence)
            for g in (results.gates.results if results.gates else [])
        ],
    )
