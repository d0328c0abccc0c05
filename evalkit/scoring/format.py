"""Format adherence: each configured check on one raw output → pass/fail."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

from evalkit.suite.schema import FormatChecks


def default_checks(output_format: str, classification: bool) -> FormatChecks:
    """What a suite gets without a `scorers.format` block: JSON validity for JSON tasks, label in set."""
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
    """The result of every enabled check; the whole (stripped) output must be JSON for `json`."""
    text = output.strip()
    results: dict[str, bool] = {}
    parsed: Any = None
    is_json = False
    if checks.json_valid or json_schema is not None:
        try:
            parsed, is_json = json.loads(text), True
        except json.JSONDecodeError:
            is_json = False
    if checks.json_valid:
        results["json"] = is_json
    if json_schema is not None:
        results["schema"] = is_json and jsonschema.Draft202012Validator(json_schema).is_valid(
            parsed
        )
    if checks.regex is not None:
        results["regex"] = re.fullmatch(checks.regex, text, flags=re.DOTALL) is not None
    words, chars = len(text.split()), len(text)
    if checks.min_words is not None or checks.max_words is not None:
        results["length_words"] = (checks.min_words or 0) <= words <= (checks.max_words or words)
    if checks.min_chars is not None or checks.max_chars is not None:
        results["length_chars"] = (checks.min_chars or 0) <= chars <= (checks.max_chars or chars)
    if checks.label_in_set:
        results["label_in_set"] = label_in_set
    return results
