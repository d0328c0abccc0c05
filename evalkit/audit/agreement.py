"""Agreement between annotators, where rows carry several labels: Krippendorff's alpha
(nominal, the `krippendorff` package) overall and per class, and the rows they disagree on.

Per class, alpha is computed on the binary reading "this label or another", the usual
per-category agreement. A row with one label is not pairable and counts for nothing.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel

from evalkit.audit.rows import AuditRow
from evalkit.audit.sensitive import mask_text


class Disagreement(BaseModel):
    row_id: str
    labels: dict[str, int]  # label → annotators who gave it, most first
    text: str


class Agreement(BaseModel):
    rows: int  # rows with two or more labels
    annotations: int
    alpha: float | None  # None where alpha is undefined (a single value in all the data)
    per_class: dict[str, float | None]
    disagreements: list[Disagreement]


def nominal_alpha(units: Sequence[Sequence[int]]) -> float | None:
    """Krippendorff's alpha for nominal codes, each unit the codes its annotators gave it.

    >>> nominal_alpha([[0, 0], [1, 1], [0, 1]])
    0.4444
    """
    import krippendorff
    import numpy as np

    width = max(len(u) for u in units)
    # reliability data: one row per annotator slot, one column per unit, nan where none
    data = np.full((width, len(units)), np.nan)
    for j, unit in enumerate(units):
        data[: len(unit), j] = unit
    if len({v for u in units if len(u) > 1 for v in u}) < 2:
        return None  # expected disagreement is 0: alpha is undefined
    alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    return None if math.isnan(alpha) else round(alpha, 4)


def find_agreement(rows: Sequence[AuditRow]) -> Agreement | None:
    """Alpha over the rows' annotators' labels, overall and per class; None without any."""
    rated = [r for r in rows if len(r.labels) > 1]
    if not rated:
        return None
    classes = sorted({v for r in rated for v in r.labels})
    units = [[classes.index(v) for v in r.labels] for r in rated]
    per_class = {
        c: nominal_alpha([[int(v == k) for v in u] for u in units]) for k, c in enumerate(classes)
    }
    disagreements = [
        Disagreement(
            row_id=r.id,
            labels={mask_text(k): n for k, n in Counter(r.labels).most_common()},
            text=mask_text(r.input),
        )
        for r in rated
        if len(set(r.labels)) > 1
    ]
    return Agreement(
        rows=len(rated),
        annotations=sum(len(r.labels) for r in rated),
        alpha=nominal_alpha(units),
        per_class=per_class,
        disagreements=disagreements,
    )
