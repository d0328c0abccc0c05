"""The summary table printed after a run: one row per dataset × headline metric.

Every string printed comes from a suite, a data file or a results file: `plain` makes it
text to rich (no markup) and to the terminal (no control sequences).
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

HEADLINE = ("macro_f1", "accuracy", "format_adherence", "unparsed_rate", "error_rate")
# C0/C1 controls (ESC starts terminal sequences) and bidirectional overrides, which reorder
# what a reader sees; newline and tab stay
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def shown_escaped(text: str, chars: re.Pattern[str]) -> str:
    """`text` with each character `chars` matches written as \\xNN or \\uNNNN."""

    def shown(m: re.Match[str]) -> str:
        code = ord(m.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return chars.sub(shown, text)


def plain(value: object) -> str:
    """Any value as literal terminal text: rich markup escaped, control characters as \\xNN."""
    return escape(shown_escaped(str(value), _CONTROL))


def fmt(x: float | None, signed: bool = False) -> str:
    """A value to 3 decimals; "—" where there is none (e.g. no item judged in both arms)."""
    if x is None:
        return "—"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def summary_table(results: dict[str, Any]) -> Table:
    title = plain(f"{results['suite']['name']} · run {results['run_id']}")
    table = Table(title=title, show_lines=False)
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
            plain(m["dataset"]),
            plain(m["metric"]),
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
    # imported here: the CLI imports this module for `plain`, and should start without pandas
    from evalkit.report.files import redact

    results = redact(results)
    console.print(summary_table(results))
    econ = results.get("economics", {})
    for arm, e in econ.items():
        cost = e.get("cost_per_1k_requests")
        console.print(
            f"{arm:>9}: {plain(e['model'])} · {fmt(e['mean_input_tokens'])} in / "
            f"{fmt(e['mean_output_tokens'])} out tokens per request · p50 {fmt(e['latency_p50_s'])} s"
            f" · {'$' + format(cost, '.4f') if cost is not None else 'price unknown'} per 1k requests"
        )
    console.print(f"[bold]{plain(results['verdict']['sentence'])}[/bold]")
