"""Format adherence: each configured check on one raw output → pass/fail.

Every check is one function registered in `FORMAT_CHECKS` with the rule that turns it on
from the suite's `scorers.format` block; a new check is one function and one schema key.
Each check names a metric `format.<name>`, and `format_adherence` is the share of answers
that pass every enabled check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from evalkit.registry import Registry
from evalkit.suite.schema import FormatChecks


class Answer:
    """One output as the checks see it: stripped, and parsed as JSON once, when a check asks."""

    def __init__(
        self, output: str, config: FormatChecks, json_schema: dict[str, Any] | None, in_set: bool
    ) -> None:
        self.text = output.strip()
        self.config = config
        self.json_schema = json_schema
        self.label_in_set = in_set

    @cached_property
    def parsed(self) -> tuple[bool, Any]:
        """(whether the whole text is JSON, the value)."""
        try:
            return True, json.loads(self.text)
        except json.JSONDecodeError:
            return False, None


@dataclass(frozen=True)
class FormatCheck:
    name: str  # the key in a row's `checks` and the metric `format.<name>`
    enabled: Callable[[FormatChecks, dict[str, Any] | None], bool]  # (config, JSON schema)
    passes: Callable[[Answer], bool]


FORMAT_CHECKS = Registry[FormatCheck]("format check")


def format_check(
    name: str, *, enabled: Callable[[FormatChecks, dict[str, Any] | None], bool]
) -> Callable[[Callable[[Answer], bool]], Callable[[Answer], bool]]:
    """Register the decorated `Answer → bool` function as the check `name`."""

    def register(passes: Callable[[Answer], bool]) -> Callable[[Answer], bool]:
        FORMAT_CHECKS.register(name, FormatCheck(name, enabled, passes))
        return passes

    return register


@format_check("json", enabled=lambda cfg, schema: bool(cfg.json_valid))
def _json(answer: Answer) -> bool:
    """The whole (stripped) output parses as JSON."""
    return answer.parsed[0]


@format_check("schema", enabled=lambda cfg, schema: schema is not None)
def _schema(answer: Answer) -> bool:
    """The output is JSON and valid against the suite's JSON Schema."""
    import jsonschema  # imported on use: most suites have no schema

    is_json, value = answer.parsed
    return is_json and jsonschema.Draft202012Validator(answer.json_schema).is_valid(value)


@format_check("regex", enabled=lambda cfg, schema: cfg.regex is not None)
def _regex(answer: Answer) -> bool:
    return re.fullmatch(answer.config.regex or "", answer.text, flags=re.DOTALL) is not None


def _within(value: int, low: int | None, high: int | None) -> bool:
    return (low or 0) <= value <= (high if high is not None else value)


@format_check(
    "length_words", enabled=lambda cfg, schema: (cfg.min_words, cfg.max_words) != (None, None)
)
def _length_words(answer: Answer) -> bool:
    return _within(len(answer.text.split()), answer.config.min_words, answer.config.max_words)


@format_check(
    "length_chars", enabled=lambda cfg, schema: (cfg.min_chars, cfg.max_chars) != (None, None)
)
def _length_chars(answer: Answer) -> bool:
    return _within(len(answer.text), answer.config.min_chars, answer.config.max_chars)


@format_check("label_in_set", enabled=lambda cfg, schema: bool(cfg.label_in_set))
def _label_in_set(answer: Answer) -> bool:
    """The label extracted from the output is one of the task's labels."""
    return answer.label_in_set


def default_checks(output_format: str, classification: bool) -> FormatChecks:
    """What a suite gets without a `scorers.format` block: JSON validity for JSON tasks, label in set.

    >>> default_checks("json", classification=True)
    FormatChecks(json_valid=True, schema_path=None, regex=None, min_words=None, max_words=None, min_chars=None, max_chars=None, label_in_set=True)
    """
    return FormatChecks(
        json_valid=True if output_format == "json" else None,
        label_in_set=True if classification else None,
    )


def run_checks(
    output: str,
    checks: FormatChecks,
    *,
    json_schema: dict[str, Any] | None,
    label_in_set: bool,
) -> dict[str, bool]:
    """The result of every enabled check on one output.

    Args:
        output: the model's raw output; surrounding whitespace does not count against it.
        checks: the suite's `scorers.format` block (or `default_checks`).
        json_schema: the JSON Schema read from `scorers.format.schema`, if any.
        label_in_set: whether the label extracted from this output is a task label.

    Returns:
        Check name → passed, for the enabled checks, in registration order.

    >>> run_checks(' {"intent": "card"} ', FormatChecks(json=True, max_words=1),
    ...            json_schema=None, label_in_set=True)
    {'json': True, 'length_words': False}
    """
    answer = Answer(output, checks, json_schema, label_in_set)
    return {
        c.name: c.passes(answer) for c in FORMAT_CHECKS.values() if c.enabled(checks, json_schema)
    }
