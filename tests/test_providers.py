"""Provider strings, proved: API-model arms run through the public entry against a loopback endpoint.

The candidate is an OpenAI fine-tune (`openai/ft:...`, its endpoint in the suite's `base_url`),
the baseline any OpenAI-compatible server (`openai-api/<svc>/<model>`, its endpoint and key in
`<SVC>_BASE_URL` and `<SVC>_API_KEY`). The endpoint counts the model ids it receives.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from inspect_ai.log import read_eval_log

from evalkit.cli import main
from tests.conftest import ITEMS, write_jsonl

FINE_TUNE = "ft:gpt-4o-mini:org::id"
KEY = "sk-dummy-key-never-written-anywhere"

SUITE = """
name: providers
task:
  type: classification
  labels: [card_arrival, exchange_rate]
  output: {{format: json, field: intent}}
arms:
  baseline:
    model: openai-api/loopback/base-model
    prompt: {{text: "Baseline prompt: {{{{ input }}}}"}}
  candidate:
    model: "openai/{fine_tune}"
    base_url: {url}
    prompt: {{text: "{{{{ input }}}}"}}
datasets:
  heldout: {{path: items.jsonl, id: id}}
run: {{max_retries: 0, timeout: 30}}
"""

# The endpoint answers by prompt (longest key first): the base prompt always gets
# card_arrival (right on half of ITEMS), the tuned prompt the right label every time.
CARD, EXCHANGE = '{"intent": "card_arrival"}', '{"intent": "exchange_rate"}'
ANSWERS = {"Baseline prompt:": CARD, "exchange": EXCHANGE}


def _run_folder_texts(run_dir: Path) -> dict[str, str]:
    """Every file of the run folder as text; an inspect log (an archive) as its whole content."""
    return {
        str(path): read_eval_log(str(path)).model_dump_json()
        if path.suffix == ".eval"
        else path.read_text("utf-8", "replace")
        for path in run_dir.rglob("*")
        if path.is_file()
    }


def test_fine_tuned_and_compatible_model_ids_reach_the_endpoint_unchanged(
    loopback, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = loopback(answers=ANSWERS, fallback=CARD)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("LOOPBACK_API_KEY", KEY)
    monkeypatch.setenv("LOOPBACK_BASE_URL", endpoint.url)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    write_jsonl(tmp_path / "items.jsonl", ITEMS)
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(fine_tune=FINE_TUNE, url=endpoint.url), encoding="utf-8")

    code = main(["run", str(suite), "--out", str(tmp_path / "reports"),
                 "--cache-dir", str(tmp_path / "cache")])  # fmt: skip

    assert code == 0
    stats = endpoint.stats()
    # the fine-tuned id arrives verbatim; the openai-api service prefix is stripped
    assert stats["models"] == {FINE_TUNE: len(ITEMS), "base-model": len(ITEMS)}
    assert stats["requests"] == stats["answered"] == 2 * len(ITEMS)
    run_dir = (tmp_path / "reports" / "providers" / "latest").resolve()
    samples = pd.read_json(run_dir / "samples.jsonl", lines=True)
    correct = samples.groupby("arm")["correct"].sum().to_dict()
    assert correct == {"candidate": len(ITEMS), "baseline": 3}  # half of ITEMS are card_arrival
    results = json.loads((run_dir / "results.json").read_text())
    assert results["arms"]["candidate"]["model"] == f"openai/{FINE_TUNE}"
    # the key came from the environment and is written nowhere: results, samples, report, logs
    texts = _run_folder_texts(run_dir)
    assert any(FINE_TUNE in text for path, text in texts.items() if path.endswith(".eval"))
    assert [path for path, text in texts.items() if KEY in text] == []
