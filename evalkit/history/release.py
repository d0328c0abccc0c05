"""Promote, hold or roll back: the current candidate against the previously released one.

Each watched metric (`drift.watched`: headline metrics of the task datasets, probe
accuracy) of the candidate arm is compared between the two runs:

- **paired** over the items both runs answered (matched by dataset and item id), with the
  same paired bootstrap as the arm comparison (`gate.cross_run_change`): the interval of
  current − previous;
- **unpaired** where no item is shared (or a run has no samples.jsonl) but both runs carry the
  arm's own interval: current − previous ± √(h₁² + h₂²) (`drift.explained`);
- **not comparable** otherwise (a rubric score, a metric one run lacks).

A change is *better* or *worse* when its whole interval lies on that side of zero (for a
lower-is-better metric, below zero is better), else *no clear change*.

**The recommendation.** *Roll back* when any watched metric is clearly worse, or when this
run fails a release gate that the previous one passed: the previous release is the better
one. Otherwise *hold* when this run fails its gates (as the previous did), or when nothing
is clearly better. *Promote* when at least one watched metric is clearly better, none is
clearly worse, and no gate failed. A regression anywhere outweighs an improvement elsewhere;
the evidence lists every change either way.
"""

from __future__ import annotations

import pandas as pd

from evalkit.analysis.stats import compare
from evalkit.errors import InputError
from evalkit.gate import cross_run_change
from evalkit.history.drift import explained, half_width, path_of, watched
from evalkit.history.schema import Finding, ReleaseChange, ReleaseDecision
from evalkit.names import CANDIDATE
from evalkit.results import MetricResult, Results, StoredRun


def _gates_passed(results: Results) -> bool | None:
    """True or False when gates were judged; None when none is configured."""
    gates = results.gates
    return gates.passed if gates is not None and gates.results else None


def _finding(low: float, high: float, higher_is_better: bool) -> Finding:
    up, down = compare(low, ">", 0.0), compare(high, "<", 0.0)
    if not (up or down):
        return "no clear change"
    return "better" if up == higher_is_better else "worse"


def _change(
    row: MetricResult,
    current: Results,
    samples: pd.DataFrame | None,
    previous: StoredRun,
) -> ReleaseChange:
    old = previous.results.metric(row.dataset, row.metric, row.section)
    name = path_of(row.section, row.dataset, row.metric)
    h_old = previous.results.dataset_hashes.get(row.dataset)
    h_new = current.dataset_hashes.get(row.dataset)
    base = {
        "dataset": row.dataset,
        "section": row.section,
        "metric": row.metric,
        "higher_is_better": row.higher_is_better,
        "previous": old.candidate if old else None,
        "current": row.candidate,
        "same_items": None if h_old is None or h_new is None else h_old == h_new,
    }
    if old is None or old.candidate is None or row.candidate is None:
        missing = (
            "the previous run has no value"
            if old is None or old.candidate is None
            else "this run has no value"
        )
        return ReleaseChange(
            **base, change=None, ci_low=None, ci_high=None, n=None, how="none",
            finding="not comparable", evidence=f"{name}: {missing}",
        )  # fmt: skip
    diff = row.candidate - old.candidate
    paired = None
    if samples is not None and previous.samples is not None:
        paired = cross_run_change(previous.samples, samples, row, CANDIDATE, current)
    if paired is not None:
        finding = _finding(paired.ci_low, paired.ci_high, row.higher_is_better)
        pct = f"{paired.confidence * 100:g}%"
        return ReleaseChange(
            **{**base, "previous": paired.baseline, "current": paired.candidate},
            change=paired.diff,
            ci_low=paired.ci_low,
            ci_high=paired.ci_high,
            n=paired.n,
            how="paired",
            finding=finding,
            evidence=(
                f"{name}: {paired.baseline:.3f} → {paired.candidate:.3f} ({paired.diff:+.3f}, "
                f"{pct} CI {paired.ci_low:+.3f} to {paired.ci_high:+.3f}, paired on "
                f"{paired.n} items both runs answered)"
            ),
        )
    a_old = previous.results.arm_interval(row.dataset, row.metric, row.section, CANDIDATE)
    a_new = current.arm_interval(row.dataset, row.metric, row.section, CANDIDATE)
    h1 = half_width(a_old.ci_low, a_old.ci_high) if a_old else None
    h2 = half_width(a_new.ci_low, a_new.ci_high) if a_new else None
    if h1 is None or h2 is None:
        return ReleaseChange(
            **base, change=diff, ci_low=None, ci_high=None, n=None, how="none",
            finding="not comparable",
            evidence=f"{name}: {old.candidate:.3f} → {row.candidate:.3f} ({diff:+.3f}); no shared "
            "items and no per-arm interval to judge the change by",
        )  # fmt: skip
    allowed = explained(h1, h2)
    low, high = diff - allowed, diff + allowed
    finding = _finding(low, high, row.higher_is_better)
    return ReleaseChange(
        **base,
        change=diff,
        ci_low=low,
        ci_high=high,
        n=None,
        how="unpaired",
        finding=finding,
        evidence=(
            f"{name}: {old.candidate:.3f} → {row.candidate:.3f} ({diff:+.3f}, ±{allowed:.3f} "
            "from the two runs' own intervals; no items shared to pair)"
        ),
    )


def _recommend(
    changes: list[ReleaseChange], now: bool | None, before: bool | None, same_arm: bool
) -> tuple[str, list[str]]:
    worse = [c.evidence for c in changes if c.finding == "worse"]
    better = [c.evidence for c in changes if c.finding == "better"]
    reasons = []
    if now is False and before is not False:
        reasons.append("this run fails a release gate that the previous release passed")
    if worse:
        reasons += [f"clearly worse: {w}" for w in worse]
    if reasons:
        return "roll back", reasons + [f"clearly better: {b}" for b in better]
    if now is False:
        return "hold", ["this run fails its release gates (as the previous release did)"] + [
            f"clearly better: {b}" for b in better
        ]
    if better:
        return "promote", [f"clearly better: {b}" for b in better] + (
            ["no watched metric is clearly worse and no gate failed"]
        )
    if same_arm:
        return "hold", ["the candidate is the previous release itself (same model and prompt)"]
    return "hold", [
        "no watched metric changed by more than its interval: the new candidate is not shown "
        "to be better than the previous release"
    ]


def release_decision(
    current: Results, samples: pd.DataFrame | None, previous: StoredRun, against: str
) -> ReleaseDecision:
    """The current run's candidate against the candidate of `previous` (an earlier run)."""
    old = previous.results
    if old.suite.name != current.suite.name:
        raise InputError(
            f"a run of suite {old.suite.name!r}, not of {current.suite.name!r}: a release is "
            "compared with an earlier run of the same suite",
            path=previous.path,
        )
    kinds = {name: d.kind for name, d in current.datasets.items()}
    rows = [
        m
        for m in current.metrics
        if watched(m.section, kinds.get(m.dataset, ""), m.metric, m.headline)
    ]
    changes = [_change(row, current, samples, previous) for row in rows]
    a, b = old.arms[CANDIDATE], current.arms[CANDIDATE]
    same_arm = (a.identity, a.prompt_sha256) == (b.identity, b.prompt_sha256)
    now, before = _gates_passed(current), _gates_passed(old)
    recommendation, reasons = _recommend(changes, now, before, same_arm)
    return ReleaseDecision(
        against=against,
        previous_run=old.run_id,
        previous_path=str(previous.path),
        previous_created_at=old.created_at,
        previous_gates_passed=before,
        current_gates_passed=now,
        candidate_changed=not same_arm,
        confidence=current.stats.confidence,
        changes=changes,
        recommendation=recommendation,  # type: ignore[arg-type]
        reasons=reasons,
    )


def no_previous_release(current: Results, against: str, why: str) -> ReleaseDecision:
    """The decision when there is nothing to compare with (the suite's first release)."""
    return ReleaseDecision(
        against=against,
        previous_run=None,
        previous_path=None,
        previous_created_at=None,
        previous_gates_passed=None,
        current_gates_passed=_gates_passed(current),
        candidate_changed=None,
        confidence=current.stats.confidence,
        changes=[],
        recommendation=None,
        reasons=[why],
    )
