"""A suite's own checks and metrics (docs/plugins.md): the documented example end to end,
per-sample failures recorded not fatal, import failures located, entry points, and no leak
between suites loaded in one process."""

from __future__ import annotations

import json
import re
import shutil
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from evalkit import plugins
from evalkit.analysis.metrics import METRICS
from evalkit.cli import main
from evalkit.errors import EXIT_BAD_INPUT, EXIT_GATE_FAILED, EXIT_OK
from evalkit.report.markdown import md_text
from evalkit.suite.load import load_suite
from tests.conftest import SUITE

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "plugins.md"
EXAMPLE = REPO / "suites" / "refund-replies.yaml"
CHECKS = REPO / "suites" / "refunds" / "checks" / "refund_policy.py"


def _blocks(path: Path) -> dict[str, str]:
    """The doc's code blocks that start with a `# <repository path>` line, by that path."""
    blocks = re.findall(r"```\w*\n# ([\w./-]+)\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
    return dict(blocks)


def test_the_documented_code_is_the_code_in_the_repository() -> None:
    blocks = _blocks(DOC)
    assert blocks["suites/refunds/checks/refund_policy.py"] == CHECKS.read_text(encoding="utf-8")
    assert blocks["suites/refund-replies.yaml"] in EXAMPLE.read_text(encoding="utf-8")


# ---- the worked example, end to end ------------------------------------------------------------


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    out = tmp_path_factory.mktemp("example")
    code = main(["run", str(EXAMPLE), "--out", str(out / "reports"),
                 "--cache-dir", str(out / "cache"), "--gate", "--run-id", "r"])  # fmt: skip
    return code, out / "reports" / "refund-replies" / "r"


def _metric(results: dict, name: str) -> dict:
    return next(m for m in results["metrics"] if m["metric"] == name)


def test_the_example_runs_and_its_gates_pass(example: tuple[int, Path]) -> None:
    code, run_dir = example
    assert code == EXIT_OK
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    gates = {g["rule"]: g["passed"] for g in results["gates"]["results"]}
    assert gates == {
        "errors": True,
        "heldout.custom.mentions_refund_window": True,
        "heldout.custom.key_facts": True,
    }
    assert [s["name"] for s in results["suite"]["scorers"]] == [
        "mentions_refund_window",
        "key_facts",
    ]
    assert [s["kind"] for s in results["suite"]["scorers"]] == ["check", "score"]


def test_plugin_numbers_equal_an_independent_computation(example: tuple[int, Path]) -> None:
    """Recomputed from samples.jsonl and the documented rules, not from evalkit's code."""
    _, run_dir = example
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    samples = pd.read_json(run_dir / "samples.jsonl", lines=True)

    def window(row: pd.Series) -> bool:
        return "return" not in row["input"].lower() or "30 days" in row["output"]

    def facts(row: pd.Series) -> float | None:
        wanted = set(re.findall(r"\d+", row["target"]))
        got = set(re.findall(r"\d+", row["output"]))
        return len(wanted & got) / len(wanted) if wanted else None

    by_arm = {arm: rows.set_index("id") for arm, rows in samples.groupby("arm")}
    check = _metric(results, "custom.mentions_refund_window")
    score = _metric(results, "custom.key_facts")
    for arm, rows in by_arm.items():
        assert check[arm] == pytest.approx(rows.apply(window, axis=1).mean())
        values = rows.apply(facts, axis=1).dropna()
        assert score[arm] == pytest.approx(values.mean())
        stored = [c["mentions_refund_window"]["value"] for c in rows["custom"]]
        assert stored == list(rows.apply(window, axis=1))
    assert (check["n"], score["n"]) == (6, 5)  # r6's reference has no number: left out
    assert (score["baseline"], score["candidate"]) == (0.0, 1.0)
    explanation = by_arm["baseline"].loc["r2", "custom"]["mentions_refund_window"]
    assert explanation == {
        "value": False,
        "explanation": "the 30-day window is missing",
        "error": None,
    }


def test_plugin_metrics_reach_every_report(example: tuple[int, Path]) -> None:
    _, run_dir = example
    page = (run_dir / "index.html").read_text(encoding="utf-8")
    summary = (run_dir / "summary.md").read_text(encoding="utf-8")
    for name in ("custom.mentions_refund_window", "custom.key_facts"):
        assert f'data-metric="{name}"' in page
        assert f"| heldout | {md_text(name)} |" in summary
    assert "heldout.custom.key_facts" in (run_dir / "junit.xml").read_text(encoding="utf-8")


def test_no_regression_on_a_plugin_metric_pairs_the_runs(
    example: tuple[int, Path], tmp_path: Path
) -> None:
    """The earlier run's per-item values come from samples.jsonl; the plug-in is not re-run."""
    _, run_dir = example
    suite = tmp_path / "refund-replies.yaml"
    shutil.copytree(EXAMPLE.parent / "refunds", tmp_path / "refunds")
    text = EXAMPLE.read_text(encoding="utf-8") + (
        "  - heldout.custom.key_facts: {no_regression: {tolerance: 0.0}}\n"
    )
    suite.write_text(text, encoding="utf-8")
    args = ["--out", str(tmp_path / "reports"), "--cache-dir", str(tmp_path / "cache")]
    assert main(["run", str(suite), *args, "--baseline", str(run_dir), "--run-id", "b"]) == 0
    results = json.loads((tmp_path / "reports/refund-replies/b/results.json").read_text())
    (reg,) = [g for g in results["gates"]["results"] if "no_regression" in g["check"]]
    assert reg["passed"] is True and "5 items shared with r" in reg["evidence"]


# ---- failures on one sample --------------------------------------------------------------------

FLAKY = """
from evalkit.plugins import metric


def names_card(row):
    if "lost" in row["input"]:
        raise ValueError("cannot judge this one")
    return "card" in row["output"]


def returns_text(row):
    return "yes"


def exits(row):
    import sys

    if "exchange" in row["input"]:
        sys.exit(0)  # a plug-in ending the process would turn a failing gate green
    return True


@metric
def answer_words(row):
    if "exchange" in row["input"] and row["arm"] == "candidate":
        raise RuntimeError("boom")
    return len(row["output"].split())
"""

PLUGINS = """
scorers:
  custom:
    - python: flaky.py:names_card
    - python: flaky.py:returns_text
    - python: flaky.py:answer_words
    - python: flaky.py:exits
"""


def test_a_plugin_that_fails_on_a_sample_records_an_error_not_a_crash(
    make_suite, tmp_path: Path
) -> None:
    suite = make_suite(SUITE + PLUGINS, **{"flaky.py": FLAKY})
    code = main(
        ["run", str(suite), "--out", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")]
    )
    assert code == EXIT_OK
    run_dir = tmp_path / "r" / "tiny" / "latest"
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    samples = pd.read_json(run_dir / "samples.jsonl", lines=True)
    card = _metric(results, "custom.names_card")
    # q5 ("lost in the post") raised in both arms: recorded, counted, and a fail for a check
    assert card["scorer_errors"] == {"baseline": 1, "candidate": 1} and card["n"] == 6
    q5 = samples[samples["id"] == "q5"].iloc[0]["custom"]["names_card"]
    assert q5 == {"value": None, "explanation": None, "error": "ValueError: cannot judge this one"}
    # a check that returns text is an error on every sample, never a pass
    text = _metric(results, "custom.returns_text")
    assert text["scorer_errors"] == {"baseline": 6, "candidate": 6} and text["candidate"] == 0.0
    assert (
        "a check returns True or False, not 'yes'"
        in (samples.iloc[0]["custom"]["returns_text"]["error"])
    )
    # a metric that raised leaves the item out of both arms: 3 exchange items of 6
    words = _metric(results, "custom.answer_words")
    assert words["scorer_errors"] == {"baseline": 0, "candidate": 3} and words["n"] == 3
    page = (run_dir / "index.html").read_text(encoding="utf-8")
    assert "the scorer failed on 0 baseline and 3 candidate answers" in page
    # sys.exit() inside a check is that sample's error, like any exception
    exits = _metric(results, "custom.exits")
    assert exits["scorer_errors"] == {"baseline": 3, "candidate": 3}
    q2 = samples[samples["id"] == "q2"].iloc[0]["custom"]["exits"]
    assert q2["error"] == "SystemExit: 0"


# ---- failures before the run -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "files", "expected"),
    [
        ("python: missing.py:f", {}, r"\[scorers\.custom\.0\.python\]: not found: .*missing\.py"),
        ("python: checks.py", {"checks.py": "x = 1\n"}, r"\[scorers\.custom\.0\.python\]: python: 'checks\.py' needs the form"),
        ("python: checks.py:nope", {"checks.py": "def yes(row):\n    return True\n"},
         r"\[scorers\.custom\.0\.python\]: checks\.py defines no 'nope' \(it defines: yes\)"),
        ("python: checks.py:f", {"checks.py": "import no_such_module_here\n"},
         r"\[scorers\.custom\.0\.python\]: importing checks\.py failed: ModuleNotFoundError"),
        ("python: checks.py:f", {"checks.py": "def f(row):\n  return (\n"},
         r"\[scorers\.custom\.0\.python\]: importing checks\.py failed: SyntaxError"),
        ("python: checks.py:f", {"checks.py": "import sys\nsys.exit(0)\n"},
         r"\[scorers\.custom\.0\.python\]: importing checks\.py failed: SystemExit: 0"),
        ("python: checks.py:f", {"checks.py": "raise SystemExit(3)\n"},
         r"\[scorers\.custom\.0\.python\]: importing checks\.py failed: SystemExit: 3"),
        ("python: checks.py:f", {"checks.py": "f = 3\n"}, r"\[scorers\.custom\.0\]: checks\.py:f is not a function"),
        ("entry_point: no-such-check", {}, r"\[scorers\.custom\.0\.entry_point\]: no installed entry point 'no-such-check' in the group evalkit\.scorers"),
        ("{python: a.py:f, entry_point: x}", {}, r"\[scorers\.custom\.0\]: give exactly one of 'python'"),
        ("{python: 'checks.py:f', name: 'two words'}", {"checks.py": "def f(row):\n    return True\n"},
         r"\[scorers\.custom\.0\.name\]: scorer name 'two words'"),
    ],
)  # fmt: skip
def test_a_plugin_that_cannot_be_loaded_is_a_located_error(
    make_suite, capsys: pytest.CaptureFixture[str], entry: str, files: dict[str, str], expected: str
) -> None:
    suite = make_suite(SUITE + f"scorers:\n  custom:\n    - {entry}\n", **files)
    assert main(["validate", str(suite)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert re.search(re.escape(str(suite)) + r".*" + expected, err), err


def test_a_plugin_that_hangs_at_import_is_a_located_error_in_time(
    make_suite, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plugins, "IMPORT_TIMEOUT_S", 0.5)
    hang = "while True:\n    pass\n"
    suite = make_suite(
        SUITE + "scorers:\n  custom:\n    - python: checks.py:f\n", **{"checks.py": hang}
    )
    assert main(["validate", str(suite)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "[scorers.custom.0.python]: importing checks.py did not finish within 0.5 s"
    ), err
    # and the loop is stopped: left running, it held the GIL for the rest of this process
    # and slowed every later test about eightfold
    deadline = time.monotonic() + 5
    while any(t.name == "import checks.py" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the plug-in's import loop is still running"
        time.sleep(0.05)


def test_the_documented_error_line_is_the_real_one(tmp_path: Path, capsys) -> None:
    suite = tmp_path / "refund-replies.yaml"
    shutil.copytree(EXAMPLE.parent / "refunds", tmp_path / "refunds")
    text = EXAMPLE.read_text(encoding="utf-8").replace(":key_facts", ":key_fact")
    suite.write_text(text, encoding="utf-8")
    assert main(["validate", str(suite)]) == EXIT_BAD_INPUT
    documented = next(
        line.strip()
        for line in DOC.read_text(encoding="utf-8").splitlines()
        if "defines no" in line
    )
    assert capsys.readouterr().err.strip() == documented.replace(
        "suites/refund-replies.yaml", str(suite)
    )


# ---- entry points ------------------------------------------------------------------------------


def test_an_installed_entry_point_is_a_plugin(
    make_suite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    (site / "acme_checks-1.0.dist-info").mkdir(parents=True)
    (site / "acme_checks-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-checks\nVersion: 1.0\n"
    )
    (site / "acme_checks-1.0.dist-info" / "entry_points.txt").write_text(
        "[evalkit.scorers]\nacme-short = acme_checks:short_answer\n"
    )
    (site / "acme_checks.py").write_text(
        "from evalkit.plugins import check\n\n\n"
        "@check(name='short')\ndef short_answer(row):\n    return len(row['output']) < 30\n"
    )
    monkeypatch.syspath_prepend(str(site))
    # the entry point imports acme_checks like any installed module; forget it afterwards
    monkeypatch.setitem(sys.modules, "acme_checks", None)
    monkeypatch.delitem(sys.modules, "acme_checks")
    suite = make_suite(SUITE + "scorers:\n  custom:\n    - entry_point: acme-short\n")
    loaded = load_suite(suite)
    (scorer,) = loaded.scorers
    assert (scorer.name, scorer.kind) == ("short", "check")
    assert scorer.source == "entry point acme-short (acme_checks:short_answer)"
    assert scorer.fn({"output": "ok"}) is True
    code = main(
        ["run", str(suite), "--out", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")]
    )
    results = json.loads((tmp_path / "r" / "tiny" / "latest" / "results.json").read_text())
    assert code == EXIT_OK and _metric(results, "custom.short")["candidate"] == 1.0


# ---- isolation -----------------------------------------------------------------------------------


def test_plugins_are_loaded_per_suite_and_never_leak(tmp_path: Path) -> None:
    """Two suites whose plug-in files share a name and a function name, in one process."""
    registered = METRICS.names()
    suites = []
    for folder, answer in (("one", "True"), ("two", "False")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "items.jsonl").write_text(
            json.dumps({"id": "a", "input": "x", "target": "card_arrival"}) + "\n"
        )
        (tmp_path / folder / "rule.py").write_text(
            f"STATE = []\n\n\ndef rule(row):\n    STATE.append(1)\n    return {answer}\n"
        )
        text = SUITE + "scorers:\n  custom:\n    - python: rule.py:rule\n"
        (tmp_path / folder / "suite.yaml").write_text(textwrap.dedent(text))
        suites.append(tmp_path / folder / "suite.yaml")
    one, two, one_again = (load_suite(s).scorers[0] for s in (*suites, suites[0]))
    assert one.fn({}) is True and two.fn({}) is False
    # a fresh module each load: module state is not shared with an earlier load either
    assert one.fn.__globals__["STATE"] == [1] and one_again.fn.__globals__["STATE"] == []
    assert METRICS.names() == registered
    assert not [m for m in sys.modules if m.startswith("evalkit_plugin_")]


def test_a_failing_gate_on_a_plugin_metric_exits_1(make_suite, tmp_path: Path) -> None:
    rules = "def always(row):\n    return False\n"
    text = SUITE + (
        "scorers:\n  custom:\n    - python: rules.py:always\n"
        "gates:\n  - heldout.custom.always: {candidate: '>= 0.5'}\n"
    )
    suite = make_suite(text, **{"rules.py": rules})
    args = ["--out", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c"), "--gate"]
    assert main(["run", str(suite), *args]) == EXIT_GATE_FAILED
