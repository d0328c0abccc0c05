"""The whole flow for one suite: load → plan → execute → table → analyse → write the run folder.

A run folder is created with a manifest (`run.json`, state `running`) before the first
request, fills its journal while requests complete, and is marked `complete` only once every
output is written. Ctrl-C marks it `interrupted`; `--resume` picks it up where it stopped.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import platform
import secrets
import shlex
import shutil
import sys
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import evalkit
from evalkit import runfolder
from evalkit.errors import EvalkitError, InputError, Interrupted, RunFailed, storage_error
from evalkit.home import responses_dir
from evalkit.names import ARMS
from evalkit.results import (
    ArmInfo,
    AuditLink,
    Gates,
    Message,
    Results,
    RunInfo,
    ShardInfo,
    StoredRun,
    SuiteInfo,
    Versions,
    load_run,
    read_results,
    write_results,
)
from evalkit.run import journal
from evalkit.run.engine import Policy
from evalkit.run.execute import ExecSettings, execute
from evalkit.run.plan import Plan, Shard, judge_spec, plan_suite
from evalkit.run.servers import ServerPool, server_specs
from evalkit.suite.load import LoadedSuite, load_suite

if TYPE_CHECKING:
    import pandas as pd

    from evalkit.audit.core import Audit
    from evalkit.data.ratings import Rating
    from evalkit.history.recording import HistoryContext

SELECTION_SAMPLES = "selection_samples.jsonl"  # the selection pass's rows, as samples.jsonl


@dataclass(frozen=True)
class RunOptions:
    """Command-line choices; the suite's `run:` block supplies the rest."""

    out_dir: Path = Path("reports")
    cache_dir: Path | None = None
    no_cache: bool = False
    display: str = "none"  # live | log | none
    run_id: str | None = None
    baseline_run: Path | None = None  # an earlier run folder, for `no_regression` gates
    resume: Path | bool = False  # True: the suite's newest unfinished run; a path: that run
    workers: int | None = None  # None: automatic (see evalkit.run.execute)
    shard: Shard | None = None
    inspect_logs: bool = False  # also write logs/*.eval for `inspect view`
    history_db: Path | None = None  # the run store; None: <out_dir>/evalkit.db
    mlflow_uri: str | None = None  # overrides the suite's tracking.mlflow.uri


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    results: Results
    table: pd.DataFrame
    gates: Gates | None  # None for a shard: gates judge whole runs


def _settings(loaded: LoadedSuite, options: RunOptions, run_dir: Path) -> ExecSettings:
    run = loaded.suite.run
    hedge = {"auto": None, "off": 0.0}.get(run.hedge_after, run.hedge_after)  # type: ignore[arg-type]
    return ExecSettings(
        run_dir=run_dir,
        cache_dir=options.cache_dir or responses_dir(),
        policy=Policy(
            max_connections=run.max_connections,
            max_retries=run.max_retries,
            timeout=run.timeout,
            total_timeout=run.total_timeout,
            hedge_after=hedge,
        ),
        cache=run.cache and not options.no_cache,
        client=run.client,
        workers=options.workers,
        display=options.display,
    )


def run_metadata(
    loaded: LoadedSuite, plan: Plan, run_id: str, started: float, shard: Shard | None = None
) -> RunInfo:
    """Who, what and with which versions: everything needed to trust or repeat the run."""
    from importlib.metadata import version

    from evalkit.credentials import redact

    suite = loaded.suite
    arms = {}
    for arm in ARMS:
        tp = plan.for_arm(arm)[0]
        arms[arm] = ArmInfo(
            model=suite.arms[arm].model,
            identity=tp.model.identity,
            adapter_sha256=tp.model.adapter_sha256,
            prompt_sha256=loaded.prompts[arm].sha256,
            fewshot_examples=len(loaded.prompts[arm].examples),
            # the first held-out item as the arm really sent it: the prompt a reader can inspect
            example_messages=[Message(role=r, content=c) for r, c in tp.samples[0].messages],
        )
    return RunInfo(
        run_id=run_id,
        # milliseconds: runs finishing within one second still have an order (run history)
        created_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        duration_s=round(time.time() - started, 2),
        versions=Versions(
            evalkit=evalkit.__version__,
            # the installed version, without importing inspect-ai (a second of start-up)
            inspect_ai=version("inspect_ai"),
            python=platform.python_version(),
        ),
        suite=SuiteInfo(
            name=suite.name,
            description=suite.description,
            path=str(loaded.path),
            sha256=loaded.sha256,
            task_type=suite.task.type,
            labels=list(loaded.labels),
            config=redact(suite.model_dump(mode="json", by_alias=True)),
            scorers=[s.info for s in loaded.scorers],
            fields=list(loaded.fields),
        ),
        arms=arms,
        dataset_hashes=loaded.dataset_hashes,
        stats=suite.stats,
        shard=ShardInfo(index=shard.index, count=shard.count) if shard else None,
    )


def new_run_id() -> str:
    """A time-sortable id, unique among runs started in the same second (random suffix)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)


# What the stages after the requests import, loaded while the requests are in flight. No part
# of scipy or scikit-learn is among them: a run without a judge, raters or long answers needs
# neither, and importing them took a second of a cached re-run.
WARM_IMPORTS = ("evalkit.analysis.analyse", "evalkit.analysis.table", "evalkit.gate",
                "evalkit.history.intervals", "evalkit.history.release", "evalkit.report.html",
                "evalkit.report.card", "evalkit.report.junit", "evalkit.report.markdown",
                "evalkit.report.terminal")  # fmt: skip


def _warm_imports() -> None:
    """Import what the stages after the requests need, while the requests are in flight."""
    for name in WARM_IMPORTS:
        importlib.import_module(name)


def _resume_command(loaded: LoadedSuite, run_dir: Path) -> str:
    return f"evalkit run {shlex.quote(str(loaded.path))} --resume {shlex.quote(str(run_dir))}"


def _newest_unfinished(suite_dir: Path) -> Path:
    candidates = []
    for manifest_path in suite_dir.glob(f"*/{runfolder.MANIFEST}"):
        manifest = runfolder.read_manifest(manifest_path.parent)
        if manifest and manifest.get("state") != runfolder.COMPLETE:
            candidates.append((manifest.get("started_at", ""), manifest_path.parent))
    if not candidates:
        raise InputError("no unfinished run of this suite to resume", path=suite_dir)
    return max(candidates)[1]


def _open_run_dir(loaded: LoadedSuite, options: RunOptions) -> tuple[Path, Shard | None, bool]:
    """The run folder to fill, the shard it covers, and whether it starts afresh (False: a
    run being resumed). Nothing is written yet: the suite may still fail its checks."""
    suite_dir = options.out_dir / loaded.suite.name
    if options.resume:
        run_dir = _newest_unfinished(suite_dir) if options.resume is True else Path(options.resume)
        manifest = runfolder.read_manifest(run_dir)
        if manifest is None:
            raise InputError("not a run folder evalkit can resume (no run.json)", path=run_dir)
        if manifest.get("state") == runfolder.COMPLETE:
            raise InputError("this run is complete; there is nothing to resume", path=run_dir)
        if manifest.get("suite_sha256") != loaded.sha256:
            raise InputError(
                f"the suite changed since this run started, so its answers would not match; "
                f"start a new run (run folder {run_dir})",
                path=loaded.path,
            )
        shard = Shard(**manifest["shard"]) if manifest.get("shard") else None
        if options.shard is not None and options.shard != shard:
            raise InputError(f"this run is shard {shard or 'none'}", where="--shard")
        return run_dir, shard, False
    run_id = options.run_id or new_run_id()
    run_dir = suite_dir / run_id
    manifest = runfolder.read_manifest(run_dir)
    if manifest is not None and manifest.get("state") != runfolder.COMPLETE:
        runfolder.raise_if_busy(run_dir)  # still running: say so and by whom, not "resume it"
        raise InputError(
            "an unfinished run has this id; resume it with --resume, or choose another --run-id",
            path=run_dir,
        )
    return run_dir, options.shard, True


def _claim_run_dir(run_dir: Path, fresh: bool) -> None:
    """A fresh run replacing a finished one of the same id drops its journal, so that run's
    answers cannot leak into this one."""
    if fresh:
        for old in journal.journal_files(run_dir):
            old.unlink()


def run_suite(suite_path: str | Path, options: RunOptions = RunOptions()) -> RunOutcome:
    """Run a suite end to end and write its run folder.

    Raises InputError (bad input, exit 2), RunFailed (exit 3) or Interrupted (exit 130).
    """
    from evalkit.history.recording import record

    started = time.time()
    loaded = load_suite(suite_path)
    # gate typos and a missing --baseline fail here, before any model is called; the gate
    # module (pandas, the metric registry) is imported before the requests only if needed,
    # and otherwise while they are in flight (WARM_IMPORTS)
    if loaded.suite.gates:
        from evalkit.gate import check_gate_targets

        check_gate_targets(loaded)
    # a bad audited file is exit 2 now, before any model is called
    audit = _audit(loaded)
    earlier = load_run(options.baseline_run) if options.baseline_run else None
    history = _prepare_history(loaded, options)
    run_dir, shard, fresh = _open_run_dir(loaded, options)
    plan = plan_suite(loaded, shard)
    if loaded.prompt_options:
        from evalkit.selection import check_selection

        check_selection(loaded, shard)
    resume = _resume_command(loaded, run_dir)
    with contextlib.ExitStack() as held:
        try:
            # only now, with every check passed: a suite that fails one leaves no folder behind
            run_dir.mkdir(parents=True, exist_ok=True)
            held.enter_context(runfolder.locked(run_dir))  # held until the run ends
            _claim_run_dir(run_dir, fresh)
            runfolder.write_manifest(
                run_dir,
                {
                    "state": runfolder.RUNNING,
                    "suite": str(loaded.path),
                    "suite_sha256": loaded.sha256,
                    "shard": {"index": shard.index, "count": shard.count} if shard else None,
                    "requests": sum(len(t.samples) for t in plan.tasks)
                    + len(loaded.selection_items) * sum(map(len, loaded.prompt_options.values())),
                    "started_at": runfolder.now_iso(),
                    "pid": os.getpid(),
                    "host": os.uname().nodename,
                    "argv": sys.argv,
                    "resume_command": resume,
                },
            )
        except FileNotFoundError:
            raise
        except OSError as e:  # a read-only or full --out: nothing was sent yet
            raise storage_error(e, run_dir, "choose a writable --out") from None
        threading.Thread(target=_warm_imports, daemon=True).start()
        settings = _settings(loaded, options, run_dir)
        try:
            # the arms' servers live as long as the run: prompt selection, the tasks, the judge
            specs = server_specs(plan, judge_spec(loaded))
            with ServerPool(specs, log_dir=run_dir, source=loaded.path) as servers:
                outcome = _finish(
                    loaded, plan, replace(settings, servers=servers), options, run_dir, shard,
                    started, earlier, history, audit,
                )  # fmt: skip
        except KeyboardInterrupt:
            _mark(run_dir, state=runfolder.INTERRUPTED, stopped_at=runfolder.now_iso())
            raise Interrupted(f"interrupted; resume with: {resume}") from None
        except InputError as e:
            _mark(run_dir, state=runfolder.FAILED, error=str(e))
            # a provider names the key (arms.candidate.model); the suite file is ours to add
            raise e if e.path else InputError(e.message, path=loaded.path, where=e.where) from None
        except EvalkitError as e:
            _mark(run_dir, state=runfolder.FAILED, error=str(e))
            raise
        except FileNotFoundError:
            raise
        except OSError as e:  # a full disk, a run folder turned read-only: the journal is intact
            error = storage_error(e, run_dir, f"fix that, then resume with: {resume}")
            _mark(run_dir, state=runfolder.FAILED, error=str(error))
            raise error from None
        # only a run that finished is recorded, and a failure to record it leaves the folder be
        record(history, outcome.results, run_dir)
        return outcome


def _mark(run_dir: Path, **changes: Any) -> None:
    """Record in the manifest how the run ended; where even that cannot be written (a full or
    read-only disk) it still says "running", which resumes like "failed"."""
    with contextlib.suppress(OSError):
        runfolder.update_manifest(run_dir, **changes)


def _finish(
    loaded: LoadedSuite,
    plan: Plan,
    settings: ExecSettings,
    options: RunOptions,
    run_dir: Path,
    shard: Shard | None,
    started: float,
    earlier: StoredRun | None,
    history: HistoryContext,
    audit: Audit | None,
) -> RunOutcome:
    """Select prompts, execute the plan, then every stage after it, and mark the run folder
    complete."""
    selected = None
    if loaded.prompt_options:  # the selection pass scores its answers before the reported run
        from evalkit.report.files import write_samples
        from evalkit.selection import select_prompts

        selected = select_prompts(loaded, settings)
    if selected is not None:
        # the leaderboard's evidence is on disk before anything can fail
        write_samples(run_dir / SELECTION_SAMPLES, selected.table)
        _raise_if_arm_failed(selected.table, run_dir)
        loaded = selected.loaded
        plan = plan_suite(loaded, shard)  # the reported tasks, with the chosen prompts
    records = execute(plan, settings)
    # the stages after the requests, imported only now: importing them first would make the
    # requests wait for pandas, which _warm_imports loads while they are in flight
    from evalkit.analysis.analyse import analyse
    from evalkit.analysis.table import build_table
    from evalkit.history.recording import annotate
    from evalkit.report.files import point_latest
    from evalkit.run.judge import apply_judgments, run_judge, wants_judge

    table = build_table(plan, records, loaded)
    if wants_judge(loaded):
        # the judge pass: a second pass over the arms' answers, with the judge model
        table = apply_judgments(table, loaded, run_judge(loaded, table, settings))
    results = Results(
        **dict(run_metadata(loaded, plan, run_dir.name, started, shard)),
        **dict(analyse(table, loaded)),
        selection=selected.result if selected else None,
    )
    if audit is not None and loaded.suite.audit is not None:
        link = _write_audit(audit, list(loaded.suite.audit.fail_on), run_dir)
        results = results.model_copy(update={"audit": link})
    gates = None if shard else _gate_report(loaded, results, table, earlier)
    if isinstance(gates, Gates):
        results = results.model_copy(update={"gates": gates})
    results = annotate(history, loaded, results, table, run_dir)
    # the run folder is written before any failure is raised, so the evidence is on disk
    write_outputs(run_dir, results, table)
    if options.inspect_logs:
        from evalkit.report.inspect_log import write_inspect_logs

        write_inspect_logs(run_dir / "logs", plan, records)
    runfolder.update_manifest(run_dir, state=runfolder.COMPLETE, finished_at=runfolder.now_iso())
    if shard is None:  # `latest` names whole runs only; a shard is merged first
        point_latest(run_dir.parent, run_dir.name)
    _raise_if_arm_failed(table, run_dir)
    if isinstance(gates, InputError):
        raise gates
    return RunOutcome(run_dir=run_dir, results=results, table=table, gates=gates)


def _audit(loaded: LoadedSuite) -> Audit | None:
    """The data audit the suite's `audit:` block asks for, or None without one."""
    if loaded.suite.audit is None:
        return None
    from evalkit.audit.suite import audit_suite

    return audit_suite(loaded.path, loaded.suite, loaded.suite.audit)


def _write_audit(audit: Audit, fail_on: list[str], run_dir: Path) -> AuditLink:
    """audit.html and audit.json into the run folder; what results.json says of them."""
    from evalkit.report.audit import write_audit

    page, _ = write_audit(run_dir, audit)
    return AuditLink(data=audit.data, page=page.name, found=audit.found, fail_on=fail_on)


def _prepare_history(loaded: LoadedSuite, options: RunOptions) -> HistoryContext:
    """The suite's run store, previous release and MLflow target, checked before any model call."""
    from evalkit.history.recording import prepare

    return prepare(loaded, options.history_db, options.out_dir, options.mlflow_uri)


def _gate_report(
    loaded: LoadedSuite, results: Results, table: pd.DataFrame, earlier: StoredRun | None
) -> Gates | InputError:
    """The gate report, or the error of a gate path that names no metric of this run."""
    from evalkit.gate import evaluate_gates

    try:
        return evaluate_gates(
            results,
            loaded.suite.gates,
            max_errors=loaded.suite.run.max_errors,
            samples=table,
            earlier=earlier,
        )
    except InputError as e:
        return e


def _raise_if_arm_failed(table: pd.DataFrame, run_dir: Path) -> None:
    """An arm with no successful sample means the run itself failed (exit 3), not a gate."""
    for arm, rows in table.groupby("arm"):
        errors = rows["error"].dropna()
        if len(errors) == len(rows):
            raise RunFailed(
                f"every sample of the {arm} arm failed (first error: {errors.iloc[0]}); "
                f"see {run_dir}"
            )


def write_outputs(run_dir: Path, results: Results, table: pd.DataFrame) -> None:
    """Every file of a run folder except the journal and the manifest."""
    from evalkit.report.files import write_samples

    write_samples(run_dir / "samples.jsonl", table)
    write_reports(run_dir, results, table)


def write_reports(run_dir: Path, results: Results, table: pd.DataFrame | None) -> None:
    """The files derived from results (and the per-sample table, for the HTML sample browser)."""
    from evalkit.report.card import write_card
    from evalkit.report.html import write_html
    from evalkit.report.junit import write_junit
    from evalkit.report.markdown import write_summary

    write_results(run_dir / "results.json", results)
    write_junit(run_dir / "junit.xml", results)
    write_summary(run_dir / "summary.md", results)
    # always: a report left with the old gate verdicts would contradict results.json
    write_html(run_dir / "index.html", results, table)
    write_card(run_dir, results)


# ---- after the run: merging shards, inspect logs -------------------------------------------


def _load_suite_of(manifest: dict[str, Any], run_dir: Path, suite_path: Path | None) -> LoadedSuite:
    """The suite a run was made from, checked to be unchanged since."""
    path = suite_path or Path(manifest["suite"])
    loaded = load_suite(path)
    if loaded.sha256 != manifest.get("suite_sha256"):
        raise InputError(
            f"this suite file is not the one run {run_dir} was made from (its hash differs)",
            path=path,
        )
    return loaded


def _as_chosen(loaded: LoadedSuite, results: Results) -> LoadedSuite:
    """The suite with the prompts a finished run chose: merge and logs plan it again."""
    return loaded.with_prompts(results.selection.chosen) if results.selection else loaded


def _shard_of(run_dir: Path) -> tuple[dict[str, Any], Results]:
    """(manifest, results) of a finished shard run; a located InputError otherwise."""
    runfolder.require_finished(run_dir)
    manifest = runfolder.read_manifest(run_dir)
    if manifest is None or not (run_dir / "results.json").is_file():
        raise InputError("not an evalkit run folder (no run.json or results.json)", path=run_dir)
    if not manifest.get("shard"):
        raise InputError("this run is not a shard (it was not run with --shard)", path=run_dir)
    return manifest, read_results(run_dir / "results.json")


def _check_shards(shards: list[tuple[Path, dict[str, Any], Results]]) -> None:
    """Same suite, data and arms, one of each shard: or a located error naming the odd one."""
    first_dir, first_manifest, first = shards[0]
    count = first_manifest["shard"]["count"]
    seen: dict[int, Path] = {}
    for run_dir, manifest, results in shards:
        index, of = manifest["shard"]["index"], manifest["shard"]["count"]
        if of != count:
            raise InputError(f"shard {index}/{of}, the first is of {count}", path=run_dir)
        if index in seen:
            raise InputError(f"shard {index}/{count} is also in {seen[index]}", path=run_dir)
        seen[index] = run_dir
        if manifest.get("suite_sha256") != first_manifest.get("suite_sha256"):
            raise InputError(
                f"a different suite file than {first_dir} (its hash differs)", path=run_dir
            )
        if results.dataset_hashes != first.dataset_hashes:
            raise InputError(
                f"different data than {first_dir} (dataset hashes differ)", path=run_dir
            )
        for arm, spec in results.arms.items():
            other = first.arms.get(arm)
            for key in ("identity", "prompt_sha256"):
                if other is None or getattr(spec, key) != getattr(other, key):
                    raise InputError(
                        f"the {arm} arm differs from {first_dir} ({key})", path=run_dir
                    )
    missing = sorted(set(range(1, count + 1)) - set(seen))
    if missing:
        raise InputError(
            f"shard{'s' if len(missing) > 1 else ''} {', '.join(f'{i}/{count}' for i in missing)} "
            "missing; give every shard's run folder",
            where="merge",
        )


def merge_runs(
    run_dirs: list[Path], options: RunOptions = RunOptions(), suite_path: Path | None = None
) -> RunOutcome:
    """Join the run folders of every shard of one suite into one complete run folder.

    Rows are put back in the unsharded run's order, and every metric is computed afresh over
    all of them, so the merged run equals the run made without shards.
    """
    from evalkit.analysis.analyse import analyse
    from evalkit.analysis.table import table_of
    from evalkit.history.recording import annotate, record
    from evalkit.report.files import point_latest
    from evalkit.results import read_samples, resolve_run

    started = time.time()
    shards = []
    for given in run_dirs:
        try:
            run_dir = resolve_run(given)
        except FileNotFoundError:
            raise InputError("not a run folder", path=given) from None
        shards.append((run_dir, *_shard_of(run_dir)))
    _check_shards(shards)
    first_dir, first_manifest, first = shards[0]
    loaded = _as_chosen(_load_suite_of(first_manifest, first_dir, suite_path), first)
    history = _prepare_history(loaded, options)
    plan = plan_suite(loaded)
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for run_dir, _, _ in shards:
        for row in read_samples(run_dir / "samples.jsonl").to_dict(orient="records"):
            rows[(row["arm"], row["dataset"], str(row["id"]))] = row
    ordered = []
    for tp in plan.tasks:
        for sample in tp.samples:
            row = rows.get((tp.arm, tp.dataset, sample.id))
            if row is None:
                raise InputError(
                    f"item {sample.id!r} of {tp.arm} · {tp.dataset} is in no shard's samples",
                    where="merge",
                )
            ordered.append(row)
    table = table_of(ordered)
    run_id = options.run_id or f"merged-{new_run_id()}"
    run_dir = options.out_dir / loaded.suite.name / run_id
    try:
        run_dir.mkdir(parents=True)
    except FileExistsError:
        runfolder.raise_if_busy(run_dir)  # a run or another merge is writing it now
        raise InputError("this run folder exists; choose another --run-id", path=run_dir) from None
    # held while the folder is written, as a run holds its own: a run or merge given the same
    # id meanwhile is told the folder is in use
    with runfolder.locked(run_dir):
        merged_from = [str(d) for d, _, _ in sorted(shards, key=lambda s: s[1]["shard"]["index"])]
        info = run_metadata(loaded, plan, run_id, started).model_copy(
            update={"merged_from": merged_from}
        )
        # every shard ran the same selection pass (their chosen prompts were checked to match)
        results = Results(**dict(info), **dict(analyse(table, loaded)), selection=first.selection)
        if (first_dir / SELECTION_SAMPLES).is_file():
            shutil.copyfile(first_dir / SELECTION_SAMPLES, run_dir / SELECTION_SAMPLES)
        if first.audit is not None:
            # every shard audited the same files before it ran: the first's audit is the run's,
            # and its `fail_on` findings fail the merged run's gates as they would the whole run's
            from evalkit.report.audit import AUDIT_DATA

            for name in (first.audit.page, AUDIT_DATA):
                shutil.copyfile(first_dir / name, run_dir / name)
            results = results.model_copy(update={"audit": first.audit})
        earlier = load_run(options.baseline_run) if options.baseline_run else None
        gates = _gate_report(loaded, results, table, earlier)
        if isinstance(gates, Gates):
            results = results.model_copy(update={"gates": gates})
        results = annotate(history, loaded, results, table, run_dir)
        write_outputs(run_dir, results, table)
        runfolder.write_manifest(
            run_dir,
            {"state": runfolder.COMPLETE, "suite": str(loaded.path), "suite_sha256": loaded.sha256,
             "shard": None, "merged_from": merged_from, "started_at": runfolder.now_iso(),
             "finished_at": runfolder.now_iso(), "resume_command": None},
        )  # fmt: skip
    point_latest(run_dir.parent, run_id)
    if isinstance(gates, InputError):
        raise gates
    record(history, results, run_dir)
    return RunOutcome(run_dir=run_dir, results=results, table=table, gates=gates)


def export_inspect_logs(run_dir: Path, suite_path: Path | None = None) -> list[Path]:
    """`evalkit logs`: write logs/*.eval for a finished run from its suite and journal."""
    from evalkit.report.inspect_log import write_inspect_logs

    runfolder.require_finished(run_dir)
    manifest = runfolder.read_manifest(run_dir)
    if manifest is None:
        raise InputError(
            "not a run folder made by this version of evalkit (no run.json)", path=run_dir
        )
    loaded = _load_suite_of(manifest, run_dir, suite_path)
    if loaded.prompt_options:
        loaded = _as_chosen(loaded, read_results(run_dir / "results.json"))
    shard = Shard(**manifest["shard"]) if manifest.get("shard") else None
    plan = plan_suite(loaded, shard)
    # a merged run's answers are in its shards' journals
    folders = [run_dir, *(Path(d) for d in manifest.get("merged_from") or [])]
    records = journal.latest_records(f for d in folders for f in journal.journal_files(d))
    return write_inspect_logs(run_dir / "logs", plan, records, manifest.get("started_at"))


# ---- after the run: people's ratings ----------------------------------------------------------


def _ratings_of(path: Path, known: set[tuple[str, str]]) -> list[Rating]:
    """A ratings file: the rating page's JSONL, or a Label Studio JSON export of its tasks."""
    from evalkit.data.labelstudio import is_labelstudio_export, read_labelstudio_export
    from evalkit.data.ratings import read_ratings

    if not is_labelstudio_export(path):
        return read_ratings(path, known)
    ratings = read_labelstudio_export(path)
    for r in ratings:
        if (r.dataset, r.item_id) not in known:
            raise InputError(
                f"item {r.item_id!r} of dataset {r.dataset!r} is not in this run",
                path=path,
                where=f"task of {r.item_id}",
            )
    return ratings


def import_ratings(run_dir: Path, files: list[Path], db: Path | None = None) -> StoredRun:
    """`evalkit review import`: add people's ratings to a finished run and rewrite its reports.

    The ratings join the folder's ratings.jsonl (a rater's new rating of an item replaces
    their old one), the People section and the `human.*` metrics are computed again from all
    of them, the stored gates are judged again, and the run store records the result.
    """
    from evalkit.analysis.people import calibrated_by_people, people_analysis
    from evalkit.data.ratings import (
        RATINGS_FILE,
        merged_ratings,
        ratings_jsonl,
        read_stored_ratings,
    )
    from evalkit.gate import judge_run
    from evalkit.history.recording import record_stored
    from evalkit.history.store import open_store
    from evalkit.names import HUMAN, TASK

    run = load_run(run_dir)
    if run.results.shard is not None or run.samples is None:
        raise InputError(
            "ratings are imported into a whole run: merge its shards first", path=run.path
        )
    tasks = run.samples[run.samples["section"] == TASK]
    known = set(zip(tasks["dataset"], tasks["id"].astype(str), strict=True))
    new = [r for f in files for r in _ratings_of(f, known)]
    ratings = merged_ratings(read_stored_ratings(run.path), new)
    people, rows = people_analysis(ratings, run.samples, run.results)
    metrics = [m for m in run.results.metrics if m.dataset != HUMAN or m.section != TASK]
    rubrics = calibrated_by_people(run.results.rubrics, people)
    results = run.results.model_copy(
        update={"people": people, "metrics": [*metrics, *rows], "rubrics": rubrics}
    )
    rated = replace(run, results=results)
    rated = replace(rated, results=results.model_copy(update={"gates": judge_run(rated)}))
    if db is not None:
        with open_store(db):  # a corrupt or newer store is refused before any file is rewritten
            pass
    path = run.path / RATINGS_FILE
    try:
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text(ratings_jsonl(ratings), encoding="utf-8")
        tmp.replace(path)
        write_reports(run.path, rated.results, run.samples)
    except OSError as e:
        raise storage_error(e, path, "the ratings were not imported") from None
    if db is not None:
        record_stored(db, rated)
    return rated
