"""The HTML report: every section from a real (scripted) run, escaping of untrusted text, and
numbers that equal results.json. No browser here; see test_report_browser.py for the JS."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from evalkit.pipeline import RunOptions, RunOutcome, run_suite
from evalkit.report.html import FLAGS, browser_rows, render_report
from evalkit.results import GateOutcome, Gates, MetricResult, Results, RubricResult, Verdict

XSS_1 = "<script>alert(1)</script>"
XSS_2 = "</script><script>alert(2)</script>"

ITEMS = [
    {"id": "q1", "input": "where is my new card", "target": "card_arrival"},
    {"id": "q2", "input": "what exchange rate do you use", "target": "exchange_rate"},
    {"id": "q3", "input": "card still has not arrived", "target": "card_arrival"},
    {"id": "q4", "input": "boom: card exploded", "target": "card_arrival"},
    {"id": "q5", "input": f"xss-injection {XSS_1} exchange", "target": "exchange_rate"},
    {"id": "q6", "input": "please explain the exchange of euros", "target": "exchange_rate"},
]
OOD = [
    {"id": "o1", "input": "yo where is my card", "target": "card_arrival"},
    {"id": "o2", "input": "fx exchange pls", "target": "exchange_rate"},
    {"id": "o3", "input": "card?", "target": "card_arrival"},
]
TRAIN = [
    {"input": "where is my new card", "target": "card_arrival"},
    {"input": f"xss-injection {XSS_1} exchange", "target": "exchange_rate"},
]

# Baseline: right on "where is", answers the xss item with a script tag, else guesses exchange.
# Candidate: right on card/exchange, fails on "boom", answers the xss item with a tag closer.
SUITE = f"""
name: report-test
task:
  type: classification
  labels: [card_arrival, exchange_rate]
  output: {{format: json, field: intent}}
arms:
  baseline:
    model: evalkit-test/base
    model_args:
      answers: {{"xss-injection": {json.dumps(XSS_1)}, "where is": '{{"intent": "card_arrival"}}'}}
      fallback: '{{"intent": "exchange_rate"}}'
    prompt: {{text: "Labels: {{{{ labels | join(', ') }}}}\\nQuery: {{{{ input }}}}"}}
  candidate:
    model: evalkit-test/tuned
    model_args:
      answers: {{"xss-injection": {json.dumps(XSS_2)}, "card": '{{"intent": "card_arrival"}}', "exchange": '{{"intent": "exchange_rate"}}'}}
      fallback: "no idea"
      fail_on: ["boom"]
    prompt: {{text: "Q: {{{{ input }}}}"}}
datasets:
  heldout: {{path: items.jsonl, id: id}}
  casual: {{path: ood.jsonl, id: id}}
probes: [{{pack: mmlu-global-facts, n: 5}}]
training_data: {{path: train.jsonl}}
run: {{max_retries: 0}}
"""


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    """One scripted run for the whole module: inspect's first eval costs seconds."""
    root = tmp_path_factory.mktemp("report")
    (root / "suite.yaml").write_text(SUITE, encoding="utf-8")
    _jsonl(root / "items.jsonl", ITEMS)
    _jsonl(root / "ood.jsonl", OOD)
    _jsonl(root / "train.jsonl", TRAIN)
    return run_suite(
        root / "suite.yaml", RunOptions(out_dir=root / "out", cache_dir=root / "cache")
    )


@pytest.fixture(scope="module")
def page(run: RunOutcome) -> str:
    return (run.run_dir / "index.html").read_text(encoding="utf-8")


def split_blob(page: str) -> tuple[str, str]:
    """(the page without the sample-data script's body, that body)."""
    start_tag = '<script type="application/json" id="sample-data">'
    start = page.index(start_tag) + len(start_tag)
    end = page.index("</script>", start)  # where an HTML parser ends the element
    return page[:start] + page[end:], page[start:end]


class Cells(HTMLParser):
    """Collects every element carrying data-v or data-errors-*, with its text and context."""

    def __init__(self) -> None:
        super().__init__()
        self.dataset: str | None = None
        self.metric: str | None = None
        self.values: dict[tuple[str | None, str | None, str], tuple[str, str]] = {}
        self.errors: dict[str, dict[str, int]] = {}
        self._open: tuple[tuple[str | None, str | None, str], str] | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("data-dataset"):
            self.dataset = a["data-dataset"]
        if a.get("data-metric"):
            self.metric = a["data-metric"]
        if "data-errors-baseline" in a and self.dataset:
            self.errors.setdefault(
                self.dataset,
                {
                    "baseline": int(a["data-errors-baseline"] or 0),
                    "candidate": int(a["data-errors-candidate"] or 0),
                },
            )
        if a.get("data-field") and "data-v" in a:
            self._open = ((self.dataset, self.metric, a["data-field"]), a["data-v"] or "")
            self._text = ""

    def handle_data(self, data: str) -> None:
        if self._open:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if self._open and tag == "td":
            key, v = self._open
            self.values[key] = (v, self._text.strip())
            self._open = None


# ---- the page from a real run ----------------------------------------------------------------


def test_report_written_and_self_contained(run: RunOutcome, page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    # no external requests: nothing is fetched by URL
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page


def test_verdict_and_header(run: RunOutcome, page: str) -> None:
    import html

    verdict = run.results.verdict
    assert html.escape(verdict.sentence) in page
    # the candidate failed a request, so the errors gate failed: the banner leads with it
    assert run.results.gates and not run.results.gates.passed
    assert 'class="verdict gates-failed"' in page
    for arm in ("baseline", "candidate"):
        assert run.results.arms[arm].model in page
        assert run.results.arms[arm].prompt_sha256[:12] in page
    assert run.results.run_id in page


def test_every_dataset_and_its_errors(run: RunOutcome, page: str) -> None:
    parser = Cells()
    parser.feed(page)
    assert set(run.results.datasets) == {
        "heldout",
        "casual",
        "training_sample",
        "mmlu-global-facts",
    }
    for name, d in run.results.datasets.items():
        assert f'id="dataset-{name}"' in page
        assert parser.errors[name] == d.errors.model_dump()
    # the candidate failed on the "boom" item: shown, not hidden
    assert parser.errors["heldout"]["candidate"] == 1


def test_metric_numbers_equal_results(run: RunOutcome, page: str) -> None:
    parser = Cells()
    parser.feed(page)
    checked = 0
    for m in run.results.metrics:
        for field in ("baseline", "candidate", "diff"):
            raw, shown = parser.values[(m.dataset, m.metric, field)]
            value = getattr(m, field)
            if value is None:  # e.g. repetition: no answer of a label task has 4 words
                assert (raw, shown) == ("None", "—")
                continue
            assert float(raw) == pytest.approx(value, abs=0, rel=0)
            expected = f"{value:+.3f}" if field == "diff" else f"{value:.3f}"
            assert shown == expected
            checked += 1
    assert checked > 30


def test_format_section_has_every_check(run: RunOutcome, page: str) -> None:
    section = page[page.index('id="format"') : page.index('id="probes"')]
    names = {m.metric for m in run.results.metrics_of("heldout")}
    fmt = {n for n in names if n == "format_adherence" or n.startswith("format.")}
    assert fmt and all(f'data-metric="{n}"' in section for n in fmt)


def test_mcnemar_and_classes(run: RunOutcome, page: str) -> None:
    paired = run.results.datasets["heldout"].paired
    assert f'data-v="{paired.mcnemar_p}"' in page
    assert f"different answers on {paired.disagreements} items" in page
    assert "(no label)" in page and "(other)" in page and 'class="heat"' in page
    # the report says which labels F1 averages over
    assert 'id="f1-labels"' in page and "over the task's 2 declared labels" in page


def test_probes_generalisation_contamination_economics(run: RunOutcome, page: str) -> None:
    probe = run.results.probes[0]
    assert f'data-probe="{probe.probe}"' in page
    assert f'data-v="{probe.lower_bound}"' in page
    row = page[page.index(f'data-probe="{probe.probe}"') :].split("</tr>")[0]
    if not probe.informative:
        assert "NOT EVALUATED: uninformative" in row and "PASS" not in row
    else:
        assert ("PASS" if probe.non_inferior else "FAIL: non-inferiority not shown") in row
    assert "worse beyond the margin" not in page.replace("not worse beyond the margin", "")
    gen = run.results.generalisation
    assert gen and gen.arms["candidate"].out_of_domain["casual"]
    assert "casual (gap)" in page
    contamination = run.results.contamination
    assert contamination and contamination[0].heldout_id == "q1"
    assert f"<strong>{len(contamination)}</strong> evaluation item" in page
    econ = run.results.economics
    ratio = econ["baseline"].mean_input_tokens / econ["candidate"].mean_input_tokens
    assert f"{ratio:.1f}×" in page
    stats = run.results.stats
    assert f"{stats.bootstrap} resamples, seed {stats.seed}" in page


# ---- escaping --------------------------------------------------------------------------------


def test_untrusted_text_is_escaped(run: RunOutcome, page: str) -> None:
    outputs = set(run.table["output"])
    assert XSS_1 in outputs and XSS_2 in outputs  # the scripted models really said it
    outside, blob = split_blob(page)
    for raw in (XSS_1, XSS_2, "<script>alert"):
        assert raw not in outside
    # the input text (contamination table) is shown, escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in outside
    # exactly the page's own scripts: the head hook, the JSON blob and the browser code
    assert page.count("<script") == 3
    # the blob cannot be closed early, and it carries the raw text intact
    assert "</" not in blob and "<!--" not in blob
    data = json.loads(blob)
    f = {name: i for i, name in enumerate(data["fields"])}
    texts = {r[f["b_output"]] for r in data["rows"]} | {r[f["c_output"]] for r in data["rows"]}
    assert XSS_1 in texts and XSS_2 in texts


def test_blob_pairs_both_arms(run: RunOutcome, page: str) -> None:
    data = json.loads(split_blob(page)[1])
    f = {name: i for i, name in enumerate(data["fields"])}
    assert len(data["rows"]) == len(run.table) // 2
    row = next(
        r
        for r in data["rows"]
        if r[f["id"]] == "q4" and data["datasets"][r[f["dataset"]]] == "heldout"
    )
    assert row[f["c_error"]] and row[f["b_error"]] is None
    assert row[f["flags"]] & FLAGS["error"] and row[f["flags"]] & FLAGS["wrong"]


# ---- render_report on its own: optional sections ---------------------------------------------


def _render(results: Results, table: pd.DataFrame, **changes: Any) -> str:
    return render_report(results.model_copy(update=changes), table)


def test_absent_sections_are_skipped(run: RunOutcome) -> None:
    page = _render(
        run.results,
        run.table,
        probes=[],
        generalisation=None,
        contamination=None,
        economics={},
        gates=None,
    )
    for section in (
        'id="probes"',
        'id="generalisation"',
        'id="economics"',
        'id="gates"',
        'id="rubrics"',
    ):
        assert section not in page
    assert 'id="metrics"' in page and 'id="samples"' in page


def test_empty_contamination_says_so(run: RunOutcome) -> None:
    assert 'id="no-contamination"' in _render(run.results, run.table, contamination=[])


def test_gates_failed_first(run: RunOutcome) -> None:
    gates = Gates(
        passed=False,
        results=[
            GateOutcome(rule="heldout.macro_f1", check="better", passed=True, evidence="ok <b>"),
            GateOutcome(rule="probes.all", check="non_inferior", passed=False, evidence="lb -0.2"),
        ],
    )
    page = _render(run.results, run.table, gates=gates)
    section = page[page.index('id="gates"') : page.index('id="metrics"')]
    assert section.index("probes.all") < section.index("heldout.macro_f1")
    assert "FAIL" in section and "ok &lt;b&gt;" in section


def test_the_banner_never_contradicts_the_gates(run: RunOutcome) -> None:
    """A candidate that clearly beats the baseline but fails a gate is not shown in green."""
    from evalkit.report.markdown import summary_markdown

    better = Verdict(outcome="better", sentence="The candidate beats the baseline.")
    passed = Gates(
        passed=True, results=[GateOutcome(rule="r", check="c", passed=True, evidence="e")]
    )
    failed = Gates(
        passed=False,
        results=[
            GateOutcome(rule="heldout.format_adherence", check="candidate >= 0.9", passed=False, evidence="0.75"),
            GateOutcome(rule="heldout.macro_f1", check="c", passed=True, evidence="e"),
        ],
    )  # fmt: skip
    green = _render(run.results, run.table, verdict=better, gates=passed)
    assert (
        '<div class="verdict better" id="verdict">The candidate beats the baseline.</div>' in green
    )
    red = _render(run.results, run.table, verdict=better, gates=failed)
    banner = red[red.index('<div class="verdict') : red.index("</div>", red.index('id="verdict"'))]
    assert 'class="verdict gates-failed"' in banner and "better" not in banner.split(">")[0]
    assert "Release gates failed (1 of 2 checks)" in banner
    md = summary_markdown(run.results.model_copy(update={"verdict": better, "gates": failed}))
    assert md.splitlines()[2].startswith("Release gates failed (1 of 2 checks)")


def test_rubrics_render_with_and_without_their_optional_parts(run: RunOutcome) -> None:
    interval = {"baseline": 3.1, "candidate": 3.9, "diff": 0.8, "ci_low": 0.2, "ci_high": 1.4}
    rubric = RubricResult.model_validate({
        "rubric": "helpfulness", "dataset": "heldout", "pass_threshold": 3.0,
        "scale": {"min": 1, "max": 5},
        "criteria": [{"name": "clear", "weight": 1.0, **interval}],
        "overall": {**interval, "n": 20, "dropped": 0, "dropped_judge_errors": 0,
                    "dropped_arm_errors": 0},
        "pass_rate": dict.fromkeys(interval),
        "pairwise": {"candidate_win_rate": 0.7, "ci_low": 0.55, "ci_high": 0.82, "candidate_wins": 14,
                     "baseline_wins": 5, "ties": 1, "position_flips": 2, "position_bias_rate": 0.1,
                     "n": 20},
        "calibration": {"criteria": [{"name": "clear", "kappa": 0.61, "exact_agreement": 0.8, "n": 30}],
                        "warning": "only 30 human labels"},
        "judge_errors": {"baseline": 0, "candidate": 1, "pairwise": 0},
        "judge_cost": {"model": "j", "requests": 40, "cached": 0, "input_tokens": 1, "output_tokens": 1,
                       "cost": None},
    })  # fmt: skip
    bare = rubric.model_copy(update={"rubric": "bare", "pairwise": None, "calibration": None})
    page = _render(run.results, run.table, rubrics=[rubric, bare])
    section = page[page.index('id="rubrics"') : page.index('id="economics"')]
    assert "helpfulness" in section and "bare" in section
    assert "70.0%" in section and "0.61" in section and "only 30 human labels" in section


def test_judge_column_reaches_the_blob(run: RunOutcome) -> None:
    judgment = {
        "helpfulness": {"scores": {"clear": 4}, "reasons": {"clear": XSS_2}, "overall": 4.0,
                        "passed": True, "error": None},
        "helpfulness.pairwise": {"winner": "candidate", "flipped": False, "error": None},
    }  # fmt: skip
    table = run.table.assign(judge=[judgment] * len(run.table))
    outside, blob = split_blob(render_report(run.results, table))
    assert XSS_2 not in outside and "</" not in blob
    data = json.loads(blob)
    text = data["rows"][0][data["fields"].index("c_judge")]
    assert data["has_judge"] and f"clear = 4: {XSS_2}" in text
    assert "overall 4.00 (pass)" in text and "preferred candidate" in text


def test_browser_rows_disagreement_without_labels() -> None:
    """Generation tasks have no label: the outputs themselves are compared."""
    base = {"dataset": "heldout", "input": "x", "target": None, "label": None, "correct": None,
            "format_ok": True, "error": None, "parsed": None}  # fmt: skip
    table = pd.DataFrame(
        [
            {**base, "arm": "baseline", "id": "1", "output": "same"},
            {**base, "arm": "candidate", "id": "1", "output": "same"},
            {**base, "arm": "baseline", "id": "2", "output": "a"},
            {**base, "arm": "candidate", "id": "2", "output": "b", "format_ok": False},
        ]
    )
    blob = browser_rows(table)
    flags = [r[blob["fields"].index("flags")] for r in blob["rows"]]
    assert flags == [0, FLAGS["disagreement"] | FLAGS["format"]]


def test_terminal_summary_shows_missing_values_as_dashes(run: RunOutcome) -> None:
    """A rubric metric with no item judged in both arms has no value and no interval."""
    from rich.console import Console

    from evalkit.report.terminal import print_summary

    row = MetricResult(dataset="heldout", section="task", kind="in_domain",
                       metric="rubric.r.overall", headline=True, baseline=None, candidate=None,
                       diff=None, ci_low=None, ci_high=None, confidence=0.95, n=0, resamples=0)  # fmt: skip
    verdict = Verdict(outcome="unknown", sentence="No held-out result was computed.")
    results = run.results.model_copy(update={"metrics": [row], "verdict": verdict})
    console = Console(record=True, width=160)
    print_summary(results, console)
    text = console.export_text()
    assert "rubric.r.overall" in text and "—" in text and "No held-out result" in text


def test_zero_input_tokens_do_not_break_the_economics(run: RunOutcome) -> None:
    """A provider reporting 0 input tokens (or an empty prompt) gives no ratio, not a crash."""
    econ = run.results.economics
    for zero in ("baseline", "candidate"):
        changed = {arm: e.model_copy(update={"mean_input_tokens": 0.0 if arm == zero else 12.0})
                   for arm, e in econ.items()}  # fmt: skip
        page = _render(run.results, run.table, economics=changed)
        assert 'id="economics"' in page and 'id="prompt-cost"' not in page


def test_gate_metric_names_cover_every_metric_a_run_reports(run: RunOutcome) -> None:
    """`evalkit validate` refuses a gate on a metric not in gate.metric_names: the list must
    hold every metric the analysis really reports, for task datasets and probes."""
    from evalkit.gate import metric_names
    from evalkit.suite.load import load_suite

    loaded = load_suite(run.results.suite.path)
    reported = {(m.section, m.metric) for m in run.results.metrics}
    assert {s for s, _ in reported} == {"task", "probe"}
    for section, metric in reported:
        assert metric in metric_names(loaded, section), (section, metric)


def test_compiled_templates_are_kept_and_a_broken_cache_changes_nothing(
    run: RunOutcome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report's compiled templates are kept under $EVALKIT_HOME/templates; a corrupt
    entry, or a home where nothing can be written, gives the very same page."""
    home = tmp_path / "home"
    monkeypatch.setenv("EVALKIT_HOME", str(home))
    first = render_report(run.results, run.table)
    kept = list((home / "templates").rglob("*.cache"))
    assert kept, "no compiled template was kept"
    for entry in kept:
        entry.write_bytes(b"not bytecode")
    assert render_report(run.results, run.table) == first
    blocked = tmp_path / "a-file"
    blocked.write_text("a file where the home folder should be", encoding="utf-8")
    monkeypatch.setenv("EVALKIT_HOME", str(blocked))
    assert render_report(run.results, run.table) == first
