"""The run store: every finished run of every suite in one embedded SQLite database.

Default `<out>/evalkit.db` (next to the suites' report folders). The database is in WAL
mode and every write is one `BEGIN IMMEDIATE` transaction with a generous busy timeout, so
several runs (processes) finishing at once each wait their turn instead of failing.

The schema is versioned (`PRAGMA user_version`, with evalkit's `application_id`): a new
evalkit migrates an older database in one transaction; a database from a newer evalkit, a
corrupt file or another program's database is refused with a located InputError, before
anything is written. The run folders stay the source of truth: `import_runs` rebuilds the
store from them and reads nothing else.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import InputError
from evalkit.history.records import (
    ArmRecord,
    DatasetRecord,
    GateRecord,
    MetricRecord,
    RunRecord,
)
from evalkit.runfolder import now_iso

DB_NAME = "evalkit.db"
APPLICATION_ID = 0x45564B54  # "EVKT": marks the file as evalkit's run store
BUSY_TIMEOUT_S = 60.0  # a writer waits this long for another one to finish

# Each step takes the database from version i to i + 1; a step is never edited once released.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        suite TEXT NOT NULL,
        suite_sha256 TEXT NOT NULL,
        run_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        run_dir TEXT NOT NULL,
        evalkit_version TEXT NOT NULL,
        inspect_version TEXT NOT NULL,
        task_type TEXT NOT NULL,
        merged INTEGER NOT NULL,
        training_data_sha256 TEXT,
        gates_passed INTEGER,
        verdict TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        UNIQUE (suite, run_id, created_at)
    );
    CREATE INDEX runs_by_suite ON runs (suite, created_at);
    CREATE INDEX runs_by_folder ON runs (run_dir);
    CREATE TABLE arms (
        run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        arm TEXT NOT NULL,
        model TEXT NOT NULL,
        identity TEXT NOT NULL,
        adapter_sha256 TEXT,
        prompt_sha256 TEXT NOT NULL,
        model_args TEXT NOT NULL,
        PRIMARY KEY (run, arm)
    );
    CREATE TABLE datasets (
        run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        section TEXT NOT NULL,
        kind TEXT NOT NULL,
        sha256 TEXT,
        n INTEGER NOT NULL,
        errors_baseline INTEGER NOT NULL,
        errors_candidate INTEGER NOT NULL,
        PRIMARY KEY (run, section, name)
    );
    CREATE TABLE metrics (
        run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        dataset TEXT NOT NULL,
        section TEXT NOT NULL,
        metric TEXT NOT NULL,
        headline INTEGER NOT NULL,
        higher_is_better INTEGER NOT NULL,
        confidence REAL NOT NULL,
        n INTEGER NOT NULL,
        baseline REAL,
        candidate REAL,
        diff REAL,
        ci_low REAL,
        ci_high REAL,
        baseline_low REAL,
        baseline_high REAL,
        candidate_low REAL,
        candidate_high REAL,
        PRIMARY KEY (run, section, dataset, metric)
    );
    CREATE TABLE gates (
        run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        rule TEXT NOT NULL,
        "check" TEXT NOT NULL,
        passed INTEGER,
        evidence TEXT NOT NULL,
        PRIMARY KEY (run, position)
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class RunFilter:
    """Which runs `evalkit history` lists; every field that is set must match."""

    suite: str
    arm: str | None = None  # baseline | candidate: where the arm filters look (None: either)
    model: str | None = None  # a substring of the model string
    identity: str | None = None  # a prefix of the model identity
    adapter: str | None = None  # a prefix of the adapter's sha256
    prompt: str | None = None  # a prefix of the prompt's sha256
    dataset: str | None = None  # a dataset name the run evaluated
    dataset_sha256: str | None = None  # ... with a hash starting so
    since: str | None = None  # ISO date or time; runs created at or after it
    until: str | None = None  # runs created up to it (a date: up to that day's end)
    passed_only: bool = False  # only runs in which no gate failed


def default_db(out_dir: Path) -> Path:
    return out_dir / DB_NAME


def _fail(path: Path, message: str) -> InputError:
    return InputError(message, path=path)


def _connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), with foreign keys on."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _versions(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(application_id, user_version, number of tables), read in one statement: one snapshot,
    so another process committing its migration in between is never half seen."""
    row = conn.execute(
        "SELECT (SELECT application_id FROM pragma_application_id()),"
        " (SELECT user_version FROM pragma_user_version()),"
        " (SELECT count(*) FROM sqlite_master WHERE type = 'table')"
    ).fetchone()
    return row[0], row[1], row[2]


def _check(path: Path, app: int, version: int, tables: int, latest: int) -> None:
    if app != APPLICATION_ID and (tables or version):
        raise _fail(path, "not an evalkit run store (another program's SQLite database)")
    if version > latest:
        raise _fail(
            path,
            f"run store schema {version} was written by a newer evalkit (this one reads up to "
            f"{latest}); use that evalkit, or rebuild it from the run folders into another file "
            "with: evalkit history import <reports> --db <new file>",
        )


def migrate(conn: sqlite3.Connection, path: Path, steps: Sequence[str] = MIGRATIONS) -> None:
    """Bring the database to `len(steps)`, all steps in one transaction (all or nothing)."""
    app, version, tables = _versions(conn)
    _check(path, app, version, tables, len(steps))
    if version == len(steps) and app == APPLICATION_ID:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        # another process may have migrated it while this one waited for the lock
        app, version, tables = _versions(conn)
        _check(path, app, version, tables, len(steps))
        for step in steps[version:]:
            for statement in step.split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {len(steps)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


@contextlib.contextmanager
def open_store(path: Path, *, create: bool = True) -> Iterator[sqlite3.Connection]:
    """The store at `path`, migrated to this evalkit's schema; a located InputError when it is
    corrupt, another program's or from a newer evalkit. Without `create`, a missing file is
    an InputError too (reading a store that does not exist)."""
    if path.is_dir():
        raise _fail(path, "is a folder; --db names the run store's file")
    if not create and not path.is_file():
        raise _fail(
            path, "no run store here (runs are recorded in <out>/evalkit.db; --db names another)"
        )
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = _connect(path)
    except sqlite3.Error as e:
        raise _fail(path, f"cannot open the run store: {e}") from None
    try:
        try:
            migrate(conn, path)
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as e:
            # "file is not a database", "database disk image is malformed", ...
            raise _fail(path, f"not a readable run store ({e}); the run folders are the source "
                        "of truth: rebuild it with evalkit history import") from None  # fmt: skip
        try:
            yield conn
        except sqlite3.DatabaseError as e:  # locked for longer than the busy timeout, disk full
            raise _fail(path, f"the run store could not be read or written ({e})") from None
    finally:
        conn.close()


# ---- writing ----------------------------------------------------------------------------------


def _bool(v: bool | None) -> int | None:
    return None if v is None else int(v)


def save_run(conn: sqlite3.Connection, record: RunRecord) -> None:
    """Record one run, replacing an earlier record of the same run (same suite, id and start)
    and any record of another run that lived in the same folder (a reused --run-id)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "DELETE FROM runs WHERE (suite = ? AND run_id = ? AND created_at = ?) OR run_dir = ?",
            (record.suite, record.run_id, record.created_at, record.run_dir),
        )
        run = conn.execute(
            "INSERT INTO runs (suite, suite_sha256, run_id, created_at, run_dir, evalkit_version,"
            " inspect_version, task_type, merged, training_data_sha256, gates_passed, verdict,"
            " recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.suite, record.suite_sha256, record.run_id, record.created_at,
                record.run_dir, record.evalkit_version, record.inspect_version, record.task_type,
                int(record.merged), record.training_data_sha256, _bool(record.gates_passed),
                record.verdict, now_iso(),
            ),
        ).lastrowid  # fmt: skip
        conn.executemany(
            "INSERT INTO arms VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (run, arm, a.model, a.identity, a.adapter_sha256, a.prompt_sha256,
                 json.dumps(a.model_args, sort_keys=True, ensure_ascii=False))
                for arm, a in record.arms.items()
            ],
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (run, d.name, d.section, d.kind, d.sha256, d.n, d.errors_baseline,
                 d.errors_candidate)
                for d in record.datasets
            ],
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (run, m.dataset, m.section, m.metric, int(m.headline), int(m.higher_is_better),
                 m.confidence, m.n, m.baseline, m.candidate, m.diff, m.ci_low, m.ci_high,
                 m.baseline_low, m.baseline_high, m.candidate_low, m.candidate_high)
                for m in record.metrics
            ],
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO gates VALUES (?, ?, ?, ?, ?, ?)",
            [
                (run, i, g.rule, g.check, _bool(g.passed), g.evidence)
                for i, g in enumerate(record.gates)
            ],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


# ---- reading ----------------------------------------------------------------------------------


def _opt_bool(v: int | None) -> bool | None:
    return None if v is None else bool(v)


def _records(conn: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[RunRecord]:
    """Whole records for the given `runs` rows, in their order."""
    ids = [r["id"] for r in rows]
    if not ids:
        return []
    marks = ",".join("?" * len(ids))

    def children(table: str, order: str) -> dict[int, list[sqlite3.Row]]:
        out: dict[int, list[sqlite3.Row]] = {}
        query = f"SELECT * FROM {table} WHERE run IN ({marks}) ORDER BY run, {order}"
        for row in conn.execute(query, ids):
            out.setdefault(row["run"], []).append(row)
        return out

    arms = children("arms", "arm")
    datasets = children("datasets", "rowid")
    metrics = children("metrics", "rowid")
    gates = children("gates", "position")
    return [
        RunRecord(
            suite=r["suite"],
            suite_sha256=r["suite_sha256"],
            run_id=r["run_id"],
            created_at=r["created_at"],
            run_dir=r["run_dir"],
            evalkit_version=r["evalkit_version"],
            inspect_version=r["inspect_version"],
            task_type=r["task_type"],
            merged=bool(r["merged"]),
            training_data_sha256=r["training_data_sha256"],
            gates_passed=_opt_bool(r["gates_passed"]),
            verdict=r["verdict"],
            arms={
                a["arm"]: ArmRecord(
                    model=a["model"],
                    identity=a["identity"],
                    adapter_sha256=a["adapter_sha256"],
                    prompt_sha256=a["prompt_sha256"],
                    model_args=json.loads(a["model_args"]),
                )
                for a in arms.get(r["id"], [])
            },
            datasets=[
                DatasetRecord(**{k: d[k] for k in DatasetRecord.model_fields})
                for d in datasets.get(r["id"], [])
            ],
            metrics=[
                MetricRecord(**{k: m[k] for k in MetricRecord.model_fields})
                for m in metrics.get(r["id"], [])
            ],
            gates=[
                GateRecord(
                    rule=g["rule"],
                    check=g["check"],
                    passed=_opt_bool(g["passed"]),
                    evidence=g["evidence"],
                )
                for g in gates.get(r["id"], [])
            ],
        )
        for r in rows
    ]


def find_runs(conn: sqlite3.Connection, f: RunFilter) -> list[RunRecord]:
    """The suite's recorded runs that match every filter, oldest first."""
    where, args = ["suite = ?"], [f.suite]
    arms = "" if f.arm is None else " AND arm = ?"
    arm_args: list[Any] = [] if f.arm is None else [f.arm]
    for value, test in (
        (f.model, "instr(model, ?) > 0"),
        (f.identity, "instr(identity, ?) = 1"),
        (f.adapter, "instr(adapter_sha256, ?) = 1"),
        (f.prompt, "instr(prompt_sha256, ?) = 1"),
    ):
        if value is not None:
            where.append(f"id IN (SELECT run FROM arms WHERE {test}{arms})")
            args += [value, *arm_args]
    if f.dataset is not None or f.dataset_sha256 is not None:
        clause = "SELECT run FROM datasets WHERE 1"
        if f.dataset is not None:
            clause += " AND name = ?"
            args.append(f.dataset)
        if f.dataset_sha256 is not None:
            clause += " AND instr(sha256, ?) = 1"
            args.append(f.dataset_sha256)
        where.append(f"id IN ({clause})")
    if f.since is not None:
        where.append("created_at >= ?")
        args.append(f.since)
    if f.until is not None:  # a date means up to that day's end: compare as long a prefix
        where.append("substr(created_at, 1, length(?)) <= ?")
        args += [f.until, f.until]
    if f.passed_only:
        where.append("(gates_passed IS NULL OR gates_passed = 1)")
    query = f"SELECT * FROM runs WHERE {' AND '.join(where)} ORDER BY created_at, id"
    return _records(conn, conn.execute(query, args).fetchall())


def suites(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT DISTINCT suite FROM runs ORDER BY suite")]
