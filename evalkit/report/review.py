"""The blind rating page: a seeded sample of a run's items, each item's two answers shown as
"A" and "B" in a hidden per-item order, rated by people in one self-contained HTML file.

The page exports `evalkit.data.ratings.PairwiseRating` rows. Every text a model, a dataset
or a rubric wrote reaches the page as one JSON blob that its JS writes with `textContent`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader

from evalkit.credentials import redact
from evalkit.errors import InputError
from evalkit.hashing import sha256_text
from evalkit.names import ARMS, TASK, TRAINING_KIND, ArmName
from evalkit.report.html import TEMPLATES, json_for_script
from evalkit.results import Results, StoredRun
from evalkit.scoring.rubric import Rubric
from evalkit.yamlfile import parse_yaml_model


@dataclass(frozen=True)
class ReviewCriterion:
    """One rubric criterion a rater scores on each answer."""

    name: str  # the name in a rating's scores: the criterion's, or rubric.criterion on a clash
    rubric: str
    description: str
    min: int
    max: int
    anchors: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ReviewItem:
    """One item as the page shows it: `outputs[0]` is answer A, the answer of arm `order[0]`."""

    dataset: str
    item_id: str
    input: str
    reference: str
    order: tuple[ArmName, ArmName]
    outputs: tuple[str, str]


@dataclass(frozen=True)
class Review:
    """What a rating page or a Label Studio project shows: the items and, per dataset, the
    criteria to score."""

    suite: str
    run_id: str
    items: list[ReviewItem]
    criteria: dict[str, list[ReviewCriterion]]
    eligible: int  # the items both arms answered without error, sampled from


def _rank(seed: int, dataset: str, item_id: str, purpose: str) -> str:
    # a hash per item, not one random stream: an item keeps its place and its order when
    # --n grows or another dataset is added, so a larger sample extends a smaller one
    return sha256_text(f"{purpose}\0{seed}\0{dataset}\0{item_id}")


def _answered(samples: pd.DataFrame, arm: str, datasets: list[str]) -> pd.DataFrame:
    rows = samples[
        (samples["arm"] == arm) & (samples["section"] == TASK) & samples["dataset"].isin(datasets)
    ]
    ok = rows["error"].isna() & rows["output"].map(lambda v: isinstance(v, str))
    return rows[ok].set_index(["dataset", "id"])


def review_items(
    samples: pd.DataFrame, datasets: list[str], n: int, seed: int
) -> tuple[list[ReviewItem], int]:
    """(a seeded sample of `n` items both arms answered without error, how many there were).

    Each item's A/B order is drawn from the seed too: a fair coin per item for the baseline as A.
    """
    base, cand = (_answered(samples, arm, datasets) for arm in ARMS)
    both = base.index.intersection(cand.index)
    ranked = sorted(both, key=lambda k: _rank(seed, str(k[0]), str(k[1]), "sample"))
    items = []
    for dataset, item_id in ranked[:n]:
        b, c = base.loc[(dataset, item_id)], cand.loc[(dataset, item_id)]
        baseline_first = int(_rank(seed, str(dataset), str(item_id), "order")[0], 16) % 2 == 0
        order: tuple[ArmName, ArmName] = (
            ("baseline", "candidate") if baseline_first else ("candidate", "baseline")
        )
        outputs = (b["output"], c["output"]) if baseline_first else (c["output"], b["output"])
        target = b["target"]
        items.append(
            ReviewItem(
                dataset=str(dataset),
                item_id=str(item_id),
                input=str(b["input"]),
                reference="" if pd.isna(target) else str(target),
                order=order,
                outputs=outputs,
            )
        )
    return items, len(both)


def _rubric_file(results: Results, name: str) -> Rubric | None:
    """The rubric `name` as its file says, for the descriptions and anchors; None when the
    run folder has moved away from the suite's files (the page then shows names only)."""
    suite_dir = Path(results.suite.path).parent
    for use in (results.suite.config.get("scorers") or {}).get("rubrics") or []:
        path = suite_dir / str(use.get("rubric", ""))
        if not path.is_file():
            continue
        rubric, _ = parse_yaml_model(path, Rubric, "rubric", "docs/rubrics.md")
        if rubric.name == name:
            return rubric
    return None


def review_criteria(results: Results, datasets: list[str]) -> dict[str, list[ReviewCriterion]]:
    """Per dataset, every criterion of the rubrics the run judged it with."""
    files: dict[str, Rubric | None] = {}
    out: dict[str, list[ReviewCriterion]] = {}
    for rr in results.rubrics:
        if rr.dataset not in datasets:
            continue
        if rr.rubric not in files:
            files[rr.rubric] = _rubric_file(results, rr.rubric)
        described = {c.name: c for c in (files[rr.rubric].criteria if files[rr.rubric] else [])}
        taken = {c.name for c in out.get(rr.dataset, [])}
        for c in rr.criteria:
            d = described.get(c.name)
            out.setdefault(rr.dataset, []).append(
                ReviewCriterion(
                    name=f"{rr.rubric}.{c.name}" if c.name in taken else c.name,
                    rubric=rr.rubric,
                    description=d.description.strip() if d else "",
                    min=rr.scale.min,
                    max=rr.scale.max,
                    anchors=sorted((k, v.strip()) for k, v in d.anchors.items()) if d else [],
                )
            )
    return out


def task_datasets(results: Results) -> list[str]:
    return [name for name, d in results.datasets.items() if d.section == TASK]


def build_review(run: StoredRun, datasets: list[str] | None, n: int, seed: int) -> Review:
    """The items and criteria of a finished run to rate; InputError when there is nothing to."""
    results = run.results
    if run.samples is None or run.samples.empty:
        raise InputError("no samples.jsonl in this run folder: there are no answers to rate",
                         path=run.path)  # fmt: skip
    known = task_datasets(results)
    unknown = [d for d in datasets or [] if d not in known]
    if unknown:
        raise InputError(
            f"no task dataset {unknown[0]!r} in this run; its datasets: {', '.join(known)}",
            path=run.path,
            where="--dataset",
        )
    if n < 1:
        raise InputError(f"expected a whole number ≥ 1, found {n}", where="--n")
    # training items answered next to held-out are a memorisation diagnostic: rated only
    # when named
    targets = [d for d in known if results.datasets[d].kind != TRAINING_KIND]
    chosen = list(dict.fromkeys(datasets or targets))
    items, eligible = review_items(run.samples, chosen, n, seed)
    if not items:
        raise InputError(
            f"no item of {', '.join(chosen)} was answered by both arms without an error",
            path=run.path,
        )
    return Review(
        suite=results.suite.name,
        run_id=results.run_id,
        items=items,
        criteria=review_criteria(results, chosen),
        eligible=eligible,
    )


def page_data(review: Review, rater: str | None) -> dict[str, Any]:
    """The JSON the page's script reads (everything but the page's own words)."""
    return redact(
        {
            "suite": review.suite,
            "run_id": review.run_id,
            "storage": f"evalkit-review/{review.suite}/{review.run_id}",
            "rater": rater or "",
            "items": [asdict(item) for item in review.items],
            "criteria": {ds: [asdict(c) for c in cs] for ds, cs in review.criteria.items()},
        }
    )


def render_review_page(review: Review, rater: str | None = None) -> str:
    """The rating page as one self-contained HTML string."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    return env.get_template("review.html.j2").render(
        review=review, data=json_for_script(page_data(review, rater))
    )
