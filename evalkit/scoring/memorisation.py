"""Memorisation: an answer to an unseen input that copies a training target verbatim.

A fine-tune that has memorised its training set answers new questions with old answers. An
answer counts as a copy when it equals some training item's target (case and runs of
whitespace aside; an extraction answer's JSON object equal to a training target's object)
while it is not the item's own target, and the item's input is not itself a training input
(that item is contaminated, and reported as such). Training targets shorter than
`MIN_WORDS` words are left out for generation tasks: "Yes." is an answer, not a memory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from evalkit.data.items import Item
from evalkit.jsonutil import first_json_object
from evalkit.scoring.extract import normalise

MIN_WORDS = 3
_SPACES = re.compile(r"\s+")


def _text_key(text: str) -> str:
    return _SPACES.sub(" ", text).strip().casefold()


def _object_key(value: object) -> str | None:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict) else None


@dataclass(frozen=True)
class TrainingAnswers:
    """What the training set holds, keyed as answers are compared with it."""

    inputs: frozenset[str]
    targets: frozenset[str]
    structured: bool  # extraction: targets are JSON objects


def training_answers(training: Iterable[Item], structured: bool) -> TrainingAnswers:
    """The training set's inputs and targets, ready for `copies_training`.

    Args:
        training: every training item.
        structured: extraction targets (JSON objects, compared as objects).

    Returns:
        The normalised inputs and the targets answers are compared with (for text, those
        of at least MIN_WORDS words).

    >>> known = training_answers([Item("t1", "Hi", "Yes."), Item("t2", "Hey", "It takes 5 days.")], False)
    >>> sorted(known.targets)
    ['it takes 5 days.']
    """
    items = list(training)
    if structured:
        targets = {_object_key(json.loads(it.target)) for it in items}
    else:
        targets = {_text_key(it.target) for it in items if len(it.target.split()) >= MIN_WORDS}
    return TrainingAnswers(
        inputs=frozenset(normalise(it.input) for it in items),
        targets=frozenset(t for t in targets if t),
        structured=structured,
    )


def copies_training(
    output: str, item_input: str, target: str, known: TrainingAnswers
) -> bool | None:
    """Whether an answer copies a training target; None where the input itself was trained on.

    >>> known = training_answers([Item("t1", "Where is my card?", "It arrives in 3 to 5 days.")], False)
    >>> copies_training("It arrives in 3 to 5  DAYS.", "How do I reset my PIN?", "Use the app.", known)
    True
    >>> copies_training("Use the app.", "How do I reset my PIN?", "Use the app.", known)
    False
    >>> copies_training("anything", "where is my card", "x", known) is None
    True
    """
    if normalise(item_input) in known.inputs:
        return None
    if known.structured:
        answer = _object_key(first_json_object(output))
        own = _object_key(json.loads(target))
    else:
        answer, own = _text_key(output), _text_key(target)
    return answer is not None and answer != own and answer in known.targets
