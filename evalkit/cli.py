"""The `evalkit` command: arguments → one library call → an exit code.

Exit codes: 0 all gates pass · 1 a gate failed · 2 bad suite, data or arguments · 3 the run failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from evalkit.errors import EXIT_BAD_INPUT, EXIT_GATE_FAILED, EXIT_OK, EvalkitError, InputError
from evalkit.names import ARMS, PROBES_PREFIX, TASK

if TYPE_CHECKING:
    from evalkit.results import Gates


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evalkit",
        description="Does the fine-tuned model beat the base model with its best prompt?",
        epilog="Exit codes: 0 pass (no gate failed), 1 a gate failed, "
        "2 bad suite, data or arguments, 3 the run failed.",
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
        choices=["full", "rich", "plain", "none"],
        help="progress display (default: plain on a terminal, none otherwise)",
    )
    run.add_argument("--run-id", help="name of the run folder (default: UTC timestamp)")
    run.add_argument("--gate", action="store_true", help="exit 1 when a gate of the suite fails")
    run.add_argument(
        "--baseline", type=Path, help="an earlier run folder or results.json, for no_regression"
    )

    gate = sub.add_parser("gate", help="judge a finished run's gates again, without any model call")
    gate.add_argument("run", type=Path, help="a run folder, or reports/<suite> for its latest run")
    gate.add_argument(
        "--baseline", type=Path, help="an earlier run folder or results.json, for no_regression"
    )

    cmp_ = sub.add_parser("compare", help="two finished runs side by side, metric by metric")
    cmp_.add_argument("run_a", type=Path)
    cmp_.add_argument("run_b", type=Path)

    models = sub.add_parser("models", help="local base models evalkit can fetch by itself")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    models_sub.add_parser("list", help="built-in models and whether they are downloaded")
    pull = models_sub.add_parser("pull", help="download and convert a built-in model now")
    pull.add_argument("name")

    val = sub.add_parser(
        "validate", help="check a suite and every file it names, without calling any model"
    )
    val.add_argument("suite", type=Path)
    return p


def _display(choice: str | None) -> str:
    if choice:
        return choice
    return "plain" if sys.stdout.isatty() else "none"


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    from evalkit.pipeline import RunOptions, run_suite
    from evalkit.report.terminal import print_summary

    outcome = run_suite(
        args.suite,
        RunOptions(
            out_dir=args.out,
            cache_dir=args.cache_dir,
            no_cache=args.no_cache,
            display=_display(args.display),
            run_id=args.run_id,
            baseline_run=args.baseline,
        ),
    )
    print_summary(outcome.results, console)
    _print_gates(outcome.gates, console)
    _step_summary(outcome.run_dir)
    console.print(f"report: {outcome.run_dir / 'index.html'}")
    return EXIT_GATE_FAILED if args.gate and not outcome.gates.passed else EXIT_OK


def _print_gates(report: Gates, console: Console) -> None:
    marks = {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: "[yellow]skip[/yellow]"}
    for r in report.results:
        console.print(
            f"{marks[r.passed]} {escape(f'{r.rule} {r.check}: {r.evidence}')}", soft_wrap=True
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
    from evalkit.pipeline import write_reports
    from evalkit.results import load_run

    run = load_run(args.run)
    report = judge_run(run, load_run(args.baseline) if args.baseline else None)
    # the HTML shows the gates at the top, so it is rendered again with the new verdicts
    write_reports(run.path, run.results.model_copy(update={"gates": report}), run.samples)
    _print_gates(report, console)
    _step_summary(run.path)
    return EXIT_OK if report.passed else EXIT_GATE_FAILED


def _cmd_compare(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from evalkit.analysis.compare import compare_runs
    from evalkit.report.numbers import num, signed
    from evalkit.results import load_run

    a, b = load_run(args.run_a), load_run(args.run_b)
    title = "  ·  ".join(
        f"{tag} = {r.results.suite.name}/{r.results.run_id}" for tag, r in (("A", a), ("B", b))
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
        table.add_row(name, row.metric, *cells)
    console.print(table)
    if changed_items:
        console.print(f"* items differ between the runs: {', '.join(sorted(changed_items))}")
    return EXIT_OK


def _cmd_models(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    try:
        from evalkit.models.fetch import list_models, pull_model
    except ImportError as e:
        raise InputError(f"model fetching is not available in this install: {e}") from e
    if args.models_command == "pull":
        console.print(f"{args.name}: {pull_model(args.name)}")
        return EXIT_OK
    models = list_models()
    table = Table()
    columns = list(dict.fromkeys(k for m in models for k in m))
    for col in columns:
        table.add_column(col)
    for m in models:
        table.add_row(*("" if m.get(c) is None else str(m.get(c)) for c in columns))
    console.print(table)
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from evalkit.gate import check_gate_targets
    from evalkit.run.plan import plan_suite
    from evalkit.suite.load import load_suite

    loaded = load_suite(args.suite)
    plan = plan_suite(loaded)
    check_gate_targets(loaded.suite, [p.name for p in loaded.probes], loaded.path)
    per_arm = sum(len(t.samples) for t in plan.for_arm("baseline"))
    console.print(
        f"{args.suite}: ok — {len(loaded.datasets)} datasets, {len(loaded.probes)} probes, "
        f"{per_arm} requests per arm"
    )
    return EXIT_OK


COMMANDS = {
    "run": _cmd_run,
    "validate": _cmd_validate,
    "gate": _cmd_gate,
    "compare": _cmd_compare,
    "models": _cmd_models,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # CI logs are not terminals: rich would wrap tables at 80 columns there
    console = Console(stderr=False, highlight=False, width=None if sys.stdout.isatty() else 160)
    err = Console(stderr=True, highlight=False)
    try:
        return COMMANDS[args.command](args, console)
    except EvalkitError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        return e.exit_code
    except FileNotFoundError as e:
        err.print(f"error: {e}", soft_wrap=True)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
