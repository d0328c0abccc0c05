"""A tiny finished run for the rating page's tests: scripted arms on a generation task with
a rubric, one item the baseline fails, and answers carrying hostile markup."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from evalkit.pipeline import RunOptions, RunOutcome, run_suite
from tests.conftest import HOSTILE_TEXT, REPO, XSS_MARK, write_jsonl

HOSTILE_ANSWER = (
    f"</script><script>{XSS_MARK}='review';alert(1)</script>"
    f"<img src=x onerror=\"{XSS_MARK}='img';alert(2)\"> " + HOSTILE_TEXT
)
QUESTIONS = {f"q{i}": f"question number {i} about my card" for i in range(1, 9)}
CRITERIA = ["resolution", "accuracy", "tone", "concision"]


def make_review_run(root: Path) -> RunOutcome:
    """Run the suite in `root`; q3 fails for the baseline, q5's answers are hostile."""
    rows = [{"id": k, "question": q, "reference": f"reference {k}"} for k, q in QUESTIONS.items()]
    write_jsonl(root / "heldout.jsonl", rows)
    judge_reply = json.dumps({"scores": {c: {"score": 4, "reason": "fine"} for c in CRITERIA}})
    suite = {
        "name": "review-test",
        "task": {"type": "generation"},
        "arms": {
            "baseline": {
                "model": "evalkit-test/base",
                "model_args": {
                    "answers": {"number 5": HOSTILE_ANSWER},
                    "fallback": "baseline says: wait a few days",
                    "fail_on": ["number 3"],
                },
                "prompt": {"text": "B: {{ input }}"},
            },
            "candidate": {
                "model": "evalkit-test/tuned",
                "model_args": {
                    "answers": {"number 5": f"<b>bold</b> {HOSTILE_ANSWER}"},
                    "fallback": "candidate says: your card ships in 3 days",
                },
                "prompt": {"text": "C: {{ input }}"},
            },
        },
        "datasets": {
            "heldout": {"path": "heldout.jsonl", "id": "id", "input": "question",
                        "target": "reference"},
        },
        "scorers": {
            "classification": False,
            "rubrics": [{"rubric": str(REPO / "rubrics/support_reply.yaml"), "pairwise": False}],
        },
        "judge": {"model": "evalkit-test/judge", "model_args": {"fallback": judge_reply}},
        "stats": {"bootstrap": 200},
        # a release needs people to prefer the candidate: fails closed until they have rated
        "gates": [{"human.win_rate": {"candidate": ">= 0.5"}}],
        "run": {"max_retries": 0},
        "allow_outside_paths": True,
    }  # fmt: skip
    path = root / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return run_suite(path, RunOptions(out_dir=root / "reports", cache_dir=root / "cache"))
