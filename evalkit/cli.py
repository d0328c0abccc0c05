"""The `evalkit` command: arguments → one library call → an exit code.

Exit codes: 0 all gates pass · 1 a gate failed · 2 bad suite, data or arguments · 3 the run failed
· 4 an optional extra the command needs is not installed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from evalkit.credentials import env_secrets, scrub, scrubber
from evalkit.errors import (
    EXIT_BAD_INPUT,
    EXIT_GATE_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EvalkitError,
    InputError,
    Interrupted,
    RunFailed,
    storage_error,
)
from evalkit.names import ARMS, PROBES_PREFIX, RUN_ID, TASK
from evalkit.report.escape import plain

if TYPE_CHECKING:
    from evalkit.pipeline import RunOutcome
    from evalkit.results import Gates, StoredRun


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evalkit",
        description="Does the fine-tuned model beat the base model with its best prompt?",
        epilog="Exit codes: 0 pass (no gate failed), 1 a gate failed, "
        "2 bad suite, data or arguments, 3 the run failed, 4 an optional extra is missing.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run both arms of a suite and write the run folder")
    run.add_argument("suite", type=Path)
    run.add_argument(
        "--out", type=Path, default=Path("reports"), help="reports folder (default: reports)"
    )
    run.add_argument(
        "--cache-dir", type=Path, help="response cache folder (default: ~/.cache/evalkit/responses)"
    )
    run.add_argument(
        "--no-cache", action="store_true", help="call the models even where an answer is cached"
    )
    run.add_argument(
        "--display",
        choices=["live", "log", "none"],
        help="progress: a live table, a line a minute, or nothing "
        "(default: live on a terminal, log otherwise)",
    )
    run.add_argument(
        "--run-id",
        help="name of the run folder: letters, digits, '.', '-', '_' (default: UTC timestamp)",
    )
    run.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="RUN_DIR",
        help="finish an interrupted run: the suite's newest unfinished one, or RUN_DIR; "
        "only requests without an answer are sent",
    )
    run.add_argument(
        "--workers",
        default="auto",
        help="processes that send requests: a number, or auto (default): one per few seconds "
        "of client CPU the requests need, at most one per core; local models run in one",
    )
    run.add_argument(
        "--shard",
        metavar="I/N",
        help="run part I of N of every arm × dataset (both arms the same items); "
        "join the parts with `evalkit merge`",
    )
    run.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: this machine (default); ray: every shard a Ray task, merged at the end "
        "(needs pip install 'evalkit[ray]')",
    )
    run.add_argument(
        "--address",
        help="with --executor ray: the Ray cluster to use (default: start a local instance)",
    )
    run.add_argument(
        "--shards",
        metavar="N",
        help="with --executor ray: how many shards (default: one per CPU of the cluster)",
    )
    run.add_argument(
        "--inspect-logs", action="store_true", help="also write logs/*.eval for `inspect view`"
    )
    run.add_argument("--gate", action="store_true", help="exit 1 when a gate of the suite fails")
    run.add_argument(
        "--baseline", type=Path, help="an earlier run folder or results.json, for no_regression"
    )
    _history_flags(run, mlflow=True)

    gate = sub.add_parser("gate", help="judge a finished run's gates again, without any model call")
    gate.add_argument("run", type=Path, help="a run folder, or reports/<suite> for its latest run")
    gate.add_argument(
        "--baseline", type=Path, help="an earlier run folder or results.json, for no_regression"
    )
    gate.add_argument(
        "--db",
        type=Path,
        help="the run store to record the new verdicts in (default: the run's <out>/evalkit.db, "
        "where it exists)",
    )

    merge = sub.add_parser(
        "merge", help="join the run folders of every shard of a suite into one run"
    )
    merge.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR")
    merge.add_argument(
        "--out", type=Path, default=Path("reports"), help="reports folder (default: reports)"
    )
    merge.add_argument(
        "--run-id", help="name of the merged run folder: letters, digits, '.', '-', '_'"
    )
    merge.add_argument("--suite", type=Path, help="the suite file, if not where the shards ran")
    merge.add_argument("--gate", action="store_true", help="exit 1 when a gate fails")
    merge.add_argument(
        "--baseline", type=Path, help="an earlier run folder or results.json, for no_regression"
    )
    _history_flags(merge, mlflow=True)

    logs = sub.add_parser("logs", help="write a finished run's inspect logs (logs/*.eval)")
    logs.add_argument("run", type=Path)
    logs.add_argument("--suite", type=Path, help="the suite file, if not where the run ran")

    cmp_ = sub.add_parser(
        "compare",
        help="two finished runs side by side, and promote / hold / roll back for the later "
        "run's candidate against the earlier one's",
    )
    cmp_.add_argument("run_a", type=Path, help="the previous release (or, with --against, the run)")
    cmp_.add_argument("run_b", type=Path, nargs="?", help="the run to decide on")
    cmp_.add_argument(
        "--against",
        metavar="RUN",
        help="compare RUN_A with an earlier run instead: 'last', 'last-passed' (from the run "
        "store), a run id of its suite or a run folder",
    )
    cmp_.add_argument("--db", type=Path, default=Path("reports") / "evalkit.db",
                      help="the run store, for --against last|last-passed (default: reports/evalkit.db)")  # fmt: skip
    cmp_.add_argument("--markdown", type=Path, help="also write the decision as Markdown here")
    cmp_.add_argument("--html", type=Path, help="also write the decision as an HTML page here")

    hist = sub.add_parser(
        "history",
        help="a suite's recorded runs with their headline metrics; "
        "`history import FOLDER` rebuilds the run store from run folders",
    )
    hist.add_argument("suite", metavar="SUITE", help="a suite name, or 'import'")
    hist.add_argument("folder", type=Path, nargs="?", help="with import: the reports folder")
    hist.add_argument("--db", type=Path, default=Path("reports") / "evalkit.db",
                      help="the run store (default: reports/evalkit.db)")  # fmt: skip
    hist.add_argument("--arm", choices=list(ARMS), help="where the arm filters look (default: either arm)")  # fmt: skip
    hist.add_argument("--model", help="runs with an arm whose model string contains this")
    hist.add_argument("--identity", help="... whose model identity starts with this")
    hist.add_argument("--adapter", help="... whose adapter sha256 starts with this")
    hist.add_argument("--prompt", help="... whose prompt sha256 starts with this")
    hist.add_argument("--dataset", help="runs that evaluated a dataset of this name")
    hist.add_argument("--dataset-sha256", help="... a dataset whose hash starts with this")
    hist.add_argument("--since", help="runs created on or after this date (YYYY-MM-DD) or time")
    hist.add_argument("--until", help="runs created on or before this date or time")
    hist.add_argument("--passed", action="store_true", help="only runs in which no gate failed")
    hist.add_argument("--json", action="store_true", help="every matching record as JSON")

    review = sub.add_parser(
        "review",
        help="a blind rating page (or Label Studio tasks) for people to rate a finished run's "
        "answers",
        description="`evalkit review RUN_DIR --out DIR` writes the rating page; "
        "`evalkit review import RUN_DIR FILES...` records the ratings people exported: the "
        "report's People section, the human.* metrics and gates.",
    )
    review.add_argument(
        "run", type=Path, metavar="RUN_DIR", help="a run folder or reports/<suite> (or 'import')"
    )
    review.add_argument(
        "files", type=Path, nargs="*", metavar="FILES",
        help="with import: the ratings files (the page's JSONL, or a Label Studio JSON export)",
    )  # fmt: skip
    review.add_argument("--out", type=Path, help="the folder to write the page or tasks to")
    review.add_argument(
        "--format",
        choices=["page", "labelstudio"],
        default="page",
        help="page: one self-contained review.html (default); labelstudio: tasks.json and "
        "labeling_config.xml for a Label Studio project",
    )
    review.add_argument(
        "--dataset",
        action="append",
        metavar="D",
        help="rate this task dataset (repeat for several; default: every task dataset)",
    )
    review.add_argument("--n", type=int, default=50, help="items to rate (default: 50)")
    review.add_argument("--seed", type=int, default=0, help="seeds the sample and the A/B order")
    review.add_argument("--rater", help="the rater's name, filled in on the page")
    review.add_argument(
        "--db",
        type=Path,
        help="with import: the run store to record the ratings' metrics in (default: the "
        "run's <out>/evalkit.db, where it exists)",
    )

    models = sub.add_parser("models", help="local base models evalkit can fetch by itself")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    models_sub.add_parser("list", help="built-in models and whether they are downloaded")
    pull = models_sub.add_parser("pull", help="download and convert a built-in model now")
    pull.add_argument("name")

    val = sub.add_parser(
        "validate", help="check a suite and every file it names, without calling any model"
    )
    val.add_argument("suite", type=Path)

    init = sub.add_parser(
        "init",
        help="start a suite from a fine-tuning file or labelled examples, with a held-out split",
    )
    init.add_argument("data", type=Path, help="OpenAI chat-format JSONL, or JSONL / CSV rows")
    init.add_argument("--task", choices=["classification", "generation"], required=True)
    init.add_argument(
        "--target-field",
        help="the target's field (default: target); in a chat file, a key of the JSON reply",
    )
    init.add_argument(
        "--input-field", help="the input's field (default: input; not for chat files)"
    )
    init.add_argument("--out", type=Path, help="the suite folder (default: ./<name>)")
    init.add_argument("--name", help="the suite's name (default: from the file name)")
    init.add_argument("--seed", type=int, default=0, help="seeds the split and few-shot examples")
    init.add_argument(
        "--heldout-share", type=float, default=0.15, help="held-out share, 0.10-0.20 (default 0.15)"
    )
    aud = sub.add_parser(
        "audit",
        help="audit a training file: likely label errors, duplicates and conflicts, leaks into "
        "a suite's evaluation sets, sensitive data, agreement between annotators",
        epilog="Exit codes: 0 done (and nothing --fail-on names was found), 1 a finding "
        "--fail-on names was found, 2 bad data or arguments, 3 the files could not be written.",
    )
    aud.add_argument("data", type=Path, help="JSONL or CSV rows: id, input, target (or labels)")
    aud.add_argument("--suite", type=Path, help="check leakage against this suite's datasets")
    aud.add_argument(
        "--out", type=Path, default=Path("audit"), help="folder for audit.html and audit.json "
        "(default: audit)"
    )  # fmt: skip
    aud.add_argument(
        "--model",
        help="find label errors from this model's log-likelihood of each label instead of "
        "the cross-validated text model (local/... or evalkit-test/...)",
    )
    aud.add_argument(
        "--fail-on",
        metavar="KINDS",
        help="exit 1 when any of these findings is present, comma-separated: duplicates, "
        "conflicts, leakage, heldout_share, pii, label_errors, disagreement",
    )
    return p


def _history_flags(parser: argparse.ArgumentParser, *, mlflow: bool) -> None:
    parser.add_argument(
        "--db", type=Path, help="the run store every finished run is recorded in "
        "(default: <out>/evalkit.db)"
    )  # fmt: skip
    if mlflow:
        parser.add_argument(
            "--mlflow",
            metavar="URI",
            help="also track the run in MLflow at this URI (overrides tracking.mlflow.uri)",
        )


def _positive_int(text: str, option: str, expected: str = "auto or a whole number ≥ 1") -> int:
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"expected {expected}, found {text!r}", where=option)
    return int(text)


def _check_executor(args: argparse.Namespace) -> int | None:
    """The --shards count of a Ray run (None: the cluster's CPUs); a located error for a flag
    that does not go with the executor chosen."""
    if args.executor != "ray":
        for flag in ("address", "shards"):
            if getattr(args, flag) is not None:
                raise InputError("only goes with --executor ray", where=f"--{flag}")
        return None
    if args.shard:
        raise InputError(
            "--executor ray splits the run itself: give the number of shards with --shards N",
            where="--shard",
        )
    if args.resume:
        raise InputError(
            "a Ray run resumes by running it again with the same --run-id", where="--resume"
        )
    if args.shards is None:
        return None
    return _positive_int(args.shards, "--shards", "a whole number ≥ 1")


def _check_run_id(run_id: str | None) -> None:
    if run_id is not None and (not RUN_ID.match(run_id) or run_id == "latest"):
        raise InputError(
            f"{run_id!r} is not a folder name: use up to 128 letters, digits, '.', '-' and '_', "
            "starting with a letter or digit (and not 'latest')",
            where="--run-id",
        )


def _check_folder_arg(path: Path | None, flag: str) -> None:
    """A folder argument that exists must be a folder, and so must its nearest existing parent."""
    if path is None:
        return
    for p in (path, *path.parents):
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                raise InputError(f"{p} is not a folder", path=path, where=flag)
            return


def _display(choice: str | None) -> str:
    if choice:
        return choice
    return "live" if sys.stderr.isatty() else "log"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    from evalkit.pipeline import RunOptions, run_suite
    from evalkit.run.plan import Shard

    if args.own_process:
        # A run makes and drops millions of small objects, and each of the cyclic collector's
        # full passes walked everything the imports built (pandas, pydantic's models): about
        # 0.2 s of a cached re-run. Those live as long as the process: leave them out. Not in
        # a process that calls main() again and again (tests), where it would keep garbage.
        gc.freeze()

    workers = None if args.workers == "auto" else _positive_int(args.workers, "--workers")
    shards = _check_executor(args)
    _check_run_id(args.run_id)
    _check_folder_arg(args.out, "--out")
    _check_folder_arg(args.cache_dir, "--cache-dir")
    # CI cancels a job with SIGTERM: stop like Ctrl-C, so the run folder says how to resume
    signal.signal(signal.SIGTERM, _interrupt)
    options = RunOptions(
        out_dir=args.out,
        cache_dir=args.cache_dir,
        no_cache=args.no_cache,
        display=_display(args.display),
        run_id=args.run_id,
        baseline_run=args.baseline,
        resume=args.resume if args.resume is True or not args.resume else Path(args.resume),
        workers=workers,
        shard=Shard.parse(args.shard) if args.shard else None,
        inspect_logs=args.inspect_logs,
        history_db=args.db,
        mlflow_uri=args.mlflow,
    )
    if args.executor == "ray":
        from evalkit.ray_executor import run_on_ray

        err = Console(stderr=True, highlight=False)
        outcome = run_on_ray(
            args.suite,
            options,
            shards=shards,
            address=args.address,
            report=lambda line: err.print(plain(line), soft_wrap=True),
        )
    else:
        outcome = run_suite(args.suite, options)
    return _report_outcome(outcome, args.gate, console)


def _report_outcome(outcome: RunOutcome, gate: bool, console: Console) -> int:
    from evalkit.report.terminal import print_summary

    if not (outcome.run_dir / "results.json").is_file():
        # fail closed: a gate must never pass on a run that left no results
        raise RunFailed(f"the run ended without a results file in {outcome.run_dir}")
    print_summary(outcome.results, console)
    shard = outcome.results.shard
    if shard is not None:
        console.print(
            f"shard {shard.index}/{shard.count}: gates are judged on the merged run (evalkit merge)"
        )
    elif outcome.gates is not None:
        _print_gates(outcome.gates, console)
    _step_summary(outcome.run_dir)
    console.print(f"report: {plain(outcome.run_dir / 'index.html')}")
    failed = outcome.gates is not None and not outcome.gates.passed
    return EXIT_GATE_FAILED if gate and failed else EXIT_OK


def _cmd_merge(args: argparse.Namespace, console: Console) -> int:
    from evalkit.pipeline import RunOptions, merge_runs

    _check_run_id(args.run_id)
    _check_folder_arg(args.out, "--out")
    outcome = merge_runs(
        args.runs,
        RunOptions(
            out_dir=args.out,
            run_id=args.run_id,
            baseline_run=args.baseline,
            history_db=args.db,
            mlflow_uri=args.mlflow,
        ),
        suite_path=args.suite,
    )
    return _report_outcome(outcome, args.gate, console)


def _cmd_logs(args: argparse.Namespace, console: Console) -> int:
    from evalkit.pipeline import export_inspect_logs
    from evalkit.results import resolve_run

    try:
        run_dir = resolve_run(args.run)
    except FileNotFoundError:
        raise InputError("not a run folder", path=args.run) from None
    written = export_inspect_logs(run_dir, args.suite)
    console.print(
        plain(
            f"{len(written)} logs written; open them with: inspect view --log-dir {run_dir / 'logs'}"
        )
    )
    return EXIT_OK


def _print_gates(report: Gates, console: Console) -> None:
    marks = {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: "[yellow]skip[/yellow]"}
    for r in report.results:
        console.print(
            f"{marks[r.passed]} {plain(f'{r.rule} {r.check}: {r.evidence}')}", soft_wrap=True
        )
    if report.results:
        failed, skipped = len(report.failed), len(report.not_evaluated)
        verdict = "[red]FAILED[/red]" if failed else "[green]passed[/green]"
        console.print(
            f"gates {verdict}: {failed} failed, {skipped} not evaluated, "
            f"{len(report.results) - failed - skipped} passed"
        )


def _step_summary(run_dir: Path) -> None:
    """On GitHub Actions, append summary.md to the job's summary page."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write((run_dir / "summary.md").read_text(encoding="utf-8") + "\n")


def _cmd_gate(args: argparse.Namespace, console: Console) -> int:
    from evalkit.gate import judge_run
    from evalkit.history.recording import record_stored
    from evalkit.history.store import default_db, open_store
    from evalkit.pipeline import write_reports
    from evalkit.results import load_run

    run = load_run(args.run)
    if (shard := run.results.shard) is not None:
        raise InputError(
            f"shard {shard.index}/{shard.count}: gates judge whole runs; merge the shards first "
            "(evalkit merge)",
            path=run.path,
        )
    report = judge_run(run, load_run(args.baseline) if args.baseline else None)
    # the new verdicts go to the run store too: where it exists, or where --db names one
    db = args.db or default_db(run.path.parent.parent)
    recording = args.db is not None or db.is_file()
    if recording:
        with open_store(db):  # a corrupt or newer store is refused before any file is rewritten
            pass
    rejudged = replace(run, results=run.results.model_copy(update={"gates": report}))
    # the HTML shows the gates at the top, so it is rendered again with the new verdicts
    write_reports(run.path, rejudged.results, run.samples)
    if recording:
        record_stored(db, rejudged)
    _print_gates(report, console)
    _step_summary(run.path)
    return EXIT_OK if report.passed else EXIT_GATE_FAILED


def _cmd_review(args: argparse.Namespace, console: Console) -> int:
    if args.run == Path("import"):
        # `review import RUN_DIR FILES...` shares this command's first positional, like
        # `history import`
        return _review_import(args, console)
    return _review_page(args, console)


def _review_import(args: argparse.Namespace, console: Console) -> int:
    from evalkit.history.store import default_db
    from evalkit.pipeline import import_ratings
    from evalkit.results import resolve_run

    if len(args.files) < 2:
        raise InputError(
            "usage: evalkit review import RUN_DIR RATINGS [RATINGS ...]", where="review import"
        )
    run, files = args.files[0], args.files[1:]
    try:
        run_dir = resolve_run(run)
    except FileNotFoundError as e:
        raise InputError("no results.json here (expected a run folder)", path=run) from e
    db = args.db or default_db(run_dir.parent.parent)
    rated = import_ratings(run_dir, files, db if args.db or db.is_file() else None)
    people = rated.results.people
    assert people is not None  # import_ratings always sets it
    console.print(
        f"{people.ratings} ratings by {len(people.raters)} raters on {people.items} items"
        + (f"; {people.unmatched} left out (they rate failed outputs)" if people.unmatched else "")
        + f" -> {plain(str(rated.path / 'index.html'))}"
    )
    if (w := people.win_rate) is not None:
        console.print(
            f"human win rate of the candidate: {w.win_rate:.3f} "
            f"[{w.ci_low:.3f}, {w.ci_high:.3f}] over {w.items} items"
        )
    for a in people.agreement:
        alpha = "undefined" if a.alpha is None else f"{a.alpha:.3f}"
        console.print(
            f"agreement on {plain(a.question)}: alpha {alpha} ({a.raters} raters, {a.items} items)"
        )
    for j in people.judge:
        console.print(
            f"{plain(j.question)}: agrees with a person on {j.agreement:.1%} of {j.n} ratings"
        )
    if rated.results.gates is not None:
        _print_gates(rated.results.gates, console)
    return EXIT_OK


def _review_page(args: argparse.Namespace, console: Console) -> int:
    from evalkit.jsonutil import WRITE_ERRORS
    from evalkit.report.review import build_review
    from evalkit.results import load_run

    if args.files:
        raise InputError("rating files only go with `evalkit review import`", where="review")
    if args.out is None:
        raise InputError("name the folder to write to with --out DIR", where="review")
    _check_folder_arg(args.out, "--out")
    run = load_run(args.run)
    if (shard := run.results.shard) is not None:
        raise InputError(
            f"shard {shard.index}/{shard.count}: rate the merged run (evalkit merge)",
            path=run.path,
        )
    review = build_review(run, args.dataset, args.n, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.format == "labelstudio":
        from evalkit.report.labelstudio import (
            CONFIG_FILE,
            TASKS_FILE,
            labelstudio_config,
            labelstudio_tasks,
        )

        tasks = json.dumps(labelstudio_tasks(review), indent=1, ensure_ascii=False)
        (args.out / TASKS_FILE).write_text(tasks + "\n", encoding="utf-8", errors=WRITE_ERRORS)
        (args.out / CONFIG_FILE).write_text(
            labelstudio_config(review), encoding="utf-8", errors=WRITE_ERRORS
        )
        written = f"{args.out / TASKS_FILE} and {args.out / CONFIG_FILE}"
    else:
        from evalkit.report.review import render_review_page

        page = args.out / "review.html"
        page.write_text(
            render_review_page(review, args.rater), encoding="utf-8", errors=WRITE_ERRORS
        )
        written = str(page)
    console.print(
        plain(f"{len(review.items)} items (of {review.eligible} both arms answered): {written}"),
        soft_wrap=True,
    )
    return EXIT_OK


def _compared_runs(args: argparse.Namespace) -> tuple[StoredRun, StoredRun, str]:
    """(the previous release, the run to decide on, how the previous one was named)."""
    from evalkit.history.recording import LAST, LAST_PASSED, previous_run, with_intervals
    from evalkit.history.store import RunFilter, find_runs, open_store
    from evalkit.results import load_run

    if (args.run_b is None) == (args.against is None):
        raise InputError("give two runs (RUN_A RUN_B), or one run and --against", where="compare")
    if args.against is None:
        return with_intervals(load_run(args.run_a)), with_intervals(load_run(args.run_b)), "run A"
    current = with_intervals(load_run(args.run_a))
    suite = current.results.suite.name
    past = []
    if args.against in (LAST, LAST_PASSED):
        with open_store(args.db, create=False) as conn:
            past = find_runs(conn, RunFilter(suite=suite))
    previous, why = previous_run(
        args.against, suite, current.path.parent, past, current=current.results
    )
    if previous is None:
        raise InputError(why, path=args.db, where="--against")
    return previous, current, args.against


def _cmd_compare(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from evalkit.analysis.compare import compare_runs
    from evalkit.history.release import release_decision
    from evalkit.report.html import render_release_page
    from evalkit.report.markdown import release_markdown
    from evalkit.report.numbers import num, signed
    from evalkit.report.terminal import print_release

    for flag, path in (("--markdown", args.markdown), ("--html", args.html)):
        if path is not None and path.is_dir():
            raise InputError("is a folder; name the file to write", path=path, where=flag)
    a, b, against = _compared_runs(args)
    decision = release_decision(b.results, b.samples, a, against)
    title = "  ·  ".join(
        plain(f"{tag} = {r.results.suite.name}/{r.results.run_id}")
        for tag, r in (("A", a), ("B", b))
    )
    table = Table(title=title)
    table.add_column("dataset", no_wrap=True)
    table.add_column("metric", no_wrap=True)
    for col in ("base A", "base B", "Δ base", "cand A", "cand B", "Δ cand"):
        table.add_column(col, justify="right", no_wrap=True)
    changed_items = set()
    for row in compare_runs(a.results, b.results):
        name = row.dataset if row.section == TASK else f"{PROBES_PREFIX}.{row.dataset}"
        if row.same_items is False:
            changed_items.add(name)
            name += " *"
        cells = []
        for arm in ARMS:
            v = row.arms[arm]
            cells += [num(v.a), num(v.b), signed(v.change)]
        table.add_row(plain(name), plain(row.metric), *cells)
    console.print(table)
    if changed_items:
        console.print(f"* items differ between the runs: {plain(', '.join(sorted(changed_items)))}")
    print_release(decision, console)
    page_title = f"{b.results.suite.name}: run {b.results.run_id} against {a.results.run_id}"
    if args.markdown:
        args.markdown.write_text(release_markdown(decision, page_title), encoding="utf-8")
    if args.html:
        args.html.write_text(render_release_page(decision, page_title), encoding="utf-8")
    return EXIT_OK


def _history_since(value: str | None, flag: str) -> str | None:
    """A date or time as the run store compares it; InputError when it is neither."""
    from datetime import datetime

    if value is None:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"{value!r} is not a date (YYYY-MM-DD) or an ISO time", where=flag
        ) from None
    return value


def _cmd_history(args: argparse.Namespace, console: Console) -> int:
    from evalkit.history.recording import import_runs
    from evalkit.history.store import RunFilter, find_runs, open_store, suites

    if args.suite == "import" and args.folder is not None:
        imported = import_runs(args.db, args.folder)
        for folder, why in imported.skipped:
            console.print(plain(f"skipped {folder}: {why}"), soft_wrap=True)
        console.print(plain(f"recorded {len(imported.recorded)} runs in {args.db}"), soft_wrap=True)
        return EXIT_OK
    if args.folder is not None:
        raise InputError("a folder only goes with `evalkit history import FOLDER`", where="history")
    wanted = RunFilter(
        suite=args.suite,
        arm=args.arm,
        model=args.model,
        identity=args.identity,
        adapter=args.adapter,
        prompt=args.prompt,
        dataset=args.dataset,
        dataset_sha256=args.dataset_sha256,
        since=_history_since(args.since, "--since"),
        until=_history_since(args.until, "--until"),
        passed_only=args.passed,
    )
    with open_store(args.db, create=False) as conn:
        known = suites(conn)
        if args.suite not in known:
            raise InputError(
                f"no run of suite {args.suite!r} is recorded here; "
                f"suites recorded: {', '.join(known) or 'none'}",
                path=args.db,
            )
        runs = find_runs(conn, wanted)
    if args.json:
        sys.stdout.write(json.dumps([r.model_dump(mode="json") for r in runs], indent=2) + "\n")
        return EXIT_OK
    from evalkit.report.terminal import history_table

    console.print(history_table(args.suite, runs))
    return EXIT_OK


def _cmd_models(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    try:
        from evalkit.models.fetch import list_models, pull_model
    except ImportError as e:
        raise InputError(f"model fetching is not available in this install: {e}") from e
    if args.models_command == "pull":
        console.print(plain(f"{args.name}: {pull_model(args.name)}"))
        return EXIT_OK
    models = list_models()
    table = Table()
    columns = list(dict.fromkeys(k for m in models for k in m))
    for col in columns:
        table.add_column(col)
    for m in models:
        table.add_row(*("" if m.get(c) is None else plain(m.get(c)) for c in columns))
    console.print(table)
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from evalkit.gate import check_gate_targets
    from evalkit.run.plan import plan_suite
    from evalkit.selection import check_selection
    from evalkit.suite.load import load_suite

    loaded = load_suite(args.suite)
    plan = plan_suite(loaded)
    check_gate_targets(loaded)
    check_selection(loaded)
    per_arm = sum(len(t.samples) for t in plan.for_arm("baseline"))
    listed = sum(map(len, loaded.prompt_options.values()))
    selection = (
        f"; first, {listed} listed prompts × {len(loaded.selection_items)} selection items"
        if listed
        else ""
    )
    console.print(
        f"{plain(args.suite)}: ok — {len(loaded.datasets)} datasets, {len(loaded.probes)} probes, "
        f"{per_arm} requests per arm{selection}"
    )
    return EXIT_OK


def _cmd_init(args: argparse.Namespace, console: Console) -> int:
    from evalkit.scaffold.suite import InitOptions, init_suite

    scaffold = init_suite(
        args.data,
        InitOptions(
            task=args.task,
            input_field=args.input_field,
            target_field=args.target_field,
            name=args.name,
            seed=args.seed,
            heldout_share=args.heldout_share,
        ),
    )
    out: Path = args.out or Path(scaffold.name)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", path=out, where="--out")
    # every file is checked before any is written: a refused init leaves nothing behind
    taken = [out / rel for rel in scaffold.files if (out / rel).exists()]
    if taken:
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise InputError(
            f"already exists{more}; evalkit init never overwrites: choose another --out",
            path=taken[0],
        )
    for rel, text in scaffold.files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text, encoding="utf-8")
    console.print(plain(f"wrote {len(scaffold.files)} files to {out}/"), soft_wrap=True)
    for note in scaffold.notes:
        console.print(plain(note), soft_wrap=True)
    console.print(plain(f"next: evalkit run {out / 'suite.yaml'}"), soft_wrap=True)
    return EXIT_OK


def _cmd_audit(args: argparse.Namespace, console: Console) -> int:
    from evalkit.audit.core import audit_rows, parse_fail_on
    from evalkit.audit.labels import METHOD
    from evalkit.audit.rows import Fields, read_audit_rows
    from evalkit.audit.suite import suite_datasets
    from evalkit.report.audit import print_audit, write_audit

    fail_on = parse_fail_on(args.fail_on)
    _check_folder_arg(args.out, "--out")
    datasets, fields = suite_datasets(args.suite) if args.suite else (None, Fields())
    rows = read_audit_rows(args.data, fields)
    source, method = None, METHOD
    if args.model:
        from evalkit.audit.loglik import method_of, model_probabilities

        source, method = model_probabilities(args.model), method_of(args.model)
    audit = audit_rows(
        rows,
        data=str(args.data),
        suite=None if args.suite is None else str(args.suite),
        datasets=datasets,
        label_source=source,
        label_method=method,
    )
    try:
        html, _ = write_audit(args.out, audit)
    except OSError as e:
        raise storage_error(e, args.out, "choose a writable --out") from None
    print_audit(audit, console)
    console.print(plain(f"wrote {html} and audit.json"), soft_wrap=True)
    if failing := audit.failing(fail_on):
        found = ", ".join(f"{k} ({audit.found[k]})" for k in failing)
        console.print(plain(f"--fail-on: found {found}"), soft_wrap=True)
        return EXIT_GATE_FAILED
    return EXIT_OK


def _error_line(e: BaseException) -> str:
    """An error as one terminal-safe line, without any credential it might quote."""
    return plain(" ".join(scrub(str(e), scrubber(env_secrets())).split()))


COMMANDS = {
    "run": _cmd_run,
    "merge": _cmd_merge,
    "logs": _cmd_logs,
    "validate": _cmd_validate,
    "gate": _cmd_gate,
    "compare": _cmd_compare,
    "history": _cmd_history,
    "models": _cmd_models,
    "init": _cmd_init,
    "review": _cmd_review,
    "audit": _cmd_audit,
}


def main(argv: Sequence[str] | None = None, *, own_process: bool = False) -> int:
    """The CLI; `own_process`: this call is the whole process (the `evalkit` command)."""
    args = _parser().parse_args(argv)
    args.own_process = own_process
    # CI logs are not terminals: rich would wrap tables at 80 columns there
    console = Console(stderr=False, highlight=False, width=None if sys.stdout.isatty() else 160)
    err = Console(stderr=True, highlight=False)
    try:
        return COMMANDS[args.command](args, console)
    except Interrupted as e:
        err.print(plain(scrub(str(e), scrubber(env_secrets()))), soft_wrap=True)
        return e.exit_code
    except EvalkitError as e:
        err.print(f"[red]error:[/red] {_error_line(e)}", soft_wrap=True)
        return e.exit_code
    except FileNotFoundError as e:
        err.print(f"error: {_error_line(e)}", soft_wrap=True)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except SystemExit as e:
        # no command exits by itself: something it ran (a plug-in, a library) did, so the run
        # did not finish and must not pass whatever code it asked for
        # the exit's message is a plug-in's text: scrubbed and unstyled like any error
        err.print(f"error: the command was ended early (SystemExit: {_error_line(e)}); no results")
        return EXIT_RUN_FAILED


def entry() -> int:
    """The `evalkit` command. A bug (an exception no command expects) prints its traceback and
    exits 3, the run-failed code: Python's own exit code, 1, would read as a failed gate."""
    # CI cancels a job with SIGTERM: from the process's first moments, not only once a run
    # has begun (_cmd_run), it stops the command as Ctrl-C does instead of killing it mid-step
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return main(own_process=True)
    except KeyboardInterrupt:  # before main could catch it (while the arguments were parsed)
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    except Exception:
        trace = scrub(traceback.format_exc(), scrubber(env_secrets()))
        sys.stderr.write(f"{trace}error: evalkit failed unexpectedly (a bug: please report it)\n")
        return EXIT_RUN_FAILED


if __name__ == "__main__":
    sys.exit(entry())
