"""The run folder's memory while a run is under way: an append-only journal of records.

Every finished request is appended to a journal (`journal.jsonl`, or `journal-<k>.jsonl`
per worker process) the moment it completes, so a run killed at any point (`kill -9`, power
loss, Ctrl-C) is resumed by re-sending only the requests the journal has no answer for. A
torn last line is ignored on reading. The run's state is in its manifest (`evalkit.runfolder`).
An error's text is written redacted: a server's error body can repeat the request's API key.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path

from evalkit.credentials import env_secrets, scrub, scrubber

FSYNC_EVERY_S = 1.0  # a power loss costs at most this much finished work


@dataclass(frozen=True)
class Record:
    """What came of one request: an answer, or the error that ended its last attempt."""

    task: str
    item: str
    key: str  # the request's hash: a journal entry counts only for the same request
    output: str
    error: str | None
    input_tokens: int | None
    output_tokens: int | None
    latency_s: float | None
    attempts: int
    cached: bool
    stop_reason: str | None = None
    logliks: tuple[float, ...] | None = None  # a loglik request's answer: one per continuation
    score: float | None = None  # an inspect-ai task's sample: its scorer's value, 0 to 1


_RECORD_FIELDS = tuple(f.name for f in fields(Record))


class Journal:
    """Appends records as JSON lines; flushed per line, fsynced at most once a second."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = path.open("a", encoding="utf-8")
        self._synced = time.monotonic()
        self._secrets = scrubber(env_secrets())

    def append(self, record: Record) -> None:
        self.extend([record])

    def extend(self, records: Iterable[Record]) -> None:
        """Records in one write (a crash cuts at most the last line short, which reading
        skips): the cache's answers are journalled so, thousands at a time."""
        self._fh.write("".join(map(self._line, records)))
        self._fh.flush()
        now = time.monotonic()
        if now - self._synced >= FSYNC_EVERY_S:
            os.fsync(self._fh.fileno())
            self._synced = now

    def _line(self, record: Record) -> str:
        if record.error is not None:
            record = replace(record, error=scrub(record.error, self._secrets))
        # the fields by name, not dataclasses.asdict: it deep-copies every record, and a
        # cached re-run journals thousands of them
        line = {name: getattr(record, name) for name in _RECORD_FIELDS}
        return json.dumps(line, ensure_ascii=False) + "\n"

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()


def journal_files(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob("journal*.jsonl"))


def parse_lines(lines: Iterable[str]) -> Iterator[Record]:
    """The records among journal lines; a line cut short by a crash (no newline) ends them."""
    for line in lines:
        if not line.endswith("\n"):
            return  # the write the crash interrupted
        try:
            data = json.loads(line)
            if data.get("logliks") is not None:
                data["logliks"] = tuple(float(x) for x in data["logliks"])
            yield Record(**{k: data[k] for k in _RECORD_FIELDS if k in data})
        except (ValueError, TypeError):
            continue


def read_records(path: Path) -> Iterator[Record]:
    """Every whole record of one journal file."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        yield from parse_lines(fh)


def latest_records(paths: Iterable[Path]) -> dict[tuple[str, str], Record]:
    """(task, item) → its record; an answer wins over an error, a later line over an earlier."""
    out: dict[tuple[str, str], Record] = {}
    for path in paths:
        for rec in read_records(path):
            key = (rec.task, rec.item)
            old = out.get(key)
            if old is None or old.error is not None or rec.error is None:
                out[key] = rec
    return out
