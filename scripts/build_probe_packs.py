"""Build the built-in probe packs under evalkit/probes/packs/ from /work/shared/data.

Reproducible: MMLU packs keep every row in file order; the GSM8K pack is a seeded subset of
the test split, kept in file order. Re-running with the same data and seed rewrites the same
bytes.

    python scripts/build_probe_packs.py [--data /work/shared/data] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
from pathlib import Path

import yaml

PACKS_DIR = Path(__file__).resolve().parent.parent / "evalkit" / "probes" / "packs"

MMLU_PROMPT = (
    "Answer the following multiple-choice question. "
    "Reply with the letter of the correct option.\n\n{{ input }}\n\nAnswer:"
)
GSM8K_PROMPT = (
    "Solve the following grade-school maths problem. Work it out briefly, then end with "
    'a line of the form "The answer is <number>."\n\n{{ input }}'
)
# lm-evaluation-harness 0.4's zero-shot MMLU context (tasks/mmlu/default): the task's
# `description` followed by its `doc_to_text`, which `input` below reproduces line for line.
MMLU_LOGLIK_PROMPT = (
    "The following are multiple choice questions (with answers) about {subject}.\n\n"
    "{{{{ input }}}}\nAnswer:"
)
MMLU_MAX_TOKENS = 16
GSM8K_MAX_TOKENS = 160
GSM8K_SUBSET = 300

MMLU_PACKS = {
    "mmlu-geography": ("high_school_geography_test.csv", "high school geography"),
    "mmlu-elementary-math": ("elementary_mathematics_test.csv", "elementary mathematics"),
    "mmlu-global-facts": ("global_facts_test.csv", "global facts"),
}

MMLU_SOURCE = """# {name}

All {count} test questions of the MMLU subject "{subject}" (`{csv}`), in file order.

- **Source:** hendrycks/test, https://github.com/hendrycks/test, copied unchanged into
  /work/shared/data/mmlu/ and converted by `scripts/build_probe_packs.py`.
- **Citation:** Dan Hendrycks, Collin Burns, Steven Basart, Andy Zou, Mantas Mazeika,
  Dawn Song and Jacob Steinhardt. "Measuring Massive Multitask Language Understanding".
  ICLR 2021.
- **Licence:** MIT (Copyright (c) 2020 Dan Hendrycks); the full text is in `LICENSE`.

## Conversion

Each CSV row `question,A,B,C,D,answer` becomes one item: `input` is the question with
surrounding whitespace stripped, followed by the lines `A. <option>` to `D. <option>` with each
option exactly as in the CSV (as lm-evaluation-harness renders `choices[i]`); `target` is the
answer letter; `id` is `{prefix}-NNN`, the row's 0-based position in the CSV.

## Choices

- **Default method `loglik`**, in lm-evaluation-harness 0.4's own zero-shot formulation
  (`tasks/mmlu/default`): the plain-text context is
  `"The following are multiple choice questions (with answers) about {subject}.\\n\\n"`
  followed by lm-eval's `doc_to_text`, `"<question>\\nA. ...\\nB. ...\\nC. ...\\nD. ...\\nAnswer:"`,
  byte for byte; the choices are `A`-`D`, each scored as the log-probability of `" " + letter`
  (`target_delimiter: " "`). `accuracy` is lm-eval's `acc`. tests/reference/lmeval/ holds
  lm-eval's own scores of mmlu-global-facts items and checks these contexts against lm-eval's
  template rendered on the CSV.
- **Generate form** (`prompt`, `max_tokens`) for chat-only APIs, selected with
  `method: generate` in a suite: a zero-shot neutral prompt asking for the letter only, so
  both arms (base model and fine-tune) are probed identically and the answer is cheap to
  parse.
- `max_tokens: {max_tokens}`: enough for "B", "(B)" or "Answer: B. <option>", small enough
  that a fine-tune which has collapsed into its task's format cannot ramble; such outputs
  are parse failures and count as wrong.
"""

GSM8K_SOURCE = """# gsm8k

A seeded random subset of {count} of the {total} GSM8K test problems (seed {seed}), kept in
file order.

- **Source:** openai/grade-school-math, https://github.com/openai/grade-school-math,
  `grade_school_math/data/test.jsonl`, copied unchanged into /work/shared/data/gsm8k/ and
  converted by `scripts/build_probe_packs.py`.
- **Citation:** Karl Cobbe, Vineet Kosaraju, Mohammad Bavarian, Mark Chen, Heewoo Jun,
  Lukasz Kaiser, Matthias Plappert, Jerry Tworek, Jacob Hilton, Reiichiro Nakano,
  Christopher Hesse and John Schulman. "Training Verifiers to Solve Math Word Problems".
  arXiv:2110.14168, 2021.
- **Licence:** MIT (Copyright (c) 2021 OpenAI); the full text is in `LICENSE`.

## Conversion

`input` is the `question` field; `target` is the number after `#### ` in the `answer`
field with thousands separators removed; `id` is `gsm8k-NNNN`, the problem's 0-based line
number in `test.jsonl`. The worked solutions are not shipped.

## Choices

- Zero-shot neutral prompt asking for a short working and a final line
  "The answer is <number>.", which `extract_answer("numeric", ...)` looks for first.
- `max_tokens: {max_tokens}`: room for a brief chain of reasoning on most problems while
  keeping the probe cheap; a truncated answer without a final number counts as wrong.
- {count} problems are enough to see a forgetting effect of a few points; draw fewer with
  the suite's `n:` for quicker runs.
"""


class _ManifestDumper(yaml.SafeDumper):
    """Writes multi-line strings (the prompt) as literal blocks, as the prompt reads."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ManifestDumper.add_representer(str, _str_representer)


def _write_pack(
    name: str,
    manifest: dict[str, object],
    items: list[dict[str, str]],
    source_md: str,
    licence: Path,
) -> None:
    folder = PACKS_DIR / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "pack.yaml").write_text(
        yaml.dump(manifest, Dumper=_ManifestDumper, sort_keys=False, allow_unicode=True, width=100),
        encoding="utf-8",
    )
    with (folder / "items.jsonl").open("w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    (folder / "SOURCE.md").write_text(source_md, encoding="utf-8")
    shutil.copyfile(licence, folder / "LICENSE")
    print(f"{name}: {len(items)} items")


def build_mmlu(data: Path) -> None:
    for name, (csv_name, subject) in MMLU_PACKS.items():
        prefix = name.removeprefix("mmlu-")
        with (data / "mmlu" / csv_name).open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        items = []
        for i, row in enumerate(rows):
            question, *options, answer = row
            if len(options) != 4 or answer not in "ABCD":
                raise SystemExit(f"{csv_name} row {i + 1}: unexpected shape {row!r}")
            lines = [question.strip()] + [
                f"{letter}. {text}" for letter, text in zip("ABCD", options, strict=True)
            ]
            items.append({"id": f"{prefix}-{i:03d}", "input": "\n".join(lines), "target": answer})
        manifest = {
            "name": name,
            # 2: lm-eval's loglik formulation became the default method
            "version": "2",
            "description": f"MMLU {subject}: all {len(items)} test questions, zero-shot.",
            "kind": "multiple_choice",
            "method": "loglik",
            "prompt": MMLU_PROMPT,
            "max_tokens": MMLU_MAX_TOKENS,
            "loglik": {
                "prompt": MMLU_LOGLIK_PROMPT.format(subject=subject),
                "target_delimiter": " ",
                "choices": list("ABCD"),
            },
            "items": "items.jsonl",
            "source": "hendrycks/test (Hendrycks et al. 2021, MMLU)",
            "licence": "MIT",
        }
        source_md = MMLU_SOURCE.format(
            name=name,
            count=len(items),
            subject=subject,
            csv=csv_name,
            prefix=prefix,
            max_tokens=MMLU_MAX_TOKENS,
        )
        _write_pack(name, manifest, items, source_md, data / "mmlu" / "LICENSE")


def build_gsm8k(data: Path, seed: int) -> None:
    with (data / "gsm8k" / "test.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    chosen = sorted(random.Random(seed).sample(range(len(rows)), GSM8K_SUBSET))
    items = []
    for i in chosen:
        final = rows[i]["answer"].rsplit("#### ", 1)[1].strip().replace(",", "")
        items.append(
            {"id": f"gsm8k-{i:04d}", "input": rows[i]["question"].strip(), "target": final}
        )
    manifest = {
        "name": "gsm8k",
        "version": "1",
        "description": f"GSM8K: {len(items)} test problems (seeded subset), zero-shot.",
        "kind": "numeric",
        "prompt": GSM8K_PROMPT,
        "max_tokens": GSM8K_MAX_TOKENS,
        "items": "items.jsonl",
        "source": "openai/grade-school-math (Cobbe et al. 2021, GSM8K)",
        "licence": "MIT",
    }
    source_md = GSM8K_SOURCE.format(
        count=len(items), total=len(rows), seed=seed, max_tokens=GSM8K_MAX_TOKENS
    )
    _write_pack("gsm8k", manifest, items, source_md, data / "gsm8k" / "LICENSE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    build_mmlu(args.data)
    build_gsm8k(args.data, args.seed)


if __name__ == "__main__":
    main()
