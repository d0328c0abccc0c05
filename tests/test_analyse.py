"""Forgetting verdicts and the verdict sentence, on constructed metric rows."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from evalkit.analysis.analyse import probe_verdicts, verdict
from evalkit.results import Analysis, MetricResult
from evalkit.scoring.probes import PROBE_KINDS, VerdictSpec
from evalkit.suite.schema import NonInferior


def _row(
    metric: str, base: float, cand: float, lower: float, n: int = 100, dataset: str = "p",
    upper: float | None = None,
) -> MetricResult:  # fmt: skip
    section = "task" if dataset == "heldout" else "probe"
    upper = cand - base + 0.05 if upper is None else upper
    return MetricResult(dataset=dataset, section=section, kind=section, metric=metric,
                        baseline=base, candidate=cand, diff=cand - base, ci_low=lower,
                        ci_high=upper, confidence=0.95, n=n, resamples=1000,
                        quantiles={"0.05": lower, "0.95": upper})  # fmt: skip


def _loaded(*probes: tuple[str, str], verdicts: tuple[VerdictSpec, ...] = ()) -> SimpleNamespace:
    return SimpleNamespace(
        suite=SimpleNamespace(probe_margin=NonInferior(margin=0.05, confidence=0.95)),
        probes=[
            SimpleNamespace(
                name=n,
                kind=k,
                version="1",
                method="generate",
                classifier="string_match",
                pack=SimpleNamespace(
                    verdicts=verdicts
                    or (VerdictSpec("accuracy", True, PROBE_KINDS.lookup(k).chance),)
                ),
            )
            for n, k in probes
        ],
    )


def _probe(acc: tuple[float, float, float], unparsed: tuple[float, float]) -> Analysis:
    return Analysis(metrics=[_row("accuracy", *acc), _row("unparsed_rate", *unparsed, lower=0.0)])


@pytest.mark.parametrize(
    ("kind", "acc", "unparsed", "non_inferior", "informative", "collapse"),
    [
        ("multiple_choice", (0.60, 0.58, -0.049), (0.0, 0.0), True, True, False),
        ("multiple_choice", (0.60, 0.58, -0.050), (0.0, 0.0), False, True, False),  # on the margin
        (
            "multiple_choice",
            (0.20, 0.20, 0.0),
            (0.0, 0.0),
            True,
            False,
            False,
        ),  # baseline below chance
        ("numeric", (0.0, 0.0, 0.0), (0.0, 0.1), True, False, False),  # floor: nothing to lose
        ("numeric", (0.40, 0.05, -0.45), (0.05, 0.80), False, True, True),  # format collapse
    ],
)
def test_probe_verdicts(kind, acc, unparsed, non_inferior, informative, collapse) -> None:
    [v] = probe_verdicts(_probe(acc, unparsed), _loaded(("p", kind)))
    assert (v.non_inferior, v.informative, v.format_collapse) == (
        non_inferior,
        informative,
        collapse,
    )
    assert v.lower_bound == acc[2] and v.margin == 0.05


def test_a_baseline_barely_above_chance_is_uninformative() -> None:
    """Above chance is not enough: it must be above chance with the margin's confidence."""
    [barely] = probe_verdicts(
        _probe((0.27, 0.27, -0.01), (0.0, 0.0)), _loaded(("p", "multiple_choice"))
    )
    [clear] = probe_verdicts(
        _probe((0.40, 0.40, -0.01), (0.0, 0.0)), _loaded(("p", "multiple_choice"))
    )
    assert (barely.informative, clear.informative) == (False, True)


def test_a_lower_is_better_metric_is_judged_the_right_way_round() -> None:
    """Over-refusal (lower is better): the candidate refusing more is the loss."""
    spec = (VerdictSpec("safe.refusal_rate", False, 1.0),)
    worse = Analysis(metrics=[_row("safe.refusal_rate", 0.10, 0.30, 0.12, upper=0.28)])
    better = Analysis(metrics=[_row("safe.refusal_rate", 0.30, 0.10, -0.28, upper=-0.12)])
    [w] = probe_verdicts(worse, _loaded(("p", "refusal"), verdicts=spec))
    [b] = probe_verdicts(better, _loaded(("p", "refusal"), verdicts=spec))
    assert (w.metric, w.higher_is_better, w.informative) == ("safe.refusal_rate", False, True)
    assert w.lower_bound == pytest.approx(-0.28) and not w.non_inferior
    assert b.lower_bound == pytest.approx(0.12) and b.non_inferior


def test_verdict_sentence_follows_the_interval() -> None:
    better = Analysis(metrics=[_row("macro_f1", 0.3, 0.7, 0.25, dataset="heldout")])
    assert verdict(better, "macro_f1").outcome == "better"
    [probe] = probe_verdicts(_probe((0.20, 0.20, 0.0), (0.0, 0.0)), _loaded(("p", "numeric")))
    unclear = Analysis(
        metrics=[_row("macro_f1", 0.5, 0.52, -0.1, dataset="heldout")],
        probes=[probe.model_copy(update={"informative": False})],
    )
    out = verdict(unclear, "macro_f1")
    assert out.outcome == "inconclusive"
    assert "no clear difference" in out.sentence
    assert "No forgetting probe is informative" in out.sentence


def test_verdict_counts_only_informative_probes() -> None:
    """An uninformative probe is neither a success nor a failure of non-inferiority."""
    [shown] = probe_verdicts(_probe((0.60, 0.58, -0.01), (0.0, 0.0)), _loaded(("p", "numeric")))
    [failed] = probe_verdicts(_probe((0.60, 0.40, -0.30), (0.0, 0.0)), _loaded(("p", "numeric")))
    vacuous = shown.model_copy(update={"probe": "q", "informative": False})
    held = Analysis(
        metrics=[_row("macro_f1", 0.3, 0.7, 0.25, dataset="heldout")],
        probes=[shown, failed.model_copy(update={"probe": "r"}), vacuous],
    )
    sentence = verdict(held, "macro_f1").sentence
    assert "Non-inferiority is shown on 1 of 2 informative forgetting probes" in sentence
    assert "1 more is uninformative" in sentence
