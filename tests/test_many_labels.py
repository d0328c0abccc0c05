"""The counting at 77 labels (banking77's intents) equals scikit-learn's straightforward one:
per-class scores and the confusion matrix, and macro/micro/weighted F1 on every resample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from evalkit.analysis.metrics import NO_LABEL, OTHER, class_detail, predictions
from evalkit.analysis.stats import _weights, f1_stats

LABELS = (Path(__file__).parents[1] / "bench" / "banking77_intents.txt").read_text().split()


def _rows(seed: int, n: int) -> pd.DataFrame:
    """Targets over 70 of the 77 labels, answers right 60% of the time, else another of the
    first 74 (so 4 are answered, never a target, and 3 occur nowhere), an undeclared label,
    none, or a failed request."""
    rng = np.random.default_rng(seed)
    targets = [str(x) for x in rng.choice(LABELS[:70], n)]
    labels, errors = [], []
    for t in targets:
        r = rng.random()
        labels.append(
            t
            if r < 0.6
            else None
            if r < 0.65
            else "made_up"
            if r < 0.7
            else str(rng.choice(LABELS[:74]))
        )
        errors.append("TimeoutError" if r > 0.97 else None)
    return pd.DataFrame({"target": targets, "label": labels, "error": errors})


def test_class_detail_equals_sklearn_at_77_labels() -> None:
    rows = _rows(0, 3000)
    detail = class_detail(rows, LABELS)
    preds = [NO_LABEL if p is None else (p if p in LABELS else OTHER) for p in predictions(rows)]
    present = [lab for lab in LABELS if lab in set(rows["target"]) | set(preds)]
    assert len(present) == 74
    p, r, f, s = precision_recall_fscore_support(
        list(rows["target"]), preds, labels=present, zero_division=0
    )
    assert [c.label for c in detail.per_class] == present
    assert [c.precision for c in detail.per_class] == p.tolist()
    assert [c.recall for c in detail.per_class] == r.tolist()
    assert [c.f1 for c in detail.per_class] == f.tolist()
    assert [c.support for c in detail.per_class] == s.tolist()
    cm = confusion_matrix(list(rows["target"]), preds, labels=detail.confusion.columns)
    assert detail.confusion.matrix == cm[: len(detail.confusion.rows)].tolist()
    assert detail.confusion.columns[-2:] == [OTHER, NO_LABEL]


@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_f1_on_each_resample_equals_sklearn_at_77_labels(average: str) -> None:
    rows = _rows(1, 400)
    truth = list(rows["target"])
    pred = predictions(rows)
    w = _weights(np.random.default_rng(7), 25, len(truth))
    ours = f1_stats(truth, pred, LABELS)[f"{average}_f1"](w)
    for b in range(w.shape[0]):
        idx = np.repeat(np.arange(len(truth)), w[b].astype(int))
        theirs = f1_score(
            [truth[i] for i in idx],
            [pred[i] or "(none)" for i in idx],
            labels=LABELS,
            average=average,
            zero_division=np.nan,
        )
        assert ours[b] == pytest.approx(theirs, abs=1e-12), b
