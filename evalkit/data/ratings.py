"""People's ratings of a run's outputs: the rows `evalkit review` exports and `review import` reads.

Two kinds of row, both one JSON object per line:

- `pairwise` (the rating page's): a rater saw one item's two outputs as "A" and "B" in a
  hidden random order (`order`: the arms shown as A and as B), chose the better one or a tie,
  and optionally scored each output per rubric criterion (`scores`: {"A": {...}, "B": {...}}).
- `label`: a rater labelled one arm's output with a class or a number per criterion
  (`labels`: {criterion: value}), the way annotators label refusals in XSTest.

Ratings are stored in the run folder's `ratings.jsonl`: one row per (kind, rater, dataset,
item[, arm]); importing a rater's file again replaces their earlier rows for those items.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from evalkit.data.readers import jsonl_rows
from evalkit.errors import InputError
from evalkit.names import ArmName

RATINGS_FILE = "ratings.jsonl"
Side = Literal["A", "B"]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]


Score = Annotated[float, Field(allow_inf_nan=False)]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rater: Text
    dataset: Text
    item_id: Text
    seconds: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    rated_at: str | None = None
    run_id: str | None = None
    note: Annotated[str, StringConstraints(max_length=10_000)] | None = None


class PairwiseRating(_Row):
    """One rater's judgment of one item's two outputs, shown blind as A and B."""

    kind: Literal["pairwise"] = "pairwise"
    order: tuple[ArmName, ArmName]  # the arms shown as A and as B
    choice: Literal["A", "B", "tie"] | None = None  # None: scored, but no preference given
    scores: dict[Side, dict[Text, Score]] = Field(default_factory=dict)

    def preferred(self) -> ArmName | Literal["tie"] | None:
        """The arm the rater chose, "tie", or None when they gave no preference."""
        if self.choice is None or self.choice == "tie":
            return self.choice
        return self.order[0] if self.choice == "A" else self.order[1]

    def arm_scores(self, arm: ArmName) -> dict[str, float]:
        """The criterion scores the rater gave `arm`'s output."""
        return self.scores.get("A" if self.order[0] == arm else "B", {})


class LabelRating(_Row):
    """One rater's labels of one arm's output (a class or a number per criterion)."""

    kind: Literal["label"]
    arm: ArmName
    labels: dict[Text, Annotated[str, StringConstraints(min_length=1, max_length=200)] | Score]


Rating = PairwiseRating | LabelRating


def rating_key(r: Rating) -> tuple[str, ...]:
    """What a later import of the same rater replaces."""
    arm = r.arm if isinstance(r, LabelRating) else ""
    return (r.kind, r.rater, r.dataset, r.item_id, arm)


def parse_rating(row: dict, path: Path, line: int) -> Rating:
    """One row of a ratings file, validated; a bad row is a located error."""
    kind = row.get("kind", "pairwise")
    model = {"pairwise": PairwiseRating, "label": LabelRating}.get(kind)  # type: ignore[arg-type]
    if model is None:
        raise InputError(
            f"kind {kind!r} is not a rating kind; expected 'pairwise' or 'label'",
            path=path,
            line=line,
        )
    try:
        rating = model.model_validate(row)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "row"
        raise InputError(f"{where}: {err['msg']}", path=path, line=line) from None
    if isinstance(rating, PairwiseRating):
        if rating.order[0] == rating.order[1]:
            raise InputError("order: A and B must be the two different arms", path=path, line=line)
        if rating.choice is None and not rating.scores:
            raise InputError(
                "a pairwise rating needs a choice (A, B or tie) or scores", path=path, line=line
            )
    return rating


def read_ratings(path: Path, known: set[tuple[str, str]] | None = None) -> list[Rating]:
    """Every rating in a JSONL file, each row validated; an empty file is an error.

    `known`: the run's (dataset, item id) pairs; a rating of any other item is a located error.
    """
    ratings = []
    for line, row in jsonl_rows(path, what="ratings"):
        rating = parse_rating(row, path, line)
        if known is not None and (rating.dataset, rating.item_id) not in known:
            raise InputError(
                f"item {rating.item_id!r} of dataset {rating.dataset!r} is not in this run",
                path=path,
                line=line,
            )
        ratings.append(rating)
    if not ratings:
        raise InputError("the ratings file has no rows", path=path)
    return ratings


def read_stored_ratings(run_dir: Path) -> list[Rating]:
    """The ratings imported into a run folder so far ([] when none)."""
    path = run_dir / RATINGS_FILE
    return read_ratings(path) if path.is_file() else []


def merged_ratings(stored: list[Rating], new: list[Rating]) -> list[Rating]:
    """`stored` with `new` on top: a rater's new row for an item replaces their old one."""
    by_key = {rating_key(r): r for r in stored}
    by_key.update((rating_key(r), r) for r in new)
    return list(by_key.values())


def ratings_jsonl(ratings: list[Rating]) -> str:
    """The text of a ratings file (the page's export format), one row per line."""
    return "".join(
        json.dumps(r.model_dump(mode="json", exclude_none=True), ensure_ascii=False) + "\n"
        for r in ratings
    )
