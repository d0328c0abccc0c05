"""The summary table printed after a run: one row per dataset × headline metric.

Every string printed comes from a suite, a data file or a results file: `plain` makes it
text to rich (no markup) and to the terminal (no control sequences).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from evalkit.history.drift import watched
from evalkit.history.records import ArmRecord, RunRecord
from evalkit.history.schema import History, ReleaseDecision
from evalkit.report.escape import plain
from evalkit.report.headline import headline
from evalkit.report.numbers import judge_note, num, signed
from evalkit.report.selection import selection_sentences
from evalkit.results import Results, redacted

_TONE = {"promote": "green", "hold": "yellow", "roll back": "red"}


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
            plain(m.metric + judge_note(results.judge_status(m))),
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
            f"{arm:>9}: {plain(e.model)} · {num(e.mean_input_tokens, 1)} in / "
            f"{num(e.mean_output_tokens, 1)} out tokens per request · p50 {num(e.latency_p50_s)} s"
            f" · {'$' + format(cost, '.4f') if cost is not None else 'price unknown'} per 1k requests"
        )
    for sentence in selection_sentences(results):
        console.print(plain(sentence), soft_wrap=True)
    said = headline(results)
    console.print(
        f"[bold]{plain(said.sentence)}[/bold]", style="red" if said.tone == "gates-failed" else None
    )
    print_drift(results.history, console)
    if results.release is not None:
        print_release(results.release, console, table=False)


def print_drift(history: History | None, console: Console) -> None:
    """One line per drift finding (none when nothing drifted)."""
    for f in history.drift if history else []:
        what = "the model changed" if f.kind == "model_changed" else "the data drifted"
        console.print(f"[yellow]drift ({what}):[/yellow] {plain(f.sentence)}", soft_wrap=True)


def print_release(decision: ReleaseDecision, console: Console, table: bool = True) -> None:
    """The recommendation and its reasons; with `table`, every change as well."""
    if decision.recommendation is None:
        console.print(f"release: no recommendation: {plain(' '.join(decision.reasons))}")
        return
    colour = _TONE[decision.recommendation]
    console.print(
        f"release: [bold {colour}]{decision.recommendation.upper()}[/bold {colour}] "
        f"against run {plain(decision.previous_run)} ({plain(decision.against)})"
    )
    for reason in decision.reasons:
        console.print(f"  - {plain(reason)}", soft_wrap=True)
    if not table:
        return
    out = Table(title="this candidate vs the previous release")
    for col in ("metric", "previous", "this run", "change", "interval", "items", "finding"):
        out.add_column(col, justify="left" if col in ("metric", "finding") else "right")
    for c in decision.changes:
        name = f"probes.{c.dataset}" if c.section == "probe" else c.dataset
        interval = "—" if c.ci_low is None else f"[{signed(c.ci_low)}, {signed(c.ci_high)}]"
        out.add_row(
            plain(f"{name}.{c.metric}"),
            num(c.previous),
            num(c.current),
            signed(c.change),
            interval,
            str(c.n) if c.how == "paired" else c.how,
            c.finding,
        )
    console.print(out)


def _arm_cell(a: ArmRecord | None) -> str:
    if a is None:
        return "—"
    adapter = f" · adapter {a.adapter_sha256[:8]}" if a.adapter_sha256 else ""
    return plain(f"{a.model}{adapter} · prompt {a.prompt_sha256[:8]}")


def history_table(suite: str, runs: list[RunRecord]) -> Table:
    """`evalkit history`: one row per run, both arms, the held-out watched metrics (b / c)."""
    heldout = list(
        dict.fromkeys(
            m.metric
            for r in runs
            for m in r.metrics
            if m.dataset == "heldout" and watched(m.section, "in_domain", m.metric, m.headline)
        )
    )
    table = Table(
        title=plain(f"{suite}: {len(runs)} recorded runs (metrics: baseline / candidate)")
    )
    for col in ("run", "created", "gates", "baseline", "candidate"):
        table.add_column(col)
    for name in heldout:
        table.add_column(plain(f"heldout.{name}"), justify="right", no_wrap=True)
    marks = {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: "—"}
    for r in runs:
        cells = []
        for name in heldout:
            m = r.metric("heldout", name, "task")
            cells.append("—" if m is None else f"{num(m.baseline)} / {num(m.candidate)}")
        table.add_row(
            plain(r.run_id),
            plain(r.created_at[:16].replace("T", " ")),
            marks[r.gates_passed],
            _arm_cell(r.arms.get("baseline")),
            _arm_cell(r.arms.get("candidate")),
            *cells,
        )
    return table
