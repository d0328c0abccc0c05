"""The response cache: request hash → answer, in one SQLite file shared by every run.

The request hash covers the arm's whole identity (model, model args, base URL, adapter
content) as well as the messages and generation settings, so two adapters behind one model
name never share answers (inspect's own cache key ignores model args). WAL mode lets the
worker processes of a run, and several runs, write at once. Errors are never cached. A cache
that cannot be opened or written (corrupt, read-only, a full disk) stops the run with one line
naming it (exit 3), before or after which the run resumes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from evalkit.errors import StorageError
from evalkit.run.journal import Record

FILENAME = "responses.sqlite3"
_BATCH = 500  # keys per SELECT ... IN (...); SQLite's variable limit is higher
_FLUSH_S = 1.0


class ResponseCache:
    def __init__(self, folder: Path) -> None:
        self.path = folder / FILENAME
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses "
                "(key TEXT PRIMARY KEY, answer TEXT NOT NULL, created REAL NOT NULL)"
            )
        except (OSError, sqlite3.Error) as e:
            raise self._failed(e) from None
        self._pending: list[tuple[str, str, float]] = []
        self._flushed = time.monotonic()

    def get_many(self, keys: Iterable[str]) -> dict[str, dict]:
        """The cached answers among `keys`: key → {output, input_tokens, ...}."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, dict] = {}
        try:
            for start in range(0, len(keys), _BATCH):
                chunk = keys[start : start + _BATCH]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, answer FROM responses WHERE key IN ({marks})", chunk
                )
                found.update((k, json.loads(a)) for k, a in rows)
        except sqlite3.Error as e:
            raise self._failed(e) from None
        return found

    def put(self, record: Record) -> None:
        """Queue a successful answer; written in batches (and on close)."""
        if record.error is not None or record.cached:
            return
        answer = {
            "output": record.output,
            "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens,
            "latency_s": record.latency_s,
            "stop_reason": record.stop_reason,
        }
        if record.logliks is not None:
            answer["logliks"] = list(record.logliks)
        self._pending.append((record.key, json.dumps(answer, ensure_ascii=False), time.time()))
        if time.monotonic() - self._flushed >= _FLUSH_S:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            try:
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.executemany(
                        "INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", self._pending
                    )
            except sqlite3.Error as e:
                raise self._failed(e) from None
            self._pending.clear()
        self._flushed = time.monotonic()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._db.close()

    def _failed(self, e: OSError | sqlite3.Error) -> StorageError:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return StorageError(
            f"cannot use the response cache {self.path}: {reason}; "
            "delete it (or free space, or fix its permissions), or run with --no-cache"
        )


def cached_record(task: str, item: str, key: str, answer: dict) -> Record:
    return Record(
        task=task,
        item=item,
        key=key,
        output=answer.get("output", ""),
        error=None,
        input_tokens=answer.get("input_tokens"),
        output_tokens=answer.get("output_tokens"),
        latency_s=answer.get("latency_s"),
        attempts=0,
        cached=True,
        stop_reason=answer.get("stop_reason"),
        logliks=tuple(answer["logliks"]) if answer.get("logliks") is not None else None,
    )
