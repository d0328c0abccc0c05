"""People's ratings: `evalkit review import`, the People figures, Krippendorff's alpha against
its published example, and gates on the human win rate that fail closed until ratings exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.analysis.people import krippendorff_alpha
from evalkit.cli import main
from evalkit.data.ratings import RATINGS_FILE
from evalkit.errors import EXIT_BAD_INPUT, EXIT_GATE_FAILED, EXIT_OK
from tests.test_cli_gate import results_of, run, write_suite

GATES = """\
  - heldout.accuracy: {candidate: ">= 0.5"}
  - human.win_rate: {candidate: ">= 0.6"}
"""


def pairwise(rater: str, item: str, preferred: str, a: str = "candidate", **extra: object) -> dict:
    """A page export row: `a` shown as A; `preferred` is an arm or "tie"."""
    b = "baseline" if a == "candidate" else "candidate"
    choice = "tie" if preferred == "tie" else ("A" if preferred == a else "B")
    return {"rater": rater, "dataset": "heldout", "item_id": item, "order": [a, b],
            "choice": choice, **extra}  # fmt: skip


def write_ratings(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("people")


@pytest.fixture(scope="module")
def rated_run(work: Path) -> Path:
    """A finished run whose suite gates on the human win rate, before any rating."""
    code = run(work, write_suite(work, "rated", gates=GATES), "--gate", "--run-id", "r1")
    # no ratings yet: the gate on people's preference fails closed, the run itself is finished
    assert code == EXIT_GATE_FAILED
    return work / "reports" / "rated" / "r1"


def test_a_gate_on_people_fails_closed_until_ratings_are_imported(rated_run: Path) -> None:
    gates = results_of(rated_run)["gates"]["results"]
    (human,) = [g for g in gates if g["rule"] == "human.win_rate"]
    assert human["passed"] is False and "no human ratings" in human["evidence"]
    assert main(["gate", str(rated_run)]) == EXIT_GATE_FAILED


def test_import_computes_the_win_rate_over_items_and_a_gate_decides_on_it(
    work: Path, rated_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # ana: candidate on q1-q4, tie on q5, baseline on q6; bob (shown the other order) agrees
    # on q1-q2 and prefers the baseline on q3-q4. Per item (raters averaged first):
    # q1-q2 1.0, q3-q5 0.5, q6 0.0 -> win rate 3.5 / 6
    ana = [pairwise("ana", f"q{i}", "candidate", seconds=3.0) for i in range(1, 5)]
    ana += [pairwise("ana", "q5", "tie"), pairwise("ana", "q6", "baseline")]
    bob = [pairwise("bob", f"q{i}", "candidate", a="baseline") for i in range(1, 3)]
    bob += [pairwise("bob", f"q{i}", "baseline", a="baseline") for i in range(3, 5)]
    files = [write_ratings(work / "ana.jsonl", ana), write_ratings(work / "bob.jsonl", bob)]
    assert main(["review", "import", str(rated_run), *map(str, files)]) == EXIT_OK
    assert "human win rate of the candidate: 0.583" in capsys.readouterr().out

    saved = results_of(rated_run)
    people = saved["people"]
    assert people["raters"] == ["ana", "bob"] and people["ratings"] == 10
    assert people["win_rate"]["win_rate"] == pytest.approx(3.5 / 6)
    w = people["win_rate"]
    assert (w["candidate_wins"], w["baseline_wins"], w["ties"], w["items"]) == (6, 3, 1, 6)
    assert w["ci_low"] < w["win_rate"] < w["ci_high"]
    (row,) = [m for m in saved["metrics"] if m["dataset"] == "human"]
    assert row["metric"] == "win_rate" and row["candidate"] == pytest.approx(3.5 / 6)
    assert row["diff"] == pytest.approx(2 * 3.5 / 6 - 1)  # candidate − baseline share
    (choice,) = people["agreement"]
    assert choice["question"] == "choice" and choice["raters"] == 2 and choice["items"] == 4
    # the stored gates were judged again: 0.583 is below the gate's 0.6
    (gate,) = [g for g in saved["gates"]["results"] if g["rule"] == "human.win_rate"]
    assert gate["passed"] is False and gate["value"] == pytest.approx(3.5 / 6)
    page = (rated_run / "index.html").read_text(encoding="utf-8")
    assert 'id="people"' in page and "58.3%" in page
    assert len((rated_run / RATINGS_FILE).read_text().splitlines()) == 10

    # bob changes his mind on q4: his new rating replaces the old one (q4 -> 1.0), so the
    # win rate is 4 / 6 and the gate passes
    write_ratings(work / "bob2.jsonl", [pairwise("bob", "q4", "candidate")])
    assert main(["review", "import", str(rated_run), str(work / "bob2.jsonl")]) == EXIT_OK
    assert results_of(rated_run)["people"]["win_rate"]["win_rate"] == pytest.approx(4 / 6)
    assert main(["gate", str(rated_run)]) == EXIT_OK


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"rater": "ana", "dataset": "heldout", "item_id": "q9", "order": ["candidate", "baseline"],
          "choice": "A"}, "item 'q9' of dataset 'heldout' is not in this run"),
        ({"rater": "ana", "dataset": "heldout", "item_id": "q1", "order": ["candidate", "candidate"],
          "choice": "A"}, "A and B must be the two different arms"),
        ({"rater": "", "dataset": "heldout", "item_id": "q1", "order": ["candidate", "baseline"],
          "choice": "A"}, "rater:"),
        ({"rater": "ana", "dataset": "heldout", "item_id": "q1", "order": ["candidate", "baseline"]},
         "needs a choice"),
        ({"kind": "stars", "rater": "ana"}, "kind 'stars' is not a rating kind"),
    ],
)  # fmt: skip
def test_a_bad_rating_is_a_located_error_and_nothing_is_imported(
    work: Path, rated_run: Path, row: dict, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (rated_run / "results.json").read_bytes()
    path = write_ratings(work / "bad.jsonl", [pairwise("ana", "q1", "candidate"), row])
    assert main(["review", "import", str(rated_run), str(path)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"{path}:2" in err and message in err
    assert (rated_run / "results.json").read_bytes() == before


def test_label_ratings_give_shares_per_arm_and_criterion_means(work: Path, rated_run: Path) -> None:
    rows = [
        {"kind": "label", "rater": r, "dataset": "heldout", "item_id": f"q{i}", "arm": arm,
         "labels": {"tone": "polite" if (i + (arm == "baseline")) % 2 else "curt",
                    "helpful": float(4 if arm == "candidate" else 2 + (r == "cy"))}}
        for r in ("cy", "di") for i in range(1, 5) for arm in ("baseline", "candidate")
    ]  # fmt: skip
    assert (
        main(["review", "import", str(rated_run), str(write_ratings(work / "l.jsonl", rows))]) == 0
    )
    people = results_of(rated_run)["people"]
    (helpful,) = people["criteria"]
    # baseline: cy gives 3, di gives 2 -> 2.5 per item; candidate 4
    assert (helpful["baseline"], helpful["candidate"], helpful["n"]) == (2.5, 4.0, 4)
    shares = {(s["criterion"], s["value"]): s for s in people["labels"]}
    assert shares[("tone", "polite")]["candidate"] == 0.5
    assert shares[("tone", "polite")]["n"] == {"baseline": 4, "candidate": 4}
    alphas = {a["question"]: a for a in people["agreement"]}
    assert alphas["tone"]["alpha"] == pytest.approx(1.0)  # both raters gave the same labels
    assert alphas["tone"]["items"] == 8
    helpful_metric = [m for m in results_of(rated_run)["metrics"] if m["metric"] == "helpful"]
    assert helpful_metric[0]["dataset"] == "human" and helpful_metric[0]["diff"] == 1.5


def test_alpha_reproduces_krippendorffs_published_example() -> None:
    """Krippendorff (2011), "Computing Krippendorff's alpha-reliability", example C: four
    observers, twelve units, missing values; nominal alpha 0.743, interval alpha 0.849."""
    table = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    triples = [
        (f"observer{o}", (f"unit{u}",), value)
        for o, row in enumerate(table)
        for u, value in enumerate(row)
        if value is not None
    ]
    nominal = krippendorff_alpha("q", "nominal", triples)
    assert round(nominal.alpha, 3) == 0.743
    assert (nominal.raters, nominal.items) == (4, 11)  # unit 12 was coded once: not pairable
    assert round(krippendorff_alpha("q", "interval", triples).alpha, 3) == 0.849
    one_value = krippendorff_alpha("q", "nominal", [("a", ("u",), 1), ("b", ("u",), 1)])
    assert one_value.alpha is None and one_value.note == "every rating has the same value"
