"""Label Studio's JSON export of a project made by `evalkit review --format labelstudio`, read
back as pairwise ratings.

The export is a JSON list of tasks, each `{"data": {...}, "annotations": [{"result": [...],
"completed_by": ..., "lead_time": ..., ...}]}` (Label Studio's "JSON" export format). Each
submitted annotation becomes one `PairwiseRating`; skipped (cancelled) annotations rate
nothing and are left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from evalkit.data.ratings import PairwiseRating, parse_rating
from evalkit.errors import InputError

# the control names of the labeling config (evalkit.report.labelstudio writes them)
PREFERENCE = "preference"
TIE = "Tie"
SCORE_PREFIX = "score_"
NOTE = "note"
_CHOICES = {"A": "A", "B": "B", TIE: "tie"}
_SCORE_NAMES = (f"{SCORE_PREFIX}A_", f"{SCORE_PREFIX}B_")  # then the criterion


def is_labelstudio_export(path: Path) -> bool:
    """Whether `path` holds a JSON list of tasks with annotations (not a ratings JSONL file)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, list) and any(isinstance(t, dict) and "annotations" in t for t in data)


def _rater(completed_by: Any) -> str:
    # the export names the annotator by user id; some versions write the user as an object
    if isinstance(completed_by, dict):
        return str(completed_by.get("email") or f"labelstudio-user-{completed_by.get('id')}")
    return f"labelstudio-user-{completed_by}"


def _value(region: dict[str, Any], key: str, where: str, path: Path) -> Any:
    value = region.get("value")
    if not isinstance(value, dict) or key not in value:
        raise InputError(f"expected a value with {key!r}", path=path, where=where)
    return value[key]


def _annotation_row(
    annotation: dict[str, Any], data: dict[str, Any], where: str, path: Path
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": "pairwise",
        "rater": _rater(annotation.get("completed_by")),
        "dataset": data["evalkit_dataset"],
        "item_id": data["evalkit_item_id"],
        "order": data["evalkit_order"],
        "run_id": data.get("evalkit_run_id"),
        "rated_at": annotation.get("updated_at") or annotation.get("created_at"),
    }
    if isinstance(annotation.get("lead_time"), int | float):
        row["seconds"] = float(annotation["lead_time"])
    scores: dict[str, dict[str, float]] = {}
    for k, region in enumerate(annotation.get("result") or []):
        at = f"{where}.result.{k}"
        name = region.get("from_name") if isinstance(region, dict) else None
        if name == PREFERENCE:
            picked = _value(region, "choices", at, path)
            if not isinstance(picked, list) or len(picked) != 1 or picked[0] not in _CHOICES:
                raise InputError(f"expected one choice of A, B or {TIE}, found {picked!r}",
                                 path=path, where=at)  # fmt: skip
            row["choice"] = _CHOICES[picked[0]]
        elif name == NOTE:
            text = _value(region, "text", at, path)
            row["note"] = "\n".join(text) if isinstance(text, list) else str(text)
        elif isinstance(name, str) and name[: len(SCORE_PREFIX) + 2] in _SCORE_NAMES:
            side, criterion = name[len(SCORE_PREFIX)], name[len(SCORE_PREFIX) + 2 :]
            kind = "rating" if region.get("type") == "rating" else "number"
            scores.setdefault(side, {})[criterion] = _value(region, kind, at, path)
        else:
            raise InputError(
                f"from_name {name!r} is not a control of evalkit's labeling config "
                f"({PREFERENCE}, {SCORE_PREFIX}A_<criterion>, {SCORE_PREFIX}B_<criterion>, {NOTE})",
                path=path,
                where=at,
            )
    if scores:
        row["scores"] = scores
    return {k: v for k, v in row.items() if v is not None}


def read_labelstudio_export(path: Path) -> list[PairwiseRating]:
    """Every submitted annotation of a Label Studio JSON export, as a validated rating."""
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"not a Label Studio JSON export: {e}", path=path) from None
    if not isinstance(tasks, list):
        raise InputError("expected a JSON list of tasks (Label Studio's JSON export)", path=path)
    ratings: list[PairwiseRating] = []
    for i, task in enumerate(tasks):
        where = f"task {i}" + (
            f" (id {task['id']})" if isinstance(task, dict) and "id" in task else ""
        )
        data = task.get("data") if isinstance(task, dict) else None
        missing = [
            k for k in ("evalkit_dataset", "evalkit_item_id", "evalkit_order")
            if not isinstance(data, dict) or k not in data
        ]  # fmt: skip
        if missing:
            raise InputError(
                f"data has no {missing[0]}: export the tasks with `evalkit review --format "
                "labelstudio` and import them unchanged",
                path=path,
                where=where,
            )
        for j, annotation in enumerate(task.get("annotations") or []):
            at = f"{where}.annotations.{j}"
            if not isinstance(annotation, dict):
                raise InputError("expected an annotation object", path=path, where=at)
            if annotation.get("was_cancelled"):
                continue
            try:
                rating = parse_rating(_annotation_row(annotation, data, at, path), path, i + 1)
            except InputError as e:  # located by task and annotation, not by a line
                raise InputError(e.message, path=path, where=e.where or at) from None
            ratings.append(cast(PairwiseRating, rating))  # the row's kind is pairwise
    if not ratings:
        raise InputError("the export holds no submitted annotation", path=path)
    return ratings
