"""Every check of the audit on the rows of one file: a pure function, rows in, `Audit` out.

Every text an `Audit` holds has been through `mask_text`, so no writer can leak a
sensitive value; `found` counts the findings `--fail-on` can name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import get_args

from pydantic import BaseModel

from evalkit.audit.agreement import Agreement, find_agreement
from evalkit.audit.duplicates import NEAR_THRESHOLD, Duplicates, find_duplicates
from evalkit.audit.labels import (
    METHOD,
    SEED,
    LabelIssues,
    Probabilities,
    find_label_issues,
    not_checked,
)
from evalkit.audit.leakage import Leakage, find_leakage
from evalkit.audit.rows import AuditRow, looks_like_labels
from evalkit.audit.sensitive import Sensitive, find_sensitive, mask_text
from evalkit.data.items import Item
from evalkit.errors import InputError
from evalkit.suite.schema import AuditFinding

SCHEMA = "evalkit.audit/1"
# what `--fail-on` and a suite's `audit.fail_on` accept: each is one count of `Audit.found`
FAIL_KINDS: tuple[str, ...] = get_args(AuditFinding)


class Audit(BaseModel):
    schema_version: str = SCHEMA
    data: str
    suite: str | None
    rows: int
    classification: bool
    labels: dict[str, int]  # label → rows, most frequent first
    duplicates: Duplicates
    leakage: Leakage | None  # None without a suite
    sensitive: Sensitive
    label_issues: LabelIssues
    agreement: Agreement | None  # None when no row carries several labels
    found: dict[str, int]  # each of FAIL_KINDS → how many findings

    def failing(self, kinds: Iterable[str]) -> list[str]:
        """The kinds among `kinds` that have findings."""
        return [k for k in kinds if self.found[k]]


def audit_rows(
    rows: Sequence[AuditRow],
    *,
    data: str,
    suite: str | None = None,
    datasets: Mapping[str, tuple[str, Sequence[Item]]] | None = None,
    near_threshold: float = NEAR_THRESHOLD,
    seed: int = SEED,
    label_source: Probabilities | None = None,
    label_method: str = METHOD,
) -> Audit:
    """Every check on `rows`; `datasets` (name → (kind, items)) are the suite's evaluation sets.

    Label errors are looked for when the targets are class labels (`looks_like_labels`),
    with `label_source`'s probabilities (default: the cross-validated text model's).
    """
    classification = looks_like_labels(list(rows))
    duplicates = find_duplicates(rows, near_threshold)
    leakage = find_leakage(rows, datasets) if datasets is not None else None
    labels = (
        find_label_issues(rows, seed, label_source, label_method)
        if classification
        else not_checked("the targets are not class labels (missing, or nearly one per row)")
    )
    agreement = find_agreement(rows)
    sensitive = find_sensitive(rows)
    counts: dict[str, int] = {}
    for r in rows:
        if r.target is not None:
            counts[r.target] = counts.get(r.target, 0) + 1
    found = {
        "duplicates": len(duplicates.exact) + len(duplicates.near),
        "conflicts": duplicates.conflicts,
        "leakage": len(leakage.leaks) if leakage else 0,
        "heldout_share": int(leakage is not None and leakage.heldout_share_ok is False),
        "pii": len(sensitive.hits),
        "label_errors": len(labels.issues),
        "disagreement": len(agreement.disagreements) if agreement else 0,
    }
    return Audit(
        data=data,
        suite=suite,
        rows=len(rows),
        classification=classification,
        labels={mask_text(k): n for k, n in sorted(counts.items(), key=lambda kv: -kv[1])},
        duplicates=duplicates,
        leakage=leakage,
        sensitive=sensitive,
        label_issues=labels,
        agreement=agreement,
        found=found,
    )


def parse_fail_on(text: str | None) -> list[str]:
    """`--fail-on leakage,pii` as a list of kinds; an unknown kind is an InputError."""
    kinds = [k.strip() for k in (text or "").split(",") if k.strip()]
    if unknown := [k for k in kinds if k not in FAIL_KINDS]:
        raise InputError(
            f"unknown finding {unknown[0]!r}; expected a comma-separated list of: "
            + ", ".join(FAIL_KINDS),
            where="--fail-on",
        )
    return kinds
