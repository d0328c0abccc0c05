"""Checks written for the refund-replies example suite (docs/plugins.md walks through them)."""

import re

from evalkit.plugins import Score, metric

NUMBER = re.compile(r"\d+")


def mentions_refund_window(row):
    """A reply about returns must state the 30-day window; other replies pass as they are."""
    if "return" not in row["input"].lower():
        return Score(True, "not a question about returns")
    said = "30 days" in row["output"]
    return Score(said, "states the 30-day window" if said else "the 30-day window is missing")


@metric(higher_is_better=True)
def key_facts(row):
    """The share of the reference answer's numbers (days, amounts) the reply gets right."""
    wanted = set(NUMBER.findall(row["target"]))
    if not wanted:
        return None  # nothing to check on this item: it is left out of the metric
    return len(wanted & set(NUMBER.findall(row["output"]))) / len(wanted)
