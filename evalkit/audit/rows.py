"""The rows of the audited file: read with evalkit's data readers, so errors are located the
same way (file:line, exit 2), and one row per annotator folded into one row per id."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.data.readers import read_rows
from evalkit.errors import InputError


@dataclass(frozen=True)
class AuditRow:
    """One item of the audited file: its id, input text, label, and annotators' labels."""

    id: str
    line: int  # the first line of the file it comes from
    input: str
    target: str | None = None
    labels: tuple[str, ...] = ()  # one label per annotator, where the file gives them


@dataclass(frozen=True)
class Fields:
    """The field names of a row."""

    input: str = "input"
    target: str = "target"
    id: str = "id"
    labels: str = "labels"
    annotator: str = "annotator"


def _label(value: Any, path: Path, line: int, field: str) -> str:
    # a number is a fine label ("3"); null, true, a list or an object is a broken row
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InputError(
            f"field {field!r} must be text or a number, found {type(value).__name__}",
            path=path,
            line=line,
        )
    return str(value).strip()


def majority(labels: tuple[str, ...]) -> str:
    """The most frequent label; a tie goes to the one given first."""
    counts = Counter(labels)
    return max(labels, key=lambda v: (counts[v], -labels.index(v)))


def read_audit_rows(path: Path, fields: Fields = Fields()) -> list[AuditRow]:
    """Every row of a JSONL or CSV file; a bad row is an InputError naming the file and line.

    The target is optional where annotators' labels stand for it (their majority). Rows with
    an `annotator` field are one per annotator: rows sharing an id are one item, labelled by
    each of them. Without that field an id given twice is an error, as elsewhere in evalkit.
    """
    fmt, raw_rows = read_rows(path)
    if fmt == "chat":
        raise InputError(
            "chat-format rows ('messages') are not audited yet: give rows with "
            f"{fields.input!r} and {fields.target!r} fields",
            path=path,
        )
    merged: dict[str, dict[str, Any]] = {}
    for line, raw in raw_rows:
        text = raw.get(fields.input)
        if not isinstance(text, str) or not text.strip():
            found = ", ".join(map(str, raw)) or "nothing"
            raise InputError(
                f"field {fields.input!r} is missing, empty or not text (found: {found})",
                path=path,
                line=line,
            )
        row_id = str(raw[fields.id]) if raw.get(fields.id) not in (None, "") else f"line-{line}"
        target = raw.get(fields.target)
        target = None if target in (None, "") else _label(target, path, line, fields.target)
        labels = raw.get(fields.labels)
        if labels is not None and (not isinstance(labels, list) or not labels):
            raise InputError(
                f"field {fields.labels!r} must be a non-empty list of labels",
                path=path,
                line=line,
            )
        given = [_label(v, path, line, fields.labels) for v in labels or ()]
        annotated = raw.get(fields.annotator) not in (None, "")
        if annotated:
            if target is None:
                raise InputError(
                    f"a row with {fields.annotator!r} needs its label in {fields.target!r}",
                    path=path,
                    line=line,
                )
            given.append(target)
        if row_id in merged:
            first = merged[row_id]
            if not (annotated and first["annotated"]):
                raise InputError(
                    f"duplicate id {row_id!r} (first at line {first['line']}); rows that share "
                    f"an id are one per annotator only when each has {fields.annotator!r}",
                    path=path,
                    line=line,
                )
            if first["input"].split() != text.split():
                raise InputError(
                    f"id {row_id!r} has a different input than at line {first['line']}",
                    path=path,
                    line=line,
                )
            first["labels"] += given
            continue
        merged[row_id] = {
            "line": line, "input": text, "target": target, "labels": given, "annotated": annotated
        }  # fmt: skip
    if not merged:
        raise InputError("the file has no rows", path=path)
    rows = []
    for row_id, m in merged.items():
        labels = tuple(m["labels"])
        # one annotator's label per row: the item's label is what most of them gave
        voted = m["annotated"] or (m["target"] is None and labels)
        target = majority(labels) if voted else m["target"]
        rows.append(AuditRow(row_id, m["line"], m["input"], target, labels))
    return rows


def looks_like_labels(rows: list[AuditRow]) -> bool:
    """Whether the targets are class labels: every row has one, far fewer distinct than rows."""
    targets = [r.target for r in rows]
    if len(targets) < 4 or any(t is None for t in targets):
        return False
    return len(set(targets)) <= len(targets) // 2
