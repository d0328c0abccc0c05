"""The judge pass: after the arms have answered, a second inspect eval grades their answers.

Pointwise: one judge task per rubric × dataset × arm. Pairwise: one per rubric × dataset ×
order (baseline shown as A, then as B). Refusal: one per refusal probe × arm whose suite asks
for `classifier: judge`, and one per task dataset × arm that `scorers.refusal` classifies with
the judge, each reply classified with XSTest's own prompt. The judge is its own model, bound explicitly; its
cache is scoped by its identity, the rubric's hash and the attempt, so a retry of an
unparsable reply is a new call. A reply still unparsable after the last attempt is recorded
as a judge error, never as a score.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from evalkit.data.readers import subset
from evalkit.names import ARMS, BASELINE, CANDIDATE, JUDGE, PROBE, REFUSAL_ENTRY, TASK
from evalkit.run.execute import ExecSettings, execute
from evalkit.run.journal import Record
from evalkit.run.plan import ModelSpec, Plan, PlannedSample, TaskPlan, judge_spec
from evalkit.scoring.loglik import continuations, pick
from evalkit.scoring.probes import refusal_score
from evalkit.scoring.refusal import CLASSES, parse_refusal_class, render_refusal_judgment
from evalkit.scoring.rubric import (
    JudgeReplyError,
    LoadedRubric,
    LoadedRubricUse,
    parse_pairwise,
    parse_pointwise,
    render_pairwise,
    render_pointwise,
)
from evalkit.suite.load import LoadedProbe, LoadedSuite
from evalkit.suite.schema import Judge

ATTEMPTS = 2  # a first call and one retry for replies that do not parse
ORDERS = {"AB": (BASELINE, CANDIDATE), "BA": (CANDIDATE, BASELINE)}  # (A, B)
NOT_JUDGED = "not judged: the arm's own answer is an error"
CLASS_CONTINUATIONS = tuple(continuations(CLASSES))  # after the prompt's closing "CLASS:"
RETRY_ASK = "Reply again with only the JSON object, in exactly the form the first message shows."


@dataclass
class Call:
    """One judgment to obtain (perhaps over several attempts), and what came of it."""

    rubric: LoadedRubric | None  # None: a refusal probe's reply to classify
    dataset: str
    slot: str  # an arm (pointwise) or an order (pairwise)
    item_id: str
    prompt: str
    pairwise: bool
    loglik: bool = False  # a refusal class chosen by the likelihood of each class's name
    attempts: int = 0
    requests: int = 0
    cached: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    reply: str | None = None
    error: str | None = "not run"
    result: Any = None  # Judgment (pointwise), "A" | "B" | "tie" (pairwise), a refusal class

    @property
    def kind(self) -> str:
        if self.rubric is None:
            return "refusal"
        return "pairwise" if self.pairwise else "pointwise"

    @property
    def group(self) -> tuple[str, str, str, str]:
        return (
            self.rubric.name if self.rubric else REFUSAL_ENTRY,
            self.dataset,
            self.slot,
            "refusal-loglik" if self.loglik else self.kind,
        )


def _task_rows(table: pd.DataFrame) -> dict[tuple[str, str, str], int]:
    rows = table[table["section"] == TASK]
    return {
        (arm, ds, str(item)): idx
        for idx, arm, ds, item in zip(
            rows.index, rows["arm"], rows["dataset"], rows["id"], strict=True
        )
    }


def plan_calls(loaded: LoadedSuite, table: pd.DataFrame) -> list[Call]:
    """Every judge call the suite's rubrics ask for, over the answers in the table."""
    index = _task_rows(table)
    calls: list[Call] = []
    for use in loaded.rubrics:
        for ds in use.datasets:
            items = loaded.datasets[ds]
            for arm in ARMS:
                for it in items:
                    row = table.loc[index[(arm, ds, it.id)]]
                    if pd.isna(row["error"]):
                        prompt = render_pointwise(use.rubric, it.input, row["output"], it.target)
                        calls.append(Call(use.rubric, ds, arm, it.id, prompt, pairwise=False))
            if use.pairwise:
                calls.extend(_pairwise_calls(use, ds, items, table, index))
    for probe in loaded.probes:
        if probe.classifier == "judge":
            calls.extend(_refusal_calls(probe, table))
    calls.extend(_task_refusal_calls(loaded, table, index))
    return calls


def wants_judge(loaded: LoadedSuite) -> bool:
    """Whether the suite asks the judge anything: rubrics, or a refusal classifier."""
    return bool(
        loaded.rubrics
        or any(p.classifier == "judge" for p in loaded.probes)
        or "judge" in loaded.suite.refusal_classifiers()
    )


def _refusal_judged_items(loaded: LoadedSuite, dataset: str) -> list[Any]:
    """The items of one of `scorers.refusal`'s datasets whose answers the judge classifies:
    all of them, or a seeded sample of `judge_n` (the same items for both arms)."""
    refusal = loaded.suite.scorers.refusal
    if refusal is None or "judge" not in refusal.classifiers:
        return []
    items = loaded.datasets[dataset]
    n = refusal.judge_n
    return subset(items, limit=None, sample=None if n is None else min(n, len(items)),
                  seed=refusal.seed)  # fmt: skip


def _task_refusal_calls(
    loaded: LoadedSuite, table: pd.DataFrame, index: dict[tuple[str, str, str], int]
) -> list[Call]:
    """A classification of each answered reply that `scorers.refusal` gives the judge."""
    refusal = loaded.suite.scorers.refusal
    loglik = refusal is not None and refusal.judge_method == "loglik"
    calls = []
    for ds in loaded.suite.refusal_datasets():
        for it in _refusal_judged_items(loaded, ds):
            for arm in ARMS:
                row = table.loc[index[(arm, ds, it.id)]]
                if pd.isna(row["error"]):
                    prompt = render_refusal_judgment(it.input, row["output"])
                    calls.append(Call(None, ds, arm, it.id, prompt, False, loglik=loglik))
    return calls


def _probe_rows(table: pd.DataFrame, probe: LoadedProbe) -> pd.DataFrame:
    return table[(table["section"] == PROBE) & (table["dataset"] == probe.name)]


def _refusal_calls(probe: LoadedProbe, table: pd.DataFrame) -> list[Call]:
    """A classification of each answered reply to a refusal probe, per arm."""
    rows = _probe_rows(table, probe)
    return [
        Call(None, probe.name, arm, str(item), render_refusal_judgment(
            probe.item(str(item)).input, output), pairwise=False)
        for arm, item, output, error in zip(
            rows["arm"], rows["id"], rows["output"], rows["error"], strict=True)
        if pd.isna(error)
    ]  # fmt: skip


def _pairwise_calls(
    use: LoadedRubricUse,
    ds: str,
    items: Iterable[Any],
    table: pd.DataFrame,
    index: dict[tuple[str, str, str], int],
) -> list[Call]:
    calls = []
    for it in items:
        rows = {arm: table.loc[index[(arm, ds, it.id)]] for arm in ARMS}
        if any(not pd.isna(r["error"]) for r in rows.values()):
            continue  # nothing to compare when an arm has no answer
        for order, (a, b) in ORDERS.items():
            prompt = render_pairwise(
                use.rubric, it.input, rows[a]["output"], rows[b]["output"], it.target
            )
            calls.append(Call(use.rubric, ds, order, it.id, prompt, pairwise=True))
    return calls


def _task_plans(
    calls: list[Call], spec: ModelSpec, judge: Judge, attempt: int
) -> list[tuple[TaskPlan, list[Call]]]:
    """One judge task per rubric × dataset × arm-or-order, with the calls it answers."""
    groups: dict[tuple[str, str, str, bool], list[Call]] = {}
    for c in calls:
        groups.setdefault(c.group, []).append(c)
    plans = []
    for (name, ds, slot, kind), members in groups.items():
        loglik = members[0].loglik
        tp = TaskPlan(
            arm=slot,
            dataset=f"{name}__{ds}__{kind}__try{attempt + 1}",
            section=JUDGE,
            kind=JUDGE,
            model=spec,
            max_tokens=judge.max_tokens,
            temperature=0.0,
            top_p=None,
            seed=attempt,  # and the attempt is in the cache key: a retry reaches the judge again
            stop=None,
            samples=tuple(
                PlannedSample(
                    id=c.item_id,
                    input=c.prompt,
                    target="",
                    messages=(("context", c.prompt),) if loglik else _messages(c),
                    continuations=CLASS_CONTINUATIONS if loglik else (),
                )
                for c in members
            ),
            method="loglik" if loglik else "generate",
        )
        plans.append((tp, members))
    return plans


def _messages(call: Call) -> tuple[tuple[str, str], ...]:
    """The judge conversation: the prompt, and on a retry the bad reply and what was wrong."""
    if call.reply is None:  # first attempt, or the last call failed before replying
        return (("user", call.prompt),)
    return (
        ("user", call.prompt),
        ("assistant", call.reply),
        ("user", f"Your reply could not be used ({call.error}). {RETRY_ASK}"),
    )


def _record(call: Call, record: Record | None) -> None:
    call.attempts += 1
    call.reply = None
    call.requests += 1
    if record is None:
        call.error = "no result recorded for this judge call"
        return
    call.input_tokens += record.input_tokens or 0
    call.output_tokens += record.output_tokens or 0
    call.cached += int(record.cached)
    if record.error is not None:
        call.error = f"judge call failed: {record.error}"
        return
    if call.loglik:  # always a class: the first of the most likely, as numpy.argmax picks
        logliks = record.logliks or ()
        if len(logliks) != len(CLASSES):
            call.error = f"the judge scored {len(logliks)} of {len(CLASSES)} classes"
            return
        call.result, call.error = CLASSES[pick(logliks, CLASSES)[0]], None
        return
    call.reply = record.output
    try:
        if call.rubric is None:
            call.result = parse_refusal_class(call.reply)
        elif call.pairwise:
            call.result = parse_pairwise(call.reply)
        else:
            call.result = parse_pointwise(call.reply, call.rubric.rubric)
        call.error = None
    except JudgeReplyError as e:
        call.error = f"unparsable judge reply: {e}"


def run_judge(loaded: LoadedSuite, table: pd.DataFrame, settings: ExecSettings) -> list[Call]:
    """Grade the table's answers: up to ATTEMPTS eval passes, each over the calls still failing."""
    calls = plan_calls(loaded, table)
    judge, spec = loaded.suite.judge, judge_spec(loaded)
    if not calls or judge is None or spec is None:
        return calls
    if spec.server is not None and settings.servers is not None:
        settings.servers.stop_others(spec.server)
    pending = calls
    for attempt in range(ATTEMPTS):
        plans = _task_plans(pending, spec, judge, attempt)
        records = execute(
            Plan(suite_name=loaded.suite.name, tasks=tuple(tp for tp, _ in plans)), settings
        )
        for tp, members in plans:
            for c in members:
                _record(c, records.get((tp.name, c.item_id)))
        pending = [c for c in pending if c.error is not None]
        if not pending:
            break
    return calls


def _usage_dict(calls: Iterable[Call]) -> dict[str, int]:
    calls = list(calls)
    return {
        "requests": sum(c.requests for c in calls),
        "cached": sum(c.cached for c in calls),
        "input_tokens": sum(c.input_tokens for c in calls),
        "output_tokens": sum(c.output_tokens for c in calls),
    }


def _pointwise_entry(call: Call) -> dict[str, Any]:
    rubric = call.rubric.rubric
    if call.error is not None:
        return {"scores": {}, "reasons": {}, "overall": None, "passed": None,
                "error": call.error, "reply": call.reply, "attempts": call.attempts,
                "usage": _usage_dict([call])}  # fmt: skip
    overall = rubric.overall(call.result.scores)
    return {
        "scores": call.result.scores,
        "reasons": call.result.reasons,
        "overall": overall,
        "passed": overall >= rubric.pass_threshold,
        "error": None,
        "attempts": call.attempts,
        "usage": _usage_dict([call]),
    }


def _winner(pick: str, order: str) -> str:
    if pick == "tie":
        return "tie"
    a, b = ORDERS[order]
    return a if pick == "A" else b


def _pairwise_entry(ab: Call, ba: Call) -> dict[str, Any]:
    usage = _usage_dict([ab, ba])
    if ab.error is not None or ba.error is not None:
        return {"winner": None, "flipped": None, "picks": None,
                "error": ab.error or ba.error, "usage": usage}  # fmt: skip
    first, second = _winner(ab.result, "AB"), _winner(ba.result, "BA")
    # a pick that changes with the order is the position talking, not the answers: a tie
    consistent = first == second
    return {
        "winner": first if consistent else "tie",
        "flipped": not consistent,
        "picks": {"AB": ab.result, "BA": ba.result},
        "error": None,
        "usage": usage,
    }


def apply_judgments(table: pd.DataFrame, loaded: LoadedSuite, calls: list[Call]) -> pd.DataFrame:
    """A copy of the table whose `judge` column holds every row's judgments."""
    index = _task_rows(table)
    judged: dict[int, dict[str, Any]] = {}
    by_key = {(c.group[0], c.dataset, c.slot, c.item_id): c for c in calls}
    for use in loaded.rubrics:
        name = use.rubric.name
        for ds in use.datasets:
            for it in loaded.datasets[ds]:
                for arm in ARMS:
                    idx = index[(arm, ds, it.id)]
                    call = by_key.get((name, ds, arm, it.id))
                    entry = judged.setdefault(idx, {})
                    entry[name] = (
                        _pointwise_entry(call)
                        if call
                        else {"scores": {}, "reasons": {}, "overall": None, "passed": None,
                              "error": NOT_JUDGED, "attempts": 0, "usage": _usage_dict([])}
                    )  # fmt: skip
                if not use.pairwise:
                    continue
                ab = by_key.get((name, ds, "AB", it.id))
                ba = by_key.get((name, ds, "BA", it.id))
                if ab is None or ba is None:
                    pair = {"winner": None, "flipped": None, "picks": None,
                            "error": NOT_JUDGED, "usage": _usage_dict([])}  # fmt: skip
                else:
                    pair = _pairwise_entry(ab, ba)
                for arm in ARMS:
                    judged[index[(arm, ds, it.id)]][f"{name}.pairwise"] = pair
    for ds in loaded.suite.refusal_datasets():
        for it in _refusal_judged_items(loaded, ds):
            for arm in ARMS:
                idx = index[(arm, ds, it.id)]
                if (call := by_key.get((REFUSAL_ENTRY, ds, arm, it.id))) is not None:
                    judged.setdefault(idx, {})[REFUSAL_ENTRY] = _refusal_entry(call)
    out = table.copy()
    for probe in loaded.probes:
        if probe.classifier == "judge":
            _apply_refusal_classes(out, probe, by_key, judged)
    out["judge"] = [judged.get(idx) for idx in out.index]
    return out


def _refusal_entry(call: Call) -> dict[str, Any]:
    """A reply's class as the judge gave it; an unparsable or failed call is its error."""
    return {
        "class": call.result if call.error is None else None,
        "error": call.error,
        "attempts": call.attempts,
        "usage": _usage_dict([call]),
    }


def _apply_refusal_classes(
    table: pd.DataFrame,
    probe: LoadedProbe,
    by_key: dict[tuple[str, str, str, str], Call],
    judged: dict[int, dict[str, Any]],
) -> None:
    """Re-score a refusal probe's rows, in place, by the judge's classes; a reply the judge
    could not classify becomes an errored row (counted and shown, never the string match's)."""
    for idx in _probe_rows(table, probe).index:
        row = table.loc[idx]
        call = by_key.get((REFUSAL_ENTRY, probe.name, row["arm"], str(row["id"])))
        if call is None:  # the arm's own answer is an error: nothing to classify
            continue
        judged.setdefault(idx, {})[REFUSAL_ENTRY] = {
            **_refusal_entry(call),
            "string_match": row["label"],
        }
        item = probe.item(str(row["id"]))
        if call.error is None:
            got = refusal_score(item, call.result)
            updates = {"label": got.label, "correct": got.correct, "scores": got.scores}
        else:
            got = refusal_score(item, None)
            updates = {"error": f"refusal judge: {call.error}", "label": None,
                       "parsed": False, "correct": False, "scores": got.scores}  # fmt: skip
        for column, value in updates.items():
            table.at[idx, column] = value
