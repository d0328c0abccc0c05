"""The summary table printed after a run: one row per dataset × headline metric."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

HEADLINE = ("macro_f1", "accuracy", "format_adherence", "unparsed_rate", "error_rate")


def fmt(x: float | None, signed: bool = False) -> str:
    """A value to 3 decimals; "—" where there is none (e.g. no item judged in both arms)."""
    if x is None:
        return "—"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def summary_table(results: dict[str, Any]) -> Table:
    table = Table(title=f"{results['suite']['name']} · run {results['run_id']}", show_lines=False)
    for col in ("dataset", "metric", "baseline", "candidate", "diff", "CI", "errors b/c"):
        table.add_column(col, justify="left" if col in ("dataset", "metric") else "right")
    # a rubric score's own failures are the judge's, shown beside the arms' errors
    judge_errors = {
        (r["dataset"], r["rubric"]): r["judge_errors"] for r in results.get("rubrics") or []
    }
    for m in results["metrics"]:
        if m["metric"] not in HEADLINE and not m["metric"].startswith("rubric."):
            continue
        errs = results["errors"].get(m["dataset"], {})
        errors = f"{errs.get('baseline', 0)}/{errs.get('candidate', 0)}"
        if m["metric"].startswith("rubric.") and (
            judged := judge_errors.get((m["dataset"], m["metric"].split(".")[1]))
        ):
            errors += f" judge {judged.get('baseline', 0)}/{judged.get('candidate', 0)}"
        table.add_row(
            m["dataset"],
            m["metric"],
            fmt(m["baseline"]),
            fmt(m["candidate"]),
            fmt(m["diff"], signed=True),
            "—"
            if m["ci_low"] is None
            else f"[{fmt(m['ci_low'], True)}, {fmt(m['ci_high'], True)}]",
            errors,
        )
    return table


def print_summary(results: dict[str, Any], console: Console) -> None:
    console.print(summary_table(results))
    econ = results.get("economics", {})
    for arm, e in econ.items():
        cost = e.get("cost_per_1k_requests")
        console.print(
            f"{arm:>9}: {e['model']} · {fmt(e['mean_input_tokens'])} in / "
            f"{fmt(e['mean_output_tokens'])} out tokens per request · p50 {fmt(e['latency_p50_s'])} s"
            f" · {'$' + format(cost, '.4f') if cost is not None else 'price unknown'} per 1k requests"
        )
    console.print(f"[bold]{results['verdict']['sentence']}[/bold]")
