"""Label extraction: the model's raw answer → one of the task's labels, or no label.

"No parsable label" is its own outcome (`label=None`), counted and shown, never a silent miss.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from evalkit.jsonutil import first_json_object

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True)
class Extraction:
    label: str | None  # a label from the set, or the raw answer when it is outside the set
    parsed: bool  # an answer was found at all (JSON field present, or a label named in text)
    in_set: bool


def normalise(text: str) -> str:
    """Lowercase, every run of non-alphanumerics to one space.

    >>> normalise("Card-Arrival!"), normalise("card_arrival")
    ('card arrival', 'card arrival')
    """
    return _NON_ALNUM.sub(" ", text.lower()).strip()


def match_label(answer: str, labels: Sequence[str]) -> str | None:
    """The label `answer` names, ignoring case and punctuation; None when it names none.

    >>> match_label("Card-Arrival", ["card_arrival", "exchange_rate"])
    'card_arrival'
    >>> match_label("refund", ["card_arrival"]) is None
    True
    """
    return by_normal_form(tuple(labels)).get(normalise(answer))


@lru_cache(maxsize=16)
def normalised(labels: tuple[str, ...]) -> Mapping[str, str]:
    """Each label's normalised form, computed once per label set rather than once per answer
    (a run reads thousands of answers against the same 77 labels).

    >>> dict(normalised(("Card-Arrival", "exchange_rate")))
    {'Card-Arrival': 'card arrival', 'exchange_rate': 'exchange rate'}
    """
    return {lab: normalise(lab) for lab in labels}


@lru_cache(maxsize=16)
def by_normal_form(labels: tuple[str, ...]) -> Mapping[str, str]:
    """The label each normalised form names (the last of labels that normalise alike).

    >>> dict(by_normal_form(("Card-Arrival", "exchange_rate")))
    {'card arrival': 'Card-Arrival', 'exchange rate': 'exchange_rate'}
    """
    return {key: lab for lab, key in normalised(labels).items()}


def same_label(answer: str | None, target: str) -> bool:
    """Whether an extracted answer is the target, compared as labels are (case and punctuation
    aside), so a target outside the label set is matched like one inside it.

    >>> same_label("out of scope", "Out_Of_Scope"), same_label(None, "card")
    (True, False)
    """
    return answer is not None and normalise(answer) == normalise(target)


def extract_label(output: str, labels: Sequence[str], fmt: str, field: str | None) -> Extraction:
    """The label a model's raw answer gives, read as the task's output format says.

    Args:
        output: the raw answer.
        labels: the task's labels.
        fmt: "json" (the label is `field` of the first JSON object) or "text" (the answer
            is a label, or names exactly one label in prose; a longer label wins over a
            shorter one it contains).
        field: the JSON key holding the label (json only).

    Returns:
        Extraction: the label (a task label, or the raw JSON value when it is none of
        them), whether an answer was found at all, and whether it is in the label set.

    >>> labels = ["card_arrival", "card", "exchange_rate"]
    >>> extract_label('Sure! {"intent": "Card Arrival"}', labels, "json", "intent")
    Extraction(label='card_arrival', parsed=True, in_set=True)
    >>> extract_label('{"intent": "refund"}', labels, "json", "intent")
    Extraction(label='refund', parsed=True, in_set=False)
    >>> extract_label("The intent is card arrival.", labels, "text", None).label
    'card_arrival'
    >>> extract_label("Either card or exchange rate", labels, "text", None).parsed
    False
    """
    if fmt == "json":
        value = first_json_object(output)
        if not isinstance(value, dict) or field not in value or value[field] is None:
            return Extraction(label=None, parsed=False, in_set=False)
        raw = str(value[field]).strip()
        if not raw:  # {"intent": ""} names no label: an answer with nothing in it
            return Extraction(label=None, parsed=False, in_set=False)
        label = match_label(raw, labels)
        return Extraction(label=label or raw, parsed=True, in_set=label is not None)
    label = match_label(output, labels)
    if label:
        return Extraction(label=label, parsed=True, in_set=True)
    # A label named inside prose counts only when exactly one label is named; a longer
    # label that contains a shorter one ("card arrival" vs "card") wins over it.
    text = f" {normalise(output)} "
    norm = normalised(tuple(labels))
    found = [lab for lab in labels if f" {norm[lab]} " in text]
    found = [a for a in found if not any(a != b and norm[a] in norm[b] for b in found)]
    if len(found) == 1:
        return Extraction(label=found[0], parsed=True, in_set=True)
    return Extraction(label=None, parsed=False, in_set=False)
