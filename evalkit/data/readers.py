"""Dataset readers: JSONL, CSV and OpenAI chat-format JSONL → items, with located errors.

Every row either becomes an item or stops the run with the file and row number: a row is
never dropped silently.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from evalkit.data.items import Item
from evalkit.errors import InputError
from evalkit.hashing import sha256_chunks
from evalkit.inputfiles import read_text, text_lines


def detect_format(path: Path, declared: str, text: str) -> str:
    if declared != "auto":
        return declared
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".json", ".ndjson"):
        first = next((line for line in text_lines(text) if line.strip()), "")
        try:
            return "chat" if "messages" in json.loads(first) else "jsonl"
        except (json.JSONDecodeError, TypeError, RecursionError):
            return "jsonl"  # the row reader reports the bad line with its number
    raise InputError(
        f"cannot tell the format from the suffix {suffix!r}; set format: jsonl | csv | chat",
        path=path,
    )


# a "\ud800"-style escape: harmless when it pairs with a low surrogate, not text when alone
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _unpaired_surrogate(row: dict[str, Any]) -> bool:
    try:
        json.dumps(row, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def jsonl_rows(
    path: Path, text: str | None = None, what: str = "data file"
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; a bad line raises with its number.

    `text` is the file's already decoded text; without it the file is read as UTF-8.
    """
    text = read_text(path, what) if text is None else text
    for lineno, line in enumerate(text_lines(text), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as e:
            msg = e.msg if isinstance(e, json.JSONDecodeError) else "nested too deeply"
            raise InputError(f"row is not valid JSON ({msg})", path=path, line=lineno) from None
        if not isinstance(row, dict):
            raise InputError(
                f"expected a JSON object per line, found {type(row).__name__}",
                path=path,
                line=lineno,
            )
        if _SURROGATE_ESCAPE.search(line) and _unpaired_surrogate(row):
            raise InputError(
                "row holds an unpaired surrogate escape (e.g. \\ud800), which is not text",
                path=path,
                line=lineno,
            )
        yield lineno, row


def _csv_rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            # DictReader puts surplus cells under the None key: a broken row, not data
            if None in row:
                raise InputError(
                    f"row has {len(reader.fieldnames or []) + len(row[None])} cells, "
                    f"the header has {len(reader.fieldnames or [])}",
                    path=path,
                    line=reader.line_num,
                )
            yield reader.line_num, row
    except csv.Error as e:
        raise InputError(f"not valid CSV ({e})", path=path, line=reader.line_num) from None


def _json_kind(value: Any) -> str:
    """How a JSON value reads in a message: null, true, an object, a list."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return "an object" if isinstance(value, dict) else "a list"


def _chat_row(path: Path, lineno: int, row: dict[str, Any]) -> dict[str, Any]:
    """OpenAI fine-tuning format: the last user message is the input, the last assistant reply the target."""
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InputError("expected a non-empty 'messages' list", path=path, line=lineno)
    by_role: dict[str, str] = {}
    for m in messages:
        if isinstance(m, dict) and isinstance(m.get("content"), str):
            by_role[m.get("role", "")] = m["content"]
    if "user" not in by_role or "assistant" not in by_role:
        raise InputError(
            "expected a 'user' message and an 'assistant' reply in 'messages'",
            path=path,
            line=lineno,
        )
    return {"input": by_role["user"], "target": by_role["assistant"], **row}


def _json_object(value: Any) -> dict[str, Any] | None:
    """An object as it is, or text that parses as one; None for anything else."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


def _shown(value: Any) -> str:
    """A bad target as a message shows it: short, and its kind when it is not text."""
    if isinstance(value, str):
        return f"text that is not a JSON object: {value[:60]!r}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"the number {value}"
    return _json_kind(value)


def read_rows(
    path: Path, *, fmt: str = "auto", encoding: str = "utf-8"
) -> tuple[str, Iterator[tuple[int, dict[str, Any]]]]:
    """A JSONL or CSV data file's format and its (line number, row) pairs; errors name the
    file and row."""
    content = read_text(path, "data file", encoding=encoding, encoding_key=True)
    fmt = detect_format(path, fmt, content)
    return fmt, _csv_rows(path, content) if fmt == "csv" else jsonl_rows(path, content)


def read_items(
    path: Path,
    *,
    fmt: str = "auto",
    input_field: str = "input",
    target_field: str = "target",
    id_field: str | None = None,
    id_prefix: str = "",
    encoding: str = "utf-8",
    json_target: bool = False,
) -> list[Item]:
    """All rows of a data file as items; errors name the file and row.

    With `json_target` (extraction tasks) every target is a JSON object, written in the file
    as an object or as text holding one; the item keeps it as compact JSON text.
    """
    fmt, rows = read_rows(path, fmt=fmt, encoding=encoding)
    items: list[Item] = []
    seen: dict[str, int] = {}
    for lineno, raw in rows:
        row = _chat_row(path, lineno, raw) if fmt == "chat" else raw
        if fmt == "chat":
            input_field, target_field = "input", "target"
        for field in (input_field, target_field):
            if field not in row:
                raise InputError(
                    f"missing field {field!r} (found: {', '.join(map(str, row)) or 'nothing'})",
                    path=path,
                    line=lineno,
                )
        raw_id = row.get(id_field) if id_field else None
        if isinstance(raw_id, float) and not math.isfinite(raw_id):
            raise InputError(
                f"id field {id_field!r} is {json.dumps(raw_id)}, not a finite number or text",
                path=path,
                line=lineno,
            )
        item_id = str(raw_id) if raw_id is not None else None
        if id_field and item_id is None:
            raise InputError(f"missing id field {id_field!r}", path=path, line=lineno)
        item_id = item_id or f"{id_prefix}{lineno}"
        if item_id in seen:
            raise InputError(
                f"duplicate id {item_id!r} (first at line {seen[item_id]})", path=path, line=lineno
            )
        seen[item_id] = lineno
        text, target = row[input_field], row[target_field]
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"field {input_field!r} is empty or not text", path=path, line=lineno)
        if json_target:
            obj = _json_object(target)
            if obj is None:
                raise InputError(
                    f"field {target_field!r} must be a JSON object (an extraction target), "
                    f"found {_shown(target)}",
                    path=path,
                    line=lineno,
                )
            target = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        # a number is a fine target ("42"); null, true or an object is a broken row
        if isinstance(target, bool) or not isinstance(target, str | int | float):
            raise InputError(
                f"field {target_field!r} must be text or a number (found {_json_kind(target)})",
                path=path,
                line=lineno,
            )
        items.append(Item(id=item_id, input=text, target=str(target).strip()))
    if not items:
        raise InputError("dataset is empty", path=path)
    return items


def subset(
    items: Sequence[Item], *, limit: int | None, sample: int | None, seed: int
) -> list[Item]:
    """First `limit` items, then a seeded random `sample` of them, kept in file order."""
    chosen = list(items[:limit] if limit else items)
    if sample is not None:
        if sample > len(chosen):
            raise ValueError(f"sample: {sample} asked, only {len(chosen)} items available")
        keep = sorted(random.Random(seed).sample(range(len(chosen)), sample))
        chosen = [chosen[i] for i in keep]
    return chosen


def items_sha256(items: Sequence[Item]) -> str:
    """A hash of exactly what is evaluated (after limit/sample), for the results file."""
    return sha256_chunks(json.dumps([it.id, it.input, it.target]).encode() for it in items)
