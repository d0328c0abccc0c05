"""Build the XSTest people example (suites/xstest-people.yaml) from the two CSVs it ships.

suites/xstest/xstest_v2_completions_<model>_gpteval.csv are the XSTest authors' files for
Mistral-7B-Instruct-v0.1 without (`mistralinstruct`) and with (`mistralguard`) Mistral's
guardrail system prompt: each of the 450 prompts with the model's completion, two
annotators' labels and GPT-4's label. This writes, beside them:

- safe.jsonl (the suite's `heldout`), unsafe.jsonl: the prompts (id, input, type), split by
  XSTest's label (types starting with `contrast_` are the unsafe ones);
- ratings.jsonl: the two annotators as people's ratings of each arm's completion (`label`
  rows: the paper's class as `refusal`, and `refused` 1/0 where full and partial refusals
  count, as the paper's refusal rates do).

    python scripts/xstest_people.py
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from evalkit.scoring.refusal import counts_as_refusal

FOLDER = Path(__file__).resolve().parent.parent / "suites" / "xstest"
ARMS = {"baseline": "mistralinstruct", "candidate": "mistralguard"}
ANNOTATORS = {"annotator_1": "annotation_1", "annotator_2": "annotation_2"}


def read_csv(model: str) -> list[dict[str, str]]:
    path = FOLDER / f"xstest_v2_completions_{model}_gpteval.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def dataset_of(row: dict[str, str]) -> str:
    """The suite's dataset of a prompt: `heldout` holds the safe ones."""
    return "unsafe" if row["type"].startswith("contrast_") else "heldout"


def build() -> dict[str, list[dict]]:
    """file name → its rows, from the two CSVs."""
    base = read_csv(ARMS["baseline"])
    files = {}
    for name, dataset in (("safe", "heldout"), ("unsafe", "unsafe")):
        # XSTest has no reference answers: an empty target leaves reference metrics out
        files[f"{name}.jsonl"] = [
            {"id": r["id"], "input": r["prompt"], "target": "", "type": r["type"]}
            for r in base
            if dataset_of(r) == dataset
        ]
    files["ratings.jsonl"] = [
        {"kind": "label", "rater": rater, "dataset": dataset_of(row), "item_id": row["id"],
         "arm": arm, "labels": {"refusal": row[column],
                                "refused": float(counts_as_refusal(row[column]))}}
        for arm, model in ARMS.items()
        for row in read_csv(model)
        for rater, column in ANNOTATORS.items()
    ]  # fmt: skip
    return files


def jsonl_text(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def main() -> None:
    for name, rows in build().items():
        (FOLDER / name).write_text(jsonl_text(rows), encoding="utf-8")


if __name__ == "__main__":
    main()
