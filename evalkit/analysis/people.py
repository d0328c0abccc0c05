"""What people said about a run: win rate, criterion scores, label shares, agreement, the judge.

Every figure is over items, the unit both arms share: a rater's value for an item is averaged
with the other raters' first, so an item three people rated weighs what an item one person
rated weighs, and the paired bootstrap resamples items (as every other interval of the run).
Agreement between raters is Krippendorff's alpha (the `krippendorff` package), which allows
any number of raters and missing ratings; the judge is compared with each person's rating.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from evalkit.analysis.metrics import metric_result, refusal_per_row
from evalkit.analysis.rubric import calibration_status
from evalkit.analysis.stats import mean_stat, paired_bootstrap
from evalkit.data.ratings import LabelRating, PairwiseRating, Rating
from evalkit.names import ARMS, CUSTOM_PREFIX, HUMAN, REFUSAL_PREFIX, TASK
from evalkit.results import (
    ArmCounts,
    HumanCriterion,
    HumanWinRate,
    JudgeVsPeople,
    LabelShare,
    MetricResult,
    People,
    RaterAgreement,
    Results,
    RubricResult,
)
from evalkit.suite.schema import RefusalScorer

WIN_RATE = "win_rate"
ALL_DATASETS = "all"  # a HumanCriterion over every rated dataset together
REFUSED = "refused"  # the people's label scorers.refusal's classifiers are set against
REFUSAL_JUDGE = f"{REFUSAL_PREFIX}.judge"
_WIN = {"candidate": 1.0, "tie": 0.5, "baseline": 0.0}
Unit = tuple[str, ...]


def answered(samples: pd.DataFrame) -> set[tuple[str, str, str]]:
    """(dataset, item id, arm) of every task output the run has without an error."""
    rows = samples[(samples["section"] == TASK) & samples["error"].isna()]
    return set(zip(rows["dataset"], rows["id"].astype(str), rows["arm"], strict=True))


def _matched(rating: Rating, have: set[tuple[str, str, str]]) -> bool:
    arms = (rating.arm,) if isinstance(rating, LabelRating) else ARMS
    return all((rating.dataset, rating.item_id, arm) in have for arm in arms)


def _by_unit(values: Iterable[tuple[Unit, float]]) -> dict[Unit, float]:
    """The mean of each unit's values (one per rater)."""
    groups: dict[Unit, list[float]] = defaultdict(list)
    for unit, value in values:
        groups[unit].append(value)
    return {unit: float(np.mean(v)) for unit, v in groups.items()}


def _win_rate(pairs: list[PairwiseRating], results: Results) -> tuple[HumanWinRate, Any] | None:
    chosen = [(r, p) for r in pairs if (p := r.preferred()) is not None]
    if not chosen:
        return None
    per_item = _by_unit(((r.dataset, r.item_id), _WIN[p]) for r, p in chosen)  # type: ignore[index]
    values = np.array(list(per_item.values()))
    s = results.stats
    # baseline's share vs the candidate's: the difference is 2·win − 1, with its paired interval
    paired = paired_bootstrap(
        {WIN_RATE: (mean_stat(1.0 - values), mean_stat(values))},
        len(values),
        resamples=s.bootstrap,
        seed=s.seed,
        confidence=s.confidence,
    )[WIN_RATE]
    # the win rate's own interval maps the difference's: win = (1 + diff) / 2
    win = HumanWinRate(
        win_rate=paired.candidate,
        ci_low=(1 + paired.ci_low) / 2,
        ci_high=(1 + paired.ci_high) / 2,
        candidate_wins=sum(p == "candidate" for _, p in chosen),
        baseline_wins=sum(p == "baseline" for _, p in chosen),
        ties=sum(p == "tie" for _, p in chosen),
        items=len(values),
    )
    return win, paired


def _scores(ratings: list[Rating]) -> dict[str, list[tuple[str, Unit, float]]]:
    """criterion → (rater, (dataset, item, arm), score) for every numeric score given."""
    out: dict[str, list[tuple[str, Unit, float]]] = defaultdict(list)
    for r in ratings:
        if isinstance(r, PairwiseRating):
            for arm in ARMS:
                for crit, value in r.arm_scores(arm).items():
                    out[crit].append((r.rater, (r.dataset, r.item_id, arm), value))
        else:
            for crit, value in r.labels.items():
                if isinstance(value, float):
                    out[crit].append((r.rater, (r.dataset, r.item_id, r.arm), value))
    return out


def _criteria(
    scores: dict[str, list[tuple[str, Unit, float]]], results: Results
) -> list[tuple[HumanCriterion, Any]]:
    """Per criterion: every dataset together (the gate row) first, then each dataset when
    the ratings span several."""
    out = []
    for crit, given in sorted(scores.items()):
        per_unit = _by_unit((unit, v) for _, unit, v in given)
        datasets = sorted({u[0] for u in per_unit})
        for ds in [ALL_DATASETS, *(datasets if len(datasets) > 1 else [])]:
            mine = {u: v for u, v in per_unit.items() if ds in (ALL_DATASETS, u[0])}
            if (row := _criterion(crit, ds, mine, results)) is not None:
                out.append(row)
    return out


def _criterion(
    crit: str, dataset: str, per_unit: dict[Unit, float], results: Results
) -> tuple[HumanCriterion, Any] | None:
    """Both arms' means over the items people scored for both, with the paired interval."""
    items = sorted({u[:2] for u in per_unit if all((*u[:2], arm) in per_unit for arm in ARMS)})
    if not items:
        return None
    b = [per_unit[(*i, "baseline")] for i in items]
    c = [per_unit[(*i, "candidate")] for i in items]
    s = results.stats
    r = paired_bootstrap(
        {crit: (mean_stat(b), mean_stat(c))},
        len(items),
        resamples=s.bootstrap,
        seed=s.seed,
        confidence=s.confidence,
    )[crit]
    row = HumanCriterion(
        name=crit,
        dataset=dataset,
        baseline=r.baseline,
        candidate=r.candidate,
        diff=r.diff,
        ci_low=r.ci_low,
        ci_high=r.ci_high,
        n=len(items),
    )
    return row, r


def _classes(ratings: list[Rating]) -> dict[str, list[tuple[str, Unit, str]]]:
    """criterion → (rater, (dataset, item, arm), class) for every class label given."""
    out: dict[str, list[tuple[str, Unit, str]]] = defaultdict(list)
    for r in ratings:
        if isinstance(r, LabelRating):
            for crit, value in r.labels.items():
                if isinstance(value, str):
                    out[crit].append((r.rater, (r.dataset, r.item_id, r.arm), value))
    return out


def _label_shares(classes: dict[str, list[tuple[str, Unit, str]]]) -> list[LabelShare]:
    """Per dataset, criterion and value, the share of each arm's items people gave that value
    (an item's raters averaged first)."""
    given: dict[tuple[str, str], list[tuple[Unit, str]]] = defaultdict(list)
    for crit, rows in classes.items():
        for _, unit, value in rows:
            given[(unit[0], crit)].append((unit, value))
    out = []
    for (ds, crit), rows in sorted(given.items()):
        for value in sorted({v for _, v in rows}):
            per_unit = _by_unit((u, float(v == value)) for u, v in rows)
            share, n = {}, {}
            for arm in ARMS:
                mine = [x for u, x in per_unit.items() if u[2] == arm]
                share[arm] = float(np.mean(mine)) if mine else None
                n[arm] = len(mine)
            out.append(
                LabelShare(dataset=ds, criterion=crit, value=value, n=ArmCounts(**n), **share)
            )
    return out


def _pair_agreement(ratings: list[tuple[str, Unit, Any]]) -> float | None:
    """The share of rater pairs on a unit that gave it the same value."""
    per_unit: dict[Unit, dict[str, str]] = defaultdict(dict)
    for rater, unit, value in ratings:
        per_unit[unit][rater] = str(value)
    same = [
        a == b
        for vs in (list(values.values()) for values in per_unit.values())
        for i, a in enumerate(vs)
        for b in vs[i + 1 :]
    ]
    return float(np.mean(same)) if same else None


def krippendorff_alpha(
    question: str, level: str, ratings: list[tuple[str, Unit, Any]]
) -> RaterAgreement:
    """Alpha over (rater, unit, value) triples; values of a nominal question may be strings."""
    import krippendorff  # imports a little of scipy: only when people's ratings are read

    raters = sorted({r for r, _, _ in ratings})
    per_unit: dict[Unit, set[str]] = defaultdict(set)
    for rater, unit, _ in ratings:
        per_unit[unit].add(rater)
    units = sorted(u for u, who in per_unit.items() if len(who) >= 2)
    base = {"question": question, "level": level, "raters": len(raters), "items": len(units),
            "agreement": _pair_agreement(ratings)}  # fmt: skip
    if not units:
        return RaterAgreement(alpha=None, note="no item was rated by two people", **base)
    codes = {v: i for i, v in enumerate(sorted({str(v) for _, _, v in ratings}))}
    data = np.full((len(raters), len(units)), np.nan)
    col, row = {u: i for i, u in enumerate(units)}, {r: i for i, r in enumerate(raters)}
    for rater, unit, value in ratings:
        if unit in col:
            data[row[rater], col[unit]] = codes[str(value)] if level == "nominal" else value
    try:
        alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))
    except ValueError:  # one value in the whole domain: agreement is perfect but alpha undefined
        return RaterAgreement(alpha=None, note="every rating has the same value", **base)
    return RaterAgreement(alpha=None if np.isnan(alpha) else alpha, **base)


def _agreement(
    ratings: list[Rating],
    scores: dict[str, list[tuple[str, Unit, float]]],
    classes: dict[str, list[tuple[str, Unit, str]]],
) -> list[RaterAgreement]:
    out = []
    choices = [
        (r.rater, (r.dataset, r.item_id), _WIN[p])
        for r in ratings
        if isinstance(r, PairwiseRating) and (p := r.preferred()) is not None
    ]
    if choices:  # baseline better < tie < candidate better: an ordinal scale
        out.append(krippendorff_alpha("choice", "ordinal", choices))
    # a rater's repeated value (two ratings of one unit) keeps the last, as the import does
    out.extend(krippendorff_alpha(crit, "ordinal", given) for crit, given in sorted(scores.items()))
    out.extend(
        krippendorff_alpha(crit, "nominal", given) for crit, given in sorted(classes.items())
    )
    return out


def _judge_entries(samples: pd.DataFrame) -> dict[Unit, dict[str, Any]]:
    """(dataset, item, arm) → that row's judge entries (rubric name → entry)."""
    rows = samples[(samples["section"] == TASK) & samples["judge"].notna()]
    return {
        (ds, str(i), arm): j
        for ds, i, arm, j in zip(
            rows["dataset"], rows["id"], rows["arm"], rows["judge"], strict=True
        )
        if isinstance(j, dict)
    }


def _kappa(people: list[Any], judge: list[Any], weights: str | None) -> float | None:
    from sklearn.metrics import cohen_kappa_score  # slow to import; only with a judge to check

    if len(people) < 2 or len(set(people) | set(judge)) < 2:
        return None
    value = cohen_kappa_score(people, judge, weights=weights)
    return None if np.isnan(value) else float(value)


def judge_vs_people(
    ratings: list[Rating],
    scores: dict[str, list[tuple[str, Unit, float]]],
    samples: pd.DataFrame,
    results: Results,
) -> list[JudgeVsPeople]:
    """The judge's rubric scores and pairwise verdicts beside every person's on the same items."""
    entries = _judge_entries(samples)
    out = []
    for rubric in {r.rubric for r in results.rubrics}:
        crits = next(r.criteria for r in results.rubrics if r.rubric == rubric)
        for crit in crits:
            people, judge = [], []
            for _, unit, value in scores.get(crit.name, []):
                entry = entries.get(unit, {}).get(rubric)
                if entry and entry.get("error") is None and crit.name in entry["scores"]:
                    people.append(round(value))
                    judge.append(entry["scores"][crit.name])
            if people:
                out.append(
                    JudgeVsPeople(
                        question=f"{rubric}.{crit.name}",
                        agreement=float(np.mean(np.equal(people, judge))),
                        kappa=_kappa(people, judge, "quadratic"),
                        n=len(people),
                    )
                )
        people, judge = [], []
        for r in ratings:
            if isinstance(r, PairwiseRating) and (p := r.preferred()) is not None:
                entry = entries.get((r.dataset, r.item_id, "candidate"), {}).get(
                    f"{rubric}.pairwise"
                )
                if entry and entry.get("error") is None:
                    people.append(p)
                    judge.append(entry["winner"])
        if people:
            out.append(
                JudgeVsPeople(
                    question=f"{rubric}.pairwise",
                    agreement=float(np.mean([a == b for a, b in zip(people, judge, strict=True)])),
                    kappa=_kappa(people, judge, None),
                    n=len(people),
                )
            )
    out += _scorers_vs_people(scores, samples, results)
    return sorted(out, key=lambda j: j.question)


def _scorers_vs_people(
    scores: dict[str, list[tuple[str, Unit, float]]], samples: pd.DataFrame, results: Results
) -> list[JudgeVsPeople]:
    """A suite's own scorer named `<criterion>` or `<criterion>_<anything>` (a refusal
    classifier, say), and each of `scorers.refusal`'s classifiers against `refused`, set
    against every person's `<criterion>` on the same answers. The refusal judge's entry carries
    its calibration status at `scorers.refusal.calibration`'s bar."""
    rows = samples[samples["section"] == TASK]
    units = list(zip(rows["dataset"], rows["id"].astype(str), rows["arm"], strict=True))
    values = {
        (*unit, f"{CUSTOM_PREFIX}.{name}"): entry.get("value")
        for unit, custom in zip(units, rows["custom"], strict=True)
        if isinstance(custom, dict)
        for name, entry in custom.items()
        if isinstance(entry, dict)
    }  # fmt: skip
    asked = [
        (scorer.metric, crit)
        for scorer in results.suite.scorers
        for crit in scores
        if scorer.name == crit or scorer.name.startswith(f"{crit}_")
    ]
    refusal = refusal_scorer(results)
    for classifier in refusal.classifiers if refusal and REFUSED in scores else ():
        metric = f"{REFUSAL_PREFIX}.{classifier}"
        for unit, v in zip(units, refusal_per_row(rows, classifier), strict=True):
            values[(*unit, metric)] = None if np.isnan(v) else float(v)
        asked.append((metric, REFUSED))
    out = []
    for metric, crit in asked:
        people, auto = [], []
        for _, unit, value in scores[crit]:
            got = values.get((*unit, metric))
            if isinstance(got, bool | int | float):
                people.append(round(value))
                auto.append(round(float(got)))
        if not people:
            continue
        kappa = _kappa(people, auto, None)
        status = reason = None
        if refusal is not None and metric == REFUSAL_JUDGE:
            bar = refusal.calibration
            status, why = calibration_status([(crit, kappa, len(people))], bar.min_kappa, bar.min_n)
            reason = f"against imported ratings: {why}"
        out.append(
            JudgeVsPeople(
                question=f"{metric} vs {crit}",
                agreement=float(np.mean(np.equal(people, auto))),
                kappa=kappa,
                n=len(people),
                calibration_status=status,
                calibration_reason=reason,
            )
        )
    return out


def refusal_scorer(results: Results) -> RefusalScorer | None:
    """The run's `scorers.refusal`, as its suite was run."""
    given = results.suite.config.get("scorers", {}).get("refusal")
    return None if given is None else RefusalScorer.model_validate(given)


def calibrated_by_people(rubrics: list[RubricResult], people: People) -> list[RubricResult]:
    """Rubric results whose judge had no human labels, measured against the people's scores
    instead (over every dataset the rubric judged), at the suite's own bar."""
    measured = {j.question: j for j in people.judge}
    out = []
    for r in rubrics:
        found = [measured.get(f"{r.rubric}.{c.name}") for c in r.criteria]
        if r.calibration is not None or not any(found):
            out.append(r)
            continue
        status, why = calibration_status(
            [(c.name, j.kappa if j else None, j.n if j else 0)
             for c, j in zip(r.criteria, found, strict=True)],
            r.min_kappa,
            r.min_n,
        )  # fmt: skip
        reason = f"against imported ratings: {why}"
        out.append(
            r.model_copy(update={"calibration_status": status, "calibration_reason": reason})
        )
    return out


def people_analysis(
    ratings: list[Rating], samples: pd.DataFrame, results: Results
) -> tuple[People, list[MetricResult]]:
    """The People section and its gate rows (`human.win_rate`, `human.<criterion>`)."""
    have = answered(samples)
    used = [r for r in ratings if _matched(r, have)]
    pairs = [r for r in used if isinstance(r, PairwiseRating)]
    scores, classes = _scores(used), _classes(used)
    rows: list[MetricResult] = []
    win = _win_rate(pairs, results)
    if win is not None:
        rows.append(metric_result(HUMAN, TASK, HUMAN, WIN_RATE, win[1], n=win[0].items))
    criteria = _criteria(scores, results)
    rows += [
        metric_result(HUMAN, TASK, HUMAN, c.name, r, n=c.n)
        for c, r in criteria
        if c.dataset == ALL_DATASETS
    ]
    people = People(
        raters=sorted({r.rater for r in used}),
        ratings=len(used),
        items=len({(r.dataset, r.item_id) for r in used}),
        win_rate=None if win is None else win[0],
        criteria=[c for c, _ in criteria],
        labels=_label_shares(classes),
        agreement=_agreement(used, scores, classes),
        judge=judge_vs_people(used, scores, samples, results),
        unmatched=len(ratings) - len(used),
    )
    return people, rows
