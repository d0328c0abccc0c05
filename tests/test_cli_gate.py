"""`evalkit run --gate`, `evalkit gate`, `evalkit compare` and `evalkit models` through main():
exit codes 0/1/2/3, the files a CI job reads, and junit.xml against the JUnit schema.

The scripted suite runs in this process; runs share one response cache, so after the first
run of each arm the model calls are cache hits.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

import evalkit.pipeline
from evalkit.cli import main
from evalkit.errors import EXIT_BAD_INPUT, EXIT_GATE_FAILED, EXIT_OK, EXIT_RUN_FAILED
from tests.conftest import ITEMS

XSD = Path(__file__).parent / "data" / "junit.xsd"


SUITE = """
name: {name}
task:
  type: classification
  labels: [card_arrival, exchange_rate]
  output: {{format: json, field: intent}}
arms:
  baseline:
    model: evalkit-test/base
    model_args:
      answers: {{"where is": '{{"intent": "card_arrival"}}', "exchange": '{{"intent": "exchange_rate"}}'}}
      fallback: "I am not sure."
    prompt: {{text: "Labels: {{{{ labels | join(', ') }}}}\\nQuery: {{{{ input }}}}"}}
  candidate:
    model: evalkit-test/tuned
    model_args:
      answers: {{"card": '{{"intent": "card_arrival"}}', "exchange": '{{"intent": "exchange_rate"}}'}}
      {candidate_extra}
    prompt: {{text: "Q: {{{{ input }}}}"}}
datasets:
  heldout: {{path: items.jsonl, id: id}}
run: {{max_retries: 0}}
gates:
{gates}
"""

PASSING = """\
  - heldout.accuracy: {candidate: ">= 0.9"}
  - "*.macro_f1": {candidate_minus_baseline: ">= -0.5"}
  - heldout.accuracy: {no_regression: {tolerance: 0.0}}
"""


def write_suite(folder: Path, name: str, gates: str = PASSING, candidate_extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ITEMS))
    text = SUITE.format(name=name, gates=gates, candidate_extra=candidate_extra)
    (folder / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return folder / f"{name}.yaml"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli_gate")


def run(work: Path, suite: Path, *extra: str) -> int:
    out, cache = str(work / "reports"), str(work / "cache")
    return main(["run", str(suite), "--out", out, "--cache-dir", cache, *extra])


@pytest.fixture(scope="module")
def first(work: Path) -> Path:
    """The passing suite, run once with --gate; its run folder."""
    assert run(work, write_suite(work, "tiny"), "--gate", "--run-id", "first") == EXIT_OK
    return work / "reports" / "tiny" / "first"


def results_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text(encoding="utf-8"))


def test_passing_run_exits_0_and_writes_the_ci_files(first: Path) -> None:
    gates = results_of(first)["gates"]
    assert gates["passed"] is True
    by_rule = {(g["rule"], g["check"].split()[0]): g["passed"] for g in gates["results"]}
    assert by_rule[("errors", "errored")] is True
    assert by_rule[("heldout.accuracy", "candidate")] is True
    assert by_rule[("heldout.macro_f1", "candidate_minus_baseline")] is True
    assert by_rule[("heldout.accuracy", "no_regression")] is None  # no --baseline given
    assert "**Gates: passed**" in (first / "summary.md").read_text(encoding="utf-8")


def test_junit_validates_against_the_junit_schema(first: Path) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    schema = xmlschema.XMLSchema(str(XSD))
    schema.validate(str(first / "junit.xml"))
    text = (first / "junit.xml").read_text(encoding="utf-8")
    assert '<testsuite name="evalkit.tiny" tests="4" failures="0" errors="0" skipped="1"' in text


def test_rerun_with_baseline_judges_no_regression(work: Path, first: Path) -> None:
    suite = work / "tiny.yaml"
    assert run(work, suite, "--gate", "--baseline", str(first), "--run-id", "second") == EXIT_OK
    second = work / "reports" / "tiny" / "second"
    (reg,) = [g for g in results_of(second)["gates"]["results"] if "no_regression" in g["check"]]
    assert reg["passed"] is True and "6 items shared with first" in reg["evidence"]
    # an unchanged suite re-run is served from the response cache
    econ = results_of(second)["economics"]
    assert econ["candidate"]["cached"] == econ["candidate"]["requests"] == 6


def test_failing_gate_exits_1(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gates = '  - heldout.accuracy: {baseline: ">= 0.9"}\n'
    suite = write_suite(work, "failing", gates)
    assert run(work, suite, "--run-id", "r") == EXIT_OK  # without --gate a run only reports
    assert run(work, suite, "--gate", "--run-id", "r") == EXIT_GATE_FAILED
    run_dir = work / "reports" / "failing" / "r"
    junit = (run_dir / "junit.xml").read_text(encoding="utf-8")
    assert 'failures="1"' in junit and 'type="GateFailed"' in junit
    assert "FAIL heldout.accuracy baseline >= 0.9" in capsys.readouterr().out


def test_gate_command_rejudges_a_finished_run(
    work: Path, first: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = work / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    # the suite folder means its latest run; no model is called
    assert main(["gate", str(work / "reports" / "failing")]) == EXIT_GATE_FAILED
    assert main(["gate", str(first), "--baseline", str(first)]) == EXIT_OK
    (reg,) = [g for g in results_of(first)["gates"]["results"] if "no_regression" in g["check"]]
    assert reg["passed"] is True  # results.json was updated
    assert summary.read_text(encoding="utf-8").count("## evalkit ·") == 2


def test_gate_without_samples_rewrites_the_report_too(work: Path, first: Path) -> None:
    """A run folder that lost samples.jsonl: index.html must not keep the old verdicts."""
    lost = work / "lost-samples"
    shutil.copytree(first, lost)
    assert main(["gate", str(lost)]) == EXIT_OK  # judged without an earlier run
    (lost / "samples.jsonl").unlink()
    stale = (lost / "index.html").read_text(encoding="utf-8")
    assert "not evaluated: no baseline run given" in stale
    assert main(["gate", str(lost), "--baseline", str(first)]) == EXIT_OK
    page = (lost / "index.html").read_text(encoding="utf-8")
    assert "not evaluated: no baseline run given" not in page
    assert "so judged on point values" in page  # the new no_regression evidence
    assert 'id="samples-missing"' in page


def test_unknown_dataset_in_a_gate_exits_2_before_running(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(work, "typo", '  - heldoot.macro_f1: {candidate: ">= 0.5"}\n')
    assert run(work, suite, "--gate") == EXIT_BAD_INPUT
    assert "heldoot.macro_f1" in capsys.readouterr().err
    assert not (work / "reports" / "typo").exists()


def test_unknown_metric_exits_2_and_lists_what_exists(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = write_suite(work, "badmetric", '  - heldout.f1: {candidate: ">= 0.5"}\n')
    assert run(work, suite, "--gate") == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "'heldout.f1'" in err and "macro_f1" in err
    assert not (work / "reports" / "badmetric").exists()  # found before any model call


def test_bad_arguments_exit_2(work: Path, first: Path) -> None:
    assert run(work, work / "tiny.yaml", "--baseline", str(work / "missing")) == EXIT_BAD_INPUT
    assert main(["gate", str(work / "missing")]) == EXIT_BAD_INPUT
    assert main(["compare", str(first), str(work / "missing")]) == EXIT_BAD_INPUT


def test_every_sample_failing_exits_3_with_the_evidence_on_disk(work: Path) -> None:
    suite = write_suite(work, "broken", candidate_extra='fail_on: ["Q:"]')
    assert run(work, suite, "--gate", "--run-id", "r") == EXIT_RUN_FAILED
    run_dir = work / "reports" / "broken" / "r"
    results = results_of(run_dir)
    assert results["datasets"]["heldout"]["errors"]["candidate"] == 6
    assert results["gates"]["passed"] is False  # the errors gate
    assert (run_dir / "junit.xml").is_file() and (run_dir / "summary.md").is_file()


def test_gate_on_a_results_file_of_another_schema_version_is_a_located_error(
    work: Path, first: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = work / "old-run"
    shutil.copytree(first, old)
    data = results_of(old)
    (old / "results.json").write_text(json.dumps({**data, "schema_version": 1}), encoding="utf-8")
    assert main(["gate", str(old)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"{old / 'results.json'} [schema_version]: schema_version 1" in err
    assert "this evalkit reads version 2" in err and "Traceback" not in err
    # the right version with a wrong shape: named by its key path, not half-read
    data["metrics"][0]["n"] = "many"
    (old / "results.json").write_text(json.dumps(data), encoding="utf-8")
    assert main(["compare", str(old), str(first)]) == EXIT_BAD_INPUT
    assert "[metrics.0.n]" in capsys.readouterr().err


def test_compare_prints_both_runs(
    work: Path, first: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")  # rich reads it; names are never cut at this width
    # the suite folder means its latest run: the same suite, so a release decision too
    assert main(["compare", str(first), str(work / "reports" / "tiny")]) == EXIT_OK
    out = capsys.readouterr().out
    assert "macro_f1" in out and "heldout" in out and "tiny/first" in out
    assert "release: HOLD against run first" in out  # the same candidate: nothing to promote


def test_compare_refuses_a_run_of_another_suite(
    work: Path, first: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", str(first), str(work / "reports" / "failing")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"{first}: a run of suite 'tiny', not of 'failing'" in err and "Traceback" not in err


def test_models_list_and_pull(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import evalkit.models.fetch as fetch

    monkeypatch.setattr(fetch, "list_models", lambda: [{"name": "tiny-model", "downloaded": True}])
    monkeypatch.setattr(fetch, "pull_model", lambda name: tmp_path / name)
    assert main(["models", "list"]) == EXIT_OK
    assert "tiny-model" in capsys.readouterr().out
    assert main(["models", "pull", "tiny-model"]) == EXIT_OK
    assert str(tmp_path / "tiny-model") in capsys.readouterr().out


def test_a_run_ended_by_a_stray_system_exit_fails_closed(
    make_suite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    def exits(*args, **kwargs):
        raise SystemExit(0)

    monkeypatch.setattr(evalkit.pipeline, "run_suite", exits)
    code = main(["run", str(make_suite()), "--gate", "--out", str(tmp_path / "r")])
    assert code == EXIT_RUN_FAILED
    assert "SystemExit: 0" in capsys.readouterr().err


def test_a_run_that_left_no_results_file_fails_closed(
    make_suite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    real = evalkit.pipeline.run_suite

    def loses_results(*args, **kwargs):
        outcome = real(*args, **kwargs)
        (outcome.run_dir / "results.json").unlink()
        return outcome

    monkeypatch.setattr(evalkit.pipeline, "run_suite", loses_results)
    out = ["--out", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")]
    assert main(["run", str(make_suite()), "--gate", *out]) == EXIT_RUN_FAILED
    assert "without a results file" in capsys.readouterr().err


def test_only_the_evalkit_command_freezes_the_imported_objects(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`evalkit run` in a process of its own leaves what the imports built out of the cyclic
    collector's passes; main() called in a longer-lived process (these tests) must not."""
    import gc

    frozen: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))
    suite = write_suite(work / "freeze", "tiny")
    assert run(work, suite, "--run-id", "in-process") == EXIT_OK
    assert frozen == []
    out, cache = str(work / "reports"), str(work / "cache")
    argv = ["evalkit", "run", str(suite), "--out", out, "--cache-dir", cache, "--run-id", "own"]
    monkeypatch.setattr("sys.argv", argv)
    from evalkit.cli import entry

    assert entry() == EXIT_OK
    assert frozen == [1]


def test_a_bug_exits_3_with_its_traceback_never_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An exception no command expects is a bug: the `evalkit` command shows its traceback and
    exits 3 (run failed), never Python's 1, which CI would read as a failed gate."""
    import evalkit.cli

    def broken(args: object, console: object) -> int:
        raise RuntimeError("an internal mistake sk-plantedsecret0123456789")

    monkeypatch.setitem(evalkit.cli.COMMANDS, "validate", broken)
    monkeypatch.setattr("sys.argv", ["evalkit", "validate", "suite.yaml"])
    assert evalkit.cli.entry() == EXIT_RUN_FAILED
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: an internal mistake" in err
    assert "evalkit failed unexpectedly" in err and "plantedsecret" not in err
