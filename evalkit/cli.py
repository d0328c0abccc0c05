"""The `evalkit` command: arguments → one library call → an exit code.

Exit codes: 0 all gates pass · 1 a gate failed · 2 bad suite, data or arguments · 3 the run failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from evalkit.errors import EXIT_BAD_INPUT, EXIT_OK, EvalkitError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evalkit",
        description="Does the fine-tuned model beat the base model with its best prompt?",
        epilog="Exit codes: 0 ok/gates pass, 1 a gate failed, 2 bad input, 3 run failed.",
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
    from evalkit.report.terminal import print_summary
    from evalkit.run.pipeline import RunOptions, run_suite

    outcome = run_suite(
        args.suite,
        RunOptions(
            out_dir=args.out,
            cache_dir=args.cache_dir,
            no_cache=args.no_cache,
            display=_display(args.display),
            run_id=args.run_id,
        ),
    )
    print_summary(outcome.results, console)
    console.print(f"report: {outcome.run_dir / 'index.html'}")
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from evalkit.run.plan import plan_suite
    from evalkit.suite.load import load_suite

    loaded = load_suite(args.suite)
    plan = plan_suite(loaded)
    per_arm = sum(len(t.samples) for t in plan.for_arm("baseline"))
    console.print(
        f"{args.suite}: ok — {len(loaded.datasets)} datasets, {len(loaded.probes)} probes, "
        f"{per_arm} requests per arm"
    )
    return EXIT_OK


COMMANDS = {"run": _cmd_run, "validate": _cmd_validate}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(stderr=False, highlight=False)
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
