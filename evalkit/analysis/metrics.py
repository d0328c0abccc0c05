"""Metrics per dataset: both arms' values, the paired difference with its interval, and details.

Every metric is registered in `METRICS`, the built-ins as a new one would be: a function
decorated with `@metric` (values per item, averaged, or a corpus statistic such as F1)
saying whether higher is better, where it applies (sections, task types), whether it is a
headline and how the verdict names it. Metrics whose names depend on the run (a
`format.<check>` per check that ran, a `custom.<name>` per plug-in) are registered
families. The order of the registry is the order of results.json.

Errored samples stay in every denominator as wrong answers (and are counted apart), so a
metric can never look better because samples failed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from evalkit.analysis.stats import (
    PairedResult,
    Statistic,
    f1_stats,
    mcnemar_exact,
    mean_stat,
    paired_bootstrap,
    ratio_or_zero,
)
from evalkit.names import PROBE, REFUSAL_ENTRY, REFUSAL_PREFIX, TASK
from evalkit.registry import Registry
from evalkit.results import (
    ArmCounts,
    ClassDetail,
    ClassScore,
    Confusion,
    DatasetResult,
    McNemarCounts,
    MetricResult,
    ScorerInfo,
)
from evalkit.scoring.refusal import counts_as_refusal, is_refusal
from evalkit.suite.schema import Stats

NO_LABEL = "(no label)"
OTHER = "(other)"


# ---- the metric registry ---------------------------------------------------------------------


@dataclass(frozen=True)
class MetricContext:
    """What a metric may know besides one arm's rows: the task, the section, the arm.

    `scorers` are the suite's plug-ins (their values are in the rows' `custom` column).
    `shared` lets metrics computed together from the same rows (macro, micro and weighted
    F1) build their common part once; it lives as long as this context, one arm of one
    dataset.
    """

    task_type: str
    labels: tuple[str, ...]
    section: str
    scorers: tuple[ScorerInfo, ...] = ()
    arm: str = ""
    fields: tuple[str, ...] = ()  # an extraction task's field paths, as labels are a label task's
    lower_is_better: frozenset[str] = frozenset()  # a probe pack's metrics declared so
    refusal: tuple[str, ...] = ()  # the refusal classifiers scorers.refusal runs on the dataset
    shared: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def once(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self.shared:
            self.shared[key] = build()
        return self.shared[key]


PerItem = Callable[[pd.DataFrame, MetricContext], np.ndarray]
Corpus = Callable[[pd.DataFrame, MetricContext], Statistic]


@dataclass(frozen=True)
class AppliesTo:
    """Where a metric is reported: sections, and (in the task section) task types."""

    sections: frozenset[str] = frozenset({TASK})
    task_types: frozenset[str] | None = None  # None: every task type

    def __call__(self, section: str, task_type: str) -> bool:
        if section not in self.sections:
            return False
        # probes are scored by their own kind, whatever the task
        return section != TASK or self.task_types is None or task_type in self.task_types


@dataclass(frozen=True)
class MetricSpec:
    """One metric: a value per item averaged over items, or a statistic of the whole set.

    `per_item` gives one number per row (NaN where the row has none; such items are left out
    of both arms); `corpus` gives a bootstrap `Statistic` over the rows (F1 needs every
    item's target and answer at once). Exactly one of them is set.
    """

    name: str
    per_item: PerItem | None = None
    corpus: Corpus | None = None
    higher_is_better: bool = True
    applies_to: AppliesTo = AppliesTo()
    headline: bool = False  # shown in the terminal summary and summary.md
    readable: str | None = None  # the name in the verdict sentence
    # how many of one arm's rows the metric's own scorer failed on (plug-ins); None: no scorer
    scorer_errors: Callable[[pd.DataFrame], int] | None = None

    def __post_init__(self) -> None:
        if (self.per_item is None) == (self.corpus is None):
            raise ValueError(f"metric {self.name!r}: give exactly one of per_item or corpus")

    @property
    def label(self) -> str:
        return self.readable or self.name


@dataclass(frozen=True)
class MetricFamily:
    """Metrics named by the run: one `format.<check>` per check that ran, one `custom.<name>`
    per plug-in of the suite."""

    name: str
    members: Callable[[pd.DataFrame, pd.DataFrame, MetricContext], list[MetricSpec]]
    applies_to: AppliesTo = AppliesTo()


METRICS = Registry[MetricSpec | MetricFamily]("metric")


def metric(
    name: str,
    *,
    higher_is_better: bool = True,
    sections: tuple[str, ...] = (TASK,),
    task_types: tuple[str, ...] | None = None,
    headline: bool = False,
    readable: str | None = None,
    corpus: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the metric `name`.

    The function takes one arm's rows of one dataset and a `MetricContext`; it returns one
    value per row (the default: the metric is their mean) or, with `corpus=True`, a
    bootstrap `Statistic` of the whole set.
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        METRICS.register(
            name,
            MetricSpec(
                name=name,
                per_item=None if corpus else fn,
                corpus=fn if corpus else None,
                higher_is_better=higher_is_better,
                applies_to=AppliesTo(
                    frozenset(sections), frozenset(task_types) if task_types else None
                ),
                headline=headline,
                readable=readable,
            ),
        )
        return fn

    return register


def metric_family(
    name: str, *, sections: tuple[str, ...] = (TASK,)
) -> Callable[[Callable[..., list[MetricSpec]]], Callable[..., list[MetricSpec]]]:
    """Register the decorated `(baseline rows, candidate rows, context) → [MetricSpec]` as a family."""

    def register(fn: Callable[..., list[MetricSpec]]) -> Callable[..., list[MetricSpec]]:
        METRICS.register(name, MetricFamily(name, fn, AppliesTo(frozenset(sections))))
        return fn

    return register


def flag(rows: pd.DataFrame, column: str) -> np.ndarray:
    """A boolean column as 0/1; None (not applicable) and NaN count as 0: a failure never helps a rate.

    >>> flag(pd.DataFrame({"correct": [True, False, None]}), "correct")
    array([1., 0., 0.])
    >>> flag(pd.DataFrame({"correct": pd.array([True, None], dtype="boolean")}), "correct")
    array([1., 0.])
    """
    values = rows[column]  # read as lists: iterating the column boxes each value
    missing = values.isna().tolist()
    return np.array(
        [0.0 if m else float(bool(v)) for v, m in zip(values.tolist(), missing, strict=True)]
    )


def errored(rows: pd.DataFrame) -> np.ndarray:
    return rows["error"].notna().to_numpy()


def predictions(rows: pd.DataFrame) -> list[str | None]:
    """Each row's label, None where the request failed or no label was read."""
    # pandas turns missing values into NaN or None depending on the column; treat both as missing
    missing = (rows["label"].isna() | rows["error"].notna()).tolist()
    return [None if m else lab for lab, m in zip(rows["label"].tolist(), missing, strict=True)]


@metric("accuracy", sections=(TASK, PROBE), task_types=("classification",), headline=True)
def _accuracy(rows: pd.DataFrame, ctx: MetricContext) -> np.ndarray:
    return flag(rows, "correct")


@metric(
    "unparsed_rate",
    higher_is_better=False,
    sections=(TASK, PROBE),
    task_types=("classification", "extraction"),
    headline=True,
)
def _unparsed_rate(rows: pd.DataFrame, ctx: MetricContext) -> np.ndarray:
    """Answers with no label (no JSON object, for extraction) that are not failed requests
    (those have error_rate)."""
    return ((flag(rows, "parsed") == 0) & ~errored(rows)).astype(float)


def _score_entries(rows: pd.DataFrame, name: str) -> list[Any]:
    column = rows.get("scores", [None] * len(rows))
    return [e.get(name) if isinstance(e, dict) else None for e in column]


def _probe_values(name: str) -> PerItem:
    # an item the metric does not cover (XSTest's safe items for unsafe.refusal_rate) is NaN
    return lambda rows, ctx: np.array(
        [np.nan if v is None else float(v) for v in _score_entries(rows, name)]
    )


def _probe_ratio(name: str) -> Corpus:
    """Σ passed / Σ counted over the items (IFEval's instruction-level accuracy)."""

    def statistic(rows: pd.DataFrame, ctx: MetricContext) -> Statistic:
        pairs = [v if isinstance(v, list | tuple) else (0, 0) for v in _score_entries(rows, name)]
        passed = np.array([float(p) for p, _ in pairs])
        counted = np.array([float(c) for _, c in pairs])
        return lambda w: (w @ passed) / np.where((w @ counted) == 0, np.nan, w @ counted)

    return statistic


@metric_family("probe", sections=(PROBE,))
def _probe(b: pd.DataFrame, c: pd.DataFrame, ctx: MetricContext) -> list[MetricSpec]:
    """One metric per score a probe's rows carry (accuracy_norm, IFEval's, XSTest's), with the
    direction the pack declares; a [passed, counted] score is a ratio over all items."""
    entries = [*_score_entries_all(b), *_score_entries_all(c)]
    names = list(dict.fromkeys(k for e in entries for k in e))
    out = []
    for name in names:
        ratio = any(isinstance(e.get(name), list | tuple) for e in entries)
        higher = name not in ctx.lower_is_better
        if ratio:
            out.append(MetricSpec(name, corpus=_probe_ratio(name), higher_is_better=higher,
                                  headline=True))  # fmt: skip
        else:
            out.append(MetricSpec(name, per_item=_probe_values(name), higher_is_better=higher,
                                  headline=True))  # fmt: skip
    return out


def _score_entries_all(rows: pd.DataFrame) -> list[dict[str, Any]]:
    column = rows.get("scores", [])
    return [e for e in column if isinstance(e, dict)]


def _f1(rows: pd.DataFrame, ctx: MetricContext) -> dict[str, Statistic]:
    # over the task's declared labels: see f1_stats for which of them count
    return ctx.once("f1", lambda: f1_stats(rows["target"].tolist(), predictions(rows), ctx.labels))


@metric("macro_f1", task_types=("classification",), headline=True, readable="macro F1", corpus=True)
def _macro_f1(rows: pd.DataFrame, ctx: MetricContext) -> Statistic:
    return _f1(rows, ctx)["macro_f1"]


@metric("micro_f1", task_types=("classification",), readable="micro F1", corpus=True)
def _micro_f1(rows: pd.DataFrame, ctx: MetricContext) -> Statistic:
    return _f1(rows, ctx)["micro_f1"]


@metric("weighted_f1", task_types=("classification",), readable="weighted F1", corpus=True)
def _weighted_f1(rows: pd.DataFrame, ctx: MetricContext) -> Statistic:
    return _f1(rows, ctx)["weighted_f1"]


def _check_rate(name: str) -> PerItem:
    return lambda rows, ctx: np.array([float(bool(ch.get(name, False))) for ch in rows["checks"]])


@metric_family("format")
def _format(b: pd.DataFrame, c: pd.DataFrame, ctx: MetricContext) -> list[MetricSpec]:
    """format_adherence and one format.<check> rate per check that ran; none without checks."""
    names = sorted({k for ch in [*b["checks"], *c["checks"]] for k in ch})
    if not names:  # no checks configured: no adherence to report, not 0
        return []
    adherence = MetricSpec(
        "format_adherence",
        per_item=lambda rows, ctx: flag(rows, "format_ok"),
        headline=True,
        readable="format adherence",
    )
    return [adherence, *(MetricSpec(f"format.{n}", per_item=_check_rate(n)) for n in names)]


def _custom_entries(rows: pd.DataFrame, name: str) -> list[dict[str, Any]]:
    """Each row's result of one plug-in; {} where it did not run (a failed request)."""
    column = rows.get("custom", [None] * len(rows))  # samples.jsonl of older runs lack it
    return [(e.get(name) or {}) if isinstance(e, dict) else {} for e in column]


def _custom_values(name: str, kind: str) -> PerItem:
    def values(rows: pd.DataFrame, ctx: MetricContext) -> np.ndarray:
        got = [e.get("value") for e in _custom_entries(rows, name)]
        if kind == "check":  # like a format check: a failure, an error or no value never passes
            return np.array([1.0 if v is True else 0.0 for v in got])
        # a score: an item without one (failed request, scorer error) is left out of both arms
        return np.array([np.nan if v is None else float(v) for v in got])

    return values


def _custom_errors(name: str) -> Callable[[pd.DataFrame], int]:
    return lambda rows: sum(bool(e.get("error")) for e in _custom_entries(rows, name))


@metric_family("custom")
def _custom(b: pd.DataFrame, c: pd.DataFrame, ctx: MetricContext) -> list[MetricSpec]:
    """custom.<name> for each of the suite's plug-ins, in the suite's order."""
    return [
        MetricSpec(
            s.metric,
            per_item=_custom_values(s.name, s.kind),
            higher_is_better=s.higher_is_better,
            headline=s.headline,
            scorer_errors=_custom_errors(s.name),
        )
        for s in ctx.scorers
    ]


def _refusal_entries(rows: pd.DataFrame) -> list[dict[str, Any] | None]:
    """Each row's refusal class from the judge; None where it did not classify the row (not
    in its sample, or the arm's own request failed)."""
    column = rows.get("judge", [None] * len(rows))
    return [e.get(REFUSAL_ENTRY) if isinstance(e, dict) else None for e in column]


def refusal_per_row(rows: pd.DataFrame, classifier: str) -> np.ndarray:
    """1 for a refusal (full or partial), 0 for compliance, by `string_match` or the `judge`;
    NaN where the classifier gave no class (a failed request, an item the judge did not
    classify, a judge error), so the item leaves both arms."""
    if classifier == "string_match":
        return np.array([
            np.nan if not pd.isna(err) or not isinstance(out, str) else float(is_refusal(out))
            for out, err in zip(rows["output"], rows["error"], strict=True)
        ])  # fmt: skip
    return np.array([
        np.nan if not e or e.get("class") is None else float(counts_as_refusal(e["class"]))
        for e in _refusal_entries(rows)
    ])  # fmt: skip


def _refusal_judge_errors(rows: pd.DataFrame) -> int:
    return sum(bool(e and e.get("error")) for e in _refusal_entries(rows))


@metric_family(REFUSAL_PREFIX)
def _refusal(b: pd.DataFrame, c: pd.DataFrame, ctx: MetricContext) -> list[MetricSpec]:
    """refusal.<classifier> for each classifier scorers.refusal runs on this dataset."""
    return [
        MetricSpec(
            f"{REFUSAL_PREFIX}.{name}",
            per_item=lambda rows, ctx, name=name: refusal_per_row(rows, name),
            higher_is_better=False,
            readable=f"refusal rate ({name.replace('_', ' ')})",
            scorer_errors=_refusal_judge_errors if name == "judge" else None,
        )
        for name in ctx.refusal
    ]


@metric("error_rate", higher_is_better=False, sections=(TASK, PROBE), headline=True)
def _error_rate(rows: pd.DataFrame, ctx: MetricContext) -> np.ndarray:
    return errored(rows).astype(float)


# ---- computing them --------------------------------------------------------------------------


def metrics_for(b: pd.DataFrame, c: pd.DataFrame, ctx: MetricContext) -> list[MetricSpec]:
    """The metrics one dataset reports, in registry order, families expanded.

    Args:
        b, c: the baseline's and the candidate's rows of the dataset (families read them:
            one format.<check> per check that ran).
        ctx: the task, the dataset's section and the suite's plug-ins.

    Returns:
        The specs that apply, in order.

    >>> rows = pd.DataFrame({"checks": [{"json": True}]})
    >>> ctx = MetricContext("classification", ("a", "b"), "task")
    >>> [m.name for m in metrics_for(rows, rows, ctx)]  # doctest: +NORMALIZE_WHITESPACE
    ['accuracy', 'unparsed_rate', 'macro_f1', 'micro_f1', 'weighted_f1',
     'format_adherence', 'format.json', 'error_rate', 'length_words', 'length_tokens',
     'distinct_1', 'distinct_2', 'ttr', 'repetition', 'same_opening', 'same_skeleton',
     'pairwise_similarity', 'refusal_rate', 'empty_rate']
    >>> [m.name for m in metrics_for(rows, rows, MetricContext("generation", (), "probe"))]
    ['accuracy', 'unparsed_rate', 'error_rate']
    """
    out: list[MetricSpec] = []
    for entry in METRICS.values():
        if not entry.applies_to(ctx.section, ctx.task_type):
            continue
        out += entry.members(b, c, ctx) if isinstance(entry, MetricFamily) else [entry]
    return out


@dataclass(frozen=True)
class PairedStatistics:
    """One metric's statistic for each arm, ready for the paired bootstrap."""

    spec: MetricSpec
    baseline: Statistic
    candidate: Statistic
    n: int | None = None  # items both arms have a value for, where some have none


def _paired(
    spec: MetricSpec, b: pd.DataFrame, c: pd.DataFrame, cb: MetricContext, cc: MetricContext
) -> PairedStatistics:
    if spec.corpus is not None:
        return PairedStatistics(spec, spec.corpus(b, cb), spec.corpus(c, cc))
    assert spec.per_item is not None
    xb, xc = spec.per_item(b, cb), spec.per_item(c, cc)
    keep = ~(np.isnan(xb) | np.isnan(xc))
    if keep.all():
        return PairedStatistics(spec, mean_stat(xb), mean_stat(xc))
    return PairedStatistics(spec, mean_stat(xb, keep), mean_stat(xc, keep), int(keep.sum()))


def metric_statistic(
    name: str, rows: pd.DataFrame, ctx: MetricContext
) -> tuple[MetricSpec, Statistic] | None:
    """One set of rows' bootstrap statistic of the metric `name` (prompt selection compares
    one arm's prompts, not two arms); None when the rows report no such metric.

    >>> rows = pd.DataFrame({"correct": [True, False], "checks": [{}, {}], "error": [None, None]})
    >>> spec, stat = metric_statistic("accuracy", rows, MetricContext("classification", ("a",), "task"))
    >>> spec.higher_is_better, float(stat(np.ones((1, 2)))[0])
    (True, 0.5)
    """
    spec = next((m for m in metrics_for(rows, rows, ctx) if m.name == name), None)
    if spec is None:
        return None
    ctx = replace(ctx, shared={})  # what metrics share is these rows' own
    if spec.corpus is not None:
        return spec, spec.corpus(rows, ctx)
    assert spec.per_item is not None
    x = spec.per_item(rows, ctx)
    keep = ~np.isnan(x)
    return spec, mean_stat(x) if keep.all() else mean_stat(x, keep)


def statistics_for(
    b: pd.DataFrame,
    c: pd.DataFrame,
    ctx: MetricContext,
) -> dict[str, PairedStatistics]:
    """Every metric this dataset reports, with the (baseline, candidate) statistics."""
    # one context per arm for all metrics, so metrics computed together share their work
    cb, cc = replace(ctx, arm="baseline", shared={}), replace(ctx, arm="candidate", shared={})
    return {spec.name: _paired(spec, b, c, cb, cc) for spec in metrics_for(b, c, ctx)}


def readable(name: str) -> str:
    """How the verdict sentence names a metric: its registered readable name, else its name.

    >>> readable("macro_f1"), readable("rubric.tone.overall")
    ('macro F1', 'rubric.tone.overall')
    """
    entry = METRICS.get(name)
    return entry.label if isinstance(entry, MetricSpec) else name


def paired_rows(table: pd.DataFrame, dataset: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Baseline and candidate rows of one dataset, aligned item by item."""
    rows = table[table["dataset"] == dataset]
    b = rows[rows["arm"] == "baseline"].set_index("id")
    c = rows[rows["arm"] == "candidate"].set_index("id")
    if set(b.index.tolist()) != set(c.index.tolist()):
        raise ValueError(f"dataset {dataset!r}: the arms did not see the same items")
    return b, c.loc[b.index]


def _value(x: float) -> float | None:
    # no item with a value in both arms: no value, shown as a dash and failing any gate on it
    return None if math.isnan(x) else x


def metric_result(
    dataset: str,
    section: str,
    kind: str,
    name: str,
    r: PairedResult,
    *,
    higher_is_better: bool = True,
    headline: bool = False,
    n: int | None = None,
    scorer_errors: ArmCounts | None = None,
    arm_ci: bool = False,
) -> MetricResult:
    """One row of results.json's `metrics`: both arms, the difference, its interval (and with
    `arm_ci` each arm's own)."""
    return MetricResult(
        dataset=dataset,
        section=section,
        kind=kind,
        metric=name,
        higher_is_better=higher_is_better,
        headline=headline,
        baseline=_value(r.baseline),
        candidate=_value(r.candidate),
        diff=_value(r.diff),
        ci_low=_value(r.ci_low),
        ci_high=_value(r.ci_high),
        confidence=r.confidence,
        n=r.n if n is None else n,
        resamples=r.resamples,
        quantiles={k: v for k, v in r.quantiles.items() if not math.isnan(v)},
        scorer_errors=scorer_errors,
        arm_ci={
            "baseline": (_value(r.baseline_ci[0]), _value(r.baseline_ci[1])),
            "candidate": (_value(r.candidate_ci[0]), _value(r.candidate_ci[1])),
        }
        if arm_ci
        else None,
    )


def class_detail(rows: pd.DataFrame, labels: Sequence[str]) -> ClassDetail:
    """Per-class precision/recall/F1/support and the confusion matrix for one arm.

    The classes are the declared labels that occur as a target or an answer: those macro F1
    averages over (a label answered but never the target shows with F1 0 and support 0).
    The numbers are scikit-learn's `precision_recall_fscore_support(..., zero_division=0)`
    and `confusion_matrix`, counted here with one bincount: with 77 labels and thousands of
    items, scikit-learn's string-label handling took seconds.
    """
    declared = set(labels)
    targets = list(rows["target"])
    preds = [NO_LABEL if p is None else (p if p in declared else OTHER) for p in predictions(rows)]
    target_set = set(targets)
    occurring = target_set | set(preds)
    present = [lab for lab in labels if lab in occurring]
    columns = [*labels, OTHER, NO_LABEL]
    targets_seen = [lab for lab in labels if lab in target_set] + sorted(target_set - declared)
    answers = targets_seen + [c for c in columns if c not in targets_seen]
    position = {lab: k for k, lab in enumerate(answers)}
    size = len(answers)
    t = np.array([position[y] for y in targets], dtype=np.int64)
    p = np.array([position[y] for y in preds], dtype=np.int64)
    cm = np.bincount(t * size + p, minlength=size * size).reshape(size, size)
    at = [position[lab] for lab in present]
    tp = cm[at, at].astype(float)
    support = cm[at, :].sum(axis=1)
    predicted = cm[:, at].sum(axis=0)
    precision, recall = ratio_or_zero(tp, predicted), ratio_or_zero(tp, support)
    f1 = ratio_or_zero(2 * tp, support + predicted)
    return ClassDetail(
        per_class=[
            ClassScore(
                label=lab, precision=float(pi), recall=float(ri), f1=float(fi), support=int(si)
            )
            for lab, pi, ri, fi, si in zip(present, precision, recall, f1, support, strict=True)
        ],
        confusion=Confusion(
            rows=targets_seen, columns=answers, matrix=cm[: len(targets_seen)].tolist()
        ),
    )


def dataset_analysis(
    table: pd.DataFrame,
    dataset: str,
    *,
    section: str,
    kind: str,
    task_type: str,
    labels: Sequence[str],
    stats: Stats,
    scorers: tuple[ScorerInfo, ...] = (),
    fields: tuple[str, ...] = (),
    lower_is_better: frozenset[str] = frozenset(),
    refusal: tuple[str, ...] = (),
) -> tuple[DatasetResult, list[MetricResult]]:
    """Everything the report says about one dataset: its details and its metric rows."""
    b, c = paired_rows(table, dataset)
    ctx = MetricContext(
        task_type, tuple(labels), section, scorers, fields=fields,
        lower_is_better=lower_is_better, refusal=refusal,
    )  # fmt: skip
    computed = statistics_for(b, c, ctx)
    results = paired_bootstrap(
        {name: (p.baseline, p.candidate) for name, p in computed.items()},
        len(b),
        resamples=stats.bootstrap,
        seed=stats.seed,
        confidence=stats.confidence,
    )
    metrics = []
    for name, r in results.items():
        spec, count = computed[name].spec, computed[name].spec.scorer_errors
        metrics.append(
            metric_result(
                dataset,
                section,
                kind,
                name,
                r,
                higher_is_better=spec.higher_is_better,
                headline=spec.headline,
                n=computed[name].n,
                scorer_errors=ArmCounts(baseline=count(b), candidate=count(c)) if count else None,
                arm_ci=True,
            )
        )
    classification = task_type == "classification"
    paired = None
    if classification or section == PROBE:
        mc = mcnemar_exact(flag(b, "correct") > 0, flag(c, "correct") > 0)
        paired = McNemarCounts(
            baseline_only_correct=mc.baseline_only,
            candidate_only_correct=mc.candidate_only,
            both_correct=mc.both_right,
            both_wrong=mc.both_wrong,
            mcnemar_p=mc.p_value,
            disagreements=int(
                sum(x != y for x, y in zip(predictions(b), predictions(c), strict=True))
            ),
        )
    classes = None
    if classification and section == TASK:
        classes = {"baseline": class_detail(b, labels), "candidate": class_detail(c, labels)}
    detail = DatasetResult(
        section=section,
        kind=kind,
        n=len(b),
        errors=ArmCounts(baseline=int(errored(b).sum()), candidate=int(errored(c).sum())),
        paired=paired,
        classes=classes,
    )
    return detail, metrics
