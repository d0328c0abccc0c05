"""Extraction metrics: exact match of the whole object, and precision, recall and F1 per field,
micro and macro over the fields, each a paired bootstrap statistic.

Counts come from the per-sample table's `fields` column (evalkit.scoring.fields): for each
answer and field, how many values the target has, how many the answer gives and how many of
those match (a list field is a multiset). Per field, precision = matched / answered, recall =
matched / wanted, F1 = 2·matched / (answered + wanted), pooled over the items. Micro pools the
counts of every field; macro averages the fields that have a value (a field no answer gives
has no precision and is left out of macro precision, as scikit-learn's `zero_division=nan`
does; a field that occurs nowhere in a set has no F1). A failed request answers nothing: its
target's values are misses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from evalkit.analysis.metrics import MetricContext, MetricSpec, flag, metric, metric_family
from evalkit.analysis.stats import Statistic, ratio

EXTRACTION = ("extraction",)
PARTS = ("precision", "recall", "f1")


def field_counts(
    entries: Sequence[Any], fields: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(matched, answered, wanted) per item and field: three items × fields count arrays.

    >>> m, a, w = field_counts([{"x": {"target": ["1"], "answer": ["1", "2"], "matched": 1}}, None], ["x"])
    >>> m.tolist(), a.tolist(), w.tolist()
    ([[1.0], [0.0]], [[2.0], [0.0]], [[1.0], [0.0]])
    """
    shape = (len(entries), len(fields))
    matched, answered, wanted = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):  # a probe row, or a row of a run without fields
            continue
        for k, name in enumerate(fields):
            f = entry.get(name) or {}
            matched[i, k] = f.get("matched", 0)
            answered[i, k] = len(f.get("answer", ()))
            wanted[i, k] = len(f.get("target", ()))
    return matched, answered, wanted


def _macro(values: np.ndarray) -> np.ndarray:
    """Mean over fields (the last axis) of the values that exist; NaN where none does."""
    present = ~np.isnan(values)
    count = present.sum(axis=-1)
    total = np.where(present, values, 0.0).sum(axis=-1)
    return ratio(total, count)


def field_stats(
    matched: np.ndarray, answered: np.ndarray, wanted: np.ndarray
) -> dict[str, Statistic]:
    """Per-field, micro and macro precision, recall and F1 as bootstrap statistics.

    Args:
        matched, answered, wanted: items × fields counts (see `field_counts`).

    Returns:
        "micro_<part>", "macro_<part>" and "<k>.<part>" (k the field's column) for each part
        of precision, recall, f1 → statistic (weights → one value per resample).

    >>> m = np.array([[1.0, 0.0], [1.0, 1.0]])
    >>> a = np.array([[1.0, 1.0], [2.0, 1.0]])
    >>> w = np.array([[1.0, 1.0], [1.0, 1.0]])
    >>> s = field_stats(m, a, w)
    >>> ones = np.ones((1, 2))
    >>> [round(float(s[k](ones)[0]), 4) for k in ("0.precision", "micro_f1", "macro_recall")]
    [0.6667, 0.6667, 0.75]
    """

    def parts(t: np.ndarray, a: np.ndarray, g: np.ndarray) -> dict[str, np.ndarray]:
        return {"precision": ratio(t, a), "recall": ratio(t, g), "f1": ratio(2 * t, a + g)}

    def per_field(w: np.ndarray) -> dict[str, np.ndarray]:
        return parts(w @ matched, w @ answered, w @ wanted)  # resamples × fields

    def micro(w: np.ndarray) -> dict[str, np.ndarray]:
        return parts(*((w @ x).sum(axis=1) for x in (matched, answered, wanted)))

    out: dict[str, Statistic] = {}
    for part in PARTS:
        out[f"micro_{part}"] = lambda w, part=part: micro(w)[part]
        out[f"macro_{part}"] = lambda w, part=part: _macro(per_field(w)[part])
        for k in range(matched.shape[1]):
            out[f"{k}.{part}"] = lambda w, part=part, k=k: per_field(w)[part][:, k]
    return out


def _stats(rows: pd.DataFrame, ctx: MetricContext) -> dict[str, Statistic]:
    # every field metric of one arm comes from the same counts: build them once
    return ctx.once("fields", lambda: field_stats(*field_counts(list(rows["fields"]), ctx.fields)))


@metric("exact_match", task_types=EXTRACTION, headline=True, readable="exact match")
def _exact_match(rows: pd.DataFrame, ctx: MetricContext) -> np.ndarray:
    """The answer's object equals the target in every field (lists as multisets)."""
    return flag(rows, "correct")


def _register_pooled(scope: str, part: str, headline: bool) -> None:
    name = f"field_{scope}_{part}"

    @metric(
        name,
        task_types=EXTRACTION,
        headline=headline,
        readable=f"field {scope} {part.replace('f1', 'F1')}",
        corpus=True,
    )
    def pooled(rows: pd.DataFrame, ctx: MetricContext) -> Statistic:
        return _stats(rows, ctx)[f"{scope}_{part}"]


for _scope in ("micro", "macro"):
    for _part in PARTS:
        _register_pooled(_scope, _part, headline=_part == "f1")


def _field_metric(k: int, part: str) -> Any:
    return lambda rows, ctx: _stats(rows, ctx)[f"{k}.{part}"]


@metric_family("field")
def _per_field(b: pd.DataFrame, c: pd.DataFrame, ctx: MetricContext) -> list[MetricSpec]:
    """field.<path>.precision, .recall and .f1 for each of the task's fields."""
    if ctx.task_type not in EXTRACTION:
        return []
    return [
        MetricSpec(f"field.{path}.{part}", corpus=_field_metric(k, part))
        for k, path in enumerate(ctx.fields)
        for part in PARTS
    ]
