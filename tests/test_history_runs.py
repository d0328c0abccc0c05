"""Release history end to end through the CLI, with the scripted provider: runs recorded, the
History and Release sections, `evalkit history`, `compare --against`, import, and bad input.

The scenario: a suite with `previous_candidate: last-passed` run three times. r1 has a weak
candidate, r2 a new prompt and answers that get every item right (promote), r3 a candidate
that gets nothing right and fails the gate (roll back).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sqlite3
import textwrap
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.errors import EXIT_BAD_INPUT, EXIT_GATE_FAILED, EXIT_OK, EXIT_RUN_FAILED
from evalkit.history.store import SCHEMA_VERSION
from tests.conftest import write_jsonl

# twelve items: six the baseline answers ("where is"), six about the exchange rate
ITEMS = [
    {"id": f"c{i}", "input": f"where is my card number {i}", "target": "card_arrival"}
    for i in range(6)
] + [
    {"id": f"x{i}", "input": f"what exchange rate applies {i}", "target": "exchange_rate"}
    for i in range(6)
]
CARD = '{"intent": "card_arrival"}'
EXCHANGE = '{"intent": "exchange_rate"}'
# r1: the candidate knows cards only; r2: both labels; r3: answers everything with a wrong label
CANDIDATES = {
    "r1": ("Q: {{ input }}", {"card": CARD}, EXCHANGE.replace("exchange_rate", "card_arrival")),
    "r2": ("Query: {{ input }}", {"card": CARD, "exchange": EXCHANGE}, "?"),
    "r3": ("Q: {{ input }}", {"card": EXCHANGE, "exchange": CARD}, "?"),
}

SUITE = """
name: tiny
task:
  type: classification
  labels: [card_arrival, exchange_rate]
  output: {{format: json, field: intent}}
arms:
  baseline:
    model: evalkit-test/base
    model_args:
      answers: {{"where is": '{card}'}}
      fallback: "I am not sure."
    prompt: {{text: "Labels: {{{{ labels | join(', ') }}}}\\nQuery: {{{{ input }}}}"}}
  candidate:
    model: evalkit-test/tuned
    model_args:
      answers: {answers}
      fallback: '{fallback}'
    prompt: {{text: "{prompt}"}}
datasets:
  heldout: {{path: items.jsonl, id: id}}
stats: {{bootstrap: 500}}
run: {{max_retries: 0}}
gates:
  - heldout.accuracy: {{candidate: ">= 0.4"}}
{extra}
"""


def write_suite(folder: Path, run: str, extra: str = "previous_candidate: last-passed") -> Path:
    prompt, answers, fallback = CANDIDATES[run]
    text = SUITE.format(
        card=CARD, answers=json.dumps(answers), fallback=fallback, prompt=prompt, extra=extra
    )
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "items.jsonl", ITEMS)
    (folder / "suite.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return folder / "suite.yaml"


def cli(work: Path, *args: str) -> int:
    return main([*args, "--out", str(work / "reports"), "--cache-dir", str(work / "cache")])


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite run three times (r1, r2, r3) with three candidates."""
    work = tmp_path_factory.mktemp("history")
    for run, code in (("r1", EXIT_OK), ("r2", EXIT_OK), ("r3", EXIT_GATE_FAILED)):
        suite = write_suite(work, run)
        assert cli(work, "run", str(suite), "--run-id", run, "--gate") == code
    return work


def run_dir(work: Path, run: str) -> Path:
    return work / "reports" / "tiny" / run


def results(work: Path, run: str) -> dict:
    return json.loads((run_dir(work, run) / "results.json").read_text(encoding="utf-8"))


def db(work: Path) -> str:
    return str(work / "reports" / "evalkit.db")


def history_json(store: str, capsys: pytest.CaptureFixture[str], *filters: str) -> list[dict]:
    """The suite's records in the store, as `evalkit history --json` prints them."""
    capsys.readouterr()
    assert main(["history", "tiny", "--db", store, "--json", *filters]) == EXIT_OK
    return json.loads(capsys.readouterr().out)


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ---- what the runs recorded and showed ---------------------------------------------------------


def test_every_run_is_in_the_history(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = history_json(db(work), capsys)
    assert [r["run_id"] for r in records] == ["r1", "r2", "r3"]
    assert [r["gates_passed"] for r in records] == [True, True, False]
    r2 = results(work, "r2")
    (mine,) = [r for r in records if r["run_id"] == "r2"]
    assert mine["run_dir"] == str(run_dir(work, "r2").resolve())
    assert mine["arms"]["candidate"]["prompt_sha256"] == r2["arms"]["candidate"]["prompt_sha256"]
    assert mine["datasets"][0]["sha256"] == r2["dataset_hashes"]["heldout"]
    # every metric with the difference's interval and each arm's own, as results.json has them
    stored = {(m["dataset"], m["metric"]): m for m in mine["metrics"]}
    for m in r2["metrics"]:
        row = stored[(m["dataset"], m["metric"])]
        assert (row["diff"], row["ci_low"], row["ci_high"]) == (
            m["diff"],
            m["ci_low"],
            m["ci_high"],
        )
    for a in r2["arm_intervals"]:
        row = stored[(a["dataset"], a["metric"])]
        assert (row[f"{a['arm']}_low"], row[f"{a['arm']}_high"]) == (a["ci_low"], a["ci_high"])


def test_the_table_lists_both_runs(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["history", "tiny", "--db", db(work)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "3 recorded runs" in out and "r1" in out and "r2" in out
    assert "0.500 / 0.500" in out  # r1: baseline and candidate accuracy
    assert "FAIL" in out  # r3's gate


def test_filters_pick_runs_by_arm_and_data(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r2_prompt = results(work, "r2")["arms"]["candidate"]["prompt_sha256"]
    picked = history_json(db(work), capsys, "--prompt", r2_prompt[:10], "--arm", "candidate")
    assert [r["run_id"] for r in picked] == ["r2"]
    assert [r["run_id"] for r in history_json(db(work), capsys, "--passed")] == ["r1", "r2"]
    data = results(work, "r1")["dataset_hashes"]["heldout"]
    on_data = history_json(db(work), capsys, "--dataset", "heldout", "--dataset-sha256", data[:8])
    assert len(on_data) == 3
    assert history_json(db(work), capsys, "--since", "2999-01-01") == []


def test_the_arm_intervals_equal_the_run_metrics(work: Path) -> None:
    """Each arm's own value is the same number the metric row has for it."""
    r = results(work, "r2")
    by_key = {(m["dataset"], m["metric"]): m for m in r["metrics"]}
    for a in r["arm_intervals"]:
        m = by_key[(a["dataset"], a["metric"])]
        if m[a["arm"]] is None:  # a metric no item has a value for: no interval either
            assert a["value"] is None and a["ci_low"] is None
            continue
        assert a["value"] == pytest.approx(m[a["arm"]])
        assert a["ci_low"] - 1e-9 <= a["value"] <= a["ci_high"] + 1e-9


def test_the_second_report_has_history_charts_and_a_promotion(work: Path) -> None:
    page = (run_dir(work, "r2") / "index.html").read_text(encoding="utf-8")
    history = page[page.index('<section id="history">') :].split("</section>")[0]
    assert history.count('<svg class="trend"') == len(results(work, "r2")["history"]["trends"])
    # two runs so far: every chart has two points per arm, r1 hollow (another candidate)
    chart = history[history.index('data-trend="heldout · accuracy"') :].split("</figure>")[0]
    assert chart.count('<g class="mark candidate">') == 2
    assert chart.count('class="other candidate"') == 1 and chart.count('class="same baseline"') == 2
    release = page[page.index('<section id="release">') :].split("</section>")[0]
    assert 'data-recommendation="promote"' in release
    assert 'data-path="heldout.accuracy" data-finding="better"' in release
    summary = (run_dir(work, "r2") / "summary.md").read_text(encoding="utf-8")
    assert "**Recommendation: PROMOTE** against run r1" in summary


def test_the_promotion_is_paired_and_recomputable(work: Path) -> None:
    """The change on accuracy is the candidate's accuracy in r2 minus r1, on the same items."""
    import pandas as pd

    def accuracy(run: str) -> float:
        rows = pd.read_json(run_dir(work, run) / "samples.jsonl", lines=True)
        return float(rows[rows["arm"] == "candidate"]["correct"].mean())

    release = results(work, "r2")["release"]
    change = next(c for c in release["changes"] if c["metric"] == "accuracy")
    assert change["how"] == "paired" and change["n"] == len(ITEMS) and change["same_items"]
    assert change["change"] == pytest.approx(accuracy("r2") - accuracy("r1")) == 0.5
    assert change["ci_low"] > 0 and change["finding"] == "better"
    assert release["recommendation"] == "promote" and release["candidate_changed"] is True


def test_a_worse_candidate_is_rolled_back(work: Path) -> None:
    release = results(work, "r3")["release"]
    assert release["previous_run"] == "r2"  # the last run whose gates passed
    assert release["recommendation"] == "roll back"
    assert release["reasons"][0] == "this run fails a release gate that the previous release passed"
    assert any(r.startswith("clearly worse: heldout.accuracy") for r in release["reasons"])
    card = json.loads((run_dir(work, "r3") / "card.json").read_text(encoding="utf-8"))
    assert card["release"]["recommendation"] == "roll back" and card["gates_passed"] is False


def test_the_first_run_has_nothing_to_compare_with(work: Path) -> None:
    r1 = results(work, "r1")
    assert r1["history"]["past_runs"] == 0 and r1["history"]["drift"] == []
    assert r1["release"]["recommendation"] is None
    assert "no earlier run of this suite whose gates passed" in r1["release"]["reasons"][0]
    page = (run_dir(work, "r1") / "index.html").read_text(encoding="utf-8")
    assert 'id="history-first"' in page and 'data-recommendation=""' in page


def test_the_card(work: Path) -> None:
    card = json.loads((run_dir(work, "r2") / "card.json").read_text(encoding="utf-8"))
    r2 = results(work, "r2")
    assert card["card_version"] == 1 and card["run_id"] == "r2"
    assert (
        card["compared"]["candidate"]["prompt_sha256"] == r2["arms"]["candidate"]["prompt_sha256"]
    )
    assert card["data"][0] == {"name": "heldout", "section": "task", "kind": "in_domain",
                               "n": 12, "sha256": r2["dataset_hashes"]["heldout"]}  # fmt: skip
    acc = next(r for r in card["results"] if r["metric"] == "accuracy")
    row = next(m for m in r2["metrics"] if m["metric"] == "accuracy")
    assert (acc["ci_low"], acc["ci_high"]) == (row["ci_low"], row["ci_high"])
    assert card["gates_passed"] is True and card["release"]["recommendation"] == "promote"
    assert any("The held-out set has 12 items" in x for x in card["limits"])
    md = (run_dir(work, "r2") / "card.md").read_text(encoding="utf-8")
    assert "## Known limits" in md and "**promote** against run r1" in md


# ---- compare -----------------------------------------------------------------------------------


def test_compare_against_the_last_passed_run(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    capsys.readouterr()
    code = main(["compare", str(run_dir(work, "r3")), "--against", "last-passed", "--db", db(work)])
    assert code == EXIT_OK
    out = capsys.readouterr().out
    assert "release: ROLL BACK against run r2 (last-passed)" in out
    assert "heldout.accuracy" in out and "worse" in out


def test_compare_writes_markdown_and_html(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    md, page = work / "decision.md", work / "decision.html"
    args = ["compare", str(run_dir(work, "r1")), str(run_dir(work, "r2"))]
    assert main([*args, "--markdown", str(md), "--html", str(page)]) == EXIT_OK
    assert "**Recommendation: PROMOTE** against run r1" in md.read_text(encoding="utf-8")
    text = page.read_text(encoding="utf-8")
    assert 'data-recommendation="promote"' in text and "<script" not in text


def test_compare_against_a_run_id(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(run_dir(work, "r2")), "--against", "r3"]) == EXIT_OK
    assert "release: PROMOTE against run r3" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["r2", "--against", "nope"], "no run 'nope' of suite 'tiny'"),
        (["r2"], "give two runs (RUN_A RUN_B), or one run and --against"),
        (
            ["r1", "r2", "--against", "last"],
            "give two runs (RUN_A RUN_B), or one run and --against",
        ),
        (["r1", "--against", "last-passed"], "no earlier run of this suite whose gates passed"),
    ],
)
def test_compare_bad_input(
    work: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    runs = [str(run_dir(work, a)) if a.startswith("r") and len(a) == 2 else a for a in args]
    capsys.readouterr()
    assert main(["compare", *runs, "--db", db(work)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# ---- rebuilding the store from the run folders -------------------------------------------------


def test_import_rebuilds_the_store_idempotently(
    work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded = history_json(db(work), capsys)
    rebuilt = tmp_path / "rebuilt.db"
    before = folder_digest(work / "reports" / "tiny")
    for _ in range(2):  # a second import changes nothing
        assert main(["history", "import", str(work / "reports"), "--db", str(rebuilt)]) == EXIT_OK
        assert "recorded 3 runs" in capsys.readouterr().out
        assert history_json(str(rebuilt), capsys) == recorded
    assert folder_digest(work / "reports" / "tiny") == before  # the folders are only read


def test_gate_records_its_new_verdicts(
    work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "reports"
    shutil.copytree(work / "reports", copy)
    store = str(copy / "evalkit.db")
    assert (
        next(r for r in history_json(store, capsys) if r["run_id"] == "r3")["gates_passed"] is False
    )
    # r3 failed its gate (accuracy >= 0.4); with a lenient bound stored, `evalkit gate` passes it
    folder = copy / "tiny" / "r3"
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    data["suite"]["config"]["gates"] = [{"heldout.accuracy": {"candidate": ">= 0.0"}}]
    (folder / "results.json").write_text(json.dumps(data), encoding="utf-8")
    assert main(["gate", str(folder)]) == EXIT_OK
    r3 = next(r for r in history_json(store, capsys) if r["run_id"] == "r3")
    stored = json.loads((folder / "results.json").read_text(encoding="utf-8"))["gates"]
    assert r3["gates_passed"] is True
    assert [g["evidence"] for g in r3["gates"]] == [g["evidence"] for g in stored["results"]]


# ---- bad input: a located line, exit 2, run folders untouched ---------------------------------


def _one_line_error(capsys: pytest.CaptureFixture[str], *parts: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for part in parts:
        assert part in err, err
    return err


@pytest.mark.parametrize("damage", ["corrupt", "newer"])
def test_a_bad_store_is_refused_and_the_run_folders_are_not_touched(
    work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    reports = tmp_path / "reports"
    shutil.copytree(work / "reports", reports)
    store = reports / "evalkit.db"
    if damage == "corrupt":
        store.write_bytes(b"garbage, not SQLite " * 100)
        for side in ("-wal", "-shm"):
            (reports / f"evalkit.db{side}").unlink(missing_ok=True)
        expected = "not a readable run store"
    else:
        with sqlite3.connect(store) as conn:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        expected = "was written by a newer evalkit"
    before = folder_digest(reports / "tiny")
    capsys.readouterr()
    suite = write_suite(tmp_path, "r2")
    run_args = ["run", str(suite), "--out", str(reports), "--cache-dir", str(work / "cache")]
    assert main([*run_args, "--run-id", "r4"]) == EXIT_BAD_INPUT
    _one_line_error(capsys, str(store), expected)
    assert not (reports / "tiny" / "r4").exists()  # refused before the run folder was made
    assert main(["history", "tiny", "--db", str(store)]) == EXIT_BAD_INPUT
    _one_line_error(capsys, str(store), expected)
    assert main(["gate", str(reports / "tiny" / "r2")]) == EXIT_BAD_INPUT
    _one_line_error(capsys, str(store), expected)
    assert main(["history", "import", str(reports), "--db", str(store)]) == EXIT_BAD_INPUT
    _one_line_error(capsys, str(store), expected)
    assert folder_digest(reports / "tiny") == before


def test_an_unknown_suite_or_store(
    work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "nosuch", "--db", db(work)]) == EXIT_BAD_INPUT
    _one_line_error(capsys, "no run of suite 'nosuch' is recorded here; suites recorded: tiny")
    assert main(["history", "tiny", "--db", str(tmp_path / "none.db")]) == EXIT_BAD_INPUT
    _one_line_error(capsys, "no run store here")
    assert main(["history", "tiny", "--db", db(work), "--since", "yesterday"]) == EXIT_BAD_INPUT
    _one_line_error(capsys, "--since", "'yesterday' is not a date")


def test_an_unknown_previous_candidate_stops_the_run_before_it_starts(
    work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path, "r2", extra="previous_candidate: r99")
    capsys.readouterr()
    assert cli(work, "run", str(suite), "--run-id", "r5") == EXIT_BAD_INPUT
    _one_line_error(capsys, "[previous_candidate]", "no run 'r99' of suite 'tiny'")
    assert not run_dir(work, "r5").exists()


def test_a_previous_candidate_from_another_suite_is_refused(
    work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = tmp_path / "reports"
    shutil.copytree(work / "reports", reports)
    foreign = reports / "tiny" / "foreign"
    shutil.copytree(run_dir(work, "r1"), foreign)
    data = json.loads((foreign / "results.json").read_text(encoding="utf-8"))
    data["suite"]["name"] = "other-suite"
    (foreign / "results.json").write_text(json.dumps(data), encoding="utf-8")
    suite = write_suite(tmp_path, "r2", extra="previous_candidate: foreign")
    capsys.readouterr()
    args = ["run", str(suite), "--out", str(reports), "--cache-dir", str(work / "cache")]
    assert main([*args, "--run-id", "r6"]) == EXIT_BAD_INPUT
    _one_line_error(capsys, "a run of suite 'other-suite', not of 'tiny'", "[previous_candidate]")


# ---- shards are not releases ------------------------------------------------------------------


def test_shards_are_not_recorded_but_their_merged_run_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path, "r2", extra="")
    for i in (1, 2):
        args = ["run", str(suite), "--shard", f"{i}/2", "--run-id", f"s{i}"]
        assert cli(tmp_path, *args) == EXIT_OK
    store = str(tmp_path / "reports" / "evalkit.db")
    assert main(["history", "tiny", "--db", store]) == EXIT_BAD_INPUT  # nothing recorded yet
    shards = [str(tmp_path / "reports" / "tiny" / f"s{i}") for i in (1, 2)]
    out_dir = str(tmp_path / "reports")
    assert main(["merge", *shards, "--out", out_dir, "--run-id", "merged"]) == EXIT_OK
    (merged,) = history_json(store, capsys)
    assert merged["run_id"] == "merged" and merged["merged"] is True
    assert main(["history", "import", str(tmp_path / "reports"), "--db", store]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.count("a shard: its merged run is the release") == 2 and "recorded 1 runs" in out


# ---- what is not recorded, and a store that cannot be written ------------------------------


def test_a_failed_run_is_not_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path, "r2", extra="")
    text = suite.read_text(encoding="utf-8").replace(
        "fallback: '?'", "fallback: '?'\n      fail_on: ['Query']"
    )
    suite.write_text(text, encoding="utf-8")
    assert cli(tmp_path, "run", str(suite), "--run-id", "broken") == EXIT_RUN_FAILED
    capsys.readouterr()
    store = str(tmp_path / "reports" / "evalkit.db")
    assert main(["history", "tiny", "--db", store]) == EXIT_BAD_INPUT  # nothing recorded
    assert "suites recorded: none" in capsys.readouterr().err


def test_a_store_that_cannot_be_written_after_the_run_leaves_the_folder_complete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import evalkit.history.recording as recording

    def locked(conn: sqlite3.Connection, record: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(recording, "save_run", locked)
    suite = write_suite(tmp_path, "r2", extra="")
    capsys.readouterr()
    assert (
        cli(tmp_path, "run", str(suite), "--run-id", "r1", "--display", "none") == EXIT_RUN_FAILED
    )
    err = _one_line_error(capsys, "is complete, but recording it in the run store failed",
                          "database is locked", "evalkit history import")  # fmt: skip
    assert str(tmp_path / "reports" / "evalkit.db") in err
    manifest = json.loads((tmp_path / "reports/tiny/r1/run.json").read_text(encoding="utf-8"))
    assert manifest["state"] == "complete"
    monkeypatch.undo()
    # ... and the folder records later, as it says
    assert main(["history", "import", str(tmp_path / "reports" / "tiny" / "r1"),
                 "--db", str(tmp_path / "reports" / "evalkit.db")]) == EXIT_OK  # fmt: skip
    assert "recorded 1 runs" in capsys.readouterr().out


def test_validate_checks_the_history_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(tmp_path, "r2", extra="previous_candidate: ../elsewhere")
    capsys.readouterr()
    assert main(["validate", str(suite)]) == EXIT_BAD_INPUT
    _one_line_error(capsys, "previous_candidate", "a run id of this suite")
    secret = "sk-abcdef0123456789xyz"
    suite = write_suite(
        tmp_path, "r2", extra=f"tracking: {{mlflow: {{uri: 'http://me:{secret}@host'}}}}"
    )
    assert main(["validate", str(suite)]) == EXIT_BAD_INPUT
    err = _one_line_error(capsys, "tracking.mlflow.uri", "carries credentials")
    assert secret not in err


def test_runs_without_shared_items_are_compared_by_their_own_intervals(
    work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same candidate as r2 on the same texts under new ids: nothing to pair, so the
    change is judged by the two runs' own intervals, √(h₁² + h₂²) wide each side."""
    renamed = [{**item, "id": f"new-{item['id']}"} for item in ITEMS]
    suite = write_suite(tmp_path, "r2", extra="")
    write_jsonl(tmp_path / "items.jsonl", renamed)
    assert cli(tmp_path, "run", str(suite), "--run-id", "renamed") == EXIT_OK
    new_dir = tmp_path / "reports" / "tiny" / "renamed"
    md = tmp_path / "decision.md"
    assert main(["compare", str(run_dir(work, "r1")), str(new_dir), "--markdown", str(md)]) == 0
    old, new = results(work, "r1"), json.loads((new_dir / "results.json").read_text("utf-8"))

    def own(r: dict) -> tuple[float, float]:
        a = next(a for a in r["arm_intervals"]
                 if (a["dataset"], a["metric"], a["arm"]) == ("heldout", "accuracy", "candidate"))  # fmt: skip
        return a["value"], (a["ci_high"] - a["ci_low"]) / 2

    (v1, h1), (v2, h2) = own(old), own(new)
    allowed = math.hypot(h1, h2)
    row = next(
        line for line in md.read_text("utf-8").splitlines() if "| heldout.accuracy |" in line
    )
    assert f"[{v2 - v1 - allowed:+.3f}, {v2 - v1 + allowed:+.3f}]" in row and "unpaired" in row


def test_importing_a_run_made_before_history_gives_it_its_intervals(
    work: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "reports" / "tiny" / "r2"
    shutil.copytree(run_dir(work, "r2"), old)
    data = json.loads((old / "results.json").read_text(encoding="utf-8"))
    expected = data.pop("arm_intervals")
    for key in ("data_versions", "history", "release"):
        data.pop(key)
    (old / "results.json").write_text(json.dumps(data), encoding="utf-8")
    store = str(tmp_path / "reports" / "evalkit.db")
    assert main(["history", "import", str(tmp_path / "reports"), "--db", store]) == EXIT_OK
    (record,) = history_json(store, capsys)
    got = {
        (m["dataset"], m["metric"]): (m["candidate_low"], m["candidate_high"])
        for m in record["metrics"]
    }
    for a in expected:
        if a["arm"] == "candidate" and a["ci_low"] is not None:
            assert got[(a["dataset"], a["metric"])] == pytest.approx((a["ci_low"], a["ci_high"]))


def test_a_run_without_kept_arm_intervals_gets_the_same_numbers_from_its_samples(
    work: Path,
) -> None:
    """The analysis keeps each arm's interval in its metric rows; a run made before it did is
    bootstrapped again from its samples. Same resamples, so the very same numbers."""
    from evalkit.history.intervals import arm_intervals
    from evalkit.results import load_run

    run = load_run(run_dir(work, "r2"))
    kept = arm_intervals(run.results, run.samples)
    older = run.results.model_copy(
        update={"metrics": [m.model_copy(update={"arm_ci": None}) for m in run.results.metrics]}
    )
    assert kept and run.results.arm_intervals == kept
    assert arm_intervals(older, run.samples) == kept
