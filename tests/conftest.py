"""Shared fixtures: a small scripted suite written into a temp folder, run in this process.

inspect-ai costs seconds on its first eval() in a process, so every test shares this one
process and the expensive runs are module-scoped.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

ITEMS = [
    {"id": "q1", "input": "where is my new card", "target": "card_arrival"},
    {"id": "q2", "input": "what exchange rate do you use", "target": "exchange_rate"},
    {"id": "q3", "input": "card still has not arrived", "target": "card_arrival"},
    {"id": "q4", "input": "is the exchange fee fair", "target": "exchange_rate"},
    {"id": "q5", "input": "my card got lost in the post", "target": "card_arrival"},
    {"id": "q6", "input": "please explain the exchange of euros", "target": "exchange_rate"},
]

# The baseline knows "card" only when the query says "where"; the candidate knows both.
SUITE = """
name: tiny
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
    prompt: {text: "Labels: {{ labels | join(', ') }}\\nQuery: {{ input }}"}
  candidate:
    model: evalkit-test/tuned
    model_args:
      answers: {"card": '{"intent": "card_arrival"}', "exchange": '{"intent": "exchange_rate"}'}
    prompt: {text: "Q: {{ input }}"}
datasets:
  heldout: {path: items.jsonl, id: id}
run: {max_retries: 0}
"""


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def make_suite(tmp_path: Path) -> Callable[..., Path]:
    """Write a suite (default: the tiny scripted one) and its data into a temp folder."""

    def make(text: str = SUITE, items: list[dict] | None = None, **files: str) -> Path:
        write_jsonl(tmp_path / "items.jsonl", ITEMS if items is None else items)
        for name, content in files.items():
            (tmp_path / name).write_text(textwrap.dedent(content), encoding="utf-8")
        suite = tmp_path / "suite.yaml"
        suite.write_text(textwrap.dedent(text), encoding="utf-8")
        return suite

    return make
