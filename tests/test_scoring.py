"""Label extraction and format checks on the answers small models really give."""

from __future__ import annotations

import pytest

from evalkit.scoring.extract import extract_label
from evalkit.scoring.format import run_checks
from evalkit.suite.schema import FormatChecks

LABELS = ["card_arrival", "card", "exchange_rate", "lost_or_stolen_card"]


@pytest.mark.parametrize(
    ("output", "label", "parsed", "in_set"),
    [
        ('{"intent": "card_arrival"}', "card_arrival", True, True),
        ('```json\n{"intent": "exchange_rate"}\n```', "exchange_rate", True, True),
        (
            'Sure! {"intent": "Lost or stolen card"} hope it helps',
            "lost_or_stolen_card",
            True,
            True,
        ),
        ('{"intent": "refund"}', "refund", True, False),  # an answer, but not a label
        ('{"label": "card"}', None, False, False),  # the wrong field
        ("card_arrival", None, False, False),  # not JSON at all
        ('{"intent": null}', None, False, False),
        ('{"intent": ""}', None, False, False),  # an empty label is no answer
        ('{"intent": "  "}', None, False, False),
        ("", None, False, False),
    ],
)
def test_json_field_extraction(output, label, parsed, in_set) -> None:
    ext = extract_label(output, LABELS, "json", "intent")
    assert (ext.label, ext.parsed, ext.in_set) == (label, parsed, in_set)


@pytest.mark.parametrize(
    ("output", "label"),
    [
        ("card_arrival", "card_arrival"),
        ("  Exchange Rate. ", "exchange_rate"),
        ("The intent is card arrival.", "card_arrival"),  # 'card' is inside the longer label
        ("It is about a card.", "card"),
        ("Either card arrival or exchange rate", None),  # two labels named: no answer
        ("I cannot help with that", None),
    ],
)
def test_text_extraction(output, label) -> None:
    ext = extract_label(output, LABELS, "text", None)
    assert ext.label == label
    assert ext.parsed is (label is not None)


def test_format_checks() -> None:
    schema = {
        "type": "object",
        "required": ["intent"],
        "properties": {"intent": {"type": "string"}},
    }
    checks = FormatChecks(json=True, regex=r"\{.*\}", max_words=3, min_chars=5, label_in_set=True)
    ok = run_checks('{"intent": "card"}', checks, json_schema=schema, label_in_set=True)
    assert ok == {
        "json": True,
        "schema": True,
        "regex": True,
        "length_words": True,
        "length_chars": True,
        "label_in_set": True,
    }
    bad = run_checks(
        'Answer: {"intent": 3} because it is', checks, json_schema=schema, label_in_set=False
    )
    assert bad == {
        "json": False,
        "schema": False,
        "regex": False,
        "length_words": False,
        "length_chars": True,
        "label_in_set": False,
    }
    wrong_type = run_checks('{"intent": 3}', FormatChecks(), json_schema=schema, label_in_set=True)
    assert wrong_type == {"schema": False}
