"""Every output writer with hostile text: labels, model strings and answers from a real
(scripted) run, plus a results file edited by hand (what `evalkit gate` re-renders).

summary.md is parsed as CommonMark + tables (no link, image, code-span break-out or raw HTML),
junit.xml is parsed and validated against the JUnit schema, the terminal output is recorded
(no markup interpreted, no control character), and every file is written at all. The HTML
report is checked in Chromium by tests/test_report_browser.py.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from rich.console import Console

from evalkit.cli import _print_gates, main
from evalkit.history.schema import ReleaseChange, ReleaseDecision
from evalkit.pipeline import RunOptions, RunOutcome, run_suite, write_outputs
from evalkit.report.card import card_markdown, card_of
from evalkit.report.junit import junit_xml
from evalkit.report.markdown import release_markdown, summary_markdown
from evalkit.report.terminal import print_release, print_summary
from evalkit.results import Results
from tests.conftest import HOSTILE_LABELS, HOSTILE_MODELS, HOSTILE_TEXT, write_hostile_suite

XSD = Path(__file__).parent / "data" / "junit.xsd"
# a lone surrogate, NUL, ESC, a form feed and U+FFFF: none can stand in XML, some not in UTF-8
CONTROL = "\ud800\x00\x1b[2J\x0c\uffff"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    root = tmp_path_factory.mktemp("hostile")
    return run_suite(
        write_hostile_suite(root), RunOptions(out_dir=root / "out", cache_dir=root / "cache")
    )


@pytest.fixture
def results(run: RunOutcome) -> Results:
    """The run's results with every free-text field a hand-edited results.json could hold."""
    r = run.results.model_dump(mode="json")
    r["suite"]["name"] = f"suite {HOSTILE_TEXT}"
    r["run_id"] = f"run`{CONTROL}"
    r["verdict"]["sentence"] = f"# verdict {HOSTILE_TEXT} {CONTROL}"
    for g in r["gates"]["results"]:
        g["rule"] = f"{g['rule']} {HOSTILE_TEXT} {CONTROL}"
        g["evidence"] = f"{g['evidence']} {HOSTILE_TEXT} {CONTROL}"
    r["metrics"][0]["dataset"] = f"- {HOSTILE_TEXT}"
    r["economics"]["baseline"]["model"] += CONTROL
    r["probes"] = [
        {"probe": f"1. {HOSTILE_TEXT}", "version": "1", "n": 3, "baseline": 0.5,
         "candidate": 0.5, "diff": 0.0, "ci_low": -0.2, "ci_high": 0.2, "lower_bound": -0.1,
         "margin": 0.05, "confidence": 0.95, "non_inferior": True, "chance": 0.25,
         "informative": True, "format_collapse": False,
         "unparsed_rate": {"baseline": 0.0, "candidate": 0.0}}
    ]  # fmt: skip
    return Results.model_validate(r)


def _tokens(tokens: list[Any]) -> list[Any]:
    out = []
    for t in tokens:
        out.append(t)
        out += _tokens(t.children or [])
    return out


def test_summary_markdown_renders_only_text(results: Results) -> None:
    md = summary_markdown(results)
    parser = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    tokens = _tokens(parser.parse(md))
    kinds = {t.type for t in tokens}
    # nothing a model, a label or a results file wrote became a link, an image or HTML
    assert not kinds & {"link_open", "image", "html_inline", "html_block", "s_open", "em_open"}
    # every table row keeps its header's cell count: no '|' split a cell
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    for table in md.split("\n\n"):
        lines = [line for line in table.splitlines() if line.startswith("|")]
        if lines:
            cells = {parser.render(line + "\n").count("<td") for line in lines[2:]} - {0}
            header = lines[0].count(" | ") + 1
            assert all(line.count("|") - line.count("\\|") == header + 1 for line in lines), table
            assert cells <= {header}
    assert rows, md
    # ... and the text itself is all there, readable
    html = parser.render(md)
    for visible in (
        "evil.example",
        "[red]red[/red]",
        "&lt;/script&gt;",
        HOSTILE_MODELS["candidate"][:30],
    ):
        assert visible.replace("<", "&lt;") in html or visible in html, visible
    # the only headings are evalkit's own (the verdict starts with '#', the probe with '1.')
    assert [t.tag for t in tokens if t.type == "heading_open"] == ["h2", "h3", "h3", "h3"]
    assert "<ol" not in html and "<ul" not in html


def _hostile_decision() -> ReleaseDecision:
    change = ReleaseChange(
        dataset=f"- {HOSTILE_TEXT}", section="task", metric="accuracy", higher_is_better=True,
        previous=0.5, current=0.7, change=0.2, ci_low=0.1, ci_high=0.3, n=4, how="paired",
        same_items=True, finding="better", evidence=f"evidence {HOSTILE_TEXT}",
    )  # fmt: skip
    return ReleaseDecision(
        against=f"[x](https://evil.example) {CONTROL}", previous_run=f"run`{HOSTILE_TEXT}",
        previous_path="/x", previous_created_at="2026", previous_gates_passed=True,
        current_gates_passed=True, candidate_changed=True, confidence=0.95, changes=[change],
        recommendation="promote", reasons=[f"# reason {HOSTILE_TEXT}"],
    )  # fmt: skip


def test_card_and_release_markdown_render_only_text(results: Results) -> None:
    decision = _hostile_decision()
    card = card_markdown(card_of(results.model_copy(update={"release": decision})))
    parser = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    for md in (card, release_markdown(decision, f"title {HOSTILE_TEXT}")):
        kinds = {t.type for t in _tokens(parser.parse(md))}
        assert not kinds & {"link_open", "image", "html_inline", "html_block", "s_open"}, md
        html = parser.render(md)
        assert "evil.example" in html and "&lt;/script&gt;" in html
    assert HOSTILE_MODELS["candidate"][:20] in parser.render(card)


def test_the_terminal_prints_a_release_decision_as_text() -> None:
    console = Console(record=True, width=400, color_system=None, force_terminal=False)
    print_release(_hostile_decision(), console)
    out = console.export_text()
    assert "[red]red[/red]" in out and "\\x1b[31mansi" in out
    assert not any(c in out for c in "\x1b\x00\x07\u202e\x0b")


def test_markdown_code_span_fences_outlast_backticks() -> None:
    from evalkit.report.markdown import md_code

    model = "evalkit-test/`x``y` [a](https://evil.example)"
    html = MarkdownIt("commonmark").enable("table").render(f"| m |\n|---|\n| {md_code(model)} |\n")
    assert "<code>evalkit-test/`x``y` [a](https://evil.example)</code>" in html


def test_junit_is_well_formed_and_valid(results: Results) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    xml = junit_xml(results)
    root = ET.fromstring(xml)  # well-formed despite NUL, ESC, U+FFFF and a lone surrogate
    xmlschema.XMLSchema(str(XSD)).validate(ET.ElementTree(root))
    names = [case.get("name") for case in root.iter("testcase")]
    assert results.gates is not None and len(names) == len(results.gates.results)
    assert all("\\x00" in n and "\\x1b" in n and "\\ud800" in n for n in names[1:])
    failure = root.find(".//failure")
    assert failure is not None and "</script><script>" in (failure.text or "")


def test_terminal_shows_markup_and_controls_as_text(run: RunOutcome, results: Results) -> None:
    console = Console(record=True, width=400, color_system=None, force_terminal=False)
    print_summary(results, console)
    assert results.gates is not None
    _print_gates(results.gates, console)
    out = console.export_text()
    assert "[red]red[/red]" in out and "[red]m[/red]" in out  # markup printed, not applied
    assert HOSTILE_MODELS["baseline"] in out
    assert "\\x1b[31mansi" in out and "\\u202eRLO" in out and "\\x00nul" in out
    assert not any(c in out for c in "\x1b\x00\x07\u202e\x0b")


def test_error_lines_are_one_literal_line(
    make_suite: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A located error quoting hostile data prints it as one literal line."""
    from tests.conftest import ITEMS

    target = "[bold red]boom[/] \x1b[2J\nsecond line"
    suite = make_suite(items=[*ITEMS, {"id": "x", "input": "hi", "target": target}])
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "[bold red]boom[/]" in err and "\x1b" not in err


def test_every_writer_survives_hostile_text(
    run: RunOutcome, results: Results, tmp_path: Path
) -> None:
    table = run.table.copy()
    # (pandas' string columns cannot hold a lone surrogate at all; readers refuse one)
    control = CONTROL.replace("\ud800", "")
    table.loc[0, "output"] = f"{HOSTILE_TEXT} {control}"
    table.loc[1, "input"] = control
    write_outputs(tmp_path, results, table)
    stored = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert stored["run_id"] == results.run_id  # a lone surrogate round-trips as its escape
    rows = [
        json.loads(line) for line in (tmp_path / "samples.jsonl").read_text("utf-8").splitlines()
    ]
    assert rows[0]["output"].endswith(control) and len(rows) == len(table)
    for name in ("index.html", "summary.md", "junit.xml", "card.md", "card.json"):
        assert (tmp_path / name).stat().st_size > 0


def test_hostile_labels_and_models_reach_the_run_intact(run: RunOutcome) -> None:
    """The fixture really carries the hostile text into the results the writers get."""
    assert run.results.suite.labels == HOSTILE_LABELS
    assert {a: v.model for a, v in run.results.arms.items()} == HOSTILE_MODELS
    assert HOSTILE_TEXT in set(run.table["output"])
