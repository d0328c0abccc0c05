"""The run store: records round-trip, filters, schema versions and migrations, bad files, and
several processes writing at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from evalkit.errors import InputError
from evalkit.history.records import RunRecord
from evalkit.history.store import (
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    RunFilter,
    find_runs,
    migrate,
    open_store,
    save_run,
    suites,
)
from tests.history_records import arm, record


def save(db: Path, *records: RunRecord) -> None:
    with open_store(db) as conn:
        for r in records:
            save_run(conn, r)


def runs(db: Path, **filters: object) -> list[RunRecord]:
    with open_store(db, create=False) as conn:
        return find_runs(conn, RunFilter(suite=str(filters.pop("suite", "tiny")), **filters))  # type: ignore[arg-type]


def test_a_record_comes_back_as_it_was_saved(tmp_path: Path) -> None:
    db = tmp_path / "evalkit.db"
    first = record("r1", "2026-01-01T10:00:00+00:00")
    save(db, first)
    assert runs(db) == [first]
    with open_store(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_saving_a_run_again_replaces_it(tmp_path: Path) -> None:
    db = tmp_path / "evalkit.db"
    save(db, record("r1", "2026-01-01T10:00:00+00:00", passed=True))
    # the same run re-judged (evalkit gate) replaces its record: same suite, id and start
    rejudged = record("r1", "2026-01-01T10:00:00+00:00", passed=False)
    save(db, rejudged)
    assert runs(db) == [rejudged]
    # a new run in the same folder (a reused --run-id) replaces the old one too
    reused = record("r1", "2026-01-02T10:00:00+00:00")
    save(db, reused)
    assert runs(db) == [reused]
    with open_store(db) as conn:  # no orphan rows left by the replaced records
        assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM arms").fetchone()[0] == 2


def test_filters(tmp_path: Path) -> None:
    db = tmp_path / "evalkit.db"
    other = arm("local/smollm2", "cand2222", adapter="b" * 64, prompt="q" * 64)
    save(
        db,
        record("r1", "2026-01-01T10:00:00+00:00"),
        record("r2", "2026-01-02T10:00:00+00:00", candidate=other, passed=False),
        record("r3", "2026-01-03T09:30:00+00:00", data="e" * 64),
        record("x1", "2026-01-02T10:00:00+00:00", suite="other"),
    )

    def ids(**f: object) -> list[str]:
        return [r.run_id for r in runs(db, **f)]

    assert ids() == ["r1", "r2", "r3"]  # oldest first, one suite
    assert ids(suite="other") == ["x1"]
    assert ids(adapter="bbbb") == ["r2"]
    assert ids(prompt="qq") == ["r2"]
    assert ids(identity="cand2") == ["r2"]
    assert ids(identity="base", arm="candidate") == []  # only the baseline has that identity
    assert ids(identity="base", arm="baseline") == ["r1", "r2", "r3"]
    assert ids(model="gpt-4o") == ["r1", "r2", "r3"]
    assert ids(dataset="heldout", dataset_sha256="eee") == ["r3"]
    assert ids(dataset="no-such") == []
    assert ids(since="2026-01-02") == ["r2", "r3"]
    assert ids(until="2026-01-02") == ["r1", "r2"]  # a date: up to that day's end
    assert ids(until="2026-01-03T09:00") == ["r1", "r2"]
    assert ids(passed_only=True) == ["r1", "r3"]
    with open_store(db) as conn:
        assert suites(conn) == ["other", "tiny"]


# ---- schema versions, migrations and bad files -----------------------------------------------

EXTRA_STEP = "ALTER TABLE runs ADD COLUMN note TEXT; UPDATE runs SET note = 'migrated'"


def test_a_migration_upgrades_an_older_store_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "evalkit.db"
    saved = record("r1", "2026-01-01T10:00:00+00:00")
    save(db, saved)
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        migrate(conn, db, (*MIGRATIONS, EXTRA_STEP))
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert conn.execute("SELECT note FROM runs").fetchall() == [("migrated",)]
        migrate(conn, db, (*MIGRATIONS, EXTRA_STEP))  # a second time: nothing to do
    finally:
        conn.close()


def test_a_failing_migration_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "evalkit.db"
    save(db, record("r1", "2026-01-01T10:00:00+00:00"))
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError):
            migrate(conn, db, (*MIGRATIONS, EXTRA_STEP, "ALTER TABLE nowhere ADD COLUMN x"))
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = [r[1] for r in conn.execute("PRAGMA table_info(runs)")]
        assert "note" not in columns  # the first extra step was rolled back with the second
    finally:
        conn.close()
    assert [r.run_id for r in runs(db)] == ["r1"]


def test_an_empty_file_is_a_new_store(tmp_path: Path) -> None:
    db = tmp_path / "evalkit.db"
    db.write_bytes(b"")
    save(db, record("r1", "2026-01-01T10:00:00+00:00"))
    assert [r.run_id for r in runs(db)] == ["r1"]


def _refused(db: Path) -> str:
    with pytest.raises(InputError) as e, open_store(db):
        pass
    assert e.value.path == str(db)
    return e.value.message


def test_a_store_from_a_newer_evalkit_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "evalkit.db"
    save(db, record("r1", "2026-01-01T10:00:00+00:00"))
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = db.read_bytes()
    message = _refused(db)
    assert f"schema {SCHEMA_VERSION + 1} was written by a newer evalkit" in message
    assert db.read_bytes() == before  # not migrated down, not touched


def test_a_corrupt_file_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "evalkit.db"
    db.write_bytes(b"this is not a database at all, just text " * 200)
    assert "not a readable run store" in _refused(db)


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (x TEXT)")
    assert "not an evalkit run store" in _refused(db)


def test_reading_a_store_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with (
        pytest.raises(InputError, match="no run store here"),
        open_store(tmp_path / "none.db", create=False),
    ):
        pass
    assert not (tmp_path / "none.db").exists()
    with pytest.raises(InputError, match="is a folder"), open_store(tmp_path):
        pass


# ---- several writers at once -------------------------------------------------------------------

WRITERS, RUNS_EACH = 6, 10  # six fresh interpreters create the store at the same moment


def _writer(db: str, writer: int, start: multiprocessing.synchronize.Event) -> None:
    start.wait()  # all processes begin writing at the same moment
    for i in range(RUNS_EACH):
        with open_store(Path(db)) as conn:
            save_run(conn, record(f"w{writer}-{i}", f"2026-01-01T10:{writer:02d}:{i:02d}+00:00"))


def test_several_processes_write_at_once(tmp_path: Path) -> None:
    db = tmp_path / "evalkit.db"
    ctx = multiprocessing.get_context("spawn")  # separate interpreters, as separate runs are
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(db), w, start)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    found = runs(db)
    assert len(found) == WRITERS * RUNS_EACH
    assert {r.run_id for r in found} == {
        f"w{w}-{i}" for w in range(WRITERS) for i in range(RUNS_EACH)
    }
    with open_store(db) as conn:  # every record whole: two metrics each
        assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == 2 * len(found)
