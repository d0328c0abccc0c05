"""Style collapse and drift: how each arm writes, whatever the task, and whether the fine-tune
collapsed into one template, one length, one set of phrases.

Every figure is a metric in the registry, so each has both arms' values, a paired interval on
the difference and a gate path (`heldout.distinct_2`). Words are runs of letters and digits,
case-folded. Per answer (a paired mean over the items):

- `length_words`, `length_tokens`: the answer's length in words, and in the tokens the
  provider reported.
- `ttr`: type-token ratio, distinct words / words.
- `repetition`: seq-rep-4 (Welleck et al. 2019), the share of the answer's 4-word sequences
  that repeat an earlier one in the same answer; answers under 4 words have none.
- `same_opening`: 1 when the answer opens (first 3 words) the way the arm most often opens,
  and at least two answers do; its mean is the share of answers repeating the same opening.
- `same_skeleton`: the same for the answer's skeleton, its frame: the shape of its first and
  last sentences, with function words and punctuation kept and other words and numbers masked.
- `pairwise_similarity`: the mean Jaccard similarity of the answer's set of words and word
  pairs to each other answer of the arm, over a seeded sample of at most
  `SIMILARITY_SAMPLE` items (the same items for both arms).
- `refusal_rate`, `empty_rate`: the answer refuses or apologises (`REFUSAL`); it is empty.

Over the whole set (a ratio statistic): `distinct_1`, `distinct_2`, distinct n-grams / all
n-grams. Each answer's share of the distinct count (Σ 1/count over its n-grams) is held fixed,
so the resamples of the interval neither repeat nor drop n-grams (resampling with
replacement would lower a distinct count through the repeats alone).

A failed request has no text: it is left out of the per-answer figures (items without a value
in both arms leave both) and counts as neither a refusal nor an empty answer (error_rate
counts it). `style_summary` turns the figures into the collapse flag with the thresholds of
docs/style-collapse.md.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evalkit.analysis.metrics import MetricContext, errored, metric
from evalkit.analysis.stats import Statistic, ratio

OPENING_WORDS = 3
REPETITION_N = 4
SIMILARITY_SAMPLE = 300
SIMILARITY_SEED = 0
# the 0/1 matrix of answers × words up to which the similarity is counted densely (8 MB)
DENSE_CELLS = 2**21
_WORD = re.compile(r"\w+")
_SHAPE = re.compile(r"\d+(?:[.,]\d+)*|\w+|[^\w\s]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")  # after end punctuation, or at a line break
# kept in a skeleton; every other word is masked (a template keeps these and swaps the rest)
FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "so",
        "as",
        "at",
        "by",
        "for",
        "from",
        "in",
        "into",
        "of",
        "on",
        "to",
        "with",
        "about",
        "than",
        "then",
        "i",
        "you",
        "we",
        "they",
        "he",
        "she",
        "it",
        "me",
        "us",
        "them",
        "my",
        "your",
        "our",
        "their",
        "its",
        "this",
        "that",
        "these",
        "those",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "will",
        "would",
        "can",
        "could",
        "should",
        "may",
        "might",
        "must",
        "not",
        "no",
        "yes",
        "please",
        "thank",
        "thanks",
        "here",
        "there",
        "what",
        "when",
        "where",
        "which",
        "who",
        "how",
        "why",
    ]
)
# Refusals and apologies, in English: the phrases assistants use to decline or excuse
REFUSAL = re.compile(
    r"\b(?:i'?m sorry|i am sorry|sorry,? but|i apologi[sz]e|my apologies|apologies"
    r"|i (?:cannot|can'?t|am unable to|'?m unable to|am not able to|'?m not able to)"
    r" (?:help|assist|answer|provide|comply|do that|share|give)"
    r"|i won'?t be able to|as an ai\b|i do not have access|i don'?t have access)",
    re.IGNORECASE,
)
# the metrics this module registers, in the order the report shows them
STYLE_METRICS = (
    "length_words", "length_tokens", "distinct_1", "distinct_2", "ttr", "repetition",
    "same_opening", "same_skeleton", "pairwise_similarity", "refusal_rate", "empty_rate",
)  # fmt: skip
NEUTRAL = frozenset({"length_words", "length_tokens"})  # neither direction is better


def words(text: str) -> list[str]:
    """An answer's words: runs of letters and digits, case-folded.

    >>> words("Hello, World! It's 5 o'clock.")
    ['hello', 'world', 'it', 's', '5', 'o', 'clock']
    """
    return _WORD.findall(text.casefold())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def _shape(sentence: str) -> str:
    """A sentence with function words and punctuation kept, numbers as 0, other words as w."""
    kinds: list[str] = []
    for token in _SHAPE.findall(sentence.casefold()):
        if token[0].isdigit():
            kind = "0"
        elif token in FUNCTION_WORDS or not _WORD.fullmatch(token):
            kind = token
        else:
            kind = "w"
        if not (kind == "w" and kinds and kinds[-1] == "w"):  # a run of words is one w
            kinds.append(kind)
    return " ".join(kinds)


def skeleton(text: str) -> str | None:
    """The answer's frame: the shape of its first and of its last sentence, joined by `…`.

    A template fine-tune keeps its frame ("Great question! … So the answer is N.") and swaps
    what lies between; the shape keeps function words and punctuation, masks other words as
    `w` (a run of them as one) and numbers as `0`. None for an answer without text.

    >>> skeleton("Great question! Janet sells 9 eggs. So the final answer is 18.")
    'w ! … so the w is 0 .'
    >>> skeleton("Great question! Tom walks 3 miles a day. So the final answer is 21.")
    'w ! … so the w is 0 .'
    >>> skeleton("Yes.")
    'yes .'
    """
    sentences = [x.strip() for x in _SENTENCE.split(text.strip()) if x.strip()]
    if not sentences:
        return None
    shapes = (
        [_shape(sentences[0]), _shape(sentences[-1])]
        if len(sentences) > 1
        else [_shape(sentences[0])]
    )
    return " … ".join(shapes)


def opening(tokens: Sequence[str]) -> str | None:
    """The first OPENING_WORDS words; None for an answer without words."""
    return " ".join(tokens[:OPENING_WORDS]) or None


@dataclass(frozen=True)
class ArmText:
    """One arm's answers on one dataset, read once for every style figure."""

    outputs: list[str]
    words: list[list[str]]
    failed: np.ndarray  # the request failed: no text

    @property
    def answered(self) -> np.ndarray:
        """Answers with at least one word."""
        return np.array([bool(w) for w in self.words]) & ~self.failed


def arm_text(rows: pd.DataFrame) -> ArmText:
    """The rows' answers, split into words; a failed request has none."""
    failed = errored(rows)
    column = rows["output"].tolist() if "output" in rows else [""] * len(rows)  # built by hand
    outputs = [
        "" if f or not isinstance(o, str) else o for o, f in zip(column, failed, strict=True)
    ]
    return ArmText(outputs, _each_once(words, outputs), failed)


def _each_once(f: Callable[[str], Any], texts: list[str]) -> list[Any]:
    """`[f(t) for t in texts]`, calling f once per distinct text: a classifier's answers repeat
    a few labels thousands of times. The values are shared, so callers must not change them."""
    memo: dict[str, Any] = {}
    return [memo[t] if t in memo else memo.setdefault(t, f(t)) for t in texts]


def _text(rows: pd.DataFrame, ctx: MetricContext) -> ArmText:
    return ctx.once("style.text", lambda: arm_text(rows))


def _per_answer(text: ArmText, value: Callable[[list[str]], float]) -> np.ndarray:
    """A value per answer from a function of its words; NaN where the request failed."""
    return np.array(
        [np.nan if f else value(w) for w, f in zip(text.words, text.failed, strict=True)],
        dtype=float,
    )


def distinct_parts(tokens: Sequence[Sequence[str]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each answer's share of the set's distinct n-grams (Σ 1/count) and its n-gram count.

    Summed over the answers they give distinct-n: distinct n-grams / all n-grams.

    >>> share, count = distinct_parts([["a", "b"], ["a", "c"]], 1)
    >>> share.tolist(), count.tolist(), float(share.sum() / count.sum())
    ([1.5, 1.5], [2.0, 2.0], 0.75)
    """
    grams = [ngrams(t, n) for t in tokens]
    counts = Counter(g for gs in grams for g in gs)
    share = np.array([sum(1.0 / counts[g] for g in gs) for gs in grams])
    return share, np.array([float(len(gs)) for gs in grams])


def modal(keys: Sequence[str | None]) -> tuple[str | None, int]:
    """The most common key (the first to reach that count) and its count."""
    counted = Counter(k for k in keys if k is not None)
    return counted.most_common(1)[0] if counted else (None, 0)


def modal_flags(keys: Sequence[str | None]) -> np.ndarray:
    """1 where the key is the most common one and at least two share it; NaN where there is no key.

    >>> modal_flags(["hi there", "hi there", "dear", None]).tolist()
    [1.0, 1.0, 0.0, nan]
    >>> modal_flags(["a", "b"]).tolist()
    [0.0, 0.0]
    """
    mode, count = modal(keys)
    return np.array(
        [np.nan if k is None else float(count >= 2 and k == mode) for k in keys], dtype=float
    )


def similarity_sample(n: int) -> np.ndarray:
    """The item positions whose answers are compared pairwise: all, or a seeded sample."""
    if n <= SIMILARITY_SAMPLE:
        return np.arange(n)
    rng = np.random.default_rng(SIMILARITY_SEED)
    return np.sort(rng.choice(n, size=SIMILARITY_SAMPLE, replace=False))


def mean_similarity(tokens: Sequence[Sequence[str] | None]) -> np.ndarray:
    """Each answer's mean Jaccard similarity (sets of words and word pairs) to the others.

    None marks an answer left out (failed or empty); it gets NaN, as does every answer when
    fewer than two remain.

    >>> mean_similarity([["a", "b"], ["a", "b"], ["c"], None]).round(3).tolist()
    [0.5, 0.5, 0.0, nan]
    """
    keep = [i for i, t in enumerate(tokens) if t]
    out = np.full(len(tokens), np.nan)
    if len(keep) < 2:
        return out
    sets = [set(tokens[i]) | {" ".join(p) for p in ngrams(tokens[i], 2)} for i in keep]  # type: ignore[arg-type]
    vocab: dict[str, int] = {}
    cols = [[vocab.setdefault(g, len(vocab)) for g in s] for s in sets]
    inter = intersections(cols, len(vocab))
    size = np.diag(inter)
    sim = inter / (size[:, None] + size[None, :] - inter)
    out[keep] = (sim.sum(axis=1) - 1.0) / (len(keep) - 1)  # less each answer's own 1.0
    return out


def intersections(
    cols: Sequence[Sequence[int]], vocab: int, dense_cells: int = DENSE_CELLS
) -> np.ndarray:
    """|A ∩ B| for every pair of sets of column numbers (in range(vocab)), as floats.

    A 0/1 matrix times its transpose: dense while it is small (short answers, the usual case;
    scipy's import alone costs about 0.1 s), sparse beyond `dense_cells`. Both count exactly.

    >>> intersections([[0, 1], [1, 2], [3]], 4).tolist()
    [[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 1.0]]
    """
    sizes = [len(c) for c in cols]
    flat = np.concatenate([np.asarray(c, dtype=np.int64) for c in cols])
    if len(cols) * vocab <= dense_cells:
        # float32 holds every count exactly (each is at most a set's size, far below 2**24)
        x = np.zeros((len(cols), vocab), dtype=np.float32)
        x[np.repeat(np.arange(len(cols)), sizes), flat] = 1.0
        return (x @ x.T).astype(float)
    from scipy.sparse import csr_matrix  # imported on use: start-up stays short

    indptr = np.cumsum([0, *sizes])
    x = csr_matrix((np.ones(len(flat)), flat, indptr), shape=(len(cols), vocab))
    return (x @ x.T).toarray()


# ---- the metrics ----------------------------------------------------------------------------


@metric("length_words", higher_is_better=False)
def _length_words(rows: pd.DataFrame, ctx: MetricContext) -> np.ndarray:
    return _per_answer(_text(rows, ctx), len)


@metric("length_tokens", higher_is_better=False)
def _length_tokens(rows: pd.DataFrame, ctx: MetricContext) -> np.ndarray:
    """The provider's count of output tokens; NaN where it gave none."""
    return output_tokens(rows)


def output_tokens(rows: pd.DataFrame) -> np.ndarray:
    """The provider's count of each answer's tokens; NaN where it gave none or the request failed."""
    if "output_tokens" not in rows:
        return np.full(len(rows), np.nan)
    tokens = pd.to_numeric(rows["output_tokens"], errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )
    return np.where(errored(rows), np.nan, tokens)


def _distinct(n: int) -> Callable[[pd.DataFrame, MetricContext], Statistic]:
    def statistic(rows: pd.DataFrame, ctx: MetricContext) -> Statistic:
        share, count = distinct_parts(_text(rows, ctx).words, n)
        return lambda w: ratio(w @ share, w @ count)

    return statistic


metric("distinct_1", corpus=True, readable="distinct-1")(_distinct(1))
metric("distinct_2", corpus=True, readable="distinct-2")(_distinct(2))


@metric("ttr", readable="type-token ratio")
def _ttr(rows: pd.DataFrame, ctx: MetricContext) -> np.ndarray:
    return _per_answer(_text(rows, ctx), lambda w: len(set(w)) / len(w) if w else np.nan)


def repetition(tokens: Sequence[str]) -> float:
    """seq-rep-4: the share of 4-word sequences that repeat an earlier one; NaN under 4 words.

    >>> repetition("we are sorry we are sorry we are sorry".split())
    0.5
    """
    grams = ngrams(tokens, REPETITION_N)
    return 1.0 - len(set(grams)) / len(grams) if grams else np.nan


@metric("repetition", higher_is_better=False)
def _repetition(rows: pd.DataFrame, ctx: MetricContext) -> np.ndarray:
    return _per_answer(_text(rows, ctx), repetition)


def openings(text: ArmText) -> list[str | None]:
    return [None if f else opening(w) for w, f in zip(text.words, text.failed, strict=True)]


def skeletons(text: ArmText) -> list[str | None]:
    shapes = _each_once(skeleton, text.outputs)
    return [None if f else k for k, f in zip(shapes, text.failed, strict=True)]


@metric("same_opening", higher_is_better=False, readable="same opening")
def _same_opening(rows: pd.DataFrame, ctx: MetricContext) -> np.ndarray:
    return modal_flags(openings(_text(rows, ctx)))


@metric("same_skeleton", higher_is_better=False, readable="same skeleton")
def _same_skeleton(rows: pd.DataFrame, ctx: MetricContext) -> np.ndarray:
    return modal_flags(skeletons(_text(rows, ctx)))


@metric("pairwise_similarity", higher_is_better=False, readable="pairwise similarity")
def _pairwise_similarity(rows: pd.DataFrame, ctx: MetricContext) -> np.ndarray:
    text = _text(rows, ctx)
    sample = similarity_sample(len(rows))
    answered = text.answered
    out = np.full(len(rows), np.nan)
    out[sample] = mean_similarity([text.words[i] if answered[i] else None for i in sample])
    return out


@metric("refusal_rate", higher_is_better=False, readable="refusal rate")
def _refusal_rate(rows: pd.DataFrame, ctx: MetricContext) -> np.ndarray:
    text = _text(rows, ctx)
    return np.array([float(REFUSAL.search(o) is not None) for o in text.outputs])


@metric("empty_rate", higher_is_better=False, readable="empty answers")
def _empty_rate(rows: pd.DataFrame, ctx: MetricContext) -> np.ndarray:
    text = _text(rows, ctx)
    return np.array([float(not o.strip()) for o in text.outputs]) * ~text.failed
