"""`scorers.refusal` on a generation task's own datasets: XSTest's string match and the suite's
judge (naming the class, or picking the likeliest class by log-likelihood), as paired
`refusal.<classifier>` metrics; a seeded judge sample; judge errors counted; the judge set
against people's `refused` with its calibration status; and the located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evalkit.cli import main
from evalkit.errors import EXIT_BAD_INPUT, EXIT_OK
from evalkit.scoring.refusal import is_refusal
from tests.conftest import write_jsonl

N = 40
REFUSE = "I'm sorry, but I cannot help with that."
COMPLY = "Sure: first open the settings."
# the string match reads this as compliance; the scripted judge below calls it a partial refusal
HEDGE = "That could be unsafe, but here is how you would do it."


def _outputs(arm: str) -> list[dict]:
    """The baseline refuses items 0-4, the candidate 0-9 and hedges on 10-14."""
    cut = 5 if arm == "baseline" else 10
    out = []
    for i in range(N):
        text = REFUSE if i < cut else HEDGE if arm == "candidate" and i < 15 else COMPLY
        out.append({"id": str(i), "output": text})
    return out


def _suite(tmp: Path, refusal: str, judge: str | None = None, gates: str = "") -> Path:
    write_jsonl(
        tmp / "items.jsonl",
        [{"id": str(i), "input": f"prompt {i}", "target": ""} for i in range(N)],
    )
    for arm in ("baseline", "candidate"):
        write_jsonl(tmp / f"{arm}.jsonl", _outputs(arm))
    prefer = {REFUSE: "2_full_refusal", HEDGE: "3_partial_refusal", COMPLY: "1_full_compliance"}
    if judge is None:
        judge = json.dumps({"model": "evalkit-test/judge", "model_args": {"prefer": prefer}})
    text = (
        "name: refusals\ntask: {type: generation}\narms:\n"
        "  baseline: {model: recorded, outputs: {path: baseline.jsonl}}\n"
        "  candidate: {model: recorded, outputs: {path: candidate.jsonl}}\n"
        "datasets:\n  heldout: {path: items.jsonl, id: id}\n"
        f"scorers:\n  classification: false\n  refusal: {refusal}\njudge: {judge}\n{gates}"
    )
    suite = tmp / "suite.yaml"
    suite.write_text(text, encoding="utf-8")
    return suite


def _run(suite: Path, out: Path) -> dict:
    args = [
        "run",
        str(suite),
        "--out",
        str(out),
        "--cache-dir",
        str(out / "cache"),
        "--run-id",
        "r",
    ]
    assert main(args) == EXIT_OK
    return json.loads((out / "refusals" / "r" / "results.json").read_text(encoding="utf-8"))


def _metric(results: dict, name: str) -> dict:
    (row,) = [m for m in results["metrics"] if (m["dataset"], m["metric"]) == ("heldout", name)]
    return row


def test_both_classifiers_are_paired_refusal_rates(tmp_path: Path) -> None:
    suite = _suite(tmp_path, "{classifiers: [string_match, judge], judge_method: loglik}")
    results = _run(suite, tmp_path / "out")
    sm = _metric(results, "refusal.string_match")
    expected = {
        a: sum(is_refusal(r["output"]) for r in _outputs(a)) / N for a in ("baseline", "candidate")
    }
    assert (sm["baseline"], sm["candidate"]) == pytest.approx(
        (expected["baseline"], expected["candidate"])
    )
    assert (sm["baseline"], sm["candidate"]) == pytest.approx((5 / N, 10 / N))
    # the judge also counts the candidate's five hedges: partial refusals count as refusals
    judge = _metric(results, "refusal.judge")
    assert (judge["baseline"], judge["candidate"], judge["n"]) == pytest.approx((5 / N, 15 / N, N))
    assert judge["higher_is_better"] is False
    rows = pd.read_json(tmp_path / "out" / "refusals" / "r" / "samples.jsonl", lines=True)
    classes = [j["refusal_classifier"]["class"] for j in rows[rows["arm"] == "candidate"]["judge"]]
    assert classes[:10] == ["2_full_refusal"] * 10 and classes[10:15] == ["3_partial_refusal"] * 5


def test_the_judge_classifies_a_seeded_sample_of_the_same_items_for_both_arms(
    tmp_path: Path,
) -> None:
    suite = _suite(tmp_path, "{classifiers: [judge], judge_method: loglik, judge_n: 12, seed: 3}")
    results = _run(suite, tmp_path / "out")
    assert _metric(results, "refusal.judge")["n"] == 12
    assert [m["metric"] for m in results["metrics"] if m["metric"].startswith("refusal.")] == [
        "refusal.judge"
    ]
    rows = pd.read_json(tmp_path / "out" / "refusals" / "r" / "samples.jsonl", lines=True,
                        dtype={"id": str})  # fmt: skip
    judged = {
        arm: {i for i, j in zip(g["id"], g["judge"], strict=True) if isinstance(j, dict)}
        for arm, g in rows.groupby("arm")
    }
    assert len(judged["baseline"]) == 12 and judged["baseline"] == judged["candidate"]


def test_a_judge_reply_naming_no_class_is_counted_not_scored(tmp_path: Path) -> None:
    judge = json.dumps({"model": "evalkit-test/judge",
                        "model_args": {"answers": {REFUSE: "CLASS: 2_full_refusal"},
                                       "fallback": "I think it is fine."}})  # fmt: skip
    results = _run(_suite(tmp_path, "{classifiers: [judge]}", judge), tmp_path / "out")
    row = _metric(results, "refusal.judge")
    # only the refusals got a class; every other reply is a judge error, shown, never a score
    assert row["scorer_errors"] == {"baseline": N - 5, "candidate": N - 10}
    assert (row["baseline"], row["candidate"]) == (1.0, 1.0) and row["n"] == 5


def test_the_judge_against_people_carries_its_calibration_status(tmp_path: Path) -> None:
    suite = _suite(
        tmp_path,
        "{classifiers: [string_match, judge], judge_method: loglik}",
        gates='gates:\n  - heldout.refusal.judge: {candidate: "<= 1.0", require_calibrated_judge: true}\n',
    )
    out = tmp_path / "out"
    _run(suite, out)
    run = out / "refusals" / "r"
    # a person who reads hedges as refusals, as the judge does (and the paper's annotators did)
    ratings = [
        {"kind": "label", "rater": "ann", "dataset": "heldout", "item_id": r["id"], "arm": arm,
         "labels": {"refused": float(r["output"] != COMPLY)}}
        for arm in ("baseline", "candidate") for r in _outputs(arm)
    ]  # fmt: skip
    write_jsonl(tmp_path / "ratings.jsonl", ratings)
    assert main(["gate", str(run)]) != EXIT_OK  # no people yet: the judge is uncalibrated
    assert "judge uncalibrated" in (run / "index.html").read_text(encoding="utf-8")
    assert main(["review", "import", str(run), str(tmp_path / "ratings.jsonl")]) == EXIT_OK
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    judge = {j["question"]: j for j in results["people"]["judge"]}
    assert judge["refusal.judge vs refused"]["agreement"] == 1.0
    assert judge["refusal.judge vs refused"]["calibration_status"] == "calibrated"
    sm = judge["refusal.string_match vs refused"]
    assert sm["agreement"] == pytest.approx(1 - 5 / (2 * N)) and sm["calibration_status"] is None
    assert main(["gate", str(run)]) == EXIT_OK
    page = (run / "index.html").read_text(encoding="utf-8")
    assert "judge calibrated" in page and "judge uncalibrated" not in page


@pytest.mark.parametrize(
    ("refusal", "judge", "where"),
    [
        ("{classifiers: [judge]}", "null", "judge"),
        ("{classifiers: [string_match, string_match]}", None, "classifiers"),
        ("{datasets: [nope]}", None, "nope"),
        ("{classifiers: [judge], judge_method: loglik}",
         '{model: anthropic/claude-sonnet-4-5}', "scorers.refusal.judge_method"),
    ],
)  # fmt: skip
def test_located_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], refusal: str, judge: str | None, where: str
) -> None:
    suite = _suite(tmp_path, refusal, judge)
    assert main(["validate", str(suite)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert str(suite) in err and where in err and "Traceback" not in err
