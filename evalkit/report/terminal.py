"""The summary table printed after a run: one row per dataset × headline metric.

Every string printed comes from a suite, a data file or a results file: `plain` makes it
text to rich (no markup) and to the terminal (no control sequences).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from evalkit.report.escape import plain
from evalkit.report.headline import headline
from evalkit.report.numbers import num, signed
from evalkit.report.selection import selection_sentences
from evalkit.results import Results, redacted


def summary_table(results: Results) -> Table:
    table = Table(title=plain(f"{results.suite.name} · run {results.run_id}"), show_lines=False)
    for col in ("dataset", "metric", "baseline", "candidate", "diff", "CI", "errors b/c"):
        table.add_column(col, justify="left" if col in ("dataset", "metric") else "right")
    # a rubric score's own failures are the judge's, shown beside the arms' errors
    judge_errors = {(r.dataset, r.rubric): r.judge_errors for r in results.rubrics}
    for m in results.metrics:
        if not m.headline:
            continue
        errs = results.errors.get(m.dataset)
        errors = f"{errs.baseline}/{errs.candidate}" if errs else "0/0"
        if m.metric.startswith("rubric.") and (
            judged := judge_errors.get((m.dataset, m.metric.split(".")[1]))
        ):
            errors += f" judge {judged.baseline}/{judged.candidate}"
        if (se := m.scorer_errors) and se.baseline + se.candidate:  # a plug-in that raised
            errors += f" scorer {se.baseline}/{se.candidate}"
        table.add_row(
            plain(m.dataset),
            plain(m.metric),
            num(m.baseline),
            num(m.candidate),
            signed(m.diff),
            "—" if m.ci_low is None else f"[{signed(m.ci_low)}, {signed(m.ci_high)}]",
            errors,
        )
    return table


def print_summary(results: Results, console: Console) -> None:
    results = redacted(results)
    console.print(summary_table(results))
    for arm, e in results.economics.items():
        cost = e.cost_per_1k_requests
        console.print(
            f"{arm:>9}: {plain(e.model)} · {num(e.mean_input_tokens)} in / "
            f"{num(e.mean_output_tokens)} out tokens per request · p50 {num(e.latency_p50_s)} s"
            f" · {'$' + format(cost, '.4f') if cost is not None else 'price unknown'} per 1k requests"
        )
    for sentence in selection_sentences(results):
        console.print(plain(sentence), soft_wrap=True)
    said = headline(results)
    console.print(
        f"[bold]{plain(said.sentence)}[/bold]", style="red" if said.tone == "gates-failed" else None
    )
