"""The writers of `evalkit audit`: audit.html (one self-contained page), audit.json and the
terminal summary.

Every text of an `Audit` is masked where it was made (evalkit.audit); `masked` runs every
string once more, ids and labels included, and cuts out credentials by evalkit's usual rules
and the values of secret-looking environment variables, so nothing a data file holds
reaches a file or a terminal unmasked. The page autoescapes every value as well.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from evalkit.audit.core import Audit
from evalkit.audit.labels import CV_FOLDS
from evalkit.audit.leakage import HELDOUT_SHARE
from evalkit.audit.sensitive import mask_text
from evalkit.credentials import Scrubber, env_secrets, scrub, scrubber
from evalkit.jsonutil import WRITE_ERRORS
from evalkit.report.escape import plain
from evalkit.report.html import _environment

SHOWN = 200  # rows listed per section on the page; audit.json has them all
AUDIT_PAGE, AUDIT_DATA = "audit.html", "audit.json"  # in a run folder, or `evalkit audit --out`
KINDS = (
    ("duplicates", "groups of exact duplicates and pairs of near duplicates"),
    ("conflicts", "duplicates (exact or near) that carry different labels"),
    ("leakage", "evaluation rows found in the training data"),
    ("heldout_share", "1 when the held-out share is outside 10–20 %"),
    ("pii", "sensitive values: e-mails, phones, cards, IBANs, keys"),
    ("label_errors", "rows whose label is likely wrong"),
    ("disagreement", "rows the annotators label differently"),
)


def _masked(value: Any, secrets: Scrubber) -> Any:
    if isinstance(value, str):
        return scrub(mask_text(value), secrets)
    if isinstance(value, dict):
        return {_masked(k, secrets): _masked(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, secrets) for v in value]
    return value


def masked(audit: Audit) -> Audit:
    """The audit with every string (keys too) masked, and any secret evalkit knows of cut out."""
    # not `redact`: its blanking of values under secret-looking keys would blank the count
    # of the `credential` kind
    dumped = audit.model_dump(mode="json")
    return Audit.model_validate(_masked(dumped, scrubber(env_secrets())))


def render_audit(audit: Audit) -> str:
    """The audit page as one HTML string."""
    audit = masked(audit)
    labels: dict[str, None] = {}
    for split in audit.leakage.splits if audit.leakage else ():
        labels.update(dict.fromkeys(split.classes))
    return (
        _environment()
        .get_template("audit.html.j2")
        .render(
            a=audit,
            kinds=KINDS,
            shown=SHOWN,
            folds=CV_FOLDS,
            share_range=HELDOUT_SHARE,
            split_labels=list(labels),
        )
    )


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8", errors=WRITE_ERRORS)
    tmp.replace(path)


def write_audit(out: Path, audit: Audit) -> tuple[Path, Path]:
    """audit.html and audit.json in `out`, created if needed."""
    out.mkdir(parents=True, exist_ok=True)
    html, data = out / AUDIT_PAGE, out / AUDIT_DATA
    _write(html, render_audit(audit))
    dumped = masked(audit).model_dump(mode="json")
    _write(data, json.dumps(dumped, indent=2, ensure_ascii=False) + "\n")
    return html, data


def _first(items: list[str], n: int = 3) -> str:
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return ": " + ", ".join(items[:n]) + more if items else ""


def summary_lines(audit: Audit) -> list[str]:
    """One line per check, with its count and the first few rows it names."""
    a = masked(audit)
    d, f = a.duplicates, a.found
    lines = [
        f"audit of {a.data}: {a.rows} rows, {len(a.labels)} labels",
        f"duplicates     {len(d.exact)} exact groups, {len(d.near)} near pairs "
        f"(char 5-gram Jaccard >= {d.threshold}); {f['conflicts']} with different labels"
        + _first(
            [" = ".join(g.ids[:2]) for g in d.exact if g.conflict]
            + [f"{p.a} ~ {p.b}" for p in d.near if p.conflict]
        ),
    ]
    if (lk := a.leakage) is None:
        lines.append("leakage        not checked: no --suite")
    else:
        share = "none held out" if lk.heldout_share is None else f"{lk.heldout_share:.1%} held out"
        share += " (outside 10-20 %)" if lk.heldout_share_ok is False else ""
        lines.append(
            f"leakage        {len(lk.leaks)} evaluation rows found in training; {share}"
            + _first([f"{x.dataset}:{x.eval_id} = {x.train_id}" for x in lk.leaks])
        )
    s = a.sensitive
    kinds = ", ".join(f"{n} {k}" for k, n in s.counts.items())
    lines.append(
        f"sensitive      {len(s.hits)} values"
        + (f" ({kinds})" if kinds else "")
        + _first([f"{h.row_id} {h.masked}" for h in s.hits])
    )
    li = a.label_issues
    lines.append(
        f"label errors   {len(li.issues)} likely, in {li.rows_checked} rows"
        + _first([f"{i.row_id} {i.given} -> {i.suggested}" for i in li.issues])
        if li.checked
        else f"label errors   not checked: {li.why_not}"
    )
    if (ag := a.agreement) is not None:
        alpha = "undefined" if ag.alpha is None else f"{ag.alpha:.3f}"
        lines.append(
            f"agreement      Krippendorff's alpha {alpha} over {ag.rows} rows; "
            f"{len(ag.disagreements)} disagree" + _first([x.row_id for x in ag.disagreements])
        )
    return lines


def print_audit(audit: Audit, console: Console) -> None:
    """The one-screen summary, terminal-safe."""
    for line in summary_lines(audit):
        console.print(plain(line), soft_wrap=True)
