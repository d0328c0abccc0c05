"""Paired statistics against independent computations (scikit-learn, plain loops, exact binomials)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score

from evalkit.analysis.stats import (
    binomial_two_sided,
    f1_stats,
    mcnemar_exact,
    mean_stat,
    non_inferior,
    paired_bootstrap,
)

LABELS = ["a", "b", "c", "d"]


def _random_predictions(seed: int, n: int) -> tuple[list[str], list[str | None]]:
    rng = np.random.default_rng(seed)
    truth = [str(x) for x in rng.choice(LABELS, n)]
    pred: list[str | None] = []
    for t in truth:
        r = rng.random()
        pred.append(
            t if r < 0.6 else None if r < 0.7 else "zz" if r < 0.75 else str(rng.choice(LABELS))
        )
    return truth, pred


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_f1_equals_sklearn(seed: int, average: str) -> None:
    truth, pred = _random_predictions(seed, 300)
    ours = f1_stats(truth, pred, LABELS)[f"{average}_f1"](np.ones((1, len(truth))))[0]
    theirs = f1_score(
        truth, [p or "(none)" for p in pred], labels=LABELS, average=average, zero_division=np.nan
    )
    assert ours == pytest.approx(theirs, abs=1e-12)


@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_f1_counts_every_declared_label_that_occurs(average: str) -> None:
    """Answers into a label no item has are penalised; a label nowhere at all is left out."""
    truth = ["a"] * 6 + ["b"] * 4
    pred = ["a"] * 4 + ["c"] * 2 + ["b"] * 3 + [None]  # c is declared, never a target
    ours = f1_stats(truth, pred, LABELS)[f"{average}_f1"](np.ones((1, 10)))[0]
    theirs = f1_score(
        truth, [p or "(none)" for p in pred], labels=LABELS, average=average, zero_division=np.nan
    )
    assert ours == pytest.approx(theirs, abs=1e-12)
    if average == "macro":  # a: 0.8, b: 6/7, c: 0; d occurs nowhere
        assert ours == pytest.approx((0.8 + 6 / 7 + 0.0) / 3)
        only_targets = f1_stats(truth, pred, ["a", "b"])["macro_f1"](np.ones((1, 10)))[0]
        assert ours < only_targets  # the old label set forgave the answers into c


def test_f1_with_weights_equals_sklearn_on_resampled_rows() -> None:
    truth, pred = _random_predictions(3, 200)
    rng = np.random.default_rng(9)
    idx = rng.integers(0, 200, 200)
    w = np.bincount(idx, minlength=200).astype(float)[None, :]
    ours = f1_stats(truth, pred, LABELS)["macro_f1"](w)[0]
    theirs = f1_score(
        [truth[i] for i in idx],
        [pred[i] or "(none)" for i in idx],
        labels=LABELS,
        average="macro",
        zero_division=np.nan,
    )
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_bootstrap_interval_equals_a_plain_loop() -> None:
    """The vectorised bootstrap draws the same resamples a naive loop would, with the same seed."""
    rng = np.random.default_rng(5)
    n, resamples = 80, 500
    base, cand = rng.random(n) < 0.5, rng.random(n) < 0.7
    res = paired_bootstrap(
        {"acc": (mean_stat(base), mean_stat(cand))},
        n,
        resamples=resamples,
        seed=11,
        confidence=0.95,
    )["acc"]
    draw = np.random.default_rng(11).integers(0, n, size=(resamples, n))
    diffs = np.array([cand[row].mean() - base[row].mean() for row in draw])
    assert res.diff == pytest.approx(cand.mean() - base.mean())
    assert res.ci_low == pytest.approx(np.quantile(diffs, 0.025))
    assert res.ci_high == pytest.approx(np.quantile(diffs, 0.975))
    assert res.lower_bound(0.95) == pytest.approx(np.quantile(diffs, 0.05))
    assert res.resamples == resamples and res.n == n


def test_bootstrap_is_deterministic_and_chunking_does_not_change_it(monkeypatch) -> None:
    import evalkit.analysis.stats as stats

    x, y = np.arange(50) % 3 == 0, np.arange(50) % 2 == 0
    args = ({"m": (mean_stat(x), mean_stat(y))}, 50)
    first = paired_bootstrap(*args, resamples=400, seed=1, confidence=0.9)["m"]
    monkeypatch.setattr(stats, "_CHUNK_CELLS", 50 * 7)  # 7 resamples per chunk
    chunked = paired_bootstrap(*args, resamples=400, seed=1, confidence=0.9)["m"]
    assert first == chunked


def _exact_two_sided(k: int, n: int) -> float:
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1)) / 2**n
    return min(1.0, 2 * tail)


@pytest.mark.parametrize(("b_only", "c_only"), [(0, 0), (3, 9), (10, 10), (0, 7), (25, 12)])
def test_mcnemar_exact_matches_binomial(b_only: int, c_only: int) -> None:
    base = [True] * b_only + [False] * c_only + [True] * 5 + [False] * 4
    cand = [False] * b_only + [True] * c_only + [True] * 5 + [False] * 4
    m = mcnemar_exact(base, cand)
    assert (m.baseline_only, m.candidate_only, m.both_right, m.both_wrong) == (b_only, c_only, 5, 4)
    expected = _exact_two_sided(b_only, b_only + c_only) if b_only + c_only else 1.0
    assert m.p_value == pytest.approx(expected)


def test_non_inferiority_decision_at_the_margin() -> None:
    assert non_inferior(-0.029, margin=0.03)
    assert not non_inferior(-0.03, margin=0.03)  # touching the margin is not "above" it
    assert not non_inferior(-0.031, margin=0.03)
    assert non_inferior(0.0, margin=0.0) is False and non_inferior(0.001, margin=0.0)


def test_non_inferiority_near_margin_on_constructed_probe() -> None:
    """A candidate 2 points worse on 400 items: inferior at a 1-point margin, non-inferior at 8 points."""
    n = 400
    base = np.zeros(n, bool)
    base[:240] = True  # 60%
    cand = base.copy()
    cand[:8] = False  # 58%: 8 items the candidate newly gets wrong
    res = paired_bootstrap(
        {"acc": (mean_stat(base), mean_stat(cand))}, n, resamples=2000, seed=0, confidence=0.95
    )["acc"]
    assert res.diff == pytest.approx(-0.02)
    lower = res.lower_bound(0.95)
    assert lower < -0.02  # the bound is below the point estimate
    assert not non_inferior(lower, margin=0.01)
    assert non_inferior(lower, margin=0.08)


def test_a_bound_on_the_margin_is_a_tie_not_a_rounding_accident() -> None:
    """n=80, 8 items lost: the 95% lower bound is -13/80, which floating point puts a hair
    above -0.1625. On the margin, non-inferiority is not shown, whatever the rounding."""
    n = 80
    base = np.zeros(n, bool)
    base[:40] = True
    cand = base.copy()
    cand[:8] = False
    res = paired_bootstrap(
        {"acc": (mean_stat(base), mean_stat(cand))}, n, resamples=2000, seed=0, confidence=0.95
    )["acc"]
    lower = res.lower_bound(0.95)
    assert lower == pytest.approx(-13 / 80, abs=1e-12) and lower > -0.1625  # the rounding
    assert not non_inferior(lower, margin=0.1625)
    assert non_inferior(lower, margin=0.1626)


@pytest.mark.parametrize("n", [1, 2, 7, 60, 301, 1000])
def test_binomial_two_sided_is_exact_and_agrees_with_scipy(n: int) -> None:
    from scipy.stats import binomtest

    for k in range(0, n + 1, max(1, n // 60)):
        ours = binomial_two_sided(k, n)
        assert ours == _exact_two_sided(k, n), (k, n)  # the rational value, rounded once
        assert ours == pytest.approx(binomtest(k, n, 0.5).pvalue, rel=1e-10, abs=1e-300)
