"""JSON helpers: the first JSON object in a model's free text, and values made JSON-ready."""

from __future__ import annotations

import json
import math
import re
from typing import Any

_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


def first_json_object(text: str) -> object | None:
    """The first JSON value that parses, from a bare answer, a fenced block, or text around it.

    The whole text (less a Markdown code fence) is tried first, so a bare JSON value of any
    type comes back as it is; otherwise the first `{...}` that parses, wherever it starts.

    >>> first_json_object('Sure! ```json\\n{"intent": "card"}\\n``` hope it helps')
    {'intent': 'card'}
    >>> first_json_object('{"a": 1} and {"b": 2}')
    {'a': 1}
    >>> first_json_object("no braces here") is None
    True
    """
    stripped = _FENCE.sub("", text.strip())
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r"\{", text)):
        try:
            value, _ = decoder.raw_decode(text, start)
            return value
        except json.JSONDecodeError:
            continue
    return None


# A lone surrogate (from a "\ud800" escape in data, a suite or a model's reply) cannot be
# encoded: every writer writes it as the escape it came from (valid inside a JSON string)
WRITE_ERRORS = "backslashreplace"


_PLAIN = frozenset({str, bool, int, type(None)})


def json_ready(value: Any) -> Any:
    """A copy fit for `json.dumps`: NaN → None, numpy scalars → Python, tuples → lists, keys → str.

    >>> import numpy as np
    >>> json_ready({"n": np.int64(3), 1: (float("nan"), np.float64(0.5))})
    {'n': 3, '1': [None, 0.5]}
    """
    if type(value) in _PLAIN:  # most values: a report's tens of thousands of strings
        return value
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
