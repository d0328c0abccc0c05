"""The style-collapse flag, length histograms and representative answers of each task dataset.

The flag reads the style metrics (evalkit.analysis.style) against the thresholds below, which
docs/style-collapse.md explains. A signal fires only when its point values cross the
threshold *and* the paired interval of the difference excludes zero in the collapse direction,
so a handful of items cannot raise it by chance. It is raised on free-text (generation) tasks;
a label or JSON task is meant to answer in one template, so there the signals are shown and
the flag is not set.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from evalkit.analysis.metrics import paired_rows
from evalkit.analysis.style import ArmText, arm_text, modal, openings, output_tokens, skeletons
from evalkit.names import ARMS, TASK
from evalkit.results import (
    Analysis,
    ArmStyle,
    CollapseSignal,
    Histogram,
    MetricResult,
    StyleExample,
    StyleResult,
)

SHARE_MIN = 0.5  # same opening / skeleton: at least half the candidate's answers share one
SHARE_RISE = 0.25  # ... and at least 25 points more than the baseline's
SIMILARITY_RISE = 0.15  # mean pairwise similarity at least 0.15 above the baseline's
DISTINCT_RATIO = 0.75  # distinct-2 at most three quarters of the baseline's
SPREAD_RATIO = 0.5  # standard deviation of lengths (words) at most half the baseline's ...
SPREAD_MIN_SD = 3.0  # ... where the baseline's lengths spread by at least 3 words
SPREAD_MIN_ANSWERS = 10  # ... and each arm has at least this many answers
HISTOGRAM_BINS = 12
EXAMPLES = 3
EXAMPLE_CHARS = 1000
EXAMPLE_SEED = 0


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def _ci(m: MetricResult) -> str:
    return f"{m.confidence * 100:g}% CI {m.ci_low:+.3f} to {m.ci_high:+.3f}"


def _known(m: MetricResult | None) -> bool:
    return m is not None and None not in (m.baseline, m.candidate, m.ci_low, m.ci_high)


def _share_signal(name: str, what: str, m: MetricResult | None) -> CollapseSignal:
    if m is None or not _known(m):
        return CollapseSignal(name=name, fired=None, evidence=f"no {what} was measured")
    b, c = float(m.baseline), float(m.candidate)  # type: ignore[arg-type]
    fired = c >= SHARE_MIN and c - b >= SHARE_RISE and float(m.ci_low) > 0  # type: ignore[arg-type]
    return CollapseSignal(
        name=name,
        fired=fired,
        evidence=f"{_pct(c)} of the candidate's answers share one {what}, {_pct(b)} of the "
        f"baseline's ({_ci(m)}); fires at ≥ {_pct(SHARE_MIN)} and ≥ {SHARE_RISE * 100:.0f} "
        "points above the baseline, the interval above 0",
    )


def _similarity_signal(m: MetricResult | None) -> CollapseSignal:
    name = "similar answers"
    if m is None or not _known(m):
        return CollapseSignal(name=name, fired=None, evidence="no pairwise similarity measured")
    b, c = float(m.baseline), float(m.candidate)  # type: ignore[arg-type]
    fired = c - b >= SIMILARITY_RISE and float(m.ci_low) > 0  # type: ignore[arg-type]
    return CollapseSignal(
        name=name,
        fired=fired,
        evidence=f"mean pairwise similarity {c:.3f} vs {b:.3f} ({_ci(m)}); fires at "
        f"≥ +{SIMILARITY_RISE:g}, the interval above 0",
    )


def _distinct_signal(m: MetricResult | None) -> CollapseSignal:
    name = "fewer distinct phrases"
    if m is None or not _known(m) or not m.baseline:
        return CollapseSignal(name=name, fired=None, evidence="no distinct-2 measured")
    b, c = float(m.baseline), float(m.candidate)  # type: ignore[arg-type]
    fired = c <= DISTINCT_RATIO * b and float(m.ci_high) < 0  # type: ignore[arg-type]
    return CollapseSignal(
        name=name,
        fired=fired,
        evidence=f"distinct-2 {c:.3f} vs {b:.3f} ({_ci(m)}); fires at ≤ {DISTINCT_RATIO:g}× "
        "the baseline's, the interval below 0",
    )


def _spread_signal(arms: dict[str, ArmStyle]) -> CollapseSignal:
    name = "one length"
    b, c = arms["baseline"], arms["candidate"]
    if min(b.answers, c.answers) < SPREAD_MIN_ANSWERS or b.words_sd is None or c.words_sd is None:
        return CollapseSignal(
            name=name, fired=None, evidence=f"fewer than {SPREAD_MIN_ANSWERS} answers per arm"
        )
    fired = b.words_sd >= SPREAD_MIN_SD and c.words_sd <= SPREAD_RATIO * b.words_sd
    return CollapseSignal(
        name=name,
        fired=fired,
        evidence=f"answer lengths spread by {c.words_sd:.1f} words (standard deviation) vs "
        f"{b.words_sd:.1f}; fires at ≤ {SPREAD_RATIO:g}× the baseline's, where the baseline's "
        f"is ≥ {SPREAD_MIN_SD:g} words",
    )


def _arm_style(text: ArmText) -> ArmStyle:
    answered = text.answered
    lengths = np.array(
        [len(w) for w, a in zip(text.words, answered, strict=True) if a], dtype=float
    )
    has = len(lengths) > 0

    def mode(keys: list[str | None]) -> tuple[str | None, int]:
        top, count = modal(keys)
        return (top, count) if count >= 2 else (None, 0)

    opening, opening_count = mode(openings(text))
    skeleton, skeleton_count = mode(skeletons(text))
    return ArmStyle(
        answers=int(answered.sum()),
        words_median=float(np.median(lengths)) if has else None,
        words_p10=float(np.percentile(lengths, 10)) if has else None,
        words_p90=float(np.percentile(lengths, 90)) if has else None,
        words_sd=float(lengths.std()) if has else None,
        opening=opening,
        opening_count=opening_count,
        skeleton=skeleton,
        skeleton_count=skeleton_count,
    )


def histogram(baseline: np.ndarray, candidate: np.ndarray, bins: int = HISTOGRAM_BINS) -> Histogram:
    """Both arms' values counted over the same bins (whole-number edges for small ranges).

    >>> h = histogram(np.array([1, 2, 2, 9]), np.array([2, 2, 2, 2]), bins=4)
    >>> h.edges, h.baseline, h.candidate
    ([1.0, 3.0, 5.0, 7.0, 9.0], [3, 0, 0, 1], [4, 0, 0, 0])
    """
    both = np.concatenate([baseline, candidate]).astype(float)
    if both.size == 0:
        return Histogram(edges=[0.0, 1.0], baseline=[0], candidate=[0])
    low, high = float(both.min()), float(both.max())
    if high == low:
        high = low + 1.0
    edges = np.histogram_bin_edges(
        both, bins=min(bins, max(1, math.ceil(high - low))), range=(low, high)
    )
    count = lambda x: np.histogram(x, bins=edges)[0].astype(int).tolist()  # noqa: E731
    return Histogram(
        edges=[float(e) for e in edges], baseline=count(baseline), candidate=count(candidate)
    )


def _examples(b: ArmText, c: ArmText, ids: list[str]) -> list[StyleExample]:
    both = np.flatnonzero(~b.failed & ~c.failed)
    if both.size == 0:
        return []
    rng = np.random.default_rng(EXAMPLE_SEED)
    chosen = np.sort(rng.choice(both, size=min(EXAMPLES, both.size), replace=False))
    return [
        StyleExample(
            id=ids[i], baseline=b.outputs[i][:EXAMPLE_CHARS], candidate=c.outputs[i][:EXAMPLE_CHARS]
        )
        for i in chosen
    ]


def dataset_style(
    table: pd.DataFrame, dataset: str, analysis: Analysis, task_type: str
) -> StyleResult:
    """Collapse signals, lengths and examples of one task dataset."""
    rows = dict(zip(ARMS, paired_rows(table, dataset), strict=True))
    texts = {arm: arm_text(rows[arm]) for arm in ARMS}
    arms = {arm: _arm_style(texts[arm]) for arm in ARMS}
    signals = [
        _share_signal("one opening", "opening", analysis.metric(dataset, "same_opening")),
        _share_signal("one template", "skeleton", analysis.metric(dataset, "same_skeleton")),
        _similarity_signal(analysis.metric(dataset, "pairwise_similarity")),
        _distinct_signal(analysis.metric(dataset, "distinct_2")),
        _spread_signal(arms),
    ]
    lengths = {
        arm: np.array([len(w) for w, a in zip(t.words, t.answered, strict=True) if a])
        for arm, t in texts.items()
    }
    tokens = {arm: (t := output_tokens(rows[arm]))[~np.isnan(t)] for arm in ARMS}
    return StyleResult(
        dataset=dataset,
        collapsed=any(s.fired for s in signals) if task_type == "generation" else None,
        signals=signals,
        arms=arms,
        words=histogram(lengths["baseline"], lengths["candidate"]),
        tokens=histogram(tokens["baseline"], tokens["candidate"])
        if min(t.size for t in tokens.values())
        else None,
        examples=_examples(
            texts["baseline"], texts["candidate"], [str(i) for i in rows["baseline"].index]
        ),
    )


def style_summary(table: pd.DataFrame, analysis: Analysis, task_type: str) -> list[StyleResult]:
    """One StyleResult per task dataset, in the analysis's order."""
    return [
        dataset_style(table, name, analysis, task_type)
        for name, d in analysis.datasets.items()
        if d.section == TASK
    ]
