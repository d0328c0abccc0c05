"""Build the ifeval probe pack from google-research's `instruction_following_eval/data/`.

SOURCE is that folder (google-research/google-research, commit 7afefd4). Reproducible:
re-running on the same files rewrites the same bytes.

    python scripts/convert_ifeval.py SOURCE

Writes evalkit/probes/packs/ifeval/items.jsonl (the 541 prompts, their instruction ids and
kwargs) and tests/reference/ifeval/gpt4_responses.jsonl (GPT-4's published responses, which
tests/test_ifeval.py scores against the paper); pack.yaml, SOURCE.md and LICENSE there are
written by hand.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACK_DIR = ROOT / "evalkit" / "probes" / "packs" / "ifeval"
REFERENCE_DIR = ROOT / "tests" / "reference" / "ifeval"
RESPONSES = "input_response_data_gpt4_20231107_145030.jsonl"


def item(row: dict) -> dict:
    """One pack item: the prompt as `input`, no target (the instructions are checked)."""
    return {
        "id": f"ifeval-{row['key']}",
        "key": row["key"],
        "input": row["prompt"],
        "target": "",
        "instruction_id_list": row["instruction_id_list"],
        "kwargs": row["kwargs"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", type=Path)
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in (args.source / "input_data.jsonl").open(encoding="utf-8")]
    prompts = {row["prompt"] for row in rows}
    responses = (args.source / RESPONSES).read_text(encoding="utf-8")
    answered = {json.loads(line)["prompt"] for line in responses.splitlines()}
    if answered != prompts or len(rows) != 541:
        print("the responses do not answer exactly the 541 prompts", file=sys.stderr)
        return 1
    PACK_DIR.mkdir(parents=True, exist_ok=True)
    with (PACK_DIR / "items.jsonl").open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(item(row), ensure_ascii=False) + "\n")
    REFERENCE_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.source / RESPONSES, REFERENCE_DIR / "gpt4_responses.jsonl")
    print(f"wrote {len(rows)} items to {PACK_DIR / 'items.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
