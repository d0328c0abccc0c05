"""Prompt selection and the 80–85 % reading in sentences, for summary.md and the terminal."""

from __future__ import annotations

from evalkit.report.numbers import num
from evalkit.results import Results


def selection_sentences(results: Results) -> list[str]:
    """One sentence per arm that chose its prompt, then the fine-tune-or-not reading."""
    out = []
    if (sel := results.selection) is not None:
        for arm, a in sel.arms.items():
            best = a.prompts[0]
            out.append(
                f"Prompt selection: the {arm} ran {a.chosen!r}, the best of {len(a.prompts)} "
                f"listed prompts by {sel.metric} ({num(best.score)}) on {sel.description}, "
                f"{sel.n} items that share none with {', '.join(sel.disjoint_from)}: "
                "selection never saw the held-out data."
            )
    if (d := results.decision) is not None:
        out.append(f"Fine-tune or not: {d.sentence} {d.cost_sentence}")
    return out
