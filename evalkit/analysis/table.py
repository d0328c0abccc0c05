"""Collect: inspect logs + the plan → one row per item × arm, scored. This table is the truth.

Rows come from the plan, not from the logs, so an item the log lacks still has a row (with
an error), and nothing can drop out of a metric unseen. Every number in a report is
recomputable from this table (written as `samples.jsonl`).
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
from inspect_ai.log import EvalLog, EvalSample

from evalkit.names import PROBE
from evalkit.plugins import score_row
from evalkit.run.plan import Plan, TaskPlan
from evalkit.scoring.extract import extract_label, same_label
from evalkit.scoring.format import default_checks, run_checks
from evalkit.scoring.probes import extract_answer, is_correct
from evalkit.suite.load import LoadedSuite

COLUMNS = [
    "arm", "dataset", "section", "kind", "id", "input", "target", "output", "error",
    "label", "parsed", "correct", "checks", "format_ok",
    "custom",  # the suite's own scorers (plug-ins): {name: {value, explanation, error}}
    "input_tokens", "output_tokens", "latency_s", "cached",
    "judge",  # rubric judgments, filled in by evalkit.run.judge after the arms' pass
]  # fmt: skip

_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*): (.*)$")


def sample_error(sample: EvalSample) -> str | None:
    """The real exception as `Name: message`, not the retry wrapper around it."""
    if sample.error is None:
        return None
    # tenacity raises a RetryError naming only a Future; the provider's exception is the last
    # other exception line of the chained traceback
    found = [
        m for line in (sample.error.traceback or "").splitlines()
        if (m := _EXCEPTION_LINE.match(line)) and not m.group(1).endswith("RetryError")
    ]  # fmt: skip
    if found:
        return f"{found[-1].group(1).rsplit('.', 1)[-1]}: {found[-1].group(2)}"[:300]
    return sample.error.message.strip()[:300] or "unknown error"


def sample_usage(sample: EvalSample) -> tuple[int | None, int | None]:
    """(input tokens, output tokens) of a sample's model call."""
    # output.usage survives a cache hit; sample.model_usage is empty for cached answers
    usage = sample.output.usage if sample.output else None
    if usage is None:
        return None, None
    return usage.input_tokens, usage.output_tokens


def sample_cached(sample: EvalSample) -> bool:
    """Every model call of the sample was answered from the cache."""
    model_events = [e for e in sample.events if e.event == "model"]
    return bool(model_events) and all(getattr(e, "cache", None) == "read" for e in model_events)


def _score(row: dict[str, Any], tp: TaskPlan, loaded: LoadedSuite) -> None:
    """Add label, parsed, correct, checks, format_ok and custom to a row, in place."""
    if row["error"] is not None:
        row.update(label=None, parsed=False, correct=False, checks={}, format_ok=False, custom={})
        return
    output = row["output"]
    if tp.section == PROBE:
        kind = next(p.kind for p in loaded.probes if p.name == tp.dataset)
        answer = extract_answer(kind, output, row["input"])
        row.update(
            label=answer,
            parsed=answer is not None,
            correct=answer is not None and is_correct(kind, answer, row["target"]),
            checks={},
            format_ok=None,
            custom={},
        )
        return
    suite = loaded.suite
    classification = suite.task.type == "classification"
    if classification:
        ext = extract_label(
            output, loaded.labels, suite.task.output.format, suite.task.output.field
        )
        row.update(label=ext.label, parsed=ext.parsed, correct=same_label(ext.label, row["target"]))
        in_set = ext.in_set
    else:
        row.update(label=None, parsed=None, correct=None)
        in_set = False
    checks_spec = suite.scorers.format or default_checks(suite.task.output.format, classification)
    checks = run_checks(output, checks_spec, json_schema=loaded.json_schema, label_in_set=in_set)
    row.update(checks=checks, format_ok=all(checks.values()) if checks else None)
    # the suite's plug-ins see the row as scored so far, and never the failed requests
    row["custom"] = score_row(loaded.scorers, row) if loaded.scorers else {}


def build_table(plan: Plan, logs: dict[str, EvalLog], loaded: LoadedSuite) -> pd.DataFrame:
    """One scored row per planned sample; a sample missing from its log is an error row."""
    rows: list[dict[str, Any]] = []
    for tp in plan.tasks:
        log = logs.get(tp.name)
        by_id = {str(s.id): s for s in (log.samples or [])} if log else {}
        for ps in tp.samples:
            sample = by_id.get(ps.id)
            row: dict[str, Any] = {
                "arm": tp.arm,
                "dataset": tp.dataset,
                "section": tp.section,
                "kind": tp.kind,
                "id": ps.id,
                "input": ps.input,
                "target": ps.target,
                "judge": None,
            }
            if sample is None:
                row.update(output="", error="no result recorded for this sample",
                           input_tokens=None, output_tokens=None, latency_s=None, cached=False)  # fmt: skip
            else:
                in_tok, out_tok = sample_usage(sample)
                row.update(
                    output=sample.output.completion if sample.output else "",
                    error=sample_error(sample),
                    input_tokens=in_tok,
                    output_tokens=out_tok,
                    latency_s=(sample.output.time if sample.output and sample.output.time is not None
                               else sample.total_time),
                    cached=sample_cached(sample),
                )  # fmt: skip
            _score(row, tp, loaded)
            rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS)
    # nullable integers: a missing count stays missing instead of turning every count into a float
    return table.astype({"input_tokens": "Int64", "output_tokens": "Int64"})
