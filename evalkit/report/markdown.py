"""summary.md: the run in a page of Markdown, for a PR comment or $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evalkit.names import TASK
from evalkit.report.headline import headline
from evalkit.report.numbers import num, signed
from evalkit.results import Gates, Results

_MARK = {True: "✅ pass", False: "❌ fail", None: "⚠️ not evaluated"}
_ORDER = {False: 0, None: 1, True: 2}  # failures first: they are what a reviewer needs


def _cell(value: Any) -> str:
    # a stray '|' or newline would break the table; rule text is the only free text here
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _gate_lines(gates: Gates | None) -> list[str]:
    if not gates or not gates.results:
        return ["**Gates:** none configured.", ""]
    results = sorted(gates.results, key=lambda g: _ORDER[g.passed])
    failed = len(gates.failed)
    skipped = len(gates.not_evaluated)
    if gates.passed:
        head = f"**Gates: passed** ({len(results) - skipped} of {len(results)} checks passed"
        head += f", {skipped} not evaluated)" if skipped else ")"
    else:
        head = f"**Gates: FAILED** ({failed} of {len(results)} checks failed)"
    rows = [(_MARK[g.passed], f"`{g.rule}`", g.check, g.evidence) for g in results]
    return [head, "", *_table(("", "rule", "check", "evidence"), rows)]


def _metric_lines(results: Results) -> list[str]:
    rows = []
    for m in results.metrics:
        if m.section != TASK or not m.headline:
            continue
        errs = results.errors.get(m.dataset)
        ci = f"[{signed(m.ci_low)}, {signed(m.ci_high)}]" if m.ci_low is not None else "—"
        rows.append(
            (
                m.dataset,
                m.metric,
                num(m.baseline),
                num(m.candidate),
                signed(m.diff),
                ci,
                (f"{errs.baseline}/{errs.candidate}" if errs else "0/0")
                + (
                    f" scorer {se.baseline}/{se.candidate}"
                    if (se := m.scorer_errors) and se.baseline + se.candidate
                    else ""
                ),
            )
        )
    if not rows:
        return []
    header = ("dataset", "metric", "baseline", "candidate", "diff", "CI", "errors b/c")
    return ["### Metrics", "", *_table(header, rows)]


def _probe_lines(results: Results) -> list[str]:
    if not results.probes:
        return []
    rows = [
        (
            p.probe,
            p.n,
            num(p.baseline),
            num(p.candidate),
            signed(p.diff),
            f"{signed(p.lower_bound)} (margin {p.margin:g})",
            "not evaluated (uninformative)"
            if not p.informative
            else "yes"
            if p.non_inferior
            else "**not shown**",
            "**yes**" if p.format_collapse else "no",
        )
        for p in results.probes
    ]
    header = ("probe", "n", "baseline", "candidate", "diff", "lower bound", "non-inferior")
    return ["### Forgetting probes (accuracy)", "", *_table((*header, "format collapse"), rows)]


def _economics_lines(results: Results) -> list[str]:
    if not results.economics:
        return []
    rows = []
    for arm, e in results.economics.items():
        cost = e.cost_per_1k_requests
        rows.append(
            (
                arm,
                f"`{e.model}`",
                e.requests,
                num(e.mean_input_tokens),
                num(e.mean_output_tokens),
                num(e.latency_p50_s),
                num(e.latency_p95_s),
                "unknown" if cost is None else f"${cost:.4f}",
            )
        )
    header = ("arm", "model", "requests", "in tokens", "out tokens", "p50 s", "p95 s", "$ / 1k")
    return ["### Economics (per request, task datasets)", "", *_table(header, rows)]


def summary_markdown(results: Results) -> str:
    """Verdict, gates (failed first), headline metrics, probes and economics."""
    lines = [
        f"## evalkit · {results.suite.name} · run {results.run_id}",
        "",
        headline(results).sentence,
        "",
        *_gate_lines(results.gates),
        *_metric_lines(results),
        *_probe_lines(results),
        *_economics_lines(results),
    ]
    return "\n".join(lines).rstrip() + "\n"


def write_summary(path: Path, results: Results) -> None:
    path.write_text(summary_markdown(results), encoding="utf-8")
