"""The held-out split of `evalkit init`: seeded, stratified by label, duplicates kept on one side.

Rows whose inputs are identical after normalisation form one group, and a group goes to the
held-out split or to training whole: a held-out item can never be in the training data
verbatim. Near-duplicates (word n-gram containment, `evalkit.analysis.contamination`) cannot
be grouped that simply; they are reported, and kept out of the few-shot examples.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evalkit.analysis.contamination import Match, find_contamination, normalise
from evalkit.data.items import Item
from evalkit.errors import InputError
from evalkit.scaffold.source import Row
from evalkit.suite.schema import Contamination

MIN_SHARE, MAX_SHARE = 0.10, 0.20


@dataclass(frozen=True)
class Split:
    train: tuple[Row, ...]
    heldout: tuple[Row, ...]
    duplicate_groups: int  # inputs that occur more than once in the source, each kept on one side
    conflicting_groups: int  # of those, inputs that occur with different targets
    overlaps: tuple[Match, ...]  # held-out items (near-)duplicating a training item


def min_per_stratum(share: float) -> int:
    """Distinct inputs a label needs so that `share` of it rounds to at least one held-out row."""
    return math.ceil(1 / share - 1e-9)


def _groups(rows: Sequence[Row]) -> list[list[Row]]:
    by_text: dict[str, list[Row]] = {}
    for row in rows:
        by_text.setdefault(normalise(row.input), []).append(row)
    return list(by_text.values())


def _too_few(label: str, groups: list[list[Row]], share: float, n_labels: int, n_rows: int) -> str:
    need, need_at_max = min_per_stratum(share), min_per_stratum(MAX_SHARE)
    rows = sum(len(g) for g in groups)
    if not label:
        return (
            f"the file has {rows} rows ({len(groups)} distinct inputs); a {share:.0%} held-out "
            f"split needs at least {need}: add rows, or raise --heldout-share "
            f"(at {MAX_SHARE:.2f}: {need_at_max})"
        )
    message = (
        f"label {label!r} has {rows} rows ({len(groups)} distinct inputs); a {share:.0%} held-out "
        f"split needs at least {need} distinct inputs per label: add rows, merge rare labels, or "
        f"raise --heldout-share (at {MAX_SHARE:.2f}: {need_at_max})"
    )
    if n_labels > n_rows / 2:
        message += (
            f". {n_labels} distinct targets in {n_rows} rows: is --target-field the label? "
            "For free text use --task generation"
        )
    return message


def _quotas(sizes: dict[str, int], share: float) -> dict[str, int]:
    """Held-out rows per label: `share` of the total, rounded, shared out by largest remainder.

    Every label gets its exact quota rounded down or up, so each label and the whole split
    stay within one row of `share`.
    """
    exact = {label: share * n for label, n in sizes.items()}
    quotas = {label: math.floor(q) for label, q in exact.items()}
    spare = math.floor(share * sum(sizes.values()) + 0.5) - sum(quotas.values())
    by_remainder = sorted(exact, key=lambda label: (quotas[label] - exact[label], label))
    for label in by_remainder[:spare]:
        quotas[label] += 1
    return quotas


def split_rows(
    rows: Sequence[Row], *, stratify: bool, share: float, seed: int, path: Path
) -> Split:
    """Held-out ≈ `share` of every label (of all rows without `stratify`), the rest training."""
    if not MIN_SHARE <= share <= MAX_SHARE:
        raise InputError(
            f"must be between {MIN_SHARE:.2f} and {MAX_SHARE:.2f} (a 10–20 % held-out split), "
            f"got {share:g}",
            where="--heldout-share",
        )
    groups = _groups(rows)
    strata: defaultdict[str, list[list[Row]]] = defaultdict(list)
    for group in groups:
        strata[group[0].target if stratify else ""].append(group)
    for label in sorted(strata):
        if len(strata[label]) < min_per_stratum(share):
            raise InputError(
                _too_few(label, strata[label], share, len(strata), len(rows)),
                path=path,
                line=strata[label][0][0].line,
            )
    quotas = _quotas({label: sum(map(len, members)) for label, members in strata.items()}, share)
    rng = random.Random(seed)
    heldout_ids: set[str] = set()
    for label in sorted(strata):
        members, want = strata[label], quotas[label]
        order = list(members)  # file order, then shuffled: the seed alone decides
        rng.shuffle(order)
        # whole groups only, never past the target: a large duplicate group stays in training
        taken = 0
        for group in order:
            if taken + len(group) <= want:
                heldout_ids.update(r.id for r in group)
                taken += len(group)
        if not taken:
            smallest = min(order, key=len)
            heldout_ids.update(r.id for r in smallest)
    train = tuple(r for r in rows if r.id not in heldout_ids)
    heldout = tuple(r for r in rows if r.id in heldout_ids)
    repeated = [g for g in groups if len(g) > 1]
    return Split(
        train=train,
        heldout=heldout,
        duplicate_groups=len(repeated),
        conflicting_groups=sum(len({r.target for r in g}) > 1 for g in repeated),
        overlaps=tuple(overlaps(train, heldout)),
    )


def _items(rows: Sequence[Row]) -> list[Item]:
    return [Item(r.id, r.input, r.target) for r in rows]


def overlaps(train: Sequence[Row], heldout: Sequence[Row]) -> list[Match]:
    """Held-out items whose text is (nearly) inside a training item, at the suite's default settings."""
    settings = Contamination()
    return find_contamination(_items(heldout), _items(train), settings.ngram, settings.threshold)


def pick_fewshot(split: Split, *, per_label: int | None, n: int, seed: int) -> list[Row]:
    """Few-shot examples from training rows only, preferring rows no held-out item resembles.

    `per_label` examples of every label, or `n` examples in all when `per_label` is None.
    """
    near = {m.train_id for m in split.overlaps}
    rng = random.Random(seed)
    pool = list(split.train)
    rng.shuffle(pool)
    pool.sort(key=lambda r: r.id in near)  # stable: shuffled, with resembling rows last
    if per_label is None:
        chosen = pool[:n]
    else:
        seen: Counter[str] = Counter()
        chosen = []
        for row in pool:
            if seen[row.target] < per_label:
                seen[row.target] += 1
                chosen.append(row)
    rng.shuffle(chosen)
    return chosen
