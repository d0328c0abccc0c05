"""audit.html in real headless Chromium: it loads without script errors, every section is
there, hostile labels and inputs stay text, and no planted sensitive value is in the DOM."""

from __future__ import annotations

import html
from pathlib import Path

from evalkit.audit.core import audit_rows
from evalkit.audit.rows import AuditRow
from evalkit.data.items import Item
from evalkit.report.audit import write_audit
from tests.conftest import HOSTILE_LABELS, HOSTILE_TEXT
from tests.test_audit import CARD, EMAIL, PLANTED
from tests.test_report_browser import js_errors, load
from tests.test_report_browser import pytestmark as browser_marks

pytestmark = browser_marks  # skipped without Chromium, unless CI requires it

XSS_LABEL = HOSTILE_LABELS[0]


def test_audit_page_loads_and_stays_text(tmp_path: Path) -> None:
    rows = [
        AuditRow("r1", 1, "where is my card", "card", ("card", XSS_LABEL, "card")),
        AuditRow("r2", 2, "Where is my card?", XSS_LABEL, ("card", XSS_LABEL)),
        AuditRow("r3", 3, f"{HOSTILE_TEXT} my card {CARD}", "card"),
        AuditRow("r4", 4, f"{HOSTILE_TEXT} my card {CARD}!", "card"),
        AuditRow("r5", 5, f"mail {EMAIL} about the rate", "fx"),
        AuditRow("r6", 6, "what is the exchange rate", "fx"),
    ]
    heldout = [Item("h1", "what is the exchange rate", "fx")]
    audit = audit_rows(rows, data="train.jsonl", suite="s.yaml",
                       datasets={"heldout": ("in_domain", heldout)})  # fmt: skip
    assert audit.agreement and audit.leakage and audit.leakage.leaks and audit.duplicates.exact
    page, _ = write_audit(tmp_path / "out", audit)
    dom, log = load(page, tmp_path / "profile")
    assert js_errors(dom, log) == []
    assert "data-xss" not in dom and "<img" not in dom and "<b>bold</b>" not in dom
    for section in ("summary", "label-issues", "duplicates", "leakage", "sensitive", "agreement"):
        assert f'<section id="{section}">' in dom, section
    assert html.escape(XSS_LABEL, quote=False) in dom  # shown, as text
    assert "&lt;/script&gt;&lt;script&gt;" in dom
    for value in PLANTED:
        assert value not in dom and value.replace(" ", "") not in dom
    assert "[card ****6467]" in dom and "j***@***.org" in dom
