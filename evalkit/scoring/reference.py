"""Reference metrics for generation tasks: how close an answer is to its reference text.

- **chrF** (Popović 2015) from `sacrebleu`, sentence level: the F-score (β = 2) of character
  n-grams up to 6, on a 0–100 scale; robust to inflection and tokenisation, and the reference
  metric that agrees best with human judgement among the classic ones (Kocmi et al. 2021).
- **ROUGE-L** F-measure: the longest common subsequence of words. Words are tokenised
  exactly as Google's `rouge-score` does (lower case, every run of other characters than
  a-z and 0-9 a break, no stemming) and the LCS comes from `rapidfuzz`; the value equals
  `rouge_score.rouge_scorer.RougeScorer(["rougeL"]).score(ref, answer)["rougeL"].fmeasure`,
  about 25× faster (tests/test_reference.py holds the two to the same numbers).

Both are per answer, so each has a paired interval like any per-item metric. An item
without a reference (an empty target) has no value; a failed request scores as an empty
answer: 0.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sacrebleu.metrics import CHRF

_ROUGE_BREAK = re.compile(r"[^a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    """Words as rouge-score's default tokenizer makes them.

    >>> rouge_tokens("Refunds take 5-7 working days!")
    ['refunds', 'take', '5', '7', 'working', 'days']
    """
    return _ROUGE_BREAK.sub(" ", text.lower()).split()


def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F-measure of an answer against one reference (0 to 1).

    >>> round(rouge_l("the refund takes five days", "a refund takes five working days"), 4)
    0.7273
    >>> rouge_l("", "anything")
    0.0
    """
    from rapidfuzz.distance import LCSseq  # imported on use: most suites score no references

    a, r = rouge_tokens(answer), rouge_tokens(reference)
    lcs = LCSseq.similarity(a, r) if a and r else 0
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def chrf(answer: str, reference: str) -> float:
    """sacrebleu's sentence-level chrF of an answer against one reference (0 to 100).

    >>> round(chrf("the refund takes five days", "a refund takes five working days"), 2)
    59.62
    """
    return float(_chrf_metric().sentence_score(answer, [reference]).score)


@functools.cache
def _chrf_metric() -> CHRF:
    """sacrebleu's defaults: character 6-grams, β = 2, no word n-grams (imported on use)."""
    from sacrebleu.metrics import CHRF

    return CHRF()


def reference_scores(answer: str, reference: str) -> dict[str, float]:
    """Every reference metric of one answer; {} when the item has no reference.

    >>> reference_scores("Refunds take 5 days.", "Refunds take 5 days.")
    {'rouge_l': 1.0, 'chrf': 100.0}
    >>> reference_scores("anything", "  ")
    {}
    """
    if not reference.strip():
        return {}
    return {"rouge_l": rouge_l(answer, reference), "chrf": chrf(answer, reference)}
