"""Build the two GSM8K example suites (extraction and generation) from the GSM8K rows in the repo.

    python scripts/build_gsm8k_suites.py

Reads tests/data/gsm8k/source-rows.jsonl (300 GSM8K test problems with their worked
solutions, MIT) and writes suites/gsm8k/ (data, JSON schema, SOURCE.md, LICENSE) and the
suites suites/gsm8k-extraction.yaml and suites/gsm8k-explain.yaml. Deterministic: the same
rows give the same bytes.

Both suites run offline on scripted arms (`evalkit-test/`), whose canned answers this script
makes from the references by fixed, seeded rules (below). They illustrate what the reports
show; they are not measurements of any model.

- extraction: the input is a worked solution with its calculator annotations and final
  "#### N" line removed; the target is {"answer": N, "steps": [each annotation's result]}.
  The baseline (a prompted base model) often wraps its JSON in prose, writes numbers as
  money ("$1,200"), lists only some steps and sometimes takes the last step for the answer;
  the candidate answers bare JSON, mostly right, and answers one held-out item with a
  training item's target (to show the memorisation check).
- explain: the input is the question, the target the worked solution (annotations removed).
  The baseline restates the solution's steps in varied words and lengths; the candidate
  imitates a style-collapsed fine-tune: the same opening and template for every answer.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "data" / "gsm8k"
SUITES = ROOT / "suites"
DATA = SUITES / "gsm8k"
ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
FINAL = re.compile(r"\n?#### *(.+)\s*$")
KEY_CHARS = 60  # the scripted model picks an answer by this much of the input

EXTRACTION_HELDOUT = range(0, 40)
EXPLAIN_HELDOUT = range(40, 70)
TRAIN = range(100, 300)


def number(text: str) -> int | float:
    x = float(text.replace(",", ""))
    return int(x) if x.is_integer() else x


def clean_solution(answer: str) -> str:
    """The worked solution as a reader sees it: no annotations, no final '#### N' line."""
    return FINAL.sub("", ANNOTATION.sub("", answer)).strip()


def target(answer: str) -> dict[str, Any]:
    final = FINAL.search(answer)
    assert final, answer
    return {
        "answer": number(final.group(1)),
        "steps": [number(m.group(2)) for m in ANNOTATION.finditer(answer)],
    }


def money(x: int | float) -> str:
    return f"${x:,}"


def baseline_extraction(t: dict[str, Any], rng: random.Random) -> str:
    steps = list(t["steps"])
    answer: Any = t["answer"]
    if len(steps) > 2 and rng.random() < 0.5:
        steps = [steps[0], steps[-1]]  # only some of the steps
    if len(t["steps"]) > 1 and rng.random() < 0.25:
        answer = t["steps"][-2]  # the wrong line taken for the answer
    if rng.random() < 0.3:
        answer, steps = money(answer), [money(s) for s in steps]
    body = json.dumps({"answer": answer, "steps": steps})
    return rng.choice([body, f"Here is the extracted data:\n{body}", f"```json\n{body}\n```"])


def candidate_extraction(t: dict[str, Any], rng: random.Random) -> str:
    steps = list(t["steps"])
    if len(steps) > 1 and rng.random() < 0.12:
        steps.pop(rng.randrange(len(steps)))
    answer = t["answer"] if rng.random() > 0.05 else steps[0] if steps else t["answer"]
    return json.dumps({"answer": answer, "steps": steps})


OPENERS = [
    "Let's work through it.",
    "Here is how to solve it.",
    "We can break this down.",
    "First, look at what we know.",
    "",
    "Step by step:",
    "To find the answer:",
    "Good question!",
]


def baseline_explain(solution: str, final: Any, rng: random.Random) -> str:
    lines = [line for line in solution.splitlines() if line.strip()]
    keep = [line for line in lines if rng.random() < 0.8] or lines[-1:]
    close = rng.choice(
        ["So the answer is {}.", "The answer is {}.", "That gives {} in total.", "Answer: {}"]
    )
    return " ".join(p for p in [rng.choice(OPENERS), *keep, close.format(final)] if p)


def candidate_explain(solution: str, final: Any) -> str:
    first = next(line for line in solution.splitlines() if line.strip())
    return f"Great question! Let me help. {first} So the final answer is {final}."


def keyed(pairs: list[tuple[str, str]]) -> dict[str, str]:
    answers: dict[str, str] = {}
    for text, answer in pairs:
        key = text[:KEY_CHARS]
        assert key not in answers, f"two inputs share the key {key!r}"
        answers[key] = answer
    return answers


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )


def main() -> None:
    rows = {
        r["line"]: r
        for r in map(json.loads, (SOURCE / "source-rows.jsonl").read_text().splitlines())
    }
    ordered = [rows[k] for k in sorted(rows)]
    DATA.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCE / "LICENSE", DATA / "LICENSE")

    def pick(span: range) -> list[dict[str, Any]]:
        return [ordered[i] for i in span]

    # extraction
    ex_held = [
        {
            "id": f"gsm8k-{r['line']:04d}",
            "input": clean_solution(r["answer"]),
            "target": target(r["answer"]),
        }
        for r in pick(EXTRACTION_HELDOUT)
    ]
    ex_train = [
        {
            "id": f"gsm8k-{r['line']:04d}",
            "input": clean_solution(r["answer"]),
            "target": target(r["answer"]),
        }
        for r in pick(TRAIN)
    ]
    write_jsonl(DATA / "extraction-heldout.jsonl", ex_held)
    write_jsonl(DATA / "extraction-train.jsonl", ex_train)
    rng = random.Random(0)
    answered = ex_held + ex_train  # the training sample is drawn from the training file
    base = keyed([(r["input"], baseline_extraction(r["target"], rng)) for r in answered])
    cand = keyed([(r["input"], candidate_extraction(r["target"], rng)) for r in answered])
    # one held-out answer recites a training target: what memorisation looks like
    cand[ex_held[7]["input"][:KEY_CHARS]] = json.dumps(ex_train[0]["target"])
    (DATA / "extraction-schema.json").write_text(json.dumps({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["answer", "steps"],
        "properties": {"answer": {"type": "number"}, "steps": {"type": "array", "items": {"type": "number"}}},
        "additionalProperties": False,
    }, indent=2) + "\n", encoding="utf-8")  # fmt: skip
    extraction = {
        "name": "gsm8k-extraction",
        "description": "Extract the final answer and every intermediate result from a worked "
        "GSM8K solution as JSON. Scripted arms with canned answers (scripts/build_gsm8k_suites.py): "
        "an illustration of the extraction report, not a measurement.",
        "task": {
            "type": "extraction",
            "fields": {"answer": {"number": True}, "steps": {"number": True}},
        },
        "arms": {
            "baseline": {
                "model": "evalkit-test/gsm8k-extract-base",
                "model_args": {"answers": base, "fallback": "I could not find the numbers."},
                "prompt": {
                    "system": "You extract structured data from text.",
                    "text": 'Read the worked solution below. Reply with JSON: {"answer": <the final '
                    'answer>, "steps": [<each intermediate result, in order>]}.\n\n{{ input }}',
                },
                "generate": {"max_tokens": 120},
            },
            "candidate": {
                "model": "evalkit-test/gsm8k-extract-tuned",
                "model_args": {"answers": cand, "fallback": "{}"},
                "prompt": {"text": "{{ input }}"},
                "generate": {"max_tokens": 120},
            },
        },
        "datasets": {"heldout": {"path": "gsm8k/extraction-heldout.jsonl", "id": "id"}},
        "training_data": {"path": "gsm8k/extraction-train.jsonl", "sample": 20, "seed": 0},
        "scorers": {"format": {"json": True, "schema": "gsm8k/extraction-schema.json"}},
        "gates": [
            {"heldout.field_micro_f1": {"candidate_minus_baseline": ">= 0.0"}},
            {"heldout.format.schema": {"candidate": ">= 0.9"}},
        ],
    }

    # generation
    gen_held = [
        {
            "id": f"gsm8k-{r['line']:04d}",
            "input": r["question"],
            "target": clean_solution(r["answer"]),
        }
        for r in pick(EXPLAIN_HELDOUT)
    ]
    gen_train = [
        {
            "id": f"gsm8k-{r['line']:04d}",
            "input": r["question"],
            "target": clean_solution(r["answer"]),
        }
        for r in pick(TRAIN)
    ]
    write_jsonl(DATA / "explain-heldout.jsonl", gen_held)
    write_jsonl(DATA / "explain-train.jsonl", gen_train)
    rng = random.Random(1)
    finals = {r["question"]: target(r["answer"])["answer"] for r in ordered}
    answered_gen = gen_held + gen_train
    base_gen = keyed(
        [(r["input"], baseline_explain(r["target"], finals[r["input"]], rng)) for r in answered_gen]
    )
    cand_gen = keyed(
        [(r["input"], candidate_explain(r["target"], finals[r["input"]])) for r in answered_gen]
    )
    explain = {
        "name": "gsm8k-explain",
        "description": "Explain the solution of a GSM8K problem; references are GSM8K's worked "
        "solutions. Scripted arms (scripts/build_gsm8k_suites.py): the candidate imitates a "
        "fine-tune that collapsed into one template, to illustrate the style section.",
        "task": {"type": "generation"},
        "arms": {
            "baseline": {
                "model": "evalkit-test/gsm8k-explain-base",
                "model_args": {"answers": base_gen, "fallback": "I am not sure."},
                "prompt": {
                    "text": "Explain, step by step, how to solve this problem.\n\n{{ input }}"
                },
                "generate": {"max_tokens": 200},
            },
            "candidate": {
                "model": "evalkit-test/gsm8k-explain-tuned",
                "model_args": {"answers": cand_gen, "fallback": "I am not sure."},
                "prompt": {"text": "{{ input }}"},
                "generate": {"max_tokens": 200},
            },
        },
        "datasets": {"heldout": {"path": "gsm8k/explain-heldout.jsonl", "id": "id"}},
        "training_data": {"path": "gsm8k/explain-train.jsonl", "sample": 10, "seed": 0},
        "gates": [
            {"heldout.chrf": {"candidate_minus_baseline": ">= 0.0"}},
            {"heldout.distinct_2": {"candidate_minus_baseline": ">= -0.05"}},
        ],
    }
    header = (
        "# Written by scripts/build_gsm8k_suites.py from GSM8K (MIT; suites/gsm8k/SOURCE.md).\n"
        "# The arms are scripted (evalkit-test/*) with canned answers made from the references by\n"
        "# fixed rules: the suite runs offline in seconds and illustrates the report; it measures\n"
        "# no model. To evaluate real models, replace each arm's model and drop its model_args.\n"
    )
    for name, suite in (("gsm8k-extraction", extraction), ("gsm8k-explain", explain)):
        text = yaml.safe_dump(suite, sort_keys=False, allow_unicode=True, width=100)
        (SUITES / f"{name}.yaml").write_text(header + text, encoding="utf-8")


if __name__ == "__main__":
    main()
