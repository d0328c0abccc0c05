"""Progress of a run, per arm × dataset: done / errors / rate / ETA.

On a terminal a live table (rich); elsewhere (CI logs) one line a minute, so a long job
shows it is alive without flooding the log. Counts come from records as they are made,
in this process or read back from worker processes' journals.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

from evalkit.run.journal import Record

LOG_EVERY_S = 60.0


@dataclass
class _Count:
    total: int
    done: int = 0
    errors: int = 0
    cached: int = 0
    first: float | None = None  # monotonic time of the first answer from a model
    last: float | None = None


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


@dataclass
class Progress:
    """Counts per task; `labels` maps a task name to what a reader sees ("baseline · heldout")."""

    labels: Mapping[str, str]
    totals: Mapping[str, int]
    mode: str = "none"  # live | log | none
    stream: TextIO = field(default_factory=lambda: sys.stderr)

    def __post_init__(self) -> None:
        self._counts = {task: _Count(n) for task, n in self.totals.items()}
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live = None

    def add(self, record: Record) -> None:
        c = self._counts.get(record.task)
        if c is None:
            return
        c.done += 1
        c.errors += record.error is not None
        if record.cached:
            c.cached += 1
        else:
            now = time.monotonic()
            c.first = c.first or now
            c.last = now

    def _rate_eta(self, c: _Count) -> tuple[float | None, float | None]:
        called = c.done - c.cached
        if not called or c.first is None:
            return None, None
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = called / elapsed
        return rate, (c.total - c.done) / rate if rate else None

    def line(self) -> str:
        """One line for a log: the whole run, then each unfinished task."""
        total = sum(c.total for c in self._counts.values())
        done = sum(c.done for c in self._counts.values())
        errors = sum(c.errors for c in self._counts.values())
        overall = _Count(total, done, errors, sum(c.cached for c in self._counts.values()))
        overall.first = min((c.first for c in self._counts.values() if c.first), default=None)
        rate, eta = self._rate_eta(overall)
        pct = 100 * done / total if total else 100.0
        parts = [
            f"progress [{_clock(time.monotonic() - self._started)}] {done}/{total} ({pct:.0f}%)",
            f"{errors} errors",
            f"{rate:.1f} req/s" if rate else "— req/s",
            f"ETA {_clock(eta)}",
        ]
        busy = [
            f"{self.labels.get(t, t)} {c.done}/{c.total}"
            for t, c in self._counts.items()
            if 0 < c.done < c.total
        ]
        return " · ".join(parts) + (" | " + ", ".join(busy) if busy else "")

    def _table(self):
        from rich.table import Table

        table = Table(title="progress", expand=False)
        for col in ("arm · dataset", "done", "errors", "req/s", "ETA"):
            table.add_column(col, justify="left" if col == "arm · dataset" else "right")
        for task, c in self._counts.items():
            rate, eta = self._rate_eta(c)
            table.add_row(
                self.labels.get(task, task),
                f"{c.done}/{c.total}",
                str(c.errors),
                f"{rate:.1f}" if rate else "—",
                "done" if c.done >= c.total else _clock(eta),
            )
        return table

    def start(self) -> None:
        if self.mode == "live":
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                get_renderable=self._table,
                console=Console(file=self.stream),
                refresh_per_second=4,
                transient=False,
            )
            self._live.start()
        elif self.mode == "log":
            self._thread = threading.Thread(target=self._log_loop, daemon=True)
            self._thread.start()

    def _log_loop(self) -> None:
        while not self._stop.wait(LOG_EVERY_S):
            print(self.line(), file=self.stream, flush=True)

    def stop(self) -> None:
        self._stop.set()
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            print(self.line(), file=self.stream, flush=True)
