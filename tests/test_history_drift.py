"""The drift rule on synthetic records, numbers recomputed by hand: the same arm on a dataset of
the same name moving more than √(h₁² + h₂²) is drift; same data → the model changed, new data →
the data drifted; another arm is never drift."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from evalkit.history.drift import MAX_RUNS, explained, history_of, watched
from tests.history_records import arm, record

T1, T2, T3 = "2026-01-01T10:00:00+00:00", "2026-01-02T10:00:00+00:00", "2026-01-03T10:00:00+00:00"


def findings(previous: list, current: object) -> list:
    return history_of(current, previous).drift  # type: ignore[arg-type]


def test_the_allowed_move_is_the_half_width_of_a_difference_of_two_estimates() -> None:
    assert explained(0.03, 0.04) == pytest.approx(0.05)
    # the two runs' candidate intervals are ±0.04 each: they explain at most ±0.0566
    assert explained(0.04, 0.04) == pytest.approx(math.sqrt(2) * 0.04)


@pytest.mark.parametrize(
    ("new_value", "drift"),
    [(0.8 + 0.057, True), (0.8 + 0.056, False), (0.8 - 0.057, True), (0.8, False)],
)
def test_the_same_arm_on_the_same_data_moving_beyond_its_intervals_means_the_model_changed(
    new_value: float, drift: bool
) -> None:
    found = findings([record("r1", T1, value=0.8)], record("r2", T2, value=new_value))
    assert [(f.kind, f.arm) for f in found] == ([("model_changed", "candidate")] if drift else [])
    if drift:
        (f,) = found
        assert f.previous_run == "r1" and f.change == pytest.approx(new_value - 0.8)
        assert f.allowed == pytest.approx(math.hypot(0.04, 0.04))
        assert "so the model changed" in f.sentence and "since run r1" in f.sentence


def test_new_data_is_the_data_drifting() -> None:
    found = findings([record("r1", T1)], record("r2", T2, data="e" * 64, value=0.7))
    assert [(f.kind, f.dataset, f.metric) for f in found] == [
        ("data_drifted", "heldout", "macro_f1")
    ]
    assert "dddddddddddd → eeeeeeeeeeee" in found[0].sentence
    assert "the data drifted" in found[0].sentence


def test_another_arm_is_not_drift() -> None:
    retrained = arm("local/smollm2", "cand1111", adapter="b" * 64)
    # the identity is what says "the same arm": a new adapter hash makes a new identity
    other = arm("local/smollm2", "cand9999", adapter="b" * 64)
    assert findings([record("r1", T1)], record("r2", T2, candidate=other, value=0.5)) == []
    # ... and a new prompt makes a new arm even with the same model identity
    reprompted = retrained.model_copy(update={"prompt_sha256": "q" * 64})
    assert findings([record("r1", T1)], record("r2", T2, candidate=reprompted, value=0.5)) == []


def test_the_comparison_is_with_the_latest_run_of_the_same_arm() -> None:
    other = arm("local/smollm2", "cand9999")
    past = [record("r1", T1, value=0.6), record("r2", T2, candidate=other, value=0.9)]
    (f,) = findings(past, record("r3", T3, value=0.8))
    assert f.previous_run == "r1" and f.previous == pytest.approx(0.6)


def test_no_interval_means_no_judgement() -> None:
    assert findings([record("r1", T1, half=None)], record("r2", T2, value=0.2)) == []


def test_trends_hold_every_run_oldest_first_and_the_current_one_last() -> None:
    past = [record(f"r{i}", f"2026-01-{i + 1:02d}T10:00:00+00:00") for i in range(40)]
    past.append(record("x", T1, suite="another"))  # other suites never show
    current = record("now", "2026-03-01T10:00:00+00:00", value=0.81)
    history = history_of(current, past)
    assert history.past_runs == 40
    by_metric = {(t.dataset, t.metric): t for t in history.trends}
    assert set(by_metric) == {("heldout", "macro_f1"), ("gsm8k", "accuracy")}
    points = by_metric[("heldout", "macro_f1")].points["candidate"]
    assert len(points) == MAX_RUNS and points[-1].current and points[-1].run_id == "now"
    assert [p.run_id for p in points[:-1]] == [f"r{i}" for i in range(40 - MAX_RUNS + 1, 40)]
    assert (points[-1].ci_low, points[-1].ci_high) == pytest.approx((0.77, 0.85))


def test_what_history_watches() -> None:
    assert watched("task", "in_domain", "macro_f1", True)
    assert watched("task", "out_of_domain", "format_adherence", True)
    assert not watched("task", "in_domain", "error_rate", True)  # the endpoint, not the model
    assert not watched("task", "in_domain", "micro_f1", False)  # not a headline metric
    assert not watched("task", "training", "macro_f1", True)  # a memorisation diagnostic
    assert watched("probe", "probe", "accuracy", True)
    assert not watched("probe", "probe", "unparsed_rate", True)


# ---- end to end: the two findings from real runs ------------------------------------------------

DRIFT_SUITE = """
name: drift
task:
  type: classification
  labels: [card_arrival, exchange_rate]
  output: {{format: json, field: intent}}
arms:
  baseline: {{model: {base}, {where} prompt: {{text: "Query: {{{{ input }}}}"}}}}
  candidate: {{model: {tuned}, {where} prompt: {{text: "Q: {{{{ input }}}}"}}}}
datasets:
  heldout: {{path: items.jsonl, id: id}}
stats: {{bootstrap: 500}}
run: {{max_retries: 0, timeout: 30}}
"""
CARDS = [
    {"id": f"c{i}", "input": f"where is my card {i}", "target": "card_arrival"} for i in range(8)
]
RATES = [
    {"id": f"x{i}", "input": f"the exchange rate {i}", "target": "exchange_rate"} for i in range(8)
]
CARD, RATE = '{"intent": "card_arrival"}', '{"intent": "exchange_rate"}'


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _drift_run(folder: Path, suite: str, items: list[dict], run_id: str, *extra: str) -> dict:
    import json

    from evalkit.cli import main
    from tests.conftest import write_jsonl

    write_jsonl(folder / "items.jsonl", items)
    (folder / "suite.yaml").write_text(suite, encoding="utf-8")
    args = ["run", str(folder / "suite.yaml"), "--out", str(folder / "reports"),
            "--cache-dir", str(folder / "cache"), "--run-id", run_id, *extra]  # fmt: skip
    assert main(args) == 0
    return json.loads((folder / "reports" / "drift" / run_id / "results.json").read_text())


def test_a_provider_changing_the_model_behind_its_name_is_the_model_changing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One endpoint URL, one model string, the same data: only the answers behind it change."""
    from tests.loopback import loopback_endpoint

    monkeypatch.setenv("LOOP_API_KEY", "loop-key")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/v1"
    suite = DRIFT_SUITE.format(
        base="openai-api/loop/base", tuned="openai-api/loop/tuned", where=f"base_url: '{url}',"
    )
    before = {"card": CARD, "exchange": RATE}
    after = {"card": CARD}  # the "updated" model no longer knows exchange rates
    for run_id, answers in (("r1", before), ("r2", after)):
        with loopback_endpoint("--port", str(port), answers=answers, fallback="no idea"):
            results = _drift_run(tmp_path, suite, CARDS + RATES, run_id, "--no-cache")
    found = {(f["kind"], f["arm"], f["metric"]) for f in results["history"]["drift"]}
    assert ("model_changed", "baseline", "accuracy") in found
    assert ("model_changed", "candidate", "accuracy") in found
    assert {kind for kind, _, _ in found} == {"model_changed"}
    page = (tmp_path / "reports" / "drift" / "r2" / "index.html").read_text(encoding="utf-8")
    assert 'id="drift-model"' in page and 'id="drift-data"' not in page
    assert "### Drift" in (tmp_path / "reports" / "drift" / "r2" / "summary.md").read_text()


def test_new_data_moving_an_unchanged_arm_is_the_data_drifting(tmp_path: Path) -> None:
    """The same scripted arms, a new version of the held-out file: the baseline, which only
    knows cards, falls from 1.0 to 0.5."""
    where = f"model_args: {{answers: {{card: '{CARD}'}}, fallback: no idea}},"
    suite = DRIFT_SUITE.format(base="evalkit-test/base", tuned="evalkit-test/tuned", where=where)
    _drift_run(tmp_path, suite, CARDS, "r1")
    results = _drift_run(tmp_path, suite, CARDS + RATES, "r2")
    drift = [f for f in results["history"]["drift"] if f["metric"] == "accuracy"]
    assert {(f["kind"], f["arm"]) for f in drift} == {
        ("data_drifted", "baseline"),
        ("data_drifted", "candidate"),
    }
    (f,) = [f for f in drift if f["arm"] == "baseline"]
    assert (f["previous"], f["current"]) == (1.0, 0.5)
    assert f["allowed"] < 0.5  # r1's interval is [1, 1]; r2's explains less than the fall
    page = (tmp_path / "reports" / "drift" / "r2" / "index.html").read_text(encoding="utf-8")
    assert 'id="drift-data"' in page and 'id="drift-model"' not in page
