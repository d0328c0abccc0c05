"""Shared fixtures: a small scripted suite written into a temp folder, run in this process.

inspect-ai costs seconds on its first eval() in a process, so every test shares this one
process and the expensive runs are module-scoped.
"""

from __future__ import annotations

import contextlib
import json
import signal
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.loopback import Loopback, loopback_endpoint

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


@pytest.fixture(autouse=True)
def _sigterm_handler() -> Iterator[None]:
    """A test that runs the `evalkit` command's entry() (or a run) in this shared process
    leaves the command's SIGTERM handler here: every later test gets this process's own."""
    handler = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, handler)


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


@pytest.fixture
def loopback() -> Iterator[Callable[..., Loopback]]:
    """Start loopback OpenAI-compatible endpoints (see tests/loopback.py); each stops after the test.

    `loopback(*flags, answers={substring: reply}, fallback=text)` returns the running endpoint.
    """
    with contextlib.ExitStack() as stack:
        yield lambda *flags, **script: stack.enter_context(loopback_endpoint(*flags, **script))


# ---- hostile text: what a suite, a data file or a model may hold, for every output writer ----

XSS_MARK = "document.documentElement.dataset.xss"  # set only if injected script runs
HOSTILE_LABELS = [
    f"<img src=x onerror=\"{XSS_MARK}='label'\">",
    "[red]card[/red] `x` [l](https://evil.example/a) | *b* <b>bold</b>",
]
HOSTILE_MODELS = {
    "baseline": f"evalkit-test/<svg/onload={XSS_MARK}='model'>",
    "candidate": "evalkit-test/`](https://evil.example/m)![i](https://evil.example/i.png)[red]m[/red]",
}
HOSTILE_TEXT = (
    f"</script><script>{XSS_MARK}='text'</script> [red]red[/red] `a` ``b`` "
    "[link](https://evil.example/t) ![img](https://evil.example/t.png) <https://evil.example> "
    "www.evil.example | *em* _em_ ~~s~~ $x$ &lt; # \\ \x1b[31mansi\x1b]8;;https://evil.example\x07 "
    "\u202eRLO \x00nul \x0bvt"
)


def write_hostile_suite(root: Path) -> Path:
    """A scripted suite whose labels, model strings, description, items and answers are hostile."""
    import yaml

    label_a, label_b = HOSTILE_LABELS
    rows = [
        {"id": "h1", "input": f"card one {HOSTILE_TEXT}", "target": label_a},
        {"id": "h2", "input": "markup two", "target": label_b},
        {"id": "h3", "input": "card three", "target": label_a},
        {"id": "h4", "input": "markup four <script>alert(4)</script>", "target": label_b},
    ]
    write_jsonl(root / "items.jsonl", rows)
    # the selection split and a listed prompt carry it too, into the prompt leaderboard
    dev = [
        {"id": "d1", "input": f"card dev {HOSTILE_TEXT}", "target": label_a},
        {"id": "d2", "input": "markup dev", "target": label_b},
    ]
    write_jsonl(root / "dev.jsonl", dev)

    def answer(label: str) -> str:
        return json.dumps({"intent": label})

    suite = {
        "name": "hostile",
        "description": f"</script><script>{XSS_MARK}='desc'</script> [d](https://evil.example/d)",
        "task": {
            "type": "classification",
            "labels": HOSTILE_LABELS,
            "output": {"format": "json", "field": "intent"},
        },
        "arms": {
            "baseline": {
                "model": HOSTILE_MODELS["baseline"],
                "model_args": {"answers": {"card": answer(label_a)}, "fallback": HOSTILE_TEXT},
                # as good as "plain" and wordier: "plain" wins the tie, as before
                "prompts": [
                    {"name": "plain", "text": "{{ input }}"},
                    {"name": "hostile", "text": f"{HOSTILE_TEXT} {{{{ input }}}}"},
                ],
            },
            "candidate": {
                "model": HOSTILE_MODELS["candidate"],
                "model_args": {
                    "answers": {"card": answer(label_a), "markup": answer(label_b)},
                    "fallback": HOSTILE_TEXT,
                },
                "prompt": {"text": "Q: {{ input }}"},
            },
        },
        "datasets": {"heldout": {"path": "items.jsonl", "id": "id"}},
        "selection": {"dev": {"path": "dev.jsonl", "id": "id"}},
        "stats": {"bootstrap": 200},
        "run": {"max_retries": 0},
        "gates": [
            {"heldout.macro_f1": {"candidate_minus_baseline": ">= -1"}},
            {"heldout.accuracy": {"baseline": ">= 0.99"}},
        ],
    }
    path = root / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False, allow_unicode=False), encoding="utf-8")
    return path
