"""The whole flow for one suite: load → plan → execute → table → analyse → write the run folder."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import inspect_ai
import pandas as pd

import evalkit
from evalkit.analysis.analyse import analyse
from evalkit.analysis.table import build_table
from evalkit.errors import InputError, RunFailed
from evalkit.gate import check_gate_targets, evaluate_gates
from evalkit.home import responses_dir
from evalkit.names import ARMS
from evalkit.report.files import point_latest, redact, write_samples
from evalkit.results import (
    ArmInfo,
    Gates,
    Message,
    Results,
    RunInfo,
    StoredRun,
    SuiteInfo,
    Versions,
    load_run,
    write_results,
)
from evalkit.run.execute import ExecSettings, execute
from evalkit.run.judge import apply_judgments, run_judge
from evalkit.run.plan import Plan, plan_suite
from evalkit.suite.load import LoadedSuite, load_suite


@dataclass(frozen=True)
class RunOptions:
    """Command-line choices; the suite's `run:` block supplies the rest."""

    out_dir: Path = Path("reports")
    cache_dir: Path | None = None
    no_cache: bool = False
    display: str = "none"
    run_id: str | None = None
    baseline_run: Path | None = None  # an earlier run folder, for `no_regression` gates


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    results: Results
    table: pd.DataFrame
    gates: Gates


def _settings(loaded: LoadedSuite, options: RunOptions, run_dir: Path) -> ExecSettings:
    run = loaded.suite.run
    return ExecSettings(
        log_dir=run_dir / "logs",
        cache_dir=options.cache_dir or responses_dir(),
        max_connections=run.max_connections,
        max_retries=run.max_retries,
        timeout=run.timeout,
        cache=run.cache and not options.no_cache,
        display=options.display,
    )


def run_metadata(loaded: LoadedSuite, plan: Plan, run_id: str, started: float) -> RunInfo:
    """Who, what and with which versions: everything needed to trust or repeat the run."""
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
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=round(time.time() - started, 2),
        versions=Versions(
            evalkit=evalkit.__version__,
            inspect_ai=inspect_ai.__version__,
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
        ),
        arms=arms,
        dataset_hashes=loaded.dataset_hashes,
        stats=suite.stats,
    )


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def run_suite(suite_path: str | Path, options: RunOptions = RunOptions()) -> RunOutcome:
    """Run a suite end to end and write its run folder; raises InputError/RunFailed."""
    started = time.time()
    loaded = load_suite(suite_path)
    plan = plan_suite(loaded)
    # gate typos and a missing --baseline fail here, before any model is called
    check_gate_targets(loaded.suite, [p.name for p in loaded.probes], loaded.path)
    earlier = load_run(options.baseline_run) if options.baseline_run else None
    run_id = options.run_id or new_run_id()
    suite_dir = options.out_dir / loaded.suite.name
    run_dir = suite_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = _settings(loaded, options, run_dir)
    logs = execute(plan, settings)
    table = build_table(plan, logs, loaded)
    if loaded.rubrics:
        # the judge pass: a second eval over the arms' answers, with the judge model
        table = apply_judgments(table, loaded, run_judge(loaded, table, settings))
    results = Results(
        **dict(run_metadata(loaded, plan, run_id, started)), **dict(analyse(table, loaded))
    )
    gates = _gate_report(loaded, results, table, earlier)
    if isinstance(gates, Gates):
        results = results.model_copy(update={"gates": gates})
    # the run folder is written before any failure is raised, so the evidence is on disk
    write_outputs(run_dir, results, table)
    point_latest(suite_dir, run_id)
    _raise_if_arm_failed(table, run_dir)
    if isinstance(gates, InputError):
        raise gates
    return RunOutcome(run_dir=run_dir, results=results, table=table, gates=gates)


def _gate_report(
    loaded: LoadedSuite, results: Results, table: pd.DataFrame, earlier: StoredRun | None
) -> Gates | InputError:
    """The gate report, or the error of a gate path that names no metric of this run."""
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
    """Every file of a run folder except the inspect logs (already there)."""
    write_samples(run_dir / "samples.jsonl", table)
    write_reports(run_dir, results, table)


def write_reports(run_dir: Path, results: Results, table: pd.DataFrame | None) -> None:
    """The files derived from results (and the per-sample table, for the HTML sample browser)."""
    from evalkit.report.html import write_html
    from evalkit.report.junit import write_junit
    from evalkit.report.markdown import write_summary

    write_results(run_dir / "results.json", results)
    write_junit(run_dir / "junit.xml", results)
    write_summary(run_dir / "summary.md", results)
    # always: a report left with the old gate verdicts would contradict results.json
    write_html(run_dir / "index.html", results, table)
