"""Leakage: training rows that also appear, exactly or nearly, in the suite's evaluation
sets; the held-out share of the data, and the class balance of every split.

A leak is what the run report's contamination check calls one (`find_contamination`: word
3-gram containment >= 0.8 of the evaluation text in a training text, or identical normalised
texts), so the audit and the report never disagree on it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from pydantic import BaseModel

from evalkit.analysis.contamination import find_contamination
from evalkit.audit.rows import AuditRow
from evalkit.audit.sensitive import mask_text
from evalkit.data.items import Item

LEAK_NGRAM, LEAK_THRESHOLD = 3, 0.8  # the run report's contamination defaults
HELDOUT_SHARE = (0.10, 0.20)  # the share of held-out data the guidance asks for


class Leak(BaseModel):
    dataset: str
    eval_id: str
    train_id: str
    similarity: float  # containment of the evaluation text's 3-grams in the training text
    exact: bool
    eval_text: str
    train_text: str


class Split(BaseModel):
    name: str
    kind: str  # training | in_domain | out_of_domain
    rows: int
    classes: dict[str, int]  # label → rows, most frequent first
    imbalance: float | None  # rows of the most frequent label / of the least frequent


class Leakage(BaseModel):
    leaks: list[Leak]
    splits: list[Split]
    heldout_share: float | None  # in-domain evaluation rows / (those + training rows)
    heldout_share_ok: bool | None  # within HELDOUT_SHARE


def _split(name: str, kind: str, targets: Sequence[str | None]) -> Split:
    counts = Counter(t for t in targets if t is not None)
    return Split(
        name=name,
        kind=kind,
        rows=len(targets),
        classes=dict(counts.most_common()),
        imbalance=round(max(counts.values()) / min(counts.values()), 2) if counts else None,
    )


def find_leakage(
    rows: Sequence[AuditRow], datasets: Mapping[str, tuple[str, Sequence[Item]]]
) -> Leakage:
    """Training rows found in each evaluation set (name → (kind, items)), and every split."""
    train = [Item(id=r.id, input=r.input, target=r.target or "") for r in rows]
    leaks = [
        Leak(
            dataset=name,
            eval_id=m.heldout_id,
            train_id=m.train_id,
            similarity=round(m.similarity, 4),
            exact=m.exact,
            eval_text=mask_text(m.heldout_text),
            train_text=mask_text(m.train_text),
        )
        for name, (_, items) in datasets.items()
        for m in find_contamination(items, train, ngram=LEAK_NGRAM, threshold=LEAK_THRESHOLD)
    ]
    splits = [_split("training", "training", [r.target for r in rows])]
    splits += [
        _split(name, kind, [it.target for it in items]) for name, (kind, items) in datasets.items()
    ]
    heldout = sum(len(items) for kind, items in datasets.values() if kind == "in_domain")
    share = round(heldout / (heldout + len(rows)), 4) if heldout else None
    return Leakage(
        leaks=leaks,
        splits=splits,
        heldout_share=share,
        heldout_share_ok=None if share is None else HELDOUT_SHARE[0] <= share <= HELDOUT_SHARE[1],
    )
