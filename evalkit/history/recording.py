"""A run's side of release history: read the suite's past before any model call, add the
History section and the roll-back decision to the results, record the finished run.

`prepare` does everything that can fail on bad input (a corrupt or newer run store, an
unknown `previous_candidate`, a run of another suite, MLflow missing) before the run folder
exists, so bad input never costs a model call or leaves a folder behind. `annotate` is then
pure, and `record` writes the store (and MLflow) once the run folder is complete.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.data.readers import items_sha256
from evalkit.errors import InputError, RunFailed
from evalkit.history.records import RunRecord, record_of
from evalkit.history.schema import DataVersions, ProbeData
from evalkit.history.store import RunFilter, default_db, find_runs, open_store, save_run
from evalkit.history.tracking import MlflowTarget, check_target, log_run, mlflow_target
from evalkit.results import Results, StoredRun, load_run, resolve_run
from evalkit.suite.load import LoadedSuite

if TYPE_CHECKING:
    import pandas as pd

LAST, LAST_PASSED = "last", "last-passed"


@dataclass(frozen=True)
class HistoryContext:
    """What one run needs from its suite's history, read before any model is called."""

    db: Path
    past: tuple[RunRecord, ...] = ()  # the suite's recorded runs, oldest first
    against: str | None = None  # previous_candidate, as the suite gives it
    previous: StoredRun | None = None  # the run it names, when there is one
    no_previous: str = ""  # why there is none
    mlflow: MlflowTarget | None = None


def latest_release(
    past: Iterable[RunRecord], *, passed_only: bool, current: Results | None = None
) -> tuple[StoredRun | None, str]:
    """The newest recorded run (in which no gate failed, with `passed_only`) whose folder
    still holds a finished run; else None and why."""
    picked = [
        r
        for r in past
        if (not passed_only or r.gates_passed is not False)
        # runs recorded up to `current` (store order breaks a tie of timestamps), not itself
        and (
            current is None
            or (
                r.created_at <= current.created_at
                and (r.run_id, r.created_at) != (current.run_id, current.created_at)
            )
        )
    ]
    for record in reversed(picked):
        folder = Path(record.run_dir)
        if (folder / "results.json").is_file():
            return load_run(folder), ""
    what = "whose gates passed " if passed_only else ""
    return None, (
        f"no earlier run of this suite {what}is in the run store: nothing to compare the "
        "candidate with (its first release; or rebuild the store with evalkit history import)"
    )


def previous_run(
    against: str,
    suite: str,
    suite_dir: Path,
    past: Iterable[RunRecord],
    current: Results | None = None,
) -> tuple[StoredRun | None, str]:
    """The run `previous_candidate` (or `compare --against`) names: `last`, `last-passed`
    (among the runs before `current`), a run id of the suite or a run folder. InputError
    for an unknown run or a run of another suite."""
    if against in (LAST, LAST_PASSED):
        found, why = latest_release(past, passed_only=against == LAST_PASSED, current=current)
    else:
        path = Path(against)
        folder = path if path.is_absolute() or len(path.parts) > 1 else suite_dir / against
        try:
            resolve_run(folder)
        except FileNotFoundError:
            raise InputError(f"no run {against!r} of suite {suite!r}", path=folder) from None
        found, why = load_run(folder), ""
    if found is not None:
        found = with_intervals(found)
        if found.results.suite.name != suite:
            raise InputError(
                f"a run of suite {found.results.suite.name!r}, not of {suite!r}", path=found.path
            )
        if found.results.shard is not None:
            raise InputError("a shard, not a release: merge the shards first", path=found.path)
    return found, why


def prepare(
    loaded: LoadedSuite, db: Path | None, out_dir: Path, mlflow_uri: str | None = None
) -> HistoryContext:
    """Open (create or migrate) the run store (default `<out>/evalkit.db`), read the suite's
    past, find the previous release and check MLflow: every failure a located InputError,
    before any model call."""
    suite = loaded.suite
    db = db or default_db(out_dir)
    with open_store(db) as conn:
        past = tuple(find_runs(conn, RunFilter(suite=suite.name)))
    target = mlflow_target(suite, loaded.path, mlflow_uri)
    if target is not None:
        check_target(target)
    against = suite.previous_candidate
    previous, why = (None, "")
    if against is not None:
        try:
            previous, why = previous_run(against, suite.name, out_dir / suite.name, past)
        except InputError as e:
            where = "previous_candidate"
            raise InputError(e.message, path=e.path or loaded.path, where=where) from None
    return HistoryContext(
        db=db, past=past, against=against, previous=previous, no_previous=why, mlflow=target
    )


def data_versions(loaded: LoadedSuite) -> DataVersions:
    return DataVersions(
        training_data_sha256=items_sha256(loaded.training) if loaded.training else None,
        training_sample_sha256=(
            items_sha256(loaded.training_sample) if loaded.training_sample else None
        ),
        probes={
            p.name: ProbeData(version=p.version, sha256=items_sha256(p.items), n=len(p.items))
            for p in loaded.probes
        },
    )


def annotate(
    context: HistoryContext,
    loaded: LoadedSuite,
    results: Results,
    table: pd.DataFrame,
    run_dir: Path,
) -> Results:
    """The results with data versions, per-arm intervals, the History section and the
    roll-back decision; a shard's results unchanged (a shard is not a release)."""
    # imported here: the analysis stack loads while the requests run (pipeline._warm_imports)
    from evalkit.history.drift import history_of
    from evalkit.history.intervals import arm_intervals
    from evalkit.history.release import no_previous_release, release_decision

    if results.shard is not None:
        return results
    results = results.model_copy(
        update={
            "data_versions": data_versions(loaded),
            "arm_intervals": arm_intervals(results, table),
        }
    )
    release = None
    if context.against is not None:
        release = (
            release_decision(results, table, context.previous, context.against)
            if context.previous is not None
            else no_previous_release(results, context.against, context.no_previous)
        )
    history = history_of(record_of(results, run_dir), context.past)
    return results.model_copy(update={"history": history, "release": release})


def _save(db: Path, results: Results, run_dir: Path) -> None:
    """Record one run; a store that cannot be written (locked too long, disk full) is RunFailed:
    the run folder is complete and `evalkit history import` can record it later."""
    try:
        with open_store(db) as conn:
            save_run(conn, record_of(results, run_dir))
    except InputError as e:
        raise RunFailed(
            f"the run folder {run_dir} is complete, but recording it in the run store failed "
            f"({e}); record it later with: evalkit history import {run_dir}"
        ) from None


def record(context: HistoryContext, results: Results, run_dir: Path) -> None:
    """Record a complete run in the store, and in MLflow when configured (not a shard)."""
    if results.shard is not None:
        return
    _save(context.db, results, run_dir)
    if context.mlflow is not None:
        log_run(context.mlflow, results, run_dir)


def with_intervals(run: StoredRun) -> StoredRun:
    """A finished run read back, with the per-arm intervals an older run lacks (from its
    samples, where it has them)."""
    from evalkit.history.intervals import arm_intervals

    if run.results.arm_intervals is not None or run.samples is None:
        return run
    intervals = arm_intervals(run.results, run.samples)
    return replace(run, results=run.results.model_copy(update={"arm_intervals": intervals}))


def record_stored(db: Path, run: StoredRun) -> None:
    """Record (again) a finished run folder: after `evalkit gate` re-judged it, or on import."""
    if run.results.shard is not None:
        return
    _save(db, with_intervals(run).results, run.path)


@dataclass(frozen=True)
class Imported:
    recorded: list[Path]
    skipped: list[tuple[Path, str]]  # folder, why


def run_folders(root: Path) -> list[Path]:
    """Every run folder under `root` (a reports folder, a suite folder or one run), once."""
    if (root / "results.json").is_file():
        return [root.resolve()]
    found = {p.parent.resolve() for p in root.glob("*/results.json")}
    found |= {p.parent.resolve() for p in root.glob("*/*/results.json")}
    return sorted(found)


def import_runs(db: Path, root: Path) -> Imported:
    """Rebuild the store from run folders: each finished whole run recorded (again); shards,
    unfinished runs and unreadable folders skipped with the reason. Reads the folders only."""
    if not root.is_dir():
        raise InputError("not a folder of run folders", path=root)
    recorded, skipped = [], []
    with open_store(db) as conn:
        for folder in run_folders(root):
            try:
                run = load_run(folder)
            except InputError as e:
                skipped.append((folder, e.message))
                continue
            if run.results.shard is not None:
                skipped.append((folder, "a shard: its merged run is the release"))
                continue
            save_run(conn, record_of(with_intervals(run).results, folder))
            recorded.append(folder)
    return Imported(recorded=recorded, skipped=skipped)
