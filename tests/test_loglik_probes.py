"""Log-likelihood probes end to end: a loglik pack through `evalkit run`, the scripted and the
OpenAI-compatible completions providers, samples.jsonl's choice_logliks, accuracy_norm and
the forgetting verdict, the cache, and the located error for a chat-only arm."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evalkit.cli import main
from tests.conftest import ITEMS, SUITE, write_jsonl

PACK = """
name: toy-mc
version: '1'
kind: multiple_choice
method: loglik
loglik: {prompt: "Q: {{ input }}\\nA:", target_delimiter: " "}
verdicts: [{metric: accuracy_norm, higher_is_better: true, chance: 0.25}]
items: items.jsonl
source: tests
licence: CC0
"""
# item k: the right choice is "right k"; every wrong choice is one word, so per-character
# normalisation and the plain sum can disagree
PACK_ITEMS = [
    {
        "id": f"t{k}",
        "input": f"question {k}",
        "choices": ["no", f"right answer {k}", "nah"],
        "target": 1,
    }
    for k in range(40)
]


def _suite(tmp_path: Path, baseline: str, candidate: str, probe: str = "{pack: toy}") -> Path:
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "pack.yaml").write_text(PACK, encoding="utf-8")
    write_jsonl(tmp_path / "toy" / "items.jsonl", PACK_ITEMS)
    write_jsonl(tmp_path / "items.jsonl", ITEMS)
    arms = SUITE.split("arms:")[1].split("datasets:")[0]
    text = SUITE.replace(arms, f"\n  baseline:\n{baseline}\n  candidate:\n{candidate}\n")
    text += f"probes:\n  - {probe}\nprobe_margin: {{margin: 0.10, confidence: 0.95}}\n"
    suite = tmp_path / "suite.yaml"
    suite.write_text(text, encoding="utf-8")
    return suite


def _arm(model: str, args: str = "{}", base_url: str | None = None) -> str:
    url = f"\n    base_url: {base_url}" if base_url else ""
    return (f"    model: {model}{url}\n    model_args: {args}\n"
            "    prompt: {text: 'Q: {{ input }}'}")  # fmt: skip


# the baseline picks the right choice everywhere; the candidate on even items only
PREFER_ALL = json.dumps({"prefer": {f"question {k}\n": f"right answer {k}" for k in range(40)}})
PREFER_EVEN = json.dumps(
    {"prefer": {f"question {k}\n": f"right answer {k}" for k in range(0, 40, 2)}}
)


def _run(suite: Path, out: Path, *extra: str) -> int:
    return main(["run", str(suite), "--out", str(out), "--cache-dir", str(out / "cache"),
                 "--run-id", "r", *extra])  # fmt: skip


@pytest.fixture(scope="module")
def scripted(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("loglik")
    suite = _suite(
        tmp, _arm("evalkit-test/base", PREFER_ALL), _arm("evalkit-test/tuned", PREFER_EVEN)
    )
    assert _run(suite, tmp / "out") == 0
    return tmp / "out" / "tiny" / "r"


def test_probe_rows_record_each_choice_loglik_and_the_choice(scripted: Path) -> None:
    rows = pd.read_json(scripted / "samples.jsonl", lines=True)
    probe = rows[rows["dataset"] == "toy-mc"]
    assert len(probe) == 80
    for row in probe.itertuples():
        assert len(row.choice_logliks) == 3
        # anyone can recompute the choice from the recorded numbers
        assert row.choice == max(range(3), key=lambda i: row.choice_logliks[i])
        assert row.target == "1" and row.correct == (row.choice == 1)
    cand = probe[probe["arm"] == "candidate"].set_index("id")
    assert cand.loc["t0", "choice"] == 1
    # unpreferred: -2 - 0.01·len(continuation), so the shortest continuation (" no") wins
    assert cand.loc["t1", "choice"] == 0 and cand.loc["t1", "output"] == "no"


def test_accuracy_norm_and_the_forgetting_verdict(scripted: Path) -> None:
    results = json.loads((scripted / "results.json").read_text())
    metrics = {m["metric"]: m for m in results["metrics"] if m["dataset"] == "toy-mc"}
    assert metrics["accuracy"]["baseline"] == 1.0 and metrics["accuracy"]["candidate"] == 0.5
    # normalised per character: "right answer k" (-1/14) beats "no" (-2.03/2) where preferred;
    # elsewhere −(2 + 0.01·len)/len is highest for the longest choice, the right one
    assert metrics["accuracy_norm"]["candidate"] == 1.0
    [verdict] = results["probes"]
    assert (verdict["metric"], verdict["method"], verdict["informative"]) == (
        "accuracy_norm",
        "loglik",
        True,
    )
    assert verdict["non_inferior"]


def test_a_rerun_answers_loglik_probes_from_the_cache(scripted: Path, tmp_path: Path) -> None:
    suite = scripted.parent.parent.parent / "suite.yaml"
    assert _run(suite, scripted.parent.parent, "--run-id", "again") == 0
    again = pd.read_json(scripted.parent / "again" / "samples.jsonl", lines=True)
    first = pd.read_json(scripted / "samples.jsonl", lines=True)
    probe = again["dataset"] == "toy-mc"
    assert again[probe]["cached"].all()
    assert list(again[probe]["choice_logliks"]) == list(
        first[first["dataset"] == "toy-mc"]["choice_logliks"]
    )


def test_a_chat_only_arm_is_a_located_error_before_any_call(tmp_path: Path, capsys) -> None:
    suite = _suite(tmp_path, _arm("anthropic/claude-sonnet-4-5"), _arm("evalkit-test/t"))
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err
    assert "probes.0.method" in err and "'baseline'" in err and "method: generate" in err


def test_method_generate_is_refused_for_a_pack_without_a_generate_form(
    tmp_path: Path, capsys
) -> None:
    suite = _suite(tmp_path, _arm("evalkit-test/b"), _arm("evalkit-test/t"),
                   probe="{pack: toy, method: generate}")  # fmt: skip
    assert main(["validate", str(suite)]) == 2
    assert "probes.0.method" in capsys.readouterr().err


def test_a_completions_server_scores_by_echoed_prompt_logprobs(tmp_path: Path, loopback) -> None:
    """vLLM's /v1/completions with echo and logprobs (lm-eval's local-completions convention)."""
    server = loopback()
    arm = _arm("openai-api/stub/m", base_url=server.url)
    suite = _suite(tmp_path, arm, arm.replace("/m", "/n"))
    assert _run(suite, tmp_path / "out") == 0
    rows = pd.read_json(tmp_path / "out" / "tiny" / "r" / "samples.jsonl", lines=True)
    probe = rows[rows["dataset"] == "toy-mc"].set_index(["arm", "id"])
    # the stub gives each word −0.1 per character: " right answer 7" → −(5+6+1)/10
    assert probe.loc[("baseline", "t7"), "choice_logliks"] == pytest.approx([-0.2, -1.2, -0.3])
    assert probe.loc[("baseline", "t7"), "choice"] == 0
