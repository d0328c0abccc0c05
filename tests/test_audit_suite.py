"""A suite's `audit:` block: the run folder holds the audit, results.json and the report link
it, `fail_on` findings fail the gates (and `evalkit gate` judges them again the same way),
and a bad audited file stops the run before any model call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from evalkit.cli import main
from evalkit.suite.schema import Suite
from tests.conftest import ITEMS, SUITE, write_jsonl

TRAIN = [
    {"id": "t1", "input": "where is my new card", "target": "card_arrival"},  # = heldout q1
    {"id": "t2", "input": "what are your exchange rates", "target": "exchange_rate"},
    {"id": "t3", "input": "my card has not come", "target": "card_arrival"},
    {"id": "t4", "input": "mail me at jane.doe@example.org", "target": "exchange_rate"},
]
AUDITED = SUITE + "training_data: {path: train.jsonl, sample: 2}\naudit: {fail_on: [leakage]}\n"


def _run(folder: Path, train: list[dict], suite: str = AUDITED) -> int:
    (folder / "suite.yaml").write_text(suite, encoding="utf-8")
    write_jsonl(folder / "items.jsonl", ITEMS)
    write_jsonl(folder / "train.jsonl", train)
    return main(["run", str(folder / "suite.yaml"), "--out", str(folder / "reports"),
                 "--cache-dir", str(folder / "cache"), "--gate"])  # fmt: skip


def test_the_run_links_its_audit_and_fail_on_fails_the_gates(tmp_path: Path, capsys) -> None:
    assert _run(tmp_path, TRAIN) == 1  # the leak fails the gates
    run_dir = (tmp_path / "reports" / "tiny" / "latest").resolve()
    audit = json.loads((run_dir / "audit.json").read_text(encoding="utf-8"))
    assert [(x["eval_id"], x["train_id"]) for x in audit["leakage"]["leaks"]] == [("q1", "t1")]
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert results["audit"]["page"] == "audit.html" and results["audit"]["found"]["pii"] == 1
    gate = next(g for g in results["gates"]["results"] if g["rule"] == "audit.leakage")
    assert gate["passed"] is False and "1 found by the data audit" in gate["evidence"]
    page = (run_dir / "index.html").read_text(encoding="utf-8")
    assert '<a href="audit.html">' in page and "(fails the gates)" in page
    audit_page = (run_dir / "audit.html").read_text(encoding="utf-8")
    assert "jane.doe@example.org" not in audit_page + json.dumps(audit)
    capsys.readouterr()
    assert main(["gate", str(run_dir)]) == 1  # judged again from results.json alone
    assert "audit.leakage" in capsys.readouterr().out


def test_a_clean_audit_passes_the_gate(tmp_path: Path) -> None:
    assert _run(tmp_path, [r for r in TRAIN if r["id"] != "t1"]) == 0


def test_a_bad_audited_file_stops_the_run_first(tmp_path: Path, capsys) -> None:
    (tmp_path / "other.jsonl").write_text('{"id": "x", "input": "a"}\n{"id": "x"}\n')
    suite = AUDITED.replace("audit: {", "audit: {path: other.jsonl, ")
    assert _run(tmp_path, TRAIN, suite) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "other.jsonl:2: field 'input' is missing" in err
    assert not (tmp_path / "reports").exists()  # refused before any run folder or model call


def test_audit_needs_a_file() -> None:
    with pytest.raises(ValueError, match="audit: give its 'path', or a 'training_data'"):
        Suite.model_validate({**yaml.safe_load(SUITE), "audit": {"fail_on": ["pii"]}})


def test_merged_shards_keep_the_audit_and_its_gates(tmp_path: Path) -> None:
    """A run made in shards and merged fails on an audit finding as the unsharded run does:
    the merged folder has the audit, results.json links it, and the gates judge it."""
    (tmp_path / "suite.yaml").write_text(AUDITED, encoding="utf-8")
    write_jsonl(tmp_path / "items.jsonl", ITEMS)
    write_jsonl(tmp_path / "train.jsonl", TRAIN)
    common = ["--out", str(tmp_path / "reports"), "--cache-dir", str(tmp_path / "cache")]
    for i in (1, 2):
        code = main(["run", str(tmp_path / "suite.yaml"), *common, "--shard", f"{i}/2",
                     "--run-id", f"s{i}"])  # fmt: skip
        assert code == 0
    shards = [str(tmp_path / "reports" / "tiny" / f"s{i}") for i in (1, 2)]
    code = main(
        ["merge", *shards, "--out", str(tmp_path / "reports"), "--run-id", "merged", "--gate"]
    )
    assert code == 1  # the leak fails the merged run's gates, as it fails the unsharded run's
    merged = tmp_path / "reports" / "tiny" / "merged"
    results = json.loads((merged / "results.json").read_text(encoding="utf-8"))
    assert results["audit"]["found"]["leakage"] == 1 and results["audit"]["page"] == "audit.html"
    assert (merged / "audit.html").is_file() and (merged / "audit.json").is_file()
    gate = next(g for g in results["gates"]["results"] if g["rule"] == "audit.leakage")
    assert gate["passed"] is False
