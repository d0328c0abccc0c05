"""Reference metrics of generation tasks, read from the per-sample table's `scores` column.

The values are computed per answer when the table is built (evalkit.scoring.reference:
chrF from sacrebleu, ROUGE-L with rouge-score's tokenisation); here they become paired means.
An item without a reference has no value and leaves both arms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evalkit.analysis.metrics import MetricContext, metric


def score_values(rows: pd.DataFrame, name: str) -> np.ndarray:
    """One built-in per-answer score as numbers; NaN where the row has none.

    >>> score_values(pd.DataFrame({"scores": [{"chrf": 40.0}, {}, None]}), "chrf").tolist()
    [40.0, nan, nan]
    """
    column = rows["scores"] if "scores" in rows else [None] * len(rows)
    return np.array(
        [
            float(s[name]) if isinstance(s, dict) and s.get(name) is not None else np.nan
            for s in column
        ]
    )


@metric("chrf", task_types=("generation",), headline=True, readable="chrF")
def _chrf(rows: pd.DataFrame, ctx: MetricContext) -> np.ndarray:
    """sacrebleu's sentence chrF against the item's reference, 0 to 100."""
    return score_values(rows, "chrf")


@metric("rouge_l", task_types=("generation",), readable="ROUGE-L")
def _rouge_l(rows: pd.DataFrame, ctx: MetricContext) -> np.ndarray:
    """ROUGE-L F-measure against the item's reference, 0 to 1."""
    return score_values(rows, "rouge_l")
