"""Dataset readers: JSONL, CSV and OpenAI chat-format JSONL → items, with located errors.

Every row either becomes an item or stops the run with the file and row number: a row is
never dropped silently.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from evalkit.data.items import Item
from evalkit.errors import InputError
from evalkit.hashing import sha256_chunks


def detect_format(path: Path, declared: str) -> str:
    if declared != "auto":
        return declared
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".json", ".ndjson"):
        with path.open(encoding="utf-8") as fh:
            first = next((line for line in fh if line.strip()), "")
        try:
            return "chat" if "messages" in json.loads(first) else "jsonl"
        except (json.JSONDecodeError, TypeError):
            return "jsonl"  # the row reader reports the bad line with its number
    raise InputError(
        f"cannot tell the format from the suffix {suffix!r}; set format: jsonl | csv | chat",
        path=path,
    )


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; a bad line raises with its number."""
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"row is not valid JSON ({e.msg})", path=path, line=lineno) from e
            if not isinstance(row, dict):
                raise InputError(
                    f"expected a JSON object per line, found {type(row).__name__}",
                    path=path,
                    line=lineno,
                )
            yield lineno, row


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
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


def read_items(
    path: Path,
    *,
    fmt: str = "auto",
    input_field: str = "input",
    target_field: str = "target",
    id_field: str | None = None,
    id_prefix: str = "",
) -> list[Item]:
    """All rows of a data file as items; errors name the file and row."""
    if not path.is_file():
        raise InputError("data file not found", path=path)
    fmt = detect_format(path, fmt)
    rows = _csv_rows(path) if fmt == "csv" else jsonl_rows(path)
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
        item_id = str(row[id_field]) if id_field and row.get(id_field) is not None else None
        if id_field and item_id is None:
            raise InputError(f"missing id field {id_field!r}", path=path, line=lineno)
        item_id = item_id or f"{id_prefix}{lineno}"
        if item_id in seen:
            raise InputError(
                f"duplicate id {item_id!r} (first at line {seen[item_id]})", path=path, line=lineno
            )
        seen[item_id] = lineno
        text = row[input_field]
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"field {input_field!r} is empty or not text", path=path, line=lineno)
        items.append(Item(id=item_id, input=text, target=str(row[target_field]).strip()))
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
