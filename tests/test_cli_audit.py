"""`evalkit audit` end to end: planted duplicates, leaks and sensitive values are all found,
none of the values reaches audit.json, audit.html or the terminal, and the exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from evalkit.audit.core import FAIL_KINDS
from evalkit.cli import main
from tests.conftest import ITEMS, write_jsonl
from tests.test_audit import CARD, EMAIL, IBAN, KEY, PHONE, PLANTED

HOSTILE = "<script>alert(1)</script>"
TRAIN = [
    {"id": "t1", "input": "where is my new card", "target": "card_arrival"},  # = heldout q1
    {"id": "t2", "input": "Card still has NOT arrived!", "target": "card_arrival"},  # = q3
    {"id": "t3", "input": f"what exchange rates do you offer {HOSTILE}", "target": "exchange_rate"},
    {"id": "t4", "input": f"What exchange rates do you offer? {HOSTILE}", "target": "card_arrival"},
    {"id": "t5", "input": f"my card {CARD} never came", "target": "card_arrival"},
    {"id": "t6", "input": f"wire it to {IBAN}, mail {EMAIL}", "target": "exchange_rate"},
    {"id": "t7", "input": f"ring {PHONE} about the euro rate", "target": "exchange_rate"},
    {"id": "t8", "input": f"the app logs {KEY}", "target": "exchange_rate"},
    {"id": "t9", "input": "how much is a dollar in pounds", "target": "exchange_rate"},
    {"id": "t10", "input": "is the card in the post yet", "target": "card_arrival"},
]


@pytest.fixture
def audited(make_suite: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    suite = make_suite()
    data = write_jsonl(tmp_path / "train.jsonl", TRAIN)
    code = main(["audit", str(data), "--suite", str(suite), "--out", str(tmp_path / "out")])
    return code, tmp_path / "out", capsys.readouterr().out


def test_planted_findings_are_found_and_no_value_is_written(audited) -> None:
    code, out, terminal = audited
    assert code == 0
    report = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    assert report["found"]["pii"] == 5 and report["sensitive"]["counts"] == {
        "credential": 1, "email": 1, "iban": 1, "card": 1, "phone": 1
    }  # fmt: skip
    assert report["sensitive"]["rows"]["card"] == ["t5"]
    leaks = {(x["eval_id"], x["train_id"]) for x in report["leakage"]["leaks"]}
    assert leaks == {("q1", "t1"), ("q3", "t2")}
    exact = [(g["ids"], g["conflict"]) for g in report["duplicates"]["exact"]]
    assert exact == [(["t3", "t4"], True)] and report["found"]["conflicts"] == 1
    assert report["leakage"]["heldout_share"] == round(len(ITEMS) / (len(ITEMS) + len(TRAIN)), 4)
    page = (out / "audit.html").read_text(encoding="utf-8")
    for text in (json.dumps(report), page, terminal):
        for value in PLANTED:
            assert value not in text and value.replace(" ", "") not in text
    assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "leakage        2 evaluation rows found in training" in terminal


def test_fail_on_names_a_found_kind(make_suite, tmp_path: Path, capsys) -> None:
    suite = make_suite()
    data = write_jsonl(tmp_path / "train.jsonl", TRAIN)
    args = ["audit", str(data), "--suite", str(suite), "--out", str(tmp_path / "out")]
    assert main([*args, "--fail-on", "leakage,pii"]) == 1
    assert "--fail-on: found leakage (2), pii (5)" in capsys.readouterr().out
    assert main([*args, "--fail-on", "disagreement"]) == 0  # nobody disagrees: no labels lists
    assert main([*args, "--fail-on", "leaks"]) == 2
    assert "--fail-on: unknown finding 'leaks'" in capsys.readouterr().err


def test_bad_data_is_one_located_line(tmp_path: Path, capsys) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text('{"id": 1, "input": "a", "target": "x"}\n{"id": 2, "input": ""}\n')
    assert main(["audit", str(data), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{data}:2: field 'input' is missing, empty or not text" in " ".join(err.split())
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_fail_on_help_names_every_finding(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert all(kind in shown for kind in FAIL_KINDS)
