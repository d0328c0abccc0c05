"""Collect: the engine's records + the plan → one row per item × arm, scored. This table is the truth.

Rows come from the plan, not from the records, so an item without a record still has a row
(with an error), and nothing can drop out of a metric unseen. Every number in a report is
recomputable from this table (written as `samples.jsonl`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from evalkit.names import PROBE
from evalkit.plugins import score_row
from evalkit.run.journal import Record
from evalkit.run.plan import Plan, TaskPlan
from evalkit.scoring.extract import extract_label, same_label
from evalkit.scoring.format import default_checks, run_checks
from evalkit.scoring.probes import extract_answer, is_correct
from evalkit.suite.load import LoadedSuite

COLUMNS = [
    "arm", "dataset", "section", "kind", "id", "input", "target", "output", "error",
    "label", "parsed", "correct", "checks", "format_ok",
    "custom",  # the suite's own scorers (plug-ins): {name: {value, explanation, error}}
    "input_tokens", "output_tokens", "latency_s", "cached", "attempts",
    "judge",  # rubric judgments, filled in by evalkit.run.judge after the arms' pass
]  # fmt: skip


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


def build_table(
    plan: Plan, records: dict[tuple[str, str], Record], loaded: LoadedSuite
) -> pd.DataFrame:
    """One scored row per planned sample; a sample without a record is an error row."""
    rows: list[dict[str, Any]] = []
    for tp in plan.tasks:
        for ps in tp.samples:
            rec = records.get((tp.name, ps.id))
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
            if rec is None:
                row.update(output="", error="no result recorded for this sample",
                           input_tokens=None, output_tokens=None, latency_s=None, cached=False,
                           attempts=0)  # fmt: skip
            else:
                row.update(output=rec.output, error=rec.error, input_tokens=rec.input_tokens,
                           output_tokens=rec.output_tokens, latency_s=rec.latency_s,
                           cached=rec.cached, attempts=rec.attempts)  # fmt: skip
            _score(row, tp, loaded)
            rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS)
    # nullable integers: a missing count stays missing instead of turning every count into a float
    return table.astype({"input_tokens": "Int64", "output_tokens": "Int64", "attempts": "Int64"})
