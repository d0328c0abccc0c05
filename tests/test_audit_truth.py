"""The audit against known truth on banking77's full training set (10,003 rows, 77 labels):
a seeded 10 % of the labels flipped at random, then how many of the flips the label check
flags (recall) and how many of the flagged rows are flips (precision); planted sensitive
values, duplicates and leaks are all found.

The floors sit a little under the figures measured (docs/audit.md): recall 0.79, precision
0.66 at seed 0. Precision against the flips understates the check: banking77 has label
errors of its own, which it flags too (239 rows with no label flipped).
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from evalkit.audit.core import audit_rows
from evalkit.audit.duplicates import find_duplicates
from evalkit.audit.leakage import find_leakage
from evalkit.audit.rows import AuditRow, read_audit_rows
from evalkit.audit.sensitive import find_sensitive
from evalkit.data.items import Item
from tests.test_audit import CARD, EMAIL, IBAN, KEY, PHONE

DATA = Path(__file__).parent / "reference" / "audit" / "banking77_train.jsonl"
FLIP_SHARE, SEED = 0.10, 0
RECALL_FLOOR, PRECISION_FLOOR = 0.75, 0.60


@pytest.fixture(scope="module")
def banking77() -> list[AuditRow]:
    return read_audit_rows(DATA)


def flipped(rows: list[AuditRow], share: float, seed: int) -> tuple[list[AuditRow], set[str]]:
    """The rows with a seeded `share` of them relabelled to another label, drawn uniformly."""
    rng = random.Random(seed)
    labels = sorted({r.target for r in rows if r.target})
    chosen = set(rng.sample(range(len(rows)), round(share * len(rows))))
    out = [
        replace(r, target=rng.choice([lab for lab in labels if lab != r.target]))
        if i in chosen
        else r
        for i, r in enumerate(rows)
    ]
    return out, {rows[i].id for i in chosen}


def test_flipped_labels_are_flagged(banking77: list[AuditRow]) -> None:
    noisy, flips = flipped(banking77, FLIP_SHARE, SEED)
    audit = audit_rows(noisy, data=str(DATA))
    assert audit.classification and audit.label_issues.rows_checked == len(banking77)
    flagged = {i.row_id for i in audit.label_issues.issues}
    recall, precision = len(flagged & flips) / len(flips), len(flagged & flips) / len(flagged)
    print(
        f"flips {len(flips)} flagged {len(flagged)} recall {recall:.3f} precision {precision:.3f}"
    )
    assert recall >= RECALL_FLOOR and precision >= PRECISION_FLOOR
    # every flagged flip suggests a label, and most suggest the true one back
    truth = {r.id: r.target for r in banking77}
    back = [i.suggested == truth[i.row_id] for i in audit.label_issues.issues if i.row_id in flips]
    assert sum(back) / len(back) >= 0.8


def test_planted_values_duplicates_and_leaks_are_found(banking77: list[AuditRow]) -> None:
    rng = random.Random(SEED)
    rows = list(banking77)
    assert find_sensitive(rows).hits == []  # banking77 holds none: any hit below is planted
    where = rng.sample(range(len(rows)), 5)
    for i, value in zip(where, (CARD, IBAN, EMAIL, PHONE, KEY), strict=True):
        rows[i] = replace(rows[i], input=f"{rows[i].input} {value}")
    found = find_sensitive(rows)
    assert sorted(h.row_id for h in found.hits) == sorted(rows[i].id for i in where)
    assert set(found.counts) == {"card", "iban", "email", "phone", "credential"}

    before = find_duplicates(banking77)
    copies = [replace(rows[i], id=f"copy-{i}", input=rows[i].input.upper() + "!") for i in where]
    after = find_duplicates(rows + copies)
    new = [g.ids for g in after.exact if any(i.startswith("copy-") for i in g.ids)]
    assert len(new) == 5 and len(after.exact) == len(before.exact) + 5

    heldout = [Item(f"h{i}", rows[i].input.lower(), rows[i].target or "") for i in where]
    leaks = find_leakage(rows, {"heldout": ("in_domain", heldout)}).leaks
    assert {(x.eval_id, x.train_id) for x in leaks} == {(f"h{i}", rows[i].id) for i in where}
