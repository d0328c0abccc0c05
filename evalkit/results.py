"""results.json as versioned pydantic models, and a finished run read back from its folder.

`Results` is the file's schema (the way inspect's `EvalLog` is its log's): analysis builds
it, the pipeline writes it, and the gate, the report writers, compare and a run history
read its attributes. `SCHEMA_VERSION` is bumped on any incompatible change; a file of
another version is refused with a message that names it, never half-read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from evalkit.credentials import redact
from evalkit.errors import InputError
from evalkit.history.schema import ArmInterval, DataVersions, History, ReleaseDecision
from evalkit.jsonutil import WRITE_ERRORS
from evalkit.names import (
    CUSTOM_PREFIX,
    PROBE,
    PROBES_PREFIX,
    REFUSAL_PREFIX,
    TASK,
    ArmName,
    Section,
)
from evalkit.runfolder import MANIFEST, require_finished
from evalkit.suite.schema import Price, Stats

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 2


class Model(BaseModel):
    # unknown keys are errors: a file that does not match its version is not half-read
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArmValues(Model):
    """One number per arm."""

    baseline: float | None
    candidate: float | None

    def __getitem__(self, arm: str) -> float | None:
        return self.baseline if arm == "baseline" else self.candidate


class ArmCounts(Model):
    baseline: int = 0
    candidate: int = 0

    def __getitem__(self, arm: str) -> int:
        return self.baseline if arm == "baseline" else self.candidate


class Interval(Model):
    """Both arms' values, candidate − baseline and its two-sided interval (None when unknown)."""

    baseline: float | None
    candidate: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None

    def __getitem__(self, arm: str) -> float | None:
        return self.baseline if arm == "baseline" else self.candidate


class MetricResult(Interval):
    """One metric on one dataset: the row a gate path names (`heldout.macro_f1`)."""

    dataset: str
    section: Section
    kind: str
    metric: str
    higher_is_better: bool = True
    headline: bool = False  # shown in the terminal summary and summary.md
    confidence: float
    n: int  # items both arms have a value for
    resamples: int
    # bootstrap quantiles of candidate − baseline, by quantile_key: one-sided bounds at any
    # of the stored confidences, for gates judged after the run
    quantiles: dict[str, float] = Field(default_factory=dict)
    # failures of the metric's own scorer (a plug-in that raised), per arm; None: no scorer
    scorer_errors: ArmCounts | None = None
    # each arm's own two-sided interval [low, high], from the same resamples as the difference's
    # (None where unknown); a run's history reads them. None: not bootstrapped per item (a
    # rubric's or the people's rows), or a run made before evalkit kept them
    arm_ci: dict[ArmName, tuple[float | None, float | None]] | None = None

    @property
    def path(self) -> str:
        """The gate path that names this row."""
        prefix = f"{PROBES_PREFIX}." if self.section == PROBE else ""
        return f"{prefix}{self.dataset}.{self.metric}"


class McNemarCounts(Model):
    baseline_only_correct: int
    candidate_only_correct: int
    both_correct: int
    both_wrong: int
    mcnemar_p: float
    disagreements: int


class ClassScore(Model):
    label: str
    precision: float
    recall: float
    f1: float
    support: int


class Confusion(Model):
    rows: list[str]  # true labels
    columns: list[str]  # answers
    matrix: list[list[int]]


class ClassDetail(Model):
    per_class: list[ClassScore]
    confusion: Confusion


class DatasetResult(Model):
    section: Section
    kind: str
    n: int
    errors: ArmCounts  # failed requests per arm
    paired: McNemarCounts | None = None
    classes: dict[ArmName, ClassDetail] | None = None


class ProbeVerdict(Interval):
    """Forgetting on one metric of a probe pack: non-inferiority of the candidate."""

    probe: str
    version: str
    metric: str = "accuracy"
    method: str = "generate"  # how both arms answered: generate | loglik
    higher_is_better: bool = True
    n: int
    # one-sided, at `confidence`, of the candidate's gain (candidate − baseline; baseline −
    # candidate when lower is better): non-inferior when it clears −margin; None if unknown
    lower_bound: float | None
    margin: float
    confidence: float
    non_inferior: bool  # the lower bound clears −margin
    unparsed_rate: ArmValues
    classifier: str = "string_match"  # a refusal pack's: or "judge", the suite's judge model
    chance: float
    informative: bool  # the baseline beat chance and answered most items
    format_collapse: bool


class CriterionScore(Interval):
    name: str
    weight: float


class RubricOverall(Interval):
    n: int
    dropped: int  # items left out of the pairing, and why
    dropped_judge_errors: int
    dropped_arm_errors: int


class Pairwise(Model):
    candidate_win_rate: float
    ci_low: float
    ci_high: float
    candidate_wins: int
    baseline_wins: int
    ties: int
    position_flips: int
    position_bias_rate: float
    n: int


class CriterionAgreement(Model):
    name: str
    kappa: float | None
    exact_agreement: float | None
    n: int


class Calibration(Model):
    criteria: list[CriterionAgreement]
    warning: str | None


class JudgeErrors(Model):
    baseline: int
    candidate: int
    pairwise: int


class JudgeCost(Model):
    model: str | None
    requests: int
    cached: int
    input_tokens: int
    output_tokens: int
    cost: float | None


class Scale(Model):
    min: int
    max: int


CalibrationStatus = Literal["calibrated", "uncalibrated", "failed"]


class RubricResult(Model):
    rubric: str
    dataset: str
    pass_threshold: float
    scale: Scale
    criteria: list[CriterionScore]
    overall: RubricOverall
    pass_rate: Interval
    pairwise: Pairwise | None
    calibration: Calibration | None
    judge_errors: JudgeErrors
    judge_cost: JudgeCost
    # measured against people (human_labels, or imported ratings) at the suite's bar:
    # calibrated, failed (measured and below it), or uncalibrated (never measured)
    calibration_status: CalibrationStatus = "uncalibrated"
    calibration_reason: str = "no human labels to measure the judge against"
    min_kappa: float = 0.6
    min_n: int = 30


class HumanWinRate(Model):
    """How often people preferred the candidate (ties as half), over items, with its interval."""

    win_rate: float
    ci_low: float | None
    ci_high: float | None
    candidate_wins: int  # ratings, not items: one item rated by three people counts three
    baseline_wins: int
    ties: int
    items: int


class HumanCriterion(Interval):
    """People's mean score per arm on one criterion, over items both arms were scored on."""

    name: str
    dataset: str  # ALL_DATASETS for every dataset together (the human.<criterion> gate row)
    n: int


class LabelShare(Model):
    """The share of one arm's rated outputs that people gave one label value."""

    dataset: str
    criterion: str
    value: str
    baseline: float | None
    candidate: float | None
    n: ArmCounts


class RaterAgreement(Model):
    """Krippendorff's alpha between raters on one question; None when it is undefined."""

    question: str  # "choice", a criterion, or a label criterion
    level: Literal["nominal", "ordinal", "interval"]
    alpha: float | None
    # how often two raters of the same unit gave the same value (mean over rater pairs): the
    # ceiling an automatic judgment's exact agreement with one person can be read against
    agreement: float | None = None
    raters: int
    items: int  # units at least two raters answered: the ones alpha is computed over
    note: str | None = None  # why alpha is undefined


class JudgeVsPeople(Model):
    """An automatic judgment set against people's on the same items."""

    question: (
        str  # "<rubric>.<criterion>", "<rubric>.pairwise", or "custom.<scorer> vs <criterion>"
    )
    agreement: float  # exact agreement with each person's rating
    kappa: float | None  # Cohen's kappa against it (quadratic weights for scores)
    n: int
    # a refusal judge's (scorers.refusal) standing at the suite's bar; None for other questions
    calibration_status: CalibrationStatus | None = None
    calibration_reason: str | None = None


class People(Model):
    """What people said about the run: `evalkit review import` computes it from ratings.jsonl."""

    raters: list[str]
    ratings: int
    items: int
    win_rate: HumanWinRate | None
    criteria: list[HumanCriterion] = Field(default_factory=list)
    labels: list[LabelShare] = Field(default_factory=list)
    agreement: list[RaterAgreement] = Field(default_factory=list)
    judge: list[JudgeVsPeople] = Field(default_factory=list)
    unmatched: int = 0  # ratings of items or arms the run has no successful output for


class Transfer(Model):
    score: float | None
    gap: float | None


class ArmGeneralisation(Model):
    heldout: float | None
    out_of_domain: dict[str, Transfer] = Field(default_factory=dict)
    training_sample: Transfer | None = None


class Generalisation(Model):
    metric: str
    arms: dict[ArmName, ArmGeneralisation]


class ContaminationMatch(Model):
    heldout_id: str
    heldout_text: str
    train_id: str
    train_text: str
    similarity: float
    exact: bool


class Histogram(Model):
    """Counts per bin for each arm, over bins shared by both (edges: one more than counts)."""

    edges: list[float]
    baseline: list[int]
    candidate: list[int]


class ArmStyle(Model):
    """How one arm writes on one dataset: its length spread and its most repeated forms."""

    answers: int  # answers with text (failed requests and empty answers aside)
    words_median: float | None
    words_p10: float | None
    words_p90: float | None
    words_sd: float | None
    opening: str | None  # the most common opening (first words), when two answers share it
    opening_count: int = 0
    skeleton: str | None  # the most common skeleton, when two answers share it
    skeleton_count: int = 0


class CollapseSignal(Model):
    """One sign of style collapse, checked against its documented threshold."""

    name: str
    fired: bool | None  # None: not enough data to check
    evidence: str


class StyleExample(Model):
    """One item as both arms answered it, shown as a representative of their style."""

    id: str
    baseline: str
    candidate: str


class StyleResult(Model):
    """Style and collapse on one task dataset (the metrics themselves are in `metrics`)."""

    dataset: str
    # True/False on free-text tasks; None where one template is the task (labels, JSON)
    collapsed: bool | None
    signals: list[CollapseSignal]
    arms: dict[ArmName, ArmStyle]
    words: Histogram
    tokens: Histogram | None  # None when the provider reported no token counts
    examples: list[StyleExample] = Field(default_factory=list)


class OverfitSignal(Model):
    """One sign of overfitting, with a one-line reading of what the run shows."""

    name: str
    status: Literal["ok", "warning", "not_measured"]
    reading: str


class ArmEconomics(Model):
    model: str
    requests: int
    errors: int
    cached: int
    mean_input_tokens: float | None
    mean_output_tokens: float | None
    total_input_tokens: int
    total_output_tokens: int
    latency_p50_s: float | None
    latency_p95_s: float | None
    price: Price | None
    cost_per_1k_requests: float | None


class Verdict(Model):
    outcome: Literal["better", "worse", "inconclusive", "unknown"]
    sentence: str
    metric: str | None = None


class GateOutcome(Model):
    """One check on one metric path; `passed` None means it could not be judged."""

    rule: str
    check: str
    passed: bool | None
    evidence: str
    value: float | None = None
    bound: float | None = None


class Gates(Model):
    passed: bool
    results: list[GateOutcome] = Field(default_factory=list)

    @property
    def failed(self) -> list[GateOutcome]:
        return [g for g in self.results if g.passed is False]

    @property
    def not_evaluated(self) -> list[GateOutcome]:
        return [g for g in self.results if g.passed is None]


class ScorerInfo(Model):
    """A suite's own check or metric (a plug-in, `scorers.custom`), as the run used it."""

    name: str
    kind: Literal["check", "score"]
    source: str  # file:function, or the entry point
    higher_is_better: bool = True
    headline: bool = False

    @property
    def metric(self) -> str:
        """The name of the metric the scorer's values make."""
        return f"{CUSTOM_PREFIX}.{self.name}"


class Versions(Model):
    evalkit: str
    inspect_ai: str
    python: str


class SuiteInfo(Model):
    name: str
    description: str = ""
    path: str
    sha256: str
    task_type: str
    labels: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)  # the suite as run, secrets redacted
    scorers: list[ScorerInfo] = Field(default_factory=list)  # its plug-ins, in suite order
    fields: list[str] = Field(default_factory=list)  # an extraction task's field paths


class Message(Model):
    role: str
    content: str


class ArmInfo(Model):
    model: str
    identity: str
    adapter_sha256: str | None
    prompt_sha256: str
    fewshot_examples: int
    example_messages: list[Message]  # the first held-out item as the arm really sent it


class ShardInfo(Model):
    index: int  # 1-based
    count: int


class RunInfo(Model):
    """Who, what and with which versions: everything needed to trust or repeat the run."""

    schema_version: Literal[2] = SCHEMA_VERSION
    run_id: str
    created_at: str
    duration_s: float
    versions: Versions
    suite: SuiteInfo
    arms: dict[ArmName, ArmInfo]
    dataset_hashes: dict[str, str]
    stats: Stats  # the suite's bootstrap settings
    # a shard's metrics cover its own items only; `evalkit merge` joins every shard of a suite
    shard: ShardInfo | None = None
    merged_from: list[str] | None = None  # the shard run folders a merged run was made from


class PromptScore(Model):
    """One listed prompt on the selection split: its score, interval and cost."""

    name: str
    score: float | None
    ci_low: float | None
    ci_high: float | None
    # this prompt − the chosen one on the same items, with its paired interval
    diff: float | None
    diff_ci_low: float | None
    diff_ci_high: float | None
    errors: int  # failed requests, scored as wrong
    mean_input_tokens: float | None
    cost_per_1k_requests: float | None
    prompt_sha256: str
    fewshot_examples: int
    example_messages: list[Message]  # the first selection item as this prompt sends it
    chosen: bool


class ArmSelection(Model):
    """One arm's leaderboard, best first, and what decided the choice."""

    chosen: str
    # score: the best score; cost / input_tokens: a tie on score broken by the cheaper
    # prompt; order: a tie on everything, the first listed
    decided_by: Literal["score", "cost", "input_tokens", "order"]
    prompts: list[PromptScore]


class PromptSelection(Model):
    """Prompt selection: where the listed prompts were compared, and what each arm chose."""

    metric: str
    source: Literal["dev", "training"]  # selection.dev, or a split of training_data
    description: str  # the split in words: its file, or its n and seed
    n: int
    items_sha256: str
    # the sets checked to share no id and no input with the split: selection never saw them
    disjoint_from: list[str]
    confidence: float
    resamples: int
    arms: dict[ArmName, ArmSelection]

    @property
    def chosen(self) -> dict[str, str]:
        return {arm: s.chosen for arm, s in self.arms.items()}


class Share(Model):
    """A score as a share of the target, with its interval (None when unknown)."""

    score: float | None
    share: float | None
    ci_low: float | None
    ci_high: float | None


class DecisionReading(Model):
    """The fine-tune-or-not reading: what share of the target prompting reaches, what the
    fine-tune reaches, and what each costs to run."""

    metric: str
    target: float | None
    target_source: Literal["suite", "candidate"]  # decision.target, or the candidate's score
    baseline: Share
    candidate: Share
    confidence: float
    interval_method: str
    outcome: Literal["prompting_enough", "fine_tune", "unclear", "unknown"]
    sentence: str
    cost_per_1k_requests: ArmValues
    training_cost_usd: float | None
    # requests after which the fine-tune's lower running cost has paid for its training
    break_even_requests: float | None
    cost_sentence: str


class Analysis(Model):
    """Every figure of the run, computed from the per-sample table."""

    datasets: dict[str, DatasetResult] = Field(default_factory=dict)
    metrics: list[MetricResult] = Field(default_factory=list)
    probes: list[ProbeVerdict] = Field(default_factory=list)
    rubrics: list[RubricResult] = Field(default_factory=list)
    generalisation: Generalisation | None = None
    contamination: list[ContaminationMatch] | None = None  # None: no training data to check
    economics: dict[ArmName, ArmEconomics] = Field(default_factory=dict)
    # every call the judge made: rubrics, pairwise, refusal classes; None without a judge
    judge_cost: JudgeCost | None = None
    style: list[StyleResult] = Field(default_factory=list)  # one per task dataset
    overfitting: list[OverfitSignal] = Field(default_factory=list)
    decision: DecisionReading | None = None  # with `decision:` in the suite or prompt selection
    verdict: Verdict = Verdict(outcome="unknown", sentence="No verdict.")

    def metric(self, dataset: str, name: str, section: str = TASK) -> MetricResult | None:
        """The row of one metric on one dataset, None when the run has no such metric."""
        return next(
            (
                m
                for m in self.metrics
                if (m.dataset, m.metric, m.section) == (dataset, name, section)
            ),
            None,
        )

    def metrics_of(self, dataset: str) -> list[MetricResult]:
        return [m for m in self.metrics if m.dataset == dataset]

    def judge_of(self, m: MetricResult) -> RubricResult | None:
        """The rubric result behind a `rubric.<name>.<metric>` row, None for other metrics."""
        parts = m.metric.split(".")
        if m.section != TASK or len(parts) != 3 or parts[0] != "rubric":
            return None
        return next(
            (r for r in self.rubrics if (r.dataset, r.rubric) == (m.dataset, parts[1])), None
        )


class AuditLink(Model):
    """The run's data audit (suite key `audit`): the file audited, its page, what it found."""

    data: str
    page: str  # audit.html, in the run folder
    found: dict[str, int]  # finding → count (evalkit.audit.core.FAIL_KINDS)
    fail_on: list[str]  # the findings that fail the gates when present


class Results(Analysis, RunInfo):
    """The whole of results.json: who ran what (RunInfo) first, then every figure (Analysis)."""

    gates: Gates | None = None
    selection: PromptSelection | None = None  # the arms' listed prompts on the selection split
    # release history (evalkit.history): written by runs that are not shards
    data_versions: DataVersions | None = None
    arm_intervals: list[ArmInterval] | None = None
    history: History | None = None
    release: ReleaseDecision | None = None
    people: People | None = None  # human ratings, once `evalkit review import` has read some
    audit: AuditLink | None = None

    def judge_status(self, m: MetricResult) -> CalibrationStatus | None:
        """Whether the judge that made a metric was measured against people; None: no judge
        made it. A refusal probe classified by the judge is never measured in the run."""
        if (rubric := self.judge_of(m)) is not None:
            return rubric.calibration_status
        if m.section == TASK and m.metric == f"{REFUSAL_PREFIX}.judge":
            measured = next(
                (j for j in self.people.judge if j.question.startswith(f"{m.metric} vs ")), None
            ) if self.people else None  # fmt: skip
            return measured.calibration_status if measured else "uncalibrated"
        judged = m.section == PROBE and any(
            p.probe == m.dataset and p.classifier == "judge" for p in self.probes
        )
        return "uncalibrated" if judged else None

    def arm_interval(self, dataset: str, metric: str, section: str, arm: str) -> ArmInterval | None:
        """One arm's own interval of a metric, None when the run did not record it."""
        return next(
            (
                a
                for a in self.arm_intervals or []
                if (a.dataset, a.metric, a.section, a.arm) == (dataset, metric, section, arm)
            ),
            None,
        )

    @property
    def errors(self) -> dict[str, ArmCounts]:
        """Failed requests per dataset and arm."""
        return {name: d.errors for name, d in self.datasets.items()}


# ---- a finished run on disk -----------------------------------------------------------------


@dataclass(frozen=True)
class StoredRun:
    """A finished run folder: its results and, where present, its per-item rows."""

    path: Path
    results: Results
    samples: pd.DataFrame | None


def read_results(path: Path) -> Results:
    """Parse a results.json; a file of another schema version or shape is a located InputError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON: {e}", path=path) from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != SCHEMA_VERSION:
        made_by = (
            (data.get("versions") or {}).get("evalkit", "?") if isinstance(data, dict) else "?"
        )
        raise InputError(
            f"schema_version {version!r} (written by evalkit {made_by}); this evalkit reads "
            f"version {SCHEMA_VERSION}: run the suite again, or use the evalkit that wrote it",
            path=path,
            where="schema_version",
        )
    try:
        return Results.model_validate(data)
    except pydantic.ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(
            f"does not match results schema {SCHEMA_VERSION}: {first['msg']}",
            path=path,
            where=where or None,
        ) from None


def redacted(results: Results) -> Results:
    """A copy safe to write: no credential in any string (see `evalkit.credentials.redact`)."""
    return Results.model_validate(redact(results.model_dump(mode="json")))


def write_results(path: Path, results: Results) -> None:
    """Write results.json atomically (a reader never sees half a file), redacted."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    # json.dumps, not pydantic's writer: a lone surrogate in a model's text must be written
    # as its escape (WRITE_ERRORS), not stop the run
    text = json.dumps(redacted(results).model_dump(mode="json"), indent=2, ensure_ascii=False)
    tmp.write_text(text, encoding="utf-8", errors=WRITE_ERRORS)
    tmp.replace(path)


def load_run(path: Path) -> StoredRun:
    """Read a run folder, a suite folder (its latest run) or a results.json; InputError if absent."""
    try:
        run_dir = resolve_run(path)
    except FileNotFoundError as e:
        raise InputError("no results.json here (expected a run folder)", path=path) from e
    require_finished(run_dir)  # a partial run is never judged as if it were complete
    results = read_results(run_dir / "results.json")
    samples_path = run_dir / "samples.jsonl"
    samples = read_samples(samples_path) if samples_path.is_file() else None
    return StoredRun(path=run_dir, results=results, samples=samples)


def read_samples(path: Path) -> pd.DataFrame:
    """samples.jsonl back as the per-sample table (one row per item × arm)."""
    import pandas as pd  # here, not at import: a run needs pandas only after its requests

    rows = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    return pd.DataFrame(rows)


def resolve_run(path: Path) -> Path:
    """A run folder, a suite folder (its latest run) or a results.json → the run folder."""
    if path.is_file() and path.name == "results.json":
        return path.parent
    if (path / "results.json").is_file() or (path / MANIFEST).is_file():
        return path
    latest = path / "latest"
    if latest.is_file():
        return path / latest.read_text(encoding="utf-8").strip()
    if latest.is_dir():
        return latest.resolve()
    raise FileNotFoundError(f"{path}: no results.json here (expected a run folder)")
