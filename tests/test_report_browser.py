"""The report's JS in real headless Chromium: no script errors, and the sample filters show
the counts the per-sample table says they should (read back through the URL-hash test hook)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from evalkit.pipeline import RunOptions, RunOutcome, run_suite
from tests.conftest import HOSTILE_LABELS, HOSTILE_MODELS, HOSTILE_TEXT, write_hostile_suite

CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
# CI sets this so that a missing browser fails the test instead of skipping it unseen
REQUIRED = bool(os.environ.get("EVALKIT_REQUIRE_BROWSER"))
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not REQUIRED,
        reason="needs Debian's chromium (apt-get install chromium); set EVALKIT_REQUIRE_BROWSER=1 to fail instead",
    ),
]


ITEMS = [
    {"id": "q1", "input": "where is my new card", "target": "card_arrival"},
    {"id": "q2", "input": "what exchange rate do you use", "target": "exchange_rate"},
    {"id": "q3", "input": "card still has not arrived", "target": "card_arrival"},
    {"id": "q4", "input": "boom: card exploded", "target": "card_arrival"},
    {
        "id": "q5",
        "input": "<b>exchange</b> </script><script>alert(3)</script>",
        "target": "exchange_rate",
    },
    {"id": "q6", "input": "please explain the exchange of euros", "target": "exchange_rate"},
    {"id": "q7", "input": "hello there", "target": "card_arrival"},
]
OOD = [
    {"id": "o1", "input": "yo where is my card", "target": "card_arrival"},
    {"id": "o2", "input": "fx exchange pls", "target": "exchange_rate"},
]
SUITE = """
name: browser-test
task:
  type: classification
  labels: [card_arrival, exchange_rate]
  output: {format: json, field: intent}
arms:
  baseline:
    model: evalkit-test/base
    model_args:
      answers: {"where is": '{"intent": "card_arrival"}', "exchange": '{"intent": "exchange_rate"}'}
      fallback: "I am not sure."
    prompt: {text: "Query: {{ input }}"}
  candidate:
    model: evalkit-test/tuned
    model_args:
      answers: {"card": '{"intent": "card_arrival"}', "exchange": '{"intent": "exchange_rate"}'}
      fallback: '{"intent": "exchange_rate"}'
      fail_on: ["boom"]
    prompt: {text: "Q: {{ input }}"}
datasets:
  heldout: {path: items.jsonl, id: id}
  casual: {path: ood.jsonl, id: id}
run: {max_retries: 0}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    root = tmp_path_factory.mktemp("browser")
    (root / "suite.yaml").write_text(SUITE, encoding="utf-8")
    for name, rows in (("items.jsonl", ITEMS), ("ood.jsonl", OOD)):
        (root / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return run_suite(
        root / "suite.yaml", RunOptions(out_dir=root / "out", cache_dir=root / "cache")
    )


def load(page: Path, profile: Path, fragment: str = "") -> tuple[str, str]:
    """(the DOM after the page's scripts ran, Chromium's log) for page#fragment."""
    args = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
        "--dump-dom", page.as_uri() + (f"#{fragment}" if fragment else ""),
    ]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout, done.stderr


def shown(dom: str) -> int:
    m = re.search(r'id="shown-count">(\d+)<', dom)
    assert m, "the page never wrote its row count"
    return int(m.group(1))


def js_errors(dom: str, log: str) -> list[str]:
    box = re.search(r'<div id="js-errors">(.*?)</div>', dom, re.S)
    found = [box.group(1)] if box and box.group(1).strip() else []
    return found + [line for line in log.splitlines() if "Uncaught" in line]


def expected(table: pd.DataFrame) -> dict[str, int]:
    """Counts straight from the per-sample table, independently of the report's own pairing."""
    b = table[table["arm"] == "baseline"].set_index(["dataset", "id"])
    c = table[table["arm"] == "candidate"].set_index(["dataset", "id"]).loc[b.index]
    label_b = b["label"].where(b["error"].isna())
    label_c = c["label"].where(c["error"].isna())
    disagree = ~((label_b == label_c) | (label_b.isna() & label_c.isna()))
    errors = b["error"].notna() | c["error"].notna()
    wrong = (b["correct"] == False) | (c["correct"] == False)  # noqa: E712 — None is not wrong
    fmt = (b["format_ok"] == False) | (c["format_ok"] == False)  # noqa: E712
    heldout = b.index.get_level_values("dataset") == "heldout"
    return {
        "": len(b),
        "filter=disagreements": int(disagree.sum()),
        "filter=errors": int(errors.sum()),
        "filter=wrong": int(wrong.sum()),
        "filter=format": int(fmt.sum()),
        "dataset=heldout": int(heldout.sum()),
        "filter=disagreements&dataset=heldout": int((disagree & heldout).sum()),
        "filter=errors,wrong": int((errors & wrong).sum()),
        # search is case-insensitive; "euros" occurs only in inputs, never in an answer
        "q=EUROS": int(b["input"].str.lower().str.contains("euros").sum()),
        "q=no-such-text": 0,
    }


def test_filters_show_expected_counts(run: RunOutcome, tmp_path: Path) -> None:
    page = run.run_dir / "index.html"
    want = expected(run.table)
    # the fixture is built so that every filter has something to find, and not everything
    assert want["filter=errors"] == 1 and 0 < want["filter=disagreements"] < want[""] == 9
    paired = [d.paired.disagreements for d in run.results.datasets.values() if d.paired]
    assert want["filter=disagreements"] == sum(paired)
    # one browser per fragment, a few at a time: each spends most of its second starting up
    with ThreadPoolExecutor(max_workers=4) as pool:
        pages = pool.map(
            lambda k_f: load(page, tmp_path / f"profile-{k_f[0]}", k_f[1]), enumerate(want)
        )
        doms = dict(zip(want, pages, strict=True))
    for fragment, count in want.items():
        dom, log = doms[fragment]
        assert js_errors(dom, log) == [], fragment
        assert shown(dom) == count, fragment
        assert 'id="total-count">9<' in dom
        # the visible page has one table row per shown item (all fit on one page here)
        assert dom.count('<tr class="sample">') == count, fragment


def test_untrusted_text_stays_text(run: RunOutcome, tmp_path: Path) -> None:
    dom, log = load(run.run_dir / "index.html", tmp_path / "profile", "q=alert(3)")
    assert js_errors(dom, log) == [] and shown(dom) == 1
    # written with textContent: the DOM holds the text, not elements made from it
    assert "&lt;/script&gt;&lt;script&gt;alert(3)&lt;/script&gt;" in dom
    assert "<b>exchange</b>" not in dom


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    """The hostile suite run twice, the second time against the first as the previous
    release: the History and Release sections carry the hostile labels too."""
    root = tmp_path_factory.mktemp("hostile")
    suite = write_hostile_suite(root)
    options = RunOptions(out_dir=root / "out", cache_dir=root / "cache")
    run_suite(suite, replace(options, run_id="first"))
    with suite.open("a", encoding="utf-8") as fh:
        fh.write("previous_candidate: first\n")
    return run_suite(suite, replace(options, run_id="second"))


def test_hostile_labels_models_and_answers_stay_text(hostile: RunOutcome, tmp_path: Path) -> None:
    """Labels, model strings, the description, items and answers carry script, event handlers
    and tag closers into every section; none of them runs or becomes an element."""
    dom, log = load(hostile.run_dir / "index.html", tmp_path / "profile")
    assert js_errors(dom, log) == []
    assert "data-xss" not in dom  # set by every payload, were any to run
    assert shown(dom) == 4 and dom.count('<tr class="sample">') == 4  # the browser still works
    assert "<svg/onload" not in dom and "<img" not in dom and "<b>bold</b>" not in dom
    for text in (*HOSTILE_LABELS, *HOSTILE_MODELS.values()):
        assert html.escape(text, quote=False) in dom, text  # shown, as text
    # the per-class table, the F1 bars and the heat maps (tooltips) name the hostile labels
    assert dom.count(html.escape(HOSTILE_LABELS[0], quote=False)) >= 5
    for section in ('id="history"', 'id="release"', '<svg class="f1"', '<svg class="heat"'):
        assert section in dom, section
    # the prompt leaderboard shows what the hostile prompt sends, as text
    board = dom[dom.index('<section id="selection">') : dom.index('<section id="decision">')]
    assert 'data-prompt="hostile"' in board and "<script>" not in board
    assert "&lt;/script&gt;&lt;script&gt;document.documentElement.dataset.xss" in board


def test_a_report_with_many_labels_and_a_history_loads_cleanly(tmp_path: Path) -> None:
    """24 labels (heat maps with small cells, long labels cut) and a second run's History."""
    labels = [f"intent_{i:02d}_{'long_' * (i % 4)}label" for i in range(24)]
    items = [{"id": f"i{i}{j}", "input": f"topic{i:02d} case {j}", "target": labels[i]}
             for i in range(24) for j in range(3)]  # fmt: skip
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    answers = {f"topic{i:02d}": json.dumps({"intent": labels[(i + i % 3) % 24]}) for i in range(24)}
    suite = {
        "name": "many-labels",
        "task": {"type": "classification", "labels": labels,
                 "output": {"format": "json", "field": "intent"}},
        "arms": {
            "baseline": {"model": "evalkit-test/base", "model_args": {"answers": answers},
                         "prompt": {"text": "B {{ input }}"}},
            "candidate": {"model": "evalkit-test/tuned", "model_args": {"answers": answers},
                          "prompt": {"text": "C {{ input }}"}},
        },
        "datasets": {"heldout": {"path": "items.jsonl", "id": "id"}},
        "previous_candidate": "last",
    }  # fmt: skip
    (tmp_path / "suite.yaml").write_text(json.dumps(suite), encoding="utf-8")
    options = RunOptions(out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    for run_id in ("one", "two"):
        outcome = run_suite(tmp_path / "suite.yaml", replace(options, run_id=run_id))
    dom, log = load(outcome.run_dir / "index.html", tmp_path / "profile")
    assert js_errors(dom, log) == []
    assert dom.count('<svg class="heat"') == 2 and dom.count('<svg class="trend"') >= 4
    assert 'data-recommendation="hold"' in dom  # the same candidate as run one


def test_error_hook_catches_script_errors(run: RunOutcome, tmp_path: Path) -> None:
    """The check above can fail: a page with a broken script reports it."""
    broken = tmp_path / "broken.html"
    html = (run.run_dir / "index.html").read_text(encoding="utf-8")
    broken.write_text(html.replace("</body>", "<script>noSuchFunction();</script></body>"))
    dom, log = load(broken, tmp_path / "profile")
    assert any("noSuchFunction" in e for e in js_errors(dom, log))


def test_chromium_found() -> None:
    assert CHROMIUM.exists(), f"no chromium at {CHROMIUM}"


@pytest.fixture(scope="module")
def hostile_extraction(tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    """An extraction suite whose target values, field names and answers carry markup."""
    root = tmp_path_factory.mktemp("hostile-extraction")
    label = HOSTILE_LABELS[0]
    rows = [
        {"id": f"x{i}", "input": f"item {i} {HOSTILE_TEXT}", "target": {"who": label, "n": i}}
        for i in range(4)
    ]
    (root / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = {
        "name": "hostile-extraction",
        "task": {"type": "extraction", "fields": {"who": {"ignore_case": True}}},
        "arms": {
            "baseline": {
                "model": "evalkit-test/b",
                "model_args": {"fallback": json.dumps({"who": HOSTILE_TEXT, "n": 1})},
                "prompt": {"text": "{{ input }}"},
            },
            "candidate": {
                "model": "evalkit-test/c",
                "model_args": {"fallback": f"{HOSTILE_TEXT} " + json.dumps({"who": label, "n": 2})},
                "prompt": {"text": "{{ input }}"},
            },
        },
        "datasets": {"heldout": {"path": "items.jsonl", "id": "id"}},
        "stats": {"bootstrap": 200},
    }
    (root / "suite.yaml").write_text(json.dumps(suite), encoding="utf-8")
    return run_suite(root / "suite.yaml", RunOptions(out_dir=root / "out", cache_dir=root / "c"))


def test_field_diffs_and_style_examples_stay_text(
    hostile_extraction: RunOutcome, tmp_path: Path
) -> None:
    """Target values and answers reach the field diff, the per-field table and the style
    section's representative answers; none of them runs or becomes an element."""
    dom, log = load(hostile_extraction.run_dir / "index.html", tmp_path / "profile")
    assert js_errors(dom, log) == []
    assert "data-xss" not in dom and "<img" not in dom and "<svg/onload" not in dom
    assert dom.count('class="field-diff') == 16  # 4 items × 2 arms × 2 fields (who, n)
    assert html.escape(HOSTILE_LABELS[0].casefold(), quote=False) in dom  # a normalised value
    assert 'class="style-example"' in dom
