"""The first thing every report says: the verdict, led by the release gates when they fail.

A stakeholder reads the banner before anything else, so it must never contradict the
gate: a candidate that beats the baseline but fails a release gate is not shown in green.
"""

from __future__ import annotations

from dataclasses import dataclass

from evalkit.results import Results


@dataclass(frozen=True)
class Headline:
    tone: str  # the verdict's outcome (better, worse, inconclusive, unknown) or gates-failed
    sentence: str


def headline(results: Results) -> Headline:
    """The verdict sentence, prefixed by the failed gates when there are any."""
    verdict = results.verdict
    sentence = verdict.sentence + _judge_caveat(results)
    gates = results.gates
    if gates is None or gates.passed:
        return Headline(verdict.outcome, sentence)
    failed, total = len(gates.failed), len(gates.results)
    return Headline(
        "gates-failed",
        f"Release gates failed ({failed} of {total} checks): the candidate does not pass this "
        f"suite's gates as it is. {sentence}",
    )


def _judge_caveat(results: Results) -> str:
    """A judge's score as the verdict says whether the judge was measured against people."""
    m = results.metric("heldout", results.verdict.metric) if results.verdict.metric else None
    rubric = results.judge_of(m) if m else None
    if rubric is None or rubric.calibration_status == "calibrated":
        return ""
    return (
        f" The judge behind this score is {rubric.calibration_status} "
        f"({rubric.calibration_reason}): read it as unmeasured."
    )
