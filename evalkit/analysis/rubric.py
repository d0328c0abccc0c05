"""Rubric metrics from the table's `judge` column: per criterion, overall, pass rate, pairwise
preference, calibration against human labels, and the judge's own cost.

Arms are compared over the items where both have a judge score; items dropped from the
pairing (a judge error, or an arm's own error) are counted and reported, never silent.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evalkit.analysis.economics import price_for
from evalkit.analysis.metrics import metric_result, paired_rows
from evalkit.analysis.stats import PairedResult, Statistic, mean_stat, paired_bootstrap
from evalkit.names import TASK
from evalkit.results import (
    Calibration,
    CalibrationStatus,
    CriterionAgreement,
    CriterionScore,
    Interval,
    JudgeCost,
    JudgeErrors,
    MetricResult,
    Pairwise,
    RubricOverall,
    RubricResult,
    Scale,
)
from evalkit.run.judge import NOT_JUDGED, wants_judge
from evalkit.scoring.rubric import LoadedRubricUse
from evalkit.suite.load import LoadedSuite

LOW_KAPPA = 0.4
LOW_AGREEMENT = "low agreement: treat these judge scores with caution"
_WIN_VALUE = {"candidate": 1.0, "baseline": 0.0, "tie": 0.5}


def _entries(rows: pd.DataFrame, key: str) -> list[dict[str, Any] | None]:
    return [(j or {}).get(key) if isinstance(j, dict) else None for j in rows["judge"]]


def _scored(entry: dict[str, Any] | None) -> bool:
    return entry is not None and entry["error"] is None


def _judge_failed(entry: dict[str, Any] | None) -> bool:
    return entry is not None and entry["error"] is not None and entry["error"] != NOT_JUDGED


def _point(r: PairedResult | None) -> dict[str, float | None]:
    if r is None:
        return dict.fromkeys(("baseline", "candidate", "diff", "ci_low", "ci_high"))
    return {"baseline": r.baseline, "candidate": r.candidate, "diff": r.diff,
            "ci_low": r.ci_low, "ci_high": r.ci_high}  # fmt: skip


def _metric_row(
    ds: str, kind: str, metric: str, r: PairedResult | None, loaded: LoadedSuite
) -> MetricResult:
    """A metrics row; with no paired item its values are None, so a gate on it fails visibly
    instead of finding no metric."""
    # a rubric's scores are its headline: what a generation suite is judged by
    if r is not None:
        return metric_result(ds, TASK, kind, metric, r, headline=True)
    return MetricResult(dataset=ds, section=TASK, kind=kind, metric=metric, headline=True,
                        **_point(None), confidence=loaded.suite.stats.confidence, n=0,
                        resamples=0)  # fmt: skip


def _pointwise(
    use: LoadedRubricUse, jb: list[Any], jc: list[Any], loaded: LoadedSuite
) -> tuple[dict[str, PairedResult], int]:
    """Paired results per criterion, overall and pass rate over items both arms have scores for."""
    rubric = use.rubric.rubric
    keep = [i for i, (b, c) in enumerate(zip(jb, jc, strict=True)) if _scored(b) and _scored(c)]
    if not keep:
        return {}, 0
    b = [jb[i] for i in keep]
    c = [jc[i] for i in keep]

    def pair(values: Any) -> tuple[Statistic, Statistic]:
        return mean_stat([values(e) for e in b]), mean_stat([values(e) for e in c])

    stats = {crit.name: pair(lambda e, n=crit.name: e["scores"][n]) for crit in rubric.criteria}
    stats["overall"] = pair(lambda e: e["overall"])
    stats["pass_rate"] = pair(lambda e: float(e["passed"]))
    s = loaded.suite.stats
    results = paired_bootstrap(
        stats, len(keep), resamples=s.bootstrap, seed=s.seed, confidence=s.confidence
    )
    return results, len(keep)


def _pairwise(pairs: list[Any], loaded: LoadedSuite) -> Pairwise | None:
    valid = [p for p in pairs if _scored(p)]
    if not valid:
        return None
    values = np.array([_WIN_VALUE[p["winner"]] for p in valid])
    s = loaded.suite.stats
    # paired_bootstrap resamples differences; against a constant 0 the difference is the win
    # rate itself, so its interval comes from the same resampling machinery as every metric
    r = paired_bootstrap(
        {"win": (mean_stat(np.zeros(len(values))), mean_stat(values))},
        len(values),
        resamples=s.bootstrap,
        seed=s.seed,
        confidence=s.confidence,
    )["win"]
    flips = sum(bool(p["flipped"]) for p in valid)
    return Pairwise(
        candidate_win_rate=r.candidate,
        ci_low=r.ci_low,
        ci_high=r.ci_high,
        candidate_wins=sum(p["winner"] == "candidate" for p in valid),
        baseline_wins=sum(p["winner"] == "baseline" for p in valid),
        ties=sum(p["winner"] == "tie" for p in valid),
        position_flips=flips,
        position_bias_rate=flips / len(valid),
        n=len(valid),
    )


def calibration(
    use: LoadedRubricUse, b: pd.DataFrame, c: pd.DataFrame, name: str
) -> Calibration | None:
    """Judge vs human per criterion: quadratic-weighted Cohen's kappa and exact agreement."""
    if use.human_labels is None:
        return None
    judged = {
        (arm, str(item)): entry
        for arm, rows in (("baseline", b), ("candidate", c))
        for item, entry in zip(rows.index, _entries(rows, name), strict=True)
        if _scored(entry)
    }
    criteria = []
    for crit in use.rubric.rubric.criteria:
        human, judge = [], []
        for label in use.human_labels:
            entry = judged.get((label.arm, label.id))
            if entry is not None and crit.name in label.scores:
                human.append(label.scores[crit.name])
                judge.append(entry["scores"][crit.name])
        kappa = None
        if len(human) >= 2:
            levels = list(range(crit.scale.min, crit.scale.max + 1))
            from sklearn.metrics import cohen_kappa_score  # slow to import; rarely needed

            value = cohen_kappa_score(human, judge, weights="quadratic", labels=levels)
            kappa = None if np.isnan(value) else float(value)
        criteria.append(
            CriterionAgreement(
                name=crit.name,
                kappa=kappa,
                exact_agreement=float(np.mean(np.equal(human, judge))) if human else None,
                n=len(human),
            )
        )
    low = [x.name for x in criteria if x.kappa is None or x.kappa < LOW_KAPPA]
    warning = None
    if low:
        warning = f"{LOW_AGREEMENT} (kappa below {LOW_KAPPA} or undefined for: {', '.join(low)})"
    return Calibration(criteria=criteria, warning=warning)


def calibration_status(
    agreements: list[tuple[str, float | None, int]], min_kappa: float, min_n: int
) -> tuple[CalibrationStatus, str]:
    """(status, why) from (criterion, kappa, n) per criterion: calibrated only when every
    criterion reaches `min_kappa` on at least `min_n` answers; [] is uncalibrated.

    >>> calibration_status([("tone", 0.7, 40), ("facts", 0.65, 40)], 0.6, 30)[0]
    'calibrated'
    >>> calibration_status([("tone", 0.7, 12)], 0.6, 30)
    ('failed', 'measured on too few answers: tone on 12 (needs 30)')
    """
    if not agreements:
        return "uncalibrated", "no human labels to measure the judge against"
    few = [f"{c} on {n}" for c, _, n in agreements if n < min_n]
    if few:
        return "failed", f"measured on too few answers: {', '.join(few)} (needs {min_n})"
    low = [f"{c} {'undefined' if k is None else f'{k:.2f}'}" for c, k, _ in agreements
           if k is None or k < min_kappa]  # fmt: skip
    if low:
        return "failed", f"kappa below {min_kappa:g}: {', '.join(low)}"
    n = min(n for _, _, n in agreements)
    return "calibrated", f"kappa >= {min_kappa:g} on every criterion, n >= {n}"


def _cost(entries: list[Any], loaded: LoadedSuite) -> JudgeCost:
    usage = [e["usage"] for e in entries if e is not None]
    tokens_in = sum(u["input_tokens"] for u in usage)
    tokens_out = sum(u["output_tokens"] for u in usage)
    judge = loaded.suite.judge
    price = price_for(judge.model, judge.price, loaded.suite.prices) if judge else None
    return JudgeCost(
        model=judge.model if judge else None,
        requests=sum(u["requests"] for u in usage),
        cached=sum(u["cached"] for u in usage),
        input_tokens=tokens_in,
        output_tokens=tokens_out,
        # what these calls cost uncached; None when the judge's price is unknown
        cost=(tokens_in * price.input_per_mtok + tokens_out * price.output_per_mtok) / 1e6
        if price
        else None,
    )


def judge_cost(table: pd.DataFrame, loaded: LoadedSuite) -> JudgeCost | None:
    """What the judge cost over the whole run (every rubric, pairwise and refusal call), or
    None where the suite asks it nothing; a pairwise entry, on both arms' rows, counts once."""
    if not wants_judge(loaded) or "judge" not in table.columns:
        return None
    entries = [
        entry
        for arm, judged in zip(table["arm"], table["judge"], strict=True)
        if isinstance(judged, dict)
        for key, entry in judged.items()
        if isinstance(entry, dict) and "usage" in entry
        and (arm == "candidate" or not key.endswith(".pairwise"))
    ]  # fmt: skip
    return _cost(entries, loaded)


def rubric_analysis(
    table: pd.DataFrame, loaded: LoadedSuite
) -> tuple[list[RubricResult], list[MetricResult]]:
    """The rubric results and the metric rows (`rubric.<name>.<metric>`) they add."""
    out: list[RubricResult] = []
    rows: list[MetricResult] = []
    for use in loaded.rubrics:
        rubric = use.rubric.rubric
        for ds in use.datasets:
            b, c = paired_rows(table, ds)
            jb, jc = _entries(b, rubric.name), _entries(c, rubric.name)
            results, n = _pointwise(use, jb, jc, loaded)
            kind = loaded.suite.dataset_kind(ds)
            names = [*(c.name for c in rubric.criteria), "overall", "pass_rate"]
            rows.extend(
                _metric_row(ds, kind, f"rubric.{rubric.name}.{m}", results.get(m), loaded)
                for m in names
            )
            dropped_judge = sum(
                _judge_failed(x) or _judge_failed(y) for x, y in zip(jb, jc, strict=True)
            )
            pairs = _entries(c, f"{rubric.name}.pairwise") if use.pairwise else []
            cal = calibration(use, b, c, rubric.name)
            policy = use.calibration
            status, why = calibration_status(
                [(x.name, x.kappa, x.n) for x in cal.criteria] if cal else [],
                policy.min_kappa,
                policy.min_n,
            )
            out.append(
                RubricResult(
                    rubric=rubric.name,
                    dataset=ds,
                    pass_threshold=rubric.pass_threshold,
                    scale=Scale(min=rubric.scale.min, max=rubric.scale.max),
                    criteria=[
                        CriterionScore(
                            name=crit.name, weight=crit.weight, **_point(results.get(crit.name))
                        )
                        for crit in rubric.criteria
                    ],
                    overall=RubricOverall(
                        **_point(results.get("overall")),
                        n=n,
                        # items left out of the pairing, and why: shown, never silent
                        dropped=len(b) - n,
                        dropped_judge_errors=dropped_judge,
                        dropped_arm_errors=len(b) - n - dropped_judge,
                    ),
                    pass_rate=Interval(**_point(results.get("pass_rate"))),
                    pairwise=_pairwise(pairs, loaded) if use.pairwise else None,
                    calibration=cal,
                    calibration_status=status,
                    calibration_reason=why,
                    min_kappa=policy.min_kappa,
                    min_n=policy.min_n,
                    judge_errors=JudgeErrors(
                        baseline=sum(map(_judge_failed, jb)),
                        candidate=sum(map(_judge_failed, jc)),
                        pairwise=sum(map(_judge_failed, pairs)),
                    ),
                    judge_cost=_cost([*jb, *jc, *pairs], loaded),
                )
            )
    return out, rows
