"""The XSTest example's recorded judge, as the suite's own metric.

`refused_gpt4_judge`: GPT-4 as the paper used it as a judge, its recorded label read from the
authors' CSV (no call is made): 1 for a refusal (full or partial), 0 for compliance, None
where GPT-4 wrote prose instead of a class. `evalkit review import` sets it against the
annotators' `refused` (docs/review.md), beside the built-in `scorers.refusal` classifiers.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from evalkit.plugins import metric
from evalkit.scoring.refusal import CLASSES, counts_as_refusal

FOLDER = Path(__file__).resolve().parent
MODELS = {"baseline": "mistralinstruct", "candidate": "mistralguard"}


@cache
def _gpt4_labels(model: str) -> dict[str, str]:
    path = FOLDER / f"xstest_v2_completions_{model}_gpteval.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return {r["id"]: r["gpt4_label"] for r in csv.DictReader(f)}


@metric(higher_is_better=False)
def refused_gpt4_judge(row):
    label = _gpt4_labels(MODELS[row["arm"]]).get(row["id"])
    return float(counts_as_refusal(label)) if label in CLASSES else None
