"""Collect: the engine's records + the plan → one row per item × arm, scored. This table is the truth.

Rows come from the plan, not from the records, so an item without a record still has a row
(with an error), and nothing can drop out of a metric unseen. Every number in a report is
recomputable from this table (written as `samples.jsonl`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import pandas as pd

from evalkit.names import PROBE, SELECTION, TRAINING_KIND
from evalkit.plugins import score_row
from evalkit.run.journal import Record
from evalkit.run.plan import Plan, TaskPlan
from evalkit.scoring.extract import Extraction, extract_label, same_label
from evalkit.scoring.fields import FieldScores, score_extraction
from evalkit.scoring.format import default_checks, run_checks
from evalkit.scoring.memorisation import TrainingAnswers, copies_training, training_answers
from evalkit.scoring.probes import score_probe
from evalkit.scoring.reference import reference_scores
from evalkit.suite.load import LoadedProbe, LoadedSuite

COLUMNS = [
    "arm", "dataset", "section", "kind", "id", "input", "target", "output", "error",
    "label", "parsed", "correct", "checks", "format_ok",
    "custom",  # the suite's own scorers (plug-ins): {name: {value, explanation, error}}
    "fields",  # extraction: {field: {target, answer, matched}}, normalised values
    "scores",  # built-in per-answer scores: reference metrics, copies_training
    "input_tokens", "output_tokens", "latency_s", "cached", "attempts",
    "judge",  # rubric judgments, filled in by evalkit.run.judge after the arms' pass
    "choice_logliks", "choice",  # a loglik probe: each choice's log-likelihood, the one chosen
]  # fmt: skip


def _answer_scores(
    row: dict[str, Any], tp: TaskPlan, loaded: LoadedSuite, known: TrainingAnswers | None
) -> FieldScores | None:
    """Add fields (extraction) and scores (reference metrics, memorisation) to a task row;
    returns an extraction answer's scores.

    A failed request is scored as an empty answer: every field a miss, reference metrics 0.
    """
    task = loaded.suite.task
    failed = row["error"] is not None
    output = "" if failed else row["output"]
    extracted = None
    if task.type == "extraction":
        target = json.loads(row["target"])
        extracted = score_extraction(None if failed else output, target, loaded.fields, task.fields)
    scores: dict[str, Any] = {}
    if task.type == "generation":
        scores.update(reference_scores(output, row["target"]))
    # a training item's (and a split carved from training data's) answer is a training answer
    if known is not None and tp.kind not in (TRAINING_KIND, SELECTION):
        copied = copies_training(output, row["input"], row["target"], known)
        if copied is not None:
            scores["copies_training"] = copied
    row.update(fields=extracted.fields if extracted else None, scores=scores)
    return extracted


AnswerReader = Callable[[str], tuple[Extraction | None, dict[str, bool]]]


def _answer_reader(loaded: LoadedSuite) -> AnswerReader:
    """The label (classification) and format checks of an answer, read once per distinct
    answer: a label task's thousands of answers are a few dozen strings (often the labels
    themselves), and reading each again was most of the table's cost."""
    suite = loaded.suite
    classification = suite.task.type == "classification"
    spec = suite.scorers.format or default_checks(suite.task.answer_format, classification)

    @functools.cache
    def read(output: str) -> tuple[Extraction | None, dict[str, bool]]:
        ext = None
        if classification:
            ext = extract_label(output, loaded.labels, suite.task.output.format,
                                suite.task.output.field)  # fmt: skip
        in_set = ext.in_set if ext else False
        return ext, run_checks(output, spec, json_schema=loaded.json_schema, label_in_set=in_set)

    return read


def _score(
    row: dict[str, Any], tp: TaskPlan, loaded: LoadedSuite, known: TrainingAnswers | None,
    probe: LoadedProbe | None, value: float | None, read: AnswerReader,
) -> None:  # fmt: skip
    """Add label, parsed, correct, checks, format_ok, custom, fields and scores to a row, in
    place; `value` is an inspect task's score of the answer."""
    if probe is not None:
        _score_probe(row, probe, value)
        return
    extracted = _answer_scores(row, tp, loaded, known)
    if row["error"] is not None:
        row.update(label=None, parsed=False, correct=False, checks={}, format_ok=False, custom={})
        return
    ext, checks = read(row["output"])
    if ext is not None:
        row.update(label=ext.label, parsed=ext.parsed, correct=same_label(ext.label, row["target"]))
    elif extracted is not None:  # an extraction answer is right when its object is the target
        row.update(label=None, parsed=extracted.parsed, correct=extracted.exact)
    else:
        row.update(label=None, parsed=None, correct=None)
    # each row its own dict: the same answer's rows must not share one a later stage changes
    row.update(checks=dict(checks), format_ok=all(checks.values()) if checks else None)
    # the suite's plug-ins see the row as scored so far, and never the failed requests
    row["custom"] = score_row(loaded.scorers, row) if loaded.scorers else {}


def _score_probe(row: dict[str, Any], probe: LoadedProbe, value: float | None) -> None:
    """A probe row, scored by its pack (evalkit.scoring.probes.score_probe)."""
    item = probe.item(row["id"])
    reply = None if row["error"] is not None else row["output"]
    got = score_probe(probe.pack, probe.method, item, reply, row["choice_logliks"], value)
    row.update(label=got.label, parsed=got.parsed, correct=got.correct, checks={},
               format_ok=False if reply is None else None, custom={}, fields=None,
               scores=got.scores, choice=got.choice)  # fmt: skip
    if got.error:
        row["error"] = got.error
    if got.choice is not None:  # a loglik answer reads as the choice it picked
        row["output"] = probe.pack.item_choices(item)[got.choice]


def build_table(
    plan: Plan, records: dict[tuple[str, str], Record], loaded: LoadedSuite
) -> pd.DataFrame:
    """One scored row per planned sample; a sample without a record is an error row."""
    rows: list[dict[str, Any]] = []
    task_type = loaded.suite.task.type
    # answers of a label task are labels: copying a training label is the task itself
    known = (
        training_answers(loaded.training, structured=task_type == "extraction")
        if loaded.training and task_type != "classification"
        else None
    )
    probes = {p.name: p for p in loaded.probes}
    read = _answer_reader(loaded)
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
                "choice_logliks": None,
                "choice": None,
            }
            if rec is None:
                row.update(output="", error="no result recorded for this sample",
                           input_tokens=None, output_tokens=None, latency_s=None, cached=False,
                           attempts=0)  # fmt: skip
            else:
                row.update(output=rec.output, error=rec.error, input_tokens=rec.input_tokens,
                           output_tokens=rec.output_tokens, latency_s=rec.latency_s,
                           cached=rec.cached, attempts=rec.attempts,
                           choice_logliks=list(rec.logliks) if rec.logliks else None)  # fmt: skip
            probe = probes.get(tp.dataset) if tp.section == PROBE else None
            _score(row, tp, loaded, known, probe, rec.score if rec else None, read)
            rows.append(row)
    return table_of(rows)


def table_of(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Scored rows (built here, or read back from samples.jsonl) as the per-sample table."""
    table = pd.DataFrame(rows, columns=COLUMNS)
    # nullable integers: a missing count stays missing instead of turning every count into a float
    return table.astype({"input_tokens": "Int64", "output_tokens": "Int64", "attempts": "Int64"})
