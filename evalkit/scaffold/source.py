"""Read the file `evalkit init` starts from: labelled rows (JSONL, CSV) or an OpenAI fine-tuning file.

An OpenAI chat-format file is read as the fine-tuned model saw it: the last user message is
the input, the last assistant reply the target (or, with a target field, one key of the JSON
object the reply holds), and a system message every row shares is the candidate's system
prompt. Every problem is one located `InputError`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.data.readers import detect_format, jsonl_rows, read_items
from evalkit.errors import InputError
from evalkit.inputfiles import read_text


@dataclass(frozen=True)
class Row:
    id: str  # "line-<n>": the row's line in the source file
    line: int
    input: str
    target: str
    chat: dict[str, Any] | None = None  # chat files: the source row (the fine-tuning format)


@dataclass(frozen=True)
class Source:
    path: Path
    sha256: str
    format: str  # jsonl | csv | chat
    rows: tuple[Row, ...]
    reply_field: str | None  # chat files: the JSON key of the assistant reply that holds the target
    system: str | None  # chat files: the system message every row shares
    system_varies: bool  # chat files: rows have different (or some no) system messages


def _utf8(path: Path) -> tuple[bytes, str]:
    """The file's bytes and text, once they are known to be non-empty UTF-8 text."""
    text = read_text(path)
    if not text.strip():
        raise InputError("file is empty", path=path)
    return path.read_bytes(), text


def _system(messages: Any) -> str | None:
    """The last system message of a chat row (the reader keeps the last message of each role)."""
    found = None
    for m in messages if isinstance(messages, list) else []:
        if isinstance(m, dict) and m.get("role") == "system" and isinstance(m.get("content"), str):
            found = m["content"]
    return found


def _reply_value(reply: str, field: str, path: Path, line: int) -> str:
    try:
        value = json.loads(reply)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or field not in value:
        raise InputError(
            f"the assistant reply is not a JSON object with the key {field!r} "
            f"(--target-field names a key of the reply in chat files): {reply[:60]!r}",
            path=path,
            line=line,
        )
    return str(value[field]).strip()


def read_source(path: Path, *, input_field: str | None, target_field: str | None) -> Source:
    """Every row of the init file; `None` fields mean the defaults (`input`/`target`, or chat roles)."""
    data, text = _utf8(path)
    try:
        fmt = detect_format(path, "auto", text)
    except InputError:
        raise InputError(
            "cannot tell the format from the file name: use .jsonl (rows or OpenAI chat format) "
            "or .csv",
            path=path,
        ) from None
    if fmt != "chat":
        items = read_items(
            path,
            fmt=fmt,
            input_field=input_field or "input",
            target_field=target_field or "target",
        )
        rows = tuple(Row(f"line-{it.id}", int(it.id), it.input, it.target) for it in items)
        return Source(path, hashlib.sha256(data).hexdigest(), fmt, rows, None, None, False)
    if input_field:
        raise InputError(
            "--input-field does not apply to a chat-format file: the last user message is the input",
            path=path,
        )
    by_line = dict(jsonl_rows(path))
    rows = tuple(
        Row(
            id=f"line-{it.id}",
            line=int(it.id),
            input=it.input,
            target=_reply_value(it.target, target_field, path, int(it.id))
            if target_field
            else it.target,
            chat=by_line[int(it.id)],
        )
        for it in read_items(path, fmt="chat")
    )
    systems = {_system(row.get("messages")) for row in by_line.values()}
    shared = next(iter(systems)) if len(systems) == 1 else None
    return Source(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        format=fmt,
        rows=rows,
        reply_field=target_field,
        system=shared,
        system_varies=len(systems) > 1,
    )
