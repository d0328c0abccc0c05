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
    {baseline}
    prompt: {{text: "Baseline prompt: {{{{ input }}}}"}}
  candidate:
    {candidate}
    prompt: {{text: "{{{{ input }}}}"}}
datasets:
  heldout: {{path: items.jsonl, id: id}}
run: {{max_retries: 0, timeout: 30}}
"""

# The endpoint answers by prompt (longest key first): the base prompt always gets
# card_arrival (right on half of ITEMS), the tuned prompt the right label every time.
CARD, EXCHANGE = '{"intent": "card_arrival"}', '{"intent": "exchange_rate"}'
ANSWERS = {"Baseline prompt:": CARD, "exchange": EXCHANGE}


def _run(folder: Path, baseline: str, candidate: str) -> tuple[int, Path]:
    """Run the suite with these arm lines (model, base_url) through the CLI; the run folder."""
    write_jsonl(folder / "items.jsonl", ITEMS)
    suite = folder / "suite.yaml"
    suite.write_text(SUITE.format(baseline=baseline, candidate=candidate), encoding="utf-8")
    code = main(["run", str(suite), "--out", str(folder / "reports"),
                 "--cache-dir", str(folder / "cache"), "--inspect-logs"])  # fmt: skip
    return code, (folder / "reports" / "providers" / "latest").resolve()


def _run_folder_texts(run_dir: Path) -> dict[str, str]:
    """Every file of the run folder as text; an inspect log (an archive) as its whole content."""
    return {
        str(path): read_eval_log(str(path)).model_dump_json()
        if path.suffix == ".eval"
        else path.read_text("utf-8", "replace")
        for path in run_dir.rglob("*")
        if path.is_file()
    }


@pytest.fixture(autouse=True)
def _loopback_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ambient endpoint or proxy: every URL and key a test relies on, it sets itself."""
    for var in ("OPENAI_BASE_URL", "OLLAMA_BASE_URL", "LLAMA_CPP_PYTHON_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


def test_fine_tuned_and_compatible_model_ids_reach_the_endpoint_unchanged(
    loopback, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = loopback(answers=ANSWERS, fallback=CARD)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("LOOPBACK_API_KEY", KEY)
    monkeypatch.setenv("LOOPBACK_BASE_URL", endpoint.url)

    code, run_dir = _run(
        tmp_path,
        baseline="model: openai-api/loopback/base-model",
        candidate=f'model: "openai/{FINE_TUNE}"\n    base_url: {endpoint.url}',
    )

    assert code == 0
    stats = endpoint.stats()
    # the fine-tuned id arrives verbatim; the openai-api service prefix is stripped
    assert stats["models"] == {FINE_TUNE: len(ITEMS), "base-model": len(ITEMS)}
    assert stats["requests"] == stats["answered"] == 2 * len(ITEMS)
    samples = pd.read_json(run_dir / "samples.jsonl", lines=True)
    correct = samples.groupby("arm")["correct"].sum().to_dict()
    assert correct == {"candidate": len(ITEMS), "baseline": 3}  # half of ITEMS are card_arrival
    results = json.loads((run_dir / "results.json").read_text())
    assert results["arms"]["candidate"]["model"] == f"openai/{FINE_TUNE}"
    # the key came from the environment and is written nowhere: results, samples, report, logs
    texts = _run_folder_texts(run_dir)
    assert any(FINE_TUNE in text for path, text in texts.items() if path.endswith(".eval"))
    assert [path for path, text in texts.items() if KEY in text] == []


def test_local_server_model_strings_need_only_a_base_url(
    loopback, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Ollama and llama.cpp strings of docs/providers.md: no API key, the model id as written."""
    endpoint = loopback(answers=ANSWERS, fallback=CARD)
    monkeypatch.setenv("OLLAMA_BASE_URL", endpoint.url)
    monkeypatch.setenv("LLAMA_CPP_PYTHON_BASE_URL", endpoint.url)
    for var in ("OLLAMA_API_KEY", "LLAMA_CPP_PYTHON_API_KEY"):
        monkeypatch.delenv(var, raising=False)

    code, _ = _run(
        tmp_path,
        baseline="model: ollama/llama3.2:1b",
        candidate="model: llama-cpp-python/my-fine-tune",
    )

    assert code == 0
    assert endpoint.stats()["models"] == {"llama3.2:1b": len(ITEMS), "my-fine-tune": len(ITEMS)}
