"""Exact and near-duplicate inputs, and duplicates that carry different labels (conflicts).

Texts are compared after `contamination.normalise` (NFKC, casefolded, punctuation to spaces,
whitespace collapsed): identical normalised texts are exact duplicates. Two distinct
normalised texts are near duplicates when the Jaccard similarity of the character 5-gram
sets of their space-free forms is at least `NEAR_THRESHOLD` (0.8): "I still haven't got my
card" and "i still havent got my card!" are near duplicates (similarity 1.0), and so are
"Has my top up gone through?" and "has my top-up gone thru"; a query and the same query with
one more clause are not.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

from pydantic import BaseModel

from evalkit.analysis.contamination import normalise
from evalkit.audit.rows import AuditRow
from evalkit.audit.sensitive import mask_text

NEAR_THRESHOLD = 0.8
CHAR_NGRAM = 5


class DuplicateGroup(BaseModel):
    """Rows whose normalised inputs are identical."""

    ids: list[str]
    labels: list[str | None]
    text: str  # the first row's input, masked
    conflict: bool  # the rows carry different labels


class NearPair(BaseModel):
    """Two rows with distinct but nearly identical inputs."""

    a: str
    b: str
    a_label: str | None
    b_label: str | None
    a_text: str
    b_text: str
    similarity: float
    conflict: bool


class Duplicates(BaseModel):
    threshold: float
    exact: list[DuplicateGroup]
    near: list[NearPair]

    @property
    def conflicts(self) -> int:
        return sum(g.conflict for g in self.exact) + sum(p.conflict for p in self.near)


def char_grams(text: str, n: int = CHAR_NGRAM) -> frozenset[str]:
    """The character n-grams of a text; a text shorter than n is its own gram."""
    return frozenset(text[i : i + n] for i in range(max(1, len(text) - n + 1)))


def similar_pairs(sets: Sequence[frozenset[str]], threshold: float) -> list[tuple[int, int, float]]:
    """Every pair (i < j) whose Jaccard similarity is >= threshold, found exactly.

    Prefix filtering: with each set's grams ordered rarest first, two sets reaching the
    threshold share a gram among the first |A| - ceil(t·|A|) + 1 of either, so only the
    postings of those prefixes are candidates and common grams ("how d") cost nothing.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    freq = Counter(g for s in sets for g in s)
    index: defaultdict[str, list[int]] = defaultdict(list)
    pairs = []
    for j, s in enumerate(sets):
        ordered = sorted(s, key=lambda g: (freq[g], g))
        prefix = ordered[: len(s) - math.ceil(threshold * len(s) - 1e-9) + 1]
        for i in sorted({i for g in prefix for i in index[g]}):
            other = sets[i]
            # Jaccard >= t needs the smaller set to be at least t times the larger
            if not threshold * len(s) <= len(other) <= len(s) / threshold:
                continue
            shared = len(s & other)
            score = shared / (len(s) + len(other) - shared)
            if score >= threshold:
                pairs.append((i, j, score))
        for g in prefix:
            index[g].append(j)
    return pairs


def find_duplicates(rows: Sequence[AuditRow], threshold: float = NEAR_THRESHOLD) -> Duplicates:
    """Exact duplicate groups, near-duplicate pairs of distinct texts, and which conflict."""
    groups: dict[str, list[AuditRow]] = {}
    for row in rows:
        groups.setdefault(normalise(row.input), []).append(row)
    exact = [
        DuplicateGroup(
            ids=[r.id for r in g],
            labels=[r.target for r in g],
            text=mask_text(g[0].input),
            conflict=len({r.target for r in g}) > 1,
        )
        for g in groups.values()
        if len(g) > 1
    ]
    texts = list(groups)
    near = []
    # without spaces, "haven t" (from "haven't") and "havent", "top up" and "topup" are alike
    grams = [char_grams(t.replace(" ", "")) for t in texts]
    for i, j, score in similar_pairs(grams, threshold):
        # one pair per two distinct texts: each text's first row stands for its exact group
        a, b = groups[texts[i]][0], groups[texts[j]][0]
        near.append(
            NearPair(
                a=a.id,
                b=b.id,
                a_label=a.target,
                b_label=b.target,
                a_text=mask_text(a.input),
                b_text=mask_text(b.input),
                similarity=round(score, 4),
                conflict=a.target != b.target,
            )
        )
    # conflicts first: a pair that teaches two answers matters more than a repeated one
    near.sort(key=lambda p: (not p.conflict, -p.similarity))
    exact.sort(key=lambda g: (not g.conflict, -len(g.ids)))
    return Duplicates(threshold=threshold, exact=exact, near=near)
