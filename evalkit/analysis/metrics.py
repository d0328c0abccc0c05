"""Metrics per dataset: both arms' values, the paired difference with its interval, and details.

Errored samples stay in every denominator as wrong answers (and are counted apart), so a
metric can never look better because samples failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from evalkit.analysis.stats import (
    PairedResult,
    Statistic,
    f1_stats,
    mcnemar_exact,
    mean_stat,
    paired_bootstrap,
)
from evalkit.suite.schema import Stats

NO_LABEL = "(no label)"
OTHER = "(other)"
# Metrics where lower is better; everything else is higher-is-better.
LOWER_IS_BETTER = frozenset({"unparsed_rate", "error_rate"})


@dataclass(frozen=True)
class MetricRow:
    dataset: str
    section: str
    kind: str
    metric: str
    result: PairedResult

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "dataset": self.dataset,
            "section": self.section,
            "kind": self.kind,
            "metric": self.metric,
            "higher_is_better": self.metric not in LOWER_IS_BETTER,
            "baseline": r.baseline,
            "candidate": r.candidate,
            "diff": r.diff,
            "ci_low": r.ci_low,
            "ci_high": r.ci_high,
            "confidence": r.confidence,
            "n": r.n,
            "resamples": r.resamples,
            "quantiles": r.quantiles,
        }


def paired_rows(table: pd.DataFrame, dataset: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Baseline and candidate rows of one dataset, aligned item by item."""
    rows = table[table["dataset"] == dataset]
    b = rows[rows["arm"] == "baseline"].set_index("id")
    c = rows[rows["arm"] == "candidate"].set_index("id")
    if set(b.index) != set(c.index):
        raise ValueError(f"dataset {dataset!r}: the arms did not see the same items")
    return b, c.loc[b.index]


def _predictions(rows: pd.DataFrame) -> list[str | None]:
    # pandas turns missing values into NaN or None depending on the column; treat both as missing
    return [
        None if not pd.isna(err) or pd.isna(lab) else lab
        for lab, err in zip(rows["label"], rows["error"], strict=True)
    ]


def _errored(rows: pd.DataFrame) -> np.ndarray:
    return rows["error"].notna().to_numpy()


def _flag(rows: pd.DataFrame, column: str) -> np.ndarray:
    # None (not applicable) and errors count as False: a failure never helps a rate
    return np.array([False if pd.isna(v) else bool(v) for v in rows[column]])


def _check_rates(rows: pd.DataFrame, names: Sequence[str]) -> dict[str, np.ndarray]:
    return {n: np.array([bool(ch.get(n, False)) for ch in rows["checks"]]) for n in names}


def statistics_for(
    b: pd.DataFrame, c: pd.DataFrame, section: str, classification: bool, labels: Sequence[str]
) -> dict[str, tuple[Statistic, Statistic]]:
    """(baseline, candidate) statistic pairs for every metric this dataset reports."""
    stats: dict[str, tuple[Statistic, Statistic]] = {}
    if classification or section == "probe":
        stats["accuracy"] = (mean_stat(_flag(b, "correct")), mean_stat(_flag(c, "correct")))
        unparsed = [(~_flag(r, "parsed") & ~_errored(r)).astype(float) for r in (b, c)]
        stats["unparsed_rate"] = (mean_stat(unparsed[0]), mean_stat(unparsed[1]))
    if classification and section == "task":
        present = [lab for lab in labels if lab in set(b["target"])]
        fb = f1_stats(list(b["target"]), _predictions(b), present)
        fc = f1_stats(list(c["target"]), _predictions(c), present)
        for name in ("macro_f1", "micro_f1", "weighted_f1"):
            stats[name] = (fb[name], fc[name])
    names = sorted({k for ch in [*b["checks"], *c["checks"]] for k in ch})
    if section == "task" and names:  # no checks configured: no adherence to report, not 0
        stats["format_adherence"] = (
            mean_stat(_flag(b, "format_ok")),
            mean_stat(_flag(c, "format_ok")),
        )
        rb, rc = _check_rates(b, names), _check_rates(c, names)
        for n in names:
            stats[f"format.{n}"] = (mean_stat(rb[n]), mean_stat(rc[n]))
    stats["error_rate"] = (
        mean_stat(_errored(b).astype(float)),
        mean_stat(_errored(c).astype(float)),
    )
    return stats


def class_detail(rows: pd.DataFrame, labels: Sequence[str]) -> dict[str, Any]:
    """Per-class precision/recall/F1/support and the confusion matrix for one arm."""
    present = [lab for lab in labels if lab in set(rows["target"])]
    preds = [NO_LABEL if p is None else (p if p in labels else OTHER) for p in _predictions(rows)]
    p, r, f, s = precision_recall_fscore_support(
        list(rows["target"]), preds, labels=present, zero_division=0
    )
    columns = [*labels, OTHER, NO_LABEL]
    targets_seen = [lab for lab in labels if lab in set(rows["target"])] + sorted(
        set(rows["target"]) - set(labels)
    )
    cm = confusion_matrix(
        list(rows["target"]),
        preds,
        labels=targets_seen + [c for c in columns if c not in targets_seen],
    )
    return {
        "per_class": [
            {
                "label": lab,
                "precision": float(pi),
                "recall": float(ri),
                "f1": float(fi),
                "support": int(si),
            }
            for lab, pi, ri, fi, si in zip(present, p, r, f, s, strict=True)
        ],
        "confusion": {
            "rows": targets_seen,  # true labels
            "columns": targets_seen + [c for c in columns if c not in targets_seen],  # predicted
            "matrix": cm[: len(targets_seen)].tolist(),
        },
    }


def dataset_analysis(
    table: pd.DataFrame,
    dataset: str,
    *,
    section: str,
    kind: str,
    classification: bool,
    labels: Sequence[str],
    stats: Stats,
) -> dict[str, Any]:
    """Everything the report says about one dataset."""
    b, c = paired_rows(table, dataset)
    results = paired_bootstrap(
        statistics_for(b, c, section, classification, labels),
        len(b),
        resamples=stats.bootstrap,
        seed=stats.seed,
        confidence=stats.confidence,
    )
    out: dict[str, Any] = {
        "metrics": [MetricRow(dataset, section, kind, m, r).to_dict() for m, r in results.items()],
        "errors": {"baseline": int(_errored(b).sum()), "candidate": int(_errored(c).sum())},
        "n": len(b),
    }
    if classification or section == "probe":
        mc = mcnemar_exact(_flag(b, "correct"), _flag(c, "correct"))
        out["paired"] = {
            "baseline_only_correct": mc.baseline_only,
            "candidate_only_correct": mc.candidate_only,
            "both_correct": mc.both_right,
            "both_wrong": mc.both_wrong,
            "mcnemar_p": mc.p_value,
            "disagreements": int(
                sum(x != y for x, y in zip(_predictions(b), _predictions(c), strict=True))
            ),
        }
    if classification and section == "task":
        out["classes"] = {"baseline": class_detail(b, labels), "candidate": class_detail(c, labels)}
    return out
