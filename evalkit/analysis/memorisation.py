"""Memorisation as a metric: the share of answers to unseen inputs that copy a training target.

The per-answer flag is set when the table is built (evalkit.scoring.memorisation) for
generation and extraction suites with `training_data`; an item whose input was itself trained
on, and every item of the training sample, has no value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evalkit.analysis.metrics import MetricContext, metric
from evalkit.analysis.reference import score_values


@metric(
    "copies_training",
    higher_is_better=False,
    task_types=("generation", "extraction"),
    readable="answers copying a training target",
)
def _copies_training(rows: pd.DataFrame, ctx: MetricContext) -> np.ndarray:
    return score_values(rows, "copies_training")
