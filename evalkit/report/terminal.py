"""The summary table printed after a run: one row per dataset × headline metric."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

HEADLINE = ("macro_f1", "accuracy", "format_adherence", "unparsed_rate", "error_rate")


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def summary_table(results: dict[str, Any]) -> Table:
    table = Table(title=f"{results['suite']['name']} · run {results['run_id']}", show_lines=False)
    for col in ("dataset", "metric", "baseline", "candidate", "diff", "CI", "errors b/c"):
        table.add_column(col, justify="left" if col in ("dataset", "metric") else "right")
    for m in results["metrics"]:
        if m["metric"] not in HEADLINE and not m["metric"].startswith("rubric."):
            continue
        errs = results["errors"].get(m["dataset"], {})
        table.add_row(
            m["dataset"],
            m["metric"],
            _fmt(m["baseline"]),
            _fmt(m["candidate"]),
            f"{m['diff']:+.3f}",
            f"[{m['ci_low']:+.3f}, {m['ci_high']:+.3f}]",
            f"{errs.get('baseline', 0)}/{errs.get('candidate', 0)}",
        )
    return table


def print_summary(results: dict[str, Any], console: Console) -> None:
    console.print(summary_table(results))
    econ = results.get("economics", {})
    for arm, e in econ.items():
        cost = e.get("cost_per_1k_requests")
        console.print(
            f"{arm:>9}: {e['model']} · {_fmt(e['mean_input_tokens'])} in / "
            f"{_fmt(e['mean_output_tokens'])} out tokens per request · p50 {_fmt(e['latency_p50_s'])} s"
            f" · {'$' + format(cost, '.4f') if cost is not None else 'price unknown'} per 1k requests"
        )
    console.print(f"[bold]{results['verdict']['sentence']}[/bold]")
