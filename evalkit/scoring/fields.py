"""Extraction answers: the JSON object in an answer, compared with its target field by field.

A field is a path of keys into the object (`answer`, `customer.name`); the elements of a list
share their list's path, so a list field is a multiset of values (`steps` of
`{"steps": [9, 18]}` holds 9 and 18) and a list of objects gives one field per key
(`items.name`). A null or missing value is no value. Every value is normalised to text
before it is compared: a JSON number is written canonically (18.0 is 18), surrounding
whitespace is dropped, and the suite's rule for the field may also read number formats
(`$1,234.50` is 1234.5), ignore case, or collapse runs of whitespace.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.jsonutil import first_json_object
from evalkit.suite.schema import FieldRule

DEFAULT_RULE = FieldRule()
_NUMBER_NOISE = re.compile(r"[\s,_$€£¥]")  # currency signs and thousands separators
_SPACES = re.compile(r"\s+")


def field_values(obj: Any, prefix: str = "") -> dict[str, list[Any]]:
    """Every non-null leaf of a JSON value by its field path; a list's elements share its path.

    >>> field_values({"answer": 18, "steps": [9, 18], "who": {"name": "Ann", "age": None}})
    {'answer': [18], 'steps': [9, 18], 'who.name': ['Ann']}
    >>> field_values({"items": [{"sku": "a1"}, {"sku": "b2"}]})
    {'items.sku': ['a1', 'b2']}
    """
    out: dict[str, list[Any]] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for inner in value:
                walk(inner, path)
        elif value is not None:
            out.setdefault(path, []).append(value)

    walk(obj, prefix)
    return out


def _canonical_number(x: float) -> str:
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:.12g}"


def normalise_value(value: Any, rule: FieldRule = DEFAULT_RULE) -> str:
    """One value as text, the way the field's rule compares it.

    >>> normalise_value(18.0), normalise_value(True), normalise_value("  Ann  ")
    ('18', 'true', 'Ann')
    >>> normalise_value("$1,234.50", FieldRule(number=True))
    '1234.5'
    >>> normalise_value("New   York", FieldRule(ignore_case=True, collapse_whitespace=True))
    'new york'
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _canonical_number(float(value))
    text = str(value).strip()
    if rule.number:
        try:
            return _canonical_number(float(_NUMBER_NOISE.sub("", text)))
        except ValueError:
            pass  # not a number after all: compared as the text it is
    if rule.collapse_whitespace:
        text = _SPACES.sub(" ", text)
    return text.casefold() if rule.ignore_case else text


def normalised_fields(obj: Any, rules: Mapping[str, FieldRule]) -> dict[str, list[str]]:
    """Every field of an object with its values normalised by the field's rule.

    Args:
        obj: a JSON value (a target or an answer's object).
        rules: the suite's rule by field path; a field without one is only stripped.

    Returns:
        Field path → its values as normalised text.

    >>> normalised_fields({"total": "$1,200", "city": " Paris "}, {"total": FieldRule(number=True)})
    {'total': ['1200'], 'city': ['Paris']}
    """
    return {
        path: [normalise_value(v, rules.get(path, DEFAULT_RULE)) for v in values]
        for path, values in field_values(obj).items()
    }


def target_fields(targets: Iterable[Any]) -> tuple[str, ...]:
    """The field paths that occur in any of the targets, in the order they first occur.

    >>> target_fields([{"a": 1}, {"b": {"c": [2]}, "a": 3}])
    ('a', 'b.c')
    """
    seen: dict[str, None] = {}
    for target in targets:
        seen.update(dict.fromkeys(field_values(target)))
    return tuple(seen)


@dataclass(frozen=True)
class FieldScores:
    """One answer against its target: whether it holds an object, exact match, each field."""

    parsed: bool  # the answer holds a JSON object
    exact: bool  # every field of both objects holds the same values (lists as multisets)
    # field path → {"target": [...], "answer": [...], "matched": n}: normalised values, and
    # how many of the answer's values match one of the target's (multiset intersection)
    fields: dict[str, dict[str, Any]]


def matched(target: Sequence[str], answer: Sequence[str]) -> int:
    """The size of the multiset intersection: each target value can be matched once.

    >>> matched(["9", "18", "18"], ["18", "18", "18", "7"])
    2
    """
    return sum((Counter(target) & Counter(answer)).values())


def score_extraction(
    output: str | None, target: Any, fields: Sequence[str], rules: Mapping[str, FieldRule]
) -> FieldScores:
    """Compare the first JSON object in an answer with the target object, field by field.

    Args:
        output: the model's raw answer; None for a failed request (every field a miss).
        target: the target object (parsed).
        fields: the suite's field paths (every one is reported, even where this target
            has no value for it).
        rules: the suite's normalisation rule by field path.

    Returns:
        FieldScores: parsed, exact match, and per field the normalised target and answer
        values and how many match.

    >>> s = score_extraction('Here: {"answer": "$18", "steps": [18, 9]}',
    ...                      {"answer": 18, "steps": [9, 18]}, ["answer", "steps"],
    ...                      {"answer": FieldRule(number=True)})
    >>> s.parsed, s.exact, s.fields["steps"]
    (True, True, {'target': ['9', '18'], 'answer': ['18', '9'], 'matched': 2})
    >>> score_extraction("no idea", {"answer": 18}, ["answer"], {}).fields["answer"]["matched"]
    0
    """
    found = first_json_object(output) if output is not None else None
    answer = found if isinstance(found, dict) else None
    want = normalised_fields(target, rules)
    got = normalised_fields(answer, rules) if answer is not None else {}
    exact = answer is not None and {p: Counter(v) for p, v in want.items()} == {
        p: Counter(v) for p, v in got.items()
    }
    per_field = {}
    for path in fields:
        t, a = want.get(path, []), got.get(path, [])
        per_field[path] = {"target": t, "answer": a, "matched": matched(t, a)}
    return FieldScores(parsed=answer is not None, exact=exact, fields=per_field)
