"""Contamination: held-out items that also appear, verbatim or nearly, in the training data.

Texts are normalised (Unicode NFKC, casefolded, punctuation to spaces, whitespace collapsed)
and compared as sets of word n-grams. The score is the *containment* of the held-out item in
a training item, |H ∩ T| / |H|, rather than Jaccard |H ∩ T| / |H ∪ T|: the question is "is
this held-out text inside the training data?", and a held-out question that was trained on
inside a longer example (with its answer, a system prompt or a chat wrapper) is contained
whole but has a low Jaccard score. Among training items equally containing it, the closest in
length (highest Jaccard) is reported.

The price of containment: a short held-out text can be mostly contained in a long, unrelated
training text through one stock phrase (banking77's "How long will it take to arrive?" shares
4 of its 5 trigrams with a GSM8K problem). Raise `ngram` or `threshold` for short queries
against long-form training data. A text shorter than n words has no n-grams and is matched
only exactly: on single words, containment would flag "card?" against every card query.
`exact` marks the stronger finding: the normalised texts are identical. Only `Item.input` is compared; targets are not.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from evalkit.data.items import Item

_PUNCT = re.compile(r"[^\w\s]|_")


@dataclass(frozen=True)
class Match:
    heldout_id: str
    heldout_text: str
    train_id: str
    train_text: str
    similarity: float  # containment of the held-out n-grams in the training item, 0..1
    exact: bool  # identical after normalisation


def normalise(text: str) -> str:
    """Casefolded, punctuation to spaces, one space between words: 'Top-up!' → 'top up'."""
    return " ".join(_PUNCT.sub(" ", unicodedata.normalize("NFKC", text).casefold()).split())


def _grams(words: list[str], n: int) -> frozenset[tuple[str, ...]]:
    return frozenset(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


class _Index:
    """Training n-gram sets plus an inverted index from n-gram to the training items holding it."""

    def __init__(self, word_lists: list[list[str]], n: int) -> None:
        self.grams = [_grams(words, n) for words in word_lists]
        self.postings: defaultdict[tuple[str, ...], list[int]] = defaultdict(list)
        for i, grams in enumerate(self.grams):
            for gram in grams:
                self.postings[gram].append(i)

    def best(self, query: frozenset[tuple[str, ...]], threshold: float) -> tuple[int, float] | None:
        """The training item containing most of `query` at or above threshold, with its score."""
        # Prefix filter: an item sharing >= need grams must hold one of the (len - need + 1)
        # rarest grams of the query, so only their postings are candidates. Common n-grams
        # ("how do i") then cost nothing, which keeps 10k x 1k items well under a second.
        need = max(1, math.ceil(threshold * len(query) - 1e-9))
        rarest = sorted(query, key=lambda g: len(self.postings.get(g, ())))
        candidates: set[int] = set()
        for gram in rarest[: len(query) - need + 1]:
            candidates.update(self.postings.get(gram, ()))
        best: tuple[float, float, int] | None = None
        for i in candidates:
            shared = len(query & self.grams[i])
            if shared < need:
                continue
            key = (shared / len(query), shared / len(query | self.grams[i]), -i)
            if best is None or key > best:
                best = key
        return None if best is None else (-best[2], best[0])


def find_contamination(
    heldout: Sequence[Item], train: Sequence[Item], ngram: int = 3, threshold: float = 0.8
) -> list[Match]:
    """Each held-out item's best training match scoring >= threshold, most similar first."""
    if ngram < 1:
        raise ValueError(f"ngram must be >= 1, got {ngram}")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    train_norm = [normalise(item.input) for item in train]
    exact_index: dict[str, int] = {}
    for i, text in enumerate(train_norm):
        exact_index.setdefault(text, i)
    train_words = [text.split() for text in train_norm]
    grams = _Index(train_words, ngram)

    matches: list[tuple[int, Match]] = []
    for position, item in enumerate(heldout):
        text = normalise(item.input)
        if not text:
            continue
        if text in exact_index:
            found: tuple[int, float] | None = (exact_index[text], 1.0)
        elif len(words := text.split()) >= ngram:
            found = grams.best(_grams(words, ngram), threshold)
        else:
            # Fewer words than n: any single shared word would "contain" it, which says
            # nothing ("card?" is in every card query). Only an exact match counts.
            found = None
        if found is None:
            continue
        i, similarity = found
        matches.append(
            (
                position,
                Match(
                    heldout_id=item.id,
                    heldout_text=item.input,
                    train_id=train[i].id,
                    train_text=train[i].input,
                    similarity=similarity,
                    exact=train_norm[i] == text,
                ),
            )
        )
    matches.sort(key=lambda pm: (-pm[1].similarity, not pm[1].exact, pm[0]))
    return [match for _, match in matches]
