"""Paired statistics: both arms ran the same items, so every comparison resamples items, not arms.

A statistic is a function from a weight matrix W (resamples × items, each row the multiplicity
of every item in one bootstrap resample) to one value per resample. Means and F1 scores are
then matrix products, so thousands of resamples of 100k items stay cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

Statistic = Callable[[np.ndarray], np.ndarray]
K = TypeVar("K", bound=Hashable)

_CHUNK_CELLS = 4_000_000  # resamples × items per chunk: bounds memory at 100k items
# Quantiles of the bootstrap difference kept in results.json, so a gate can judge a finished
# run at any of these confidences (one-sided 1 - q) without the resamples themselves.
QUANTILES = (0.005, 0.01, 0.025, 0.05, 0.1, 0.9, 0.95, 0.975, 0.99, 0.995)
ONE_SIDED_CONFIDENCES = (0.9, 0.95, 0.975, 0.99, 0.995)


def quantile_key(q: float) -> str:
    """How a quantile is named in `PairedResult.quantiles` and results.json.

    >>> quantile_key(0.05), quantile_key(1 - 0.975), quantile_key(0.975)
    ('0.05', '0.025', '0.975')
    """
    return f"{q:.3g}"


def mean_stat(values: Sequence[float] | np.ndarray, keep: np.ndarray | None = None) -> Statistic:
    """The (weighted) mean of `values`, over the items `keep` marks when it is given.

    Args:
        values: one number per item.
        keep: which items count; a resample with none of them has no mean (NaN).

    Returns:
        A statistic: weight matrix (resamples × items) → one mean per resample.

    >>> import numpy as np
    >>> mean_stat([1.0, 0.0, 1.0, 0.0])(np.ones((1, 4)))
    array([0.5])
    >>> mean_stat([1.0, np.nan, 3.0], keep=np.array([True, False, True]))(np.array([[1, 1, 1], [0, 2, 0]]))
    array([ 2., nan])
    """
    x = np.asarray(values, dtype=float)
    if keep is None:
        return lambda w: (w @ x) / w.sum(axis=1)
    k = np.asarray(keep, dtype=float)
    kept = np.where(k > 0, x, 0.0)

    def mean(w: np.ndarray) -> np.ndarray:
        total, weight = w @ kept, w @ k
        return np.divide(total, weight, out=np.full_like(total, np.nan), where=weight > 0)

    return mean


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den element by element, NaN where den is 0 (a ratio of nothing is no value).

    >>> ratio(np.array([1.0, 2.0]), np.array([4.0, 0.0]))
    array([0.25,  nan])
    """
    return np.divide(num, den, out=np.full(np.shape(num), np.nan), where=den > 0)


def ratio_or_zero(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (scikit-learn's zero_division=0).

    >>> ratio_or_zero(np.array([1.0, 2.0]), np.array([4, 0]))
    array([0.25, 0.  ])
    """
    return np.divide(num, den, out=np.zeros(np.shape(num)), where=den > 0)


def class_sums(w: np.ndarray, classes: np.ndarray, k: int) -> np.ndarray:
    """Each resample's total weight of the items of each class: (B, k), = w @ one-hot(classes).

    One weighted bincount over the chunk instead of a (B × n) @ (n × k) product, so the cost
    does not grow with the number of labels. `classes` holds 0..k (k: no class, not counted).

    >>> import numpy as np
    >>> class_sums(np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]]), np.array([0, 1, 2]), 2)
    array([[1., 2.],
           [0., 1.]])
    """
    b = w.shape[0]
    cells = (np.arange(b, dtype=np.int64)[:, None] * (k + 1) + classes).ravel()
    sums = np.bincount(cells, weights=w.ravel(), minlength=b * (k + 1))
    return sums.reshape(b, k + 1)[:, :k]


def f1_stats(
    y_true: Sequence[str], y_pred: Sequence[str | None], labels: Sequence[str]
) -> dict[str, Statistic]:
    """Macro, micro and weighted F1 over a declared label set, as bootstrap statistics.

    Every label in `labels` counts where it occurs, as a target or as an answer: a label the
    model answers but no item has is a class with F1 0, so predictions into it are not
    forgiven. A label that is neither a target nor an answer (in the data, or in one
    resample) has no F1 (0/0) and is left out of the macro average. Answers outside `labels`
    (or None) are misses of their item's label, not classes of their own.

    Args:
        y_true: each item's target.
        y_pred: each item's answer, None where there is none.
        labels: the task's declared labels.

    Returns:
        {"macro_f1", "micro_f1", "weighted_f1"} → statistic (weights → one value per row);
        on unit weights each equals scikit-learn's
        `f1_score(y_true, y_pred, labels=labels, average=..., zero_division=np.nan)`.

    >>> import numpy as np
    >>> f1 = f1_stats(["a", "a", "b"], ["a", "c", "c"], labels=["a", "b", "c", "d"])
    >>> # a: 2/3, b: 0, c (answered, never a target): 0, d (nowhere): left out
    >>> round(float(f1["macro_f1"](np.ones((1, 3)))[0]), 4)
    0.2222
    """
    index = {lab: k for k, lab in enumerate(labels)}
    k = len(labels)
    # class of each item's target, answer and hit (target == answer); k, one bin past the
    # declared labels, holds "none of them" and is dropped
    t = np.array([index.get(y, k) for y in y_true], dtype=np.int64)
    p = np.array([k if y is None else index.get(y, k) for y in y_pred], dtype=np.int64)
    hit = np.where(t == p, t, k)
    # macro, micro and weighted F1 read the same counts of a resample chunk: count it once
    last: dict[str, Any] = {}

    def counts(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if last.get("w") is not w:
            last["w"], last["counts"] = w, tuple(class_sums(w, c, k) for c in (hit, p, t))
        return last["counts"]  # tp, predicted, actual: (B, K)

    def per_class(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        tp, pred, actual = counts(w)
        denom = pred + actual  # = 2tp + fp + fn
        return ratio_or_zero(2 * tp, denom), actual, denom > 0

    def macro(w: np.ndarray) -> np.ndarray:
        f1, _, occurs = per_class(w)
        classes = occurs.sum(axis=1)
        total = (f1 * occurs).sum(axis=1)
        return ratio(total, classes)

    def weighted(w: np.ndarray) -> np.ndarray:
        f1, actual, _ = per_class(w)
        total = actual.sum(axis=1)
        return ratio_or_zero((f1 * actual).sum(axis=1), total)

    def micro(w: np.ndarray) -> np.ndarray:
        tp, pred, actual = (c.sum(axis=1) for c in counts(w))
        return ratio_or_zero(2 * tp, pred + actual)

    return {"macro_f1": macro, "micro_f1": micro, "weighted_f1": weighted}


@dataclass(frozen=True)
class PairedResult:
    baseline: float
    candidate: float
    diff: float
    ci_low: float  # two-sided interval at `confidence`
    ci_high: float
    lower_one_sided: float  # one-sided lower bound at `confidence` (non-inferiority)
    confidence: float
    n: int
    resamples: int
    quantiles: dict[str, float]
    # each arm's own two-sided interval, (low, high), from the same resamples: what a run's
    # history compares between runs
    baseline_ci: tuple[float, float]
    candidate_ci: tuple[float, float]

    def lower_bound(self, confidence: float) -> float:
        """One-sided lower bound of candidate − baseline at `confidence`.

        Args:
            confidence: one of ONE_SIDED_CONFIDENCES (the quantiles kept in results.json).

        Returns:
            The (1 − confidence) quantile of the bootstrap differences; ValueError for a
            confidence whose quantile was not kept.
        """
        key = quantile_key(1 - confidence)
        if key not in self.quantiles:
            raise ValueError(
                f"confidence {confidence} not available; use one of {ONE_SIDED_CONFIDENCES}"
            )
        return self.quantiles[key]


def _weights(rng: np.random.Generator, b: int, n: int) -> np.ndarray:
    """Multiplicities of each item in `b` resamples with replacement (one bincount for all rows)."""
    idx = rng.integers(0, n, size=(b, n), dtype=np.int64) + (np.arange(b) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(float)


def resample(
    statistics: Mapping[K, Statistic], n: int, *, resamples: int, seed: int
) -> dict[K, np.ndarray]:
    """Each statistic's value on the same `resamples` bootstrap resamples of `n` items.

    The resamples are drawn once per chunk and shared by every statistic, so values of
    different statistics (two arms, or two prompts, on the same items) stay paired.

    >>> import numpy as np
    >>> d = resample({"a": mean_stat([1, 0, 1, 0])}, 4, resamples=3, seed=0)["a"]
    >>> d.shape, bool(((0 <= d) & (d <= 1)).all())
    ((3,), True)
    """
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, _CHUNK_CELLS // max(n, 1)))
    draws: dict[K, list[np.ndarray]] = {name: [] for name in statistics}
    done = 0
    while done < resamples:
        w = _weights(rng, min(chunk, resamples - done), n)
        for name, stat in statistics.items():
            draws[name].append(stat(w))
        done += w.shape[0]
    return {name: np.concatenate(values) for name, values in draws.items()}


def quantiles(draws: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Quantiles of bootstrap values, leaving out resamples where the statistic has no value
    (NaN, or ±inf from a ratio over a zero): such a resample says nothing.

    >>> import numpy as np
    >>> quantiles(np.array([0.0, 1.0, np.nan, np.inf, 2.0]), [0.0, 0.5, 1.0])
    array([0., 1., 2.])
    """
    d = np.where(np.isfinite(draws), draws, np.nan)
    if np.isnan(d).all():
        return np.full(len(qs), np.nan)
    return np.nanquantile(d, qs) if np.isnan(d).any() else np.quantile(d, qs)


def percentile_interval(draws: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    """The two-sided percentile interval of bootstrap values at `confidence`; None for a bound
    no resample had a value for.

    >>> import numpy as np
    >>> low, high = percentile_interval(np.arange(101.0), 0.9)
    >>> round(low, 6), round(high, 6)
    (5.0, 95.0)
    >>> percentile_interval(np.array([np.nan, np.inf]), 0.9)
    (None, None)
    """
    alpha = 1.0 - confidence
    low, high = quantiles(draws, [alpha / 2, 1 - alpha / 2])
    return (None if np.isnan(low) else float(low)), (None if np.isnan(high) else float(high))


def paired_bootstrap(
    statistics: dict[str, tuple[Statistic, Statistic]],
    n: int,
    *,
    resamples: int,
    seed: int,
    confidence: float,
) -> dict[str, PairedResult]:
    """candidate − baseline for each named (baseline, candidate) statistic pair.

    All statistics share the same resamples of the shared items (drawn once per chunk),
    which is both cheaper and keeps intervals of related metrics consistent.

    Args:
        statistics: name → (baseline statistic, candidate statistic) over the same n items.
        n: the number of items (both arms answered each one).
        resamples: bootstrap resamples; seed: their seed (the same seed, the same interval).
        confidence: the two-sided interval's level.

    Returns:
        name → PairedResult: both point values, the difference, its percentile interval,
        and the difference's quantiles for one-sided bounds.

    >>> import numpy as np
    >>> b = mean_stat([1, 1, 0, 0, 1, 0, 1, 0])
    >>> c = mean_stat([1, 1, 1, 0, 1, 1, 1, 0])
    >>> r = paired_bootstrap({"acc": (b, c)}, 8, resamples=500, seed=0, confidence=0.9)["acc"]
    >>> r.baseline, r.candidate, r.diff, r.n
    (0.5, 0.75, 0.25, 8)
    >>> bool(r.ci_low <= r.diff <= r.ci_high) and r.ci_low >= 0.0
    True
    """
    ones = np.ones((1, n))
    arms = {(name, k): stat for name, pair in statistics.items() for k, stat in enumerate(pair)}
    draws = resample(arms, n, resamples=resamples, seed=seed)
    alpha = 1.0 - confidence
    results = {}
    for name, (base, cand) in statistics.items():
        d = draws[(name, 1)] - draws[(name, 0)]
        b_point, c_point = float(base(ones)[0]), float(cand(ones)[0])
        low, high, lower = quantiles(d, [alpha / 2, 1 - alpha / 2, alpha])
        b_low, b_high = quantiles(draws[(name, 0)], [alpha / 2, 1 - alpha / 2])
        c_low, c_high = quantiles(draws[(name, 1)], [alpha / 2, 1 - alpha / 2])
        results[name] = PairedResult(
            baseline=b_point,
            candidate=c_point,
            diff=c_point - b_point,
            ci_low=float(low),
            ci_high=float(high),
            lower_one_sided=float(lower),
            confidence=confidence,
            n=n,
            resamples=resamples,
            quantiles={
                quantile_key(q): float(v)
                for q, v in zip(QUANTILES, quantiles(d, QUANTILES), strict=True)
            },
            baseline_ci=(float(b_low), float(b_high)),
            candidate_ci=(float(c_low), float(c_high)),
        )
    return results


@dataclass(frozen=True)
class McNemar:
    baseline_only: int  # items the baseline got right and the candidate wrong
    candidate_only: int
    both_right: int
    both_wrong: int
    p_value: float  # exact two-sided binomial test on the discordant pairs


def mcnemar_exact(baseline_correct: Sequence[bool], candidate_correct: Sequence[bool]) -> McNemar:
    """McNemar's exact test on paired right/wrong outcomes: only the discordant items count.

    Args:
        baseline_correct, candidate_correct: one flag per item, in the same item order.

    Returns:
        The four cell counts and the two-sided binomial p-value of the discordant pairs.

    >>> m = mcnemar_exact([1, 1, 0, 0, 1], [1, 0, 1, 1, 1])
    >>> (m.baseline_only, m.candidate_only, m.both_right, m.both_wrong), round(m.p_value, 3)
    ((1, 2, 2, 0), 1.0)
    """
    b = np.asarray(baseline_correct, dtype=bool)
    c = np.asarray(candidate_correct, dtype=bool)
    b_only, c_only = int((b & ~c).sum()), int((~b & c).sum())
    p = binomial_two_sided(min(b_only, c_only), b_only + c_only)
    return McNemar(b_only, c_only, int((b & c).sum()), int((~b & ~c).sum()), p)


def binomial_two_sided(k: int, n: int) -> float:
    """The exact two-sided p-value of k successes in n fair trials: 2·P(X ≤ min(k, n − k)),
    at most 1 (scipy's `binomtest(k, n, 0.5)`, without scipy.stats' second of import time).

    Summed in integers from the term at k down to where the rest can no longer change the
    double: exact where scipy's incomplete beta is within a few units in the last place.

    >>> binomial_two_sided(1, 3), binomial_two_sided(0, 10), binomial_two_sided(0, 0)
    (1.0, 0.001953125, 1.0)
    """
    k = min(k, n - k)
    if 2 * k >= n:  # the middle of the distribution (or no trials): nothing is unlikely
        return 1.0
    term = math.comb(n, k)
    total = 0
    for i in range(k, -1, -1):
        total += term
        # the i remaining terms are each below this one: stop once they are below 2^-64 of it
        if term * i < total >> 64:
            break
        term = term * i // (n - i + 1)  # C(n, i - 1) from C(n, i), exactly
    return min(1.0, 2 * total / (1 << n))


# Two floats closer than this are the same number: bounds are differences of shares of n
# items (multiples of 1/n) computed in floating point, so 0.4 - 0.5 must equal -0.1.
TOLERANCE = 1e-9


def compare(value: float, op: str, bound: float) -> bool:
    """`value <op> bound` for op in >=, >, <=, <, where values within TOLERANCE are equal.

    A tie at the bound is decided by the operator, never by rounding: `>` fails on it and
    `>=` passes.

    >>> 0.4 - 0.5 > -0.1, compare(0.4 - 0.5, ">", -0.1)
    (True, False)
    >>> compare(0.7 + 0.2, ">=", 0.9), compare(0.3, "<", 0.3)
    (True, False)
    """
    if op == ">":
        return value > bound + TOLERANCE
    if op == ">=":
        return value >= bound - TOLERANCE
    if op == "<":
        return value < bound - TOLERANCE
    if op == "<=":
        return value <= bound + TOLERANCE
    raise ValueError(f"unknown comparison {op!r}")


def non_inferior(lower_bound: float, margin: float) -> bool:
    """Not worse by more than `margin`: the one-sided lower bound of candidate − baseline
    stays above −margin. On the margin itself, non-inferiority is not shown.

    >>> non_inferior(-0.029, margin=0.03), non_inferior(-0.03, margin=0.03)
    (True, False)
    >>> non_inferior(32 / 80 - 40 / 80, margin=0.1)  # -0.1 in floating point
    False
    """
    return compare(lower_bound, ">", -margin)
