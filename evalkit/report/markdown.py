"""summary.md: the run in a page of Markdown, for a PR comment or $GITHUB_STEP_SUMMARY.

Every string from a suite, a data file or a results file goes through `md_text` or `md_code`:
whatever it holds, it renders as itself and cannot open a link, an image, a code span, a
table cell or raw HTML.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evalkit.credentials import redact
from evalkit.history.schema import History, ReleaseDecision
from evalkit.jsonutil import WRITE_ERRORS
from evalkit.names import PROBE, TASK
from evalkit.report.headline import headline
from evalkit.report.numbers import judge_note, num, signed
from evalkit.report.selection import selection_sentences
from evalkit.results import Gates, Results, redacted

_MARK = {True: "✅ pass", False: "❌ fail", None: "⚠️ not evaluated"}
_ORDER = {False: 0, None: 1, True: 2}  # failures first: they are what a reviewer needs
# control characters other than whitespace: dropped
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
# inline markup: escapes, code, emphasis, links, HTML and entities, table cells, strikethrough,
# math, and the ':' and '@' that start GFM autolinks
_INLINE = re.compile(r"[\\`*_\[\]<&|~$:@]")
_WWW = re.compile(r"(?i)\b(www)\.")
# what makes a heading, a list, a quote or a rule when a line begins with it: its last character
_BLOCK_START = re.compile(r"^(?:[#+=>\-]|\d+[.)])")


def _one_line(value: Any) -> str:
    return " ".join(_CONTROL.sub("", str(value)).split())


def md_text(value: Any) -> str:
    """Any value as literal Markdown text on one line, wherever the line is placed."""
    text = _WWW.sub(r"\1\\.", _INLINE.sub(r"\\\g<0>", _one_line(value)))
    if block := _BLOCK_START.match(text):
        text = f"{text[: block.end() - 1]}\\{text[block.end() - 1 :]}"
    return text


def md_code(value: Any) -> str:
    """Any value as a code span in a table cell: a fence longer than any backtick run inside."""
    text = _one_line(value)
    if not text:
        return "—"
    fence = "`" * (1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    pad = " " if text[0] == "`" or text[-1] == "`" else ""
    # GFM splits table cells at '|' even inside code spans; '\\|' there is a literal '|'
    cell = text.replace("|", "\\|")
    return f"{fence}{pad}{cell}{pad}{fence}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A table of cells already made Markdown (by md_text, md_code or evalkit's own text)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
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
    rows = [
        (_MARK[g.passed], md_code(g.rule), md_text(g.check), md_text(g.evidence)) for g in results
    ]
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
                md_text(m.dataset),
                md_text(m.metric + judge_note(results.judge_status(m))),
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
            md_text(p.probe),
            md_text(
                p.metric
                + ("" if p.higher_is_better else " (lower is better)")
                + judge_note("uncalibrated" if p.classifier == "judge" else None)
            ),
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
    header = ("probe", "metric", "n", "baseline", "candidate", "diff", "bound of gain",
              "non-inferior")  # fmt: skip
    return ["### Forgetting probes", "", *_table((*header, "format collapse"), rows)]


def _economics_lines(results: Results) -> list[str]:
    if not results.economics:
        return []
    rows = []
    for arm, e in results.economics.items():
        cost = e.cost_per_1k_requests
        rows.append(
            (
                md_text(arm),
                md_code(e.model),
                e.requests,
                num(e.mean_input_tokens, 1),
                num(e.mean_output_tokens, 1),
                num(e.latency_p50_s),
                num(e.latency_p95_s),
                "unknown" if cost is None else f"${cost:.4f}",
            )
        )
    header = ("arm", "model", "requests", "in tokens", "out tokens", "p50 s", "p95 s", "$ / 1k")
    lines = ["### Economics (per request, task datasets)", "", *_table(header, rows)]
    if (j := results.judge_cost) is not None:
        cost = "unknown price" if j.cost is None else f"${j.cost:.4f} uncached"
        model = f" ({md_code(j.model)})" if j.model else ""
        lines += [f"The judge{model}: {j.requests} requests ({j.cached} cached), "
                  f"{j.input_tokens} in / {j.output_tokens} out tokens, {cost}.", ""]  # fmt: skip
    return lines


def release_lines(decision: ReleaseDecision | None) -> list[str]:
    """The roll-back decision: recommendation, reasons, and every change compared."""
    if decision is None:
        return []
    if decision.recommendation is None:
        return ["### Release decision", "", md_text(" ".join(decision.reasons)), ""]
    head = (
        f"**Recommendation: {decision.recommendation.upper()}** against run "
        f"{md_text(decision.previous_run)} ({md_text(decision.against)})"
    )
    rows = [
        (
            md_text(f"{'probes.' if c.section == PROBE else ''}{c.dataset}.{c.metric}"),
            num(c.previous),
            num(c.current),
            signed(c.change),
            "—" if c.ci_low is None else f"[{signed(c.ci_low)}, {signed(c.ci_high)}]",
            str(c.n) if c.how == "paired" else c.how,
            f"**{c.finding}**" if c.finding in ("better", "worse") else c.finding,
        )
        for c in decision.changes
    ]
    header = ("metric", "previous", "this run", "change", "interval", "items paired", "finding")
    return [
        "### Release decision",
        "",
        head,
        "",
        *(f"- {md_text(r)}" for r in decision.reasons),
        "",
        *(_table(header, rows) if rows else []),
    ]


def release_markdown(decision: ReleaseDecision, title: str) -> str:
    """`evalkit compare --markdown`: the release decision as a page of Markdown."""
    decision = ReleaseDecision.model_validate(redact(decision.model_dump(mode="json")))
    lines = [f"## evalkit · {md_text(title)}", "", *release_lines(decision)]
    return "\n".join(lines).rstrip() + "\n"


def _drift_lines(history: History | None) -> list[str]:
    if history is None or not history.drift:
        return []
    kinds = {"model_changed": "the model changed", "data_drifted": "the data drifted"}
    return [
        "### Drift",
        "",
        *(f"- **{kinds[f.kind]}**: {md_text(f.sentence)}" for f in history.drift),
        "",
    ]


def summary_markdown(results: Results) -> str:
    """Verdict, gates (failed first), headline metrics, probes and economics."""
    results = redacted(results)
    lines = [
        f"## evalkit · {md_text(results.suite.name)} · run {md_text(results.run_id)}",
        "",
        md_text(headline(results).sentence),
        "",
        *(line for said in selection_sentences(results) for line in (md_text(said), "")),
        *_gate_lines(results.gates),
        *release_lines(results.release),
        *_drift_lines(results.history),
        *_metric_lines(results),
        *_probe_lines(results),
        *_economics_lines(results),
    ]
    return "\n".join(lines).rstrip() + "\n"


def write_summary(path: Path, results: Results) -> None:
    path.write_text(summary_markdown(results), encoding="utf-8", errors=WRITE_ERRORS)
