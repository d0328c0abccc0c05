"""The selection split: the items an arm's `prompts:` are compared on, disjoint from the report.

Prompt selection is only fair if it never sees what is reported: a prompt chosen on held-out
items is flattered by its own choice. The split is either a dataset of its own
(`selection.dev`) or a seeded split carved from `training_data` (`selection.from_training`),
and either way no item of it may share an id or an input (compared as the labels are: case
and punctuation ignored) with a reported item: held-out, out-of-domain, the training sample
or a probe. A carved split leaves such items out; a dev dataset that holds one is an error.
A prompt's own few-shot examples are kept out the same way, since a prompt scored on its own
examples is flattered too.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from evalkit.data.items import Item
from evalkit.scoring.extract import normalise


@dataclass(frozen=True)
class Overlap:
    """A selection item that is also a reported item (or a few-shot example)."""

    item: Item
    other: Item
    where: str  # the reported dataset, or the prompt whose example it is
    same: str  # "id" or "input"


def overlaps(
    split: Sequence[Item], reported: Mapping[str, Iterable[Item]], *, ids: bool = True
) -> Iterator[Overlap]:
    """Each item of `split` that shares a normalised input (or, with `ids`, an id) with an item
    of `reported` (a few-shot example's id is only its line, so examples are matched by input)."""
    by_id: dict[str, tuple[Item, str]] = {}
    by_input: dict[str, tuple[Item, str]] = {}
    for name, items in reported.items():
        for it in items:
            by_id.setdefault(it.id, (it, name))
            by_input.setdefault(normalise(it.input), (it, name))
    for it in split:
        if ids and (hit := by_id.get(it.id)):
            yield Overlap(it, hit[0], hit[1], "id")
        elif hit := by_input.get(normalise(it.input)):
            yield Overlap(it, hit[0], hit[1], "input")


def carve(
    training: Sequence[Item],
    reported: Mapping[str, Iterable[Item]],
    examples: Mapping[str, Iterable[Item]],
    n: int,
    seed: int,
    by_label: bool,
) -> tuple[tuple[Item, ...], int]:
    """A seeded split of `n` training items sharing nothing with a reported item or an example.

    With `by_label`, the split takes the labels in turn (each label's items shuffled, labels in
    sorted order), so a small split still covers every label it can: macro F1 on a split that
    misses labels would choose the prompt by the labels that happen to be there.

    Returns the split (in training-file order) and how many items were eligible; fewer than
    `n` eligible items returns an empty split.
    """
    shared = {o.item.id for o in overlaps(training, reported)}
    shared |= {o.item.id for o in overlaps(training, examples, ids=False)}
    eligible = [it for it in training if it.id not in shared]
    if len(eligible) < n:
        return (), len(eligible)
    rng = random.Random(seed)
    groups: dict[str, list[Item]] = defaultdict(list)
    for it in eligible:
        groups[it.target if by_label else ""].append(it)
    queues = []
    for label in sorted(groups):
        items = groups[label]
        rng.shuffle(items)
        queues.append(items)
    order = [q[i] for i in range(max(len(q) for q in queues)) for q in queues if i < len(q)]
    chosen = {it.id for it in order[:n]}
    return tuple(it for it in training if it.id in chosen), len(eligible)
