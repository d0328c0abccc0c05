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
    gates = results.gates
    if gates is None or gates.passed:
        return Headline(verdict.outcome, verdict.sentence)
    failed, total = len(gates.failed), len(gates.results)
    return Headline(
        "gates-failed",
        f"Release gates failed ({failed} of {total} checks): the candidate does not pass this "
        f"suite's gates as it is. {verdict.sentence}",
    )
