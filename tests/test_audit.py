"""The data audit's checks, each on rows built to hold exactly what it must find."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.audit.agreement import find_agreement, nominal_alpha
from evalkit.audit.core import FAIL_KINDS, audit_rows, parse_fail_on
from evalkit.audit.duplicates import find_duplicates
from evalkit.audit.labels import find_label_issues
from evalkit.audit.leakage import find_leakage
from evalkit.audit.rows import AuditRow, read_audit_rows
from evalkit.audit.sensitive import find_sensitive, iban_ok, luhn_ok, mask_text
from evalkit.data.items import Item
from evalkit.errors import InputError
from tests.conftest import write_jsonl

# valid by their checksums (Luhn, mod 97), and the same numbers one digit off
CARD, BAD_CARD = "4539 1488 0343 6467", "4539 1488 0343 6468"
IBAN, BAD_IBAN = "DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 01"
EMAIL, PHONE, KEY = "jane.doe@example.org", "+44 20 7946 0958", "sk-live4f9a8b7c6d5e4f3a2b1c"
PLANTED = (CARD, IBAN, EMAIL, PHONE, KEY)


def rows(*specs: tuple[str, str | None]) -> list[AuditRow]:
    return [AuditRow(f"r{i}", i + 1, text, target) for i, (text, target) in enumerate(specs)]


def test_checksums() -> None:
    assert luhn_ok(CARD.replace(" ", "")) and not luhn_ok(BAD_CARD.replace(" ", ""))
    assert iban_ok(IBAN) and not iban_ok(BAD_IBAN)


def test_sensitive_values_are_found_by_kind_and_masked() -> None:
    found = find_sensitive(
        rows(
            (f"my card {CARD} was charged twice", "a"),
            (f"send it to {IBAN} please, or mail {EMAIL}", "b"),
            (f"call me on {PHONE}", "a"),
            (f"the app says Authorization failed for {KEY}", "b"),
            # fail their checks, or are no value at all: nothing to report
            (f"card {BAD_CARD}, iban {BAD_IBAN}, £1200 on 12/03/2024, order 123456", "a"),
        )
    )
    assert found.counts == {"credential": 1, "email": 1, "iban": 1, "card": 1, "phone": 1}
    assert found.rows == {"credential": ["r3"], "email": ["r1"], "iban": ["r1"], "card": ["r0"],
                          "phone": ["r2"]}  # fmt: skip
    shown = repr(found.model_dump())
    for value in PLANTED:
        assert value not in shown and value.replace(" ", "") not in shown
    assert mask_text(f"x {CARD} y") == "x [card ****6467] y"


def test_exact_and_near_duplicates_and_conflicts() -> None:
    d = find_duplicates(
        rows(
            ("Where is my card?", "card_arrival"),
            ("where is my CARD", "card_arrival"),  # exact once normalised
            ("I still haven't received my new card", "card_arrival"),
            ("I still havent received my new card!", "lost_card"),  # near, other label
            ("What exchange rate do you use?", "exchange_rate"),
            ("what exchange rate do you use", "fees"),  # exact, other label
            ("How do I close my account for good?", "terminate"),
        )
    )
    assert [(g.ids, g.conflict) for g in d.exact] == [(["r4", "r5"], True), (["r0", "r1"], False)]
    assert [(p.a, p.b, p.conflict) for p in d.near] == [("r2", "r3", True)]
    assert d.near[0].similarity >= d.threshold and d.conflicts == 2


def test_leakage_by_id_on_both_sides_with_splits() -> None:
    train = rows(("where is my new card", "card"), ("what is the exchange rate today", "fx"),
                 ("close my account please", "close"), ("my card has not come yet", "card"))  # fmt: skip
    heldout = [Item("h1", "Where is my new card?", "card"), Item("h2", "unrelated", "fx")]
    ood = [Item("o1", "What is the exchange rate?", "fx")]  # inside r1
    lk = find_leakage(train, {"heldout": ("in_domain", heldout), "ood": ("out_of_domain", ood)})
    assert [(x.dataset, x.eval_id, x.train_id, x.exact) for x in lk.leaks] == [
        ("heldout", "h1", "r0", True),
        ("ood", "o1", "r1", False),
    ]
    assert lk.heldout_share == round(2 / 6, 4) and lk.heldout_share_ok is False
    assert lk.splits[0].classes == {"card": 2, "fx": 1, "close": 1}
    assert lk.splits[0].imbalance == 2.0 and lk.splits[1].rows == 2


def test_alpha_matches_krippendorffs_worked_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the nominal example
    # of 4 observers and 12 units (values 1-5, blanks left out): alpha = 0.743
    units = [[1, 1, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
             [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [5, 5, 5], [1, 1], [3]]  # fmt: skip
    assert nominal_alpha(units) == 0.7434


def test_agreement_from_label_lists_and_from_annotator_rows(tmp_path: Path) -> None:
    lists = write_jsonl(tmp_path / "lists.jsonl", [
        {"id": "a", "input": "where is my card", "labels": ["card", "card", "card"]},
        {"id": "b", "input": "exchange rate?", "labels": ["fx", "fx", "card"]},
        {"id": "c", "input": "close it", "labels": ["close", "close"]},
    ])  # fmt: skip
    per_row = write_jsonl(tmp_path / "per_row.jsonl", [
        {"id": i, "input": text, "target": label, "annotator": who}
        for i, text, labels in (("a", "where is my card", "card card card"),
                                ("b", "exchange rate?", "fx fx card"), ("c", "close it", "close close"))
        for who, label in zip("xyz", labels.split(), strict=False)
    ])  # fmt: skip
    results = []
    for path in (lists, per_row):
        loaded = read_audit_rows(path)
        assert [r.target for r in loaded] == ["card", "fx", "close"]  # the majority
        results.append(find_agreement(loaded))
    assert results[0] == results[1]
    ag = results[0]
    assert ag is not None and ag.rows == 3 and ag.annotations == 8
    assert ag.alpha == nominal_alpha([[0, 0, 0], [1, 1, 0], [2, 2]])
    assert 0 < ag.alpha < 1 and ag.per_class["close"] == 1.0
    assert [(x.row_id, x.labels) for x in ag.disagreements] == [("b", {"fx": 2, "card": 1})]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": 1, "input": "a", "target": "x"}', "{nope"], ":2: row is not valid JSON"),
        (['{"id": 1, "text": "a"}'], ":1: field 'input' is missing, empty or not text"),
        (['{"id": 1, "input": "a"}', '{"id": 1, "input": "b"}'], ":2: duplicate id '1'"),
        (['{"id": 1, "input": "a", "target": [1]}'], ":1: field 'target' must be text"),
        (['{"id": 1, "input": "a", "labels": "x"}'], ":1: field 'labels' must be a non-empty"),
        (['{"messages": [{"role": "user", "content": "a"}]}'], ": chat-format rows"),
        (['{"id": 1, "input": "a", "target": "x", "annotator": "p"}',
          '{"id": 1, "input": "b", "target": "x", "annotator": "q"}'], ":2: id '1' has a different input"),
    ],
)  # fmt: skip
def test_bad_rows_are_located(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_audit_rows(path)
    assert f"{path}{message}" in str(e.value) and e.value.exit_code == 2


def test_label_issues_flag_a_planted_flip() -> None:
    texts = {
        "card_arrival": ["where is my card", "my card has not arrived", "card still not here",
                         "when will my card come", "has my card been sent", "card delivery time"],
        "exchange_rate": ["what is the exchange rate", "euro exchange rate today",
                          "how do you set exchange rates", "rate for dollars to pounds",
                          "exchange rate for yen", "is your exchange rate fair"],
    }  # fmt: skip
    data = [(t, label) for label, ts in texts.items() for t in ts]
    data[3] = (data[3][0], "exchange_rate")  # "when will my card come", labelled wrong
    found = find_label_issues(rows(*data))
    assert found.checked and found.rows_checked == 12
    assert found.issues and found.issues[0].row_id == "r3"
    assert (found.issues[0].given, found.issues[0].suggested) == ("exchange_rate", "card_arrival")
    scores = [i.score for i in found.issues]
    assert scores == sorted(scores)  # ranked, worst first


def test_labels_not_checked_without_class_labels() -> None:
    generation = audit_rows(rows(*((f"question {i}", f"answer {i}") for i in range(8))), data="d")
    assert not generation.classification and not generation.label_issues.checked
    rare = find_label_issues(rows(*((f"q {i}", "a" if i < 6 else "b") for i in range(8))))
    assert not rare.checked and rare.rare_labels == {"b": ["r6", "r7"]}


def test_found_and_fail_on() -> None:
    a = audit_rows(rows(("where is my card", "x"), ("Where is my card?", "y"),
                        (f"mail {EMAIL}", "x"), ("close it", "y")), data="d")  # fmt: skip
    assert set(a.found) == set(FAIL_KINDS)
    assert a.found["duplicates"] == 1 and a.found["conflicts"] == 1 and a.found["pii"] == 1
    assert a.failing(["leakage", "pii", "conflicts"]) == ["pii", "conflicts"]
    assert parse_fail_on(" leakage, pii ") == ["leakage", "pii"] and parse_fail_on(None) == []
    with pytest.raises(InputError, match=r"--fail-on.*unknown finding 'leaks'"):
        parse_fail_on("leaks")


def test_label_issues_from_a_models_log_likelihood() -> None:
    from evalkit.audit.loglik import method_of, model_probabilities

    data = [(f"card {i} where", "card") for i in range(6)] + [
        (f"fx {i} rate", "fx") for i in range(6)
    ]
    data[2] = (data[2][0], "fx")  # a card question labelled fx
    # the scripted model prefers "card" for a text holding "card", "fx" for one holding "fx"
    source = model_probabilities("evalkit-test/lm", {"prefer": {"card": "card", "fx": "fx"}})
    found = find_label_issues(rows(*data), source=source, method=method_of("evalkit-test/lm"))
    assert [(i.row_id, i.given, i.suggested) for i in found.issues] == [("r2", "fx", "card")]
    assert "evalkit-test/lm's log-likelihood" in found.method
