"""The parts of results.json that release history adds, as versioned pydantic models.

A leaf below `evalkit.results` (which names these as optional fields of `Results`): per-arm
intervals and data versions that the run store records, the trends and drift findings of the
History section, and the roll-back decision against the previously released candidate.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from evalkit.names import ArmName, Section

DriftKind = Literal["model_changed", "data_drifted"]
Recommendation = Literal["promote", "hold", "roll back"]
Finding = Literal["better", "worse", "no clear change", "not comparable"]


class Model(BaseModel):
    # like evalkit.results: unknown keys are errors, so a file is never half-read
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArmInterval(Model):
    """One arm's value of one metric with its own bootstrap interval.

    The metric rows of results.json hold the interval of the *difference* between the arms;
    a run's history needs each arm's own, to tell whether the arm moved between runs.
    """

    dataset: str
    section: Section
    metric: str
    arm: ArmName
    value: float | None
    ci_low: float | None
    ci_high: float | None


class ProbeData(Model):
    version: str
    sha256: str  # of the items answered (after sampling)
    n: int


class DataVersions(Model):
    """Hashes of the data the run used besides `dataset_hashes`: training data and probes."""

    training_data_sha256: str | None  # every training item (None: the suite names none)
    training_sample_sha256: str | None  # the seeded sample both arms answered
    probes: dict[str, ProbeData]


class TrendPoint(Model):
    """One run's value of one arm's metric, with the arm's interval."""

    run_id: str
    created_at: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    arm_identity: str  # model identity and prompt hash: equal, the same arm
    data_sha256: str | None  # the dataset's hash in that run
    current: bool = False


class Trend(Model):
    dataset: str
    section: Section
    metric: str
    higher_is_better: bool
    points: dict[ArmName, list[TrendPoint]]  # oldest first; the current run last


class DriftFinding(Model):
    """The same arm on a dataset of the same name moved more than the two intervals explain."""

    kind: DriftKind  # model_changed: same data, same arm; data_drifted: the data's hash changed
    arm: ArmName
    dataset: str
    section: Section
    metric: str
    previous_run: str
    previous: float
    current: float
    change: float
    allowed: float  # the largest move the two runs' intervals explain
    sentence: str


class History(Model):
    """The suite's earlier runs, as this run's report shows them."""

    past_runs: int  # earlier finished runs of the suite in the store
    trends: list[Trend]
    drift: list[DriftFinding]


class ReleaseChange(Model):
    """One metric of the current candidate against the previously released one."""

    dataset: str
    section: Section
    metric: str
    higher_is_better: bool
    previous: float | None
    current: float | None
    change: float | None  # current − previous
    ci_low: float | None
    ci_high: float | None
    n: int | None  # items paired, where paired
    how: Literal["paired", "unpaired", "none"]
    same_items: bool | None  # the dataset hashed the same in both runs (None: not recorded)
    finding: Finding
    evidence: str


class ReleaseDecision(Model):
    """Promote, hold or roll back: the current candidate against the previously released one."""

    against: str  # what was asked for: a run folder, a run id, `last` or `last-passed`
    previous_run: str | None  # None: there was no earlier run to compare with
    previous_path: str | None
    previous_created_at: str | None
    previous_gates_passed: bool | None
    current_gates_passed: bool | None
    candidate_changed: bool | None  # model identity or prompt differ between the two
    confidence: float
    changes: list[ReleaseChange]
    recommendation: Recommendation | None  # None: nothing to compare with
    reasons: list[str]
