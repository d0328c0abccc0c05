"""Recorded arms (`model: recorded`): outputs that already exist go through the same scoring,
pairing, report and gates as a live arm, with no model call; a missing output is that item's
error row, and a row that answers no item is a located error."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evalkit.cli import main
from tests.conftest import ITEMS, SUITE, write_jsonl

# the recorded baseline: right on q1-q3, wrong on q4, no output for q6
RECORDED = {
    "q1": '{"intent": "card_arrival"}',
    "q2": '{"intent": "exchange_rate"}',
    "q3": '{"intent": "card_arrival"}',
    "q4": '{"intent": "card_arrival"}',
    "q5": "I am not sure.",
}


def _suite(
    tmp: Path, outputs: str = "{path: outputs.jsonl}", rows: list[dict] | None = None
) -> Path:
    write_jsonl(tmp / "items.jsonl", ITEMS)
    recorded = [{"id": k, "output": v} for k, v in RECORDED.items()] if rows is None else rows
    write_jsonl(tmp / "outputs.jsonl", recorded)
    baseline = SUITE.split("  baseline:\n")[1].split("  candidate:\n")[0]
    text = SUITE.replace(baseline, f"    model: recorded\n    outputs: {outputs}\n")
    suite = tmp / "suite.yaml"
    suite.write_text(text, encoding="utf-8")
    return suite


def _run(suite: Path, out: Path, *extra: str) -> int:
    return main(["run", str(suite), "--out", str(out), "--cache-dir", str(out / "cache"),
                 "--run-id", "r", *extra])  # fmt: skip


def test_a_recorded_arm_is_scored_and_paired_like_a_live_one(tmp_path: Path) -> None:
    assert _run(_suite(tmp_path), tmp_path / "out") == 0
    run = tmp_path / "out" / "tiny" / "r"
    rows = pd.read_json(run / "samples.jsonl", lines=True, dtype={"id": str})
    base = rows[rows["arm"] == "baseline"].set_index("id")
    assert list(base.index) == [it["id"] for it in ITEMS]
    for item_id, output in RECORDED.items():
        assert base.loc[item_id, "output"] == output and pd.isna(base.loc[item_id, "error"])
    assert base.loc["q6", "error"] == "no recorded output for this item"
    assert list(base["correct"]) == [True, True, True, False, False, False]
    # no model call: no tokens, nothing journalled for the recorded arm
    assert base["output_tokens"].isna().all()
    journal = (run / "journal.jsonl").read_text().splitlines()
    assert journal and all(json.loads(x)["task"].startswith("candidate") for x in journal)
    results = json.loads((run / "results.json").read_text())
    (accuracy,) = [m for m in results["metrics"]
                   if m["dataset"] == "heldout" and m["metric"] == "accuracy"]  # fmt: skip
    assert accuracy["baseline"] == pytest.approx(3 / 6)
    assert "recorded" in (run / "index.html").read_text()


@pytest.mark.parametrize(
    ("outputs", "rows", "message"),
    [
        ("{path: outputs.jsonl}", [{"id": "q9", "output": "x"}],
         "outputs.jsonl:1: id 'q9' is an item of no dataset of the suite (heldout)"),
        ("{path: outputs.jsonl}", [{"id": "q1", "output": "x"}, {"id": "q1", "output": "y"}],
         "outputs.jsonl:2: a second output for id 'q1' (first at line 1)"),
        ("{path: outputs.jsonl, output: reply}", [{"id": "q1", "output": "x"}],
         "outputs.jsonl:1: missing 'reply'"),
        ("{path: outputs.jsonl}", [{"id": "q1", "output": 3}], "'output' must be text"),
        ("{path: outputs.jsonl, dataset: ds}", [{"id": "q1", "output": "x", "ds": "ood"}],
         "dataset 'ood' is not one of the suite's (heldout)"),
        ("{path: missing.jsonl}", [], "missing.jsonl"),
    ],
)  # fmt: skip
def test_located_errors(tmp_path: Path, capsys, outputs: str, rows: list, message: str) -> None:
    assert main(["validate", str(_suite(tmp_path, outputs, rows))]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace("    model: recorded\n", "    model: recorded\n    prompt: {text: x}\n"),
         "a recorded arm makes no model call; drop prompt"),
        (lambda t: t.replace("    outputs: {path: outputs.jsonl}\n", ""),
         "model: recorded needs 'outputs'"),
        (lambda t: t + "probes:\n  - {pack: gsm8k, n: 2}\n", "probes need both arms live"),
    ],
)  # fmt: skip
def test_what_a_recorded_arm_cannot_do(tmp_path: Path, capsys, change, message: str) -> None:
    suite = _suite(tmp_path)
    suite.write_text(change(suite.read_text()))
    assert main(["validate", str(suite)]) == 2
    assert message in capsys.readouterr().err
