"""How far the XSTest refusal classifiers can be trusted: their agreement with two people.

Reads the shipped pack (evalkit/probes/packs/xstest/: items.jsonl, labelled_completions.jsonl)
and computes, per model and over all five, the accuracy and Cohen's kappa of each annotator
against the string-match rule (`evalkit.scoring.refusal`, run on the completions) and against
the paper's recorded GPT-4 judge, and of the two annotators against each other (the ceiling):
on refusal yes/no (full or partial refusal = yes) and on the paper's three classes. It also
gives each labeller's safe.refusal_rate and unsafe.refusal_rate, the pack's two metrics.

    python scripts/xstest_agreement.py          # rewrite the figures in docs/probe-packs-xstest.md
    python scripts/xstest_agreement.py --check  # exit 1 if the doc's figures are not these
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

from evalkit.scoring.refusal import CLASSES, classify_refusal, counts_as_refusal

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "evalkit" / "probes" / "packs" / "xstest"
DOC = ROOT / "docs" / "probe-packs-xstest.md"
BEGIN = "<!-- begin xstest-agreement: written by scripts/xstest_agreement.py, do not edit -->"
END = "<!-- end xstest-agreement -->"

MODELS = ("llama2orig", "llama2new", "mistralinstruct", "mistralguard", "gpt4")
ALL = "all five"
# Who labels a completion: its row's key (the string match is run here, not read).
RATERS = {
    "annotator 1": "annotation_1",
    "annotator 2": "annotation_2",
    "final label": "final_label",
    "string match": None,
    "GPT-4 judge": "gpt4_label",
}
PAIRS = (
    ("annotator 1", "annotator 2"),
    ("annotator 1", "string match"),
    ("annotator 2", "string match"),
    ("annotator 1", "GPT-4 judge"),
    ("annotator 2", "GPT-4 judge"),
)


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def labels_of(row: dict, rater: str) -> str | None:
    """The class `rater` gave the row's completion; None where it gave none (a judge's prose)."""
    key = RATERS[rater]
    return classify_refusal(row["completion"]) if key is None else row[key]


def _kappa(a: list, b: list, labels: list) -> float | None:
    # Undefined (None) when both raters use a single class throughout: no chance correction.
    if len(set(a) | set(b)) < 2:
        return None
    return float(cohen_kappa_score(a, b, labels=labels))


def pair_figures(rows: list[dict], first: str, second: str) -> dict:
    """Accuracy and kappa of `second` against `first` over the rows both labelled."""
    pairs = [(labels_of(r, first), labels_of(r, second)) for r in rows]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    ra, rb = [counts_as_refusal(x) for x in a], [counts_as_refusal(x) for x in b]
    n = len(pairs)
    return {
        "n": n,
        "refusal_accuracy": sum(x == y for x, y in zip(ra, rb, strict=True)) / n,
        "refusal_kappa": _kappa(ra, rb, [False, True]),
        "class_accuracy": sum(x == y for x, y in zip(a, b, strict=True)) / n,
        "class_kappa": _kappa(a, b, list(CLASSES)),
    }


def rate_figures(rows: list[dict], rater: str, label: dict[str, str]) -> dict:
    """`rater`'s refusal rate on the safe and on the unsafe prompts, with the n of each."""
    out: dict = {}
    for part in ("safe", "unsafe"):
        given = [labels_of(r, rater) for r in rows if label[r["id"]] == part]
        given = [g for g in given if g is not None]
        out[f"{part}_n"] = len(given)
        out[f"{part}.refusal_rate"] = sum(map(counts_as_refusal, given)) / len(given)
    return out


def compute(items: list[dict], completions: list[dict]) -> dict:
    """Every figure of the doc, from the pack's items and labelled completions."""
    label = {item["id"]: item["label"] for item in items}
    groups = {ALL: completions} | {m: [r for r in completions if r["model"] == m] for m in MODELS}
    agreement = [
        {"group": g, "pair": f"{first} vs {second}", **pair_figures(rows, first, second)}
        for g, rows in groups.items()
        for first, second in PAIRS
    ]
    rates = [
        {"model": m, "rater": rater, **rate_figures(groups[m], rater, label)}
        for m in MODELS
        for rater in RATERS
    ]
    return {"agreement": agreement, "rates": rates}


def _num(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def render(figures: dict) -> str:
    """The doc's generated section: the agreement table and the refusal-rate table."""
    lines = [
        BEGIN,
        "",
        "| models | pair | n | refusal accuracy | refusal κ | 3-class accuracy | 3-class κ |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for f in figures["agreement"]:
        lines.append(
            f"| {f['group']} | {f['pair']} | {f['n']} | {_num(f['refusal_accuracy'])} "
            f"| {_num(f['refusal_kappa'])} | {_num(f['class_accuracy'])} "
            f"| {_num(f['class_kappa'])} |"
        )
    lines += [
        "",
        "| model | labelled by | safe.refusal_rate | n safe | unsafe.refusal_rate | n unsafe |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for f in figures["rates"]:
        lines.append(
            f"| {f['model']} | {f['rater']} | {_num(f['safe.refusal_rate'])} | {f['safe_n']} "
            f"| {_num(f['unsafe.refusal_rate'])} | {f['unsafe_n']} |"
        )
    return "\n".join([*lines, "", END])


def section_of(text: str) -> str:
    """The generated section of a doc, markers included; ValueError where it has none."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no section between {BEGIN!r} and {END!r}")
    return text[start : end + len(END)]


def shipped_figures() -> dict:
    return compute(
        read_jsonl(PACK / "items.jsonl"), read_jsonl(PACK / "labelled_completions.jsonl")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check the doc is up to date")
    args = parser.parse_args()
    text = DOC.read_text(encoding="utf-8")
    old, new = section_of(text), render(shipped_figures())
    if args.check:
        if old != new:
            sys.exit(f"{DOC}: the agreement figures are stale; run scripts/xstest_agreement.py")
        print(f"{DOC}: figures up to date")
        return
    DOC.write_text(text.replace(old, new), encoding="utf-8")
    print(new)


if __name__ == "__main__":
    main()
