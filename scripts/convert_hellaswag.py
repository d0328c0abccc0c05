"""Build the hellaswag probe pack (evalkit/probes/packs/hellaswag/) from the shared text form.

Reads the 10,042 validation tasks of /work/shared/data/hellaswag/hellaswag_val_full.txt.bz2
(six lines a task: query, gold index, four endings) and applies lm-evaluation-harness 0.4's
hellaswag `preprocess` to the query and to every ending, so the pack's `input` and `choices`
are the strings lm-eval scores. Re-running rewrites the same bytes.

    python scripts/convert_hellaswag.py [--data /work/shared/data]
"""

from __future__ import annotations

import argparse
import bz2
import json
import re
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent.parent / "evalkit" / "probes" / "packs" / "hellaswag"
SOURCE_FILE = Path("hellaswag") / "hellaswag_val_full.txt.bz2"
EXPECTED_TASKS = 10042
LINES_PER_TASK = 6

MANIFEST = """\
name: hellaswag
version: '1'
description: 'HellaSwag: all {count} validation tasks, zero-shot, scored by log-likelihood.'
kind: multiple_choice
method: loglik
loglik:
  prompt: '{{{{ input }}}}'
  target_delimiter: ' '
verdicts:
  - {{metric: accuracy_norm, higher_is_better: true, chance: 0.25}}
items: items.jsonl
source: rowanz/hellaswag (Zellers et al. 2019, HellaSwag), text form klosax/hellaswag_text_data
licence: MIT
"""


def preprocess(text: str) -> str:
    """lm-eval 0.4's hellaswag text clean-up (tasks/hellaswag/utils.py), same steps in order."""
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def read_tasks(path: Path) -> list[dict[str, object]]:
    """One item per six-line task; a malformed task stops the build naming its line."""
    with bz2.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) % LINES_PER_TASK:
        raise SystemExit(f"{path}: {len(lines)} lines, expected a multiple of {LINES_PER_TASK}")
    items = []
    for index in range(len(lines) // LINES_PER_TASK):
        start = index * LINES_PER_TASK
        query, gold, *endings = lines[start : start + LINES_PER_TASK]
        if gold not in {"0", "1", "2", "3"}:
            raise SystemExit(f"{path} line {start + 2}: gold index {gold!r}, expected 0-3")
        items.append(
            {
                "id": f"hellaswag-{index:05d}",
                "input": preprocess(query),
                "choices": [preprocess(ending) for ending in endings],
                "target": int(gold),
            }
        )
    if len(items) != EXPECTED_TASKS:
        raise SystemExit(f"{path}: {len(items)} tasks, expected {EXPECTED_TASKS}")
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    args = parser.parse_args()
    items = read_tasks(args.data / SOURCE_FILE)
    PACK_DIR.mkdir(parents=True, exist_ok=True)
    (PACK_DIR / "pack.yaml").write_text(MANIFEST.format(count=len(items)), encoding="utf-8")
    with (PACK_DIR / "items.jsonl").open("w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"hellaswag: {len(items)} items")


if __name__ == "__main__":
    main()
