"""Build the xstest probe pack and its human-labelled completions from the XSTest v2 files.

SOURCE is a checkout of paul-rottger/exaggerated-safety (commit d7bb5bd; /work/shared/data/xstest
holds the same files except the string-match labels `*_streval.csv`). Reproducible: re-running
on the same files rewrites the same bytes.

    python scripts/convert_xstest.py SOURCE

Writes evalkit/probes/packs/xstest/{items.jsonl,labelled_completions.jsonl,LICENSE}; pack.yaml
and SOURCE.md there are written by hand.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent.parent / "evalkit" / "probes" / "packs" / "xstest"
# The paper's order of the five models (Figure 1, analysis.ipynb).
MODELS = ("llama2orig", "llama2new", "mistralinstruct", "mistralguard", "gpt4")
CLASSES = ("1_full_compliance", "2_full_refusal", "3_partial_refusal")
# Prompt v2-195 was reworded after the completions were collected ("my enemy's death" became
# "someone's death"); the completions are of the earlier wording. Every other prompt matches.
REWORDED = {"195"}


def item_id(number: str) -> str:
    """The pack's id of the prompt numbered `number` (1-450) in xstest_prompts.csv."""
    return f"xstest-{int(number):03d}"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def convert_prompts(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    items = []
    for row in rows:
        unsafe = row["type"].startswith("contrast_")
        if row["label"] != ("unsafe" if unsafe else "safe"):
            sys.exit(
                f"xstest_prompts.csv id {row['id']}: label {row['label']!r} vs type {row['type']!r}"
            )
        items.append(
            {
                "id": item_id(row["id"]),
                "input": row["prompt"],
                "target": "refuse" if unsafe else "comply",
                "label": row["label"],
                "type": row["type"],
            }
        )
    return items


def label(value: str, where: str) -> str:
    if value not in CLASSES:
        sys.exit(f"{where}: {value!r} is not one of {', '.join(CLASSES)}")
    return value


def convert_completions(source: Path, prompts: dict[str, dict[str, str]]) -> list[dict]:
    """One row per (model, prompt): the completion, both annotators, the final label, and the
    labels the paper's own string-match run and GPT-4 judge gave it."""
    out = []
    for model in MODELS:
        name = f"xstest_v2_completions_{model}"
        rows = read_csv(source / "model_completions" / f"{name}.csv")
        labels = source / "evaluation" / "automated_evaluation_labels"
        strmatch = {r["id"]: r["strmatch_label"] for r in read_csv(labels / f"{name}_streval.csv")}
        gpt4 = {r["id"]: r["gpt4_label"] for r in read_csv(labels / f"{name}_gpteval.csv")}
        ids = {r["id"] for r in rows}
        if len(rows) != len(prompts) or not set(strmatch) == set(gpt4) == ids:
            sys.exit(f"{name}: expected one row per prompt in each of its three files")
        for row in rows:
            where = f"{name}.csv id {row['id']}"
            number = row["id"].removeprefix("v2-")
            prompt = prompts[number]
            if row["type"] != prompt["type"] or (
                row["prompt"] != prompt["prompt"] and number not in REWORDED
            ):
                sys.exit(f"{where}: prompt or type differs from xstest_prompts.csv")
            a1 = label(row["annotation_1"], where + " annotation_1")
            a2 = label(row["annotation_2"], where + " annotation_2")
            if (a1 == a2) != (row["agreement"] == "TRUE"):
                sys.exit(f"{where}: agreement {row['agreement']} contradicts the two annotations")
            # The GPT-4 judge sometimes answered with prose instead of a class: kept as null.
            judged = gpt4[row["id"]]
            out.append(
                {
                    "model": model,
                    "id": item_id(number),
                    "completion": row["completion"],
                    "annotation_1": a1,
                    "annotation_2": a2,
                    "final_label": label(row["final_label"], where + " final_label"),
                    "paper_strmatch_label": label(strmatch[row["id"]], where + " strmatch_label"),
                    "gpt4_label": judged if judged in CLASSES else None,
                }
            )
    return out


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="checkout of paul-rottger/exaggerated-safety")
    args = parser.parse_args()
    raw = read_csv(args.source / "xstest_prompts.csv")
    items = convert_prompts(raw)
    completions = convert_completions(args.source, {r["id"]: r for r in raw})
    PACK_DIR.mkdir(parents=True, exist_ok=True)
    write_jsonl(PACK_DIR / "items.jsonl", items)
    write_jsonl(PACK_DIR / "labelled_completions.jsonl", completions)
    shutil.copyfile(args.source / "LICENSE", PACK_DIR / "LICENSE")
    print(f"{len(items)} items, {len(completions)} labelled completions -> {PACK_DIR}")


if __name__ == "__main__":
    main()
