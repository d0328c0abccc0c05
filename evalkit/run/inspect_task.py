"""Run an inspect-ai task's probe: `inspect_ai.eval()` per arm, each sample's score a record.

The task's own solver and scorer answer and judge; both arms run the planned samples (the
same ids) with their model string and every setting given here, none from the environment.
Each sample becomes one journal record (its completion, its score as a float), so a resumed
run re-runs only the samples without an answer, and the per-sample table scores these rows
like any other probe's. inspect's own logs are kept under the run folder (`inspect/<arm>/`),
rewritten redacted: a sample's error can quote a server that echoed the API key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evalkit.credentials import redact
from evalkit.errors import InputError
from evalkit.hashing import sha256_path
from evalkit.models.clients import inspect_model_name
from evalkit.run.engine import Policy
from evalkit.run.journal import Journal, Record
from evalkit.run.plan import TaskPlan
from evalkit.scoring.inspect_task import is_file_spec, load_task, sample_id, score_value

LOGS = "inspect"  # the run folder's subfolder for inspect's own logs, one folder per arm


def sample_key(tp: TaskPlan, item: str) -> str:
    """What decides a sample's answer: the arm's identity, the task (a file's content), the
    sample and the sampling settings."""
    assert tp.inspect_task is not None
    spec = tp.inspect_task
    content = sha256_path(spec.partition("@")[0]) if is_file_spec(spec) else None
    payload = [tp.model.identity, "inspect", spec, content, item, tp.temperature, tp.top_p, tp.seed]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def run_inspect_task(
    tp: TaskPlan, items: Iterable[str], policy: Policy, run_dir: Path
) -> list[Record]:
    """Run `items` (sample ids) of one arm's inspect-task probe; one record per item."""
    import inspect_ai

    import evalkit.models.registry  # noqa: F401  (registers local/ and evalkit-test/)

    assert tp.inspect_task is not None
    order = list(items)
    wanted = set(order)
    task = load_task(tp.inspect_task, where=f"probes.{tp.dataset}")
    chosen = [
        s.model_copy(update={"id": sample_id(s, i)}) if s.id is None else s
        for i, s in enumerate(task.dataset)
        if sample_id(s, i) in wanted
    ]
    task = inspect_ai.task_with(task, dataset=chosen)
    generate = {
        k: v
        for k, v in (("temperature", tp.temperature), ("top_p", tp.top_p), ("seed", tp.seed))
        if v is not None
    }
    try:
        logs = inspect_ai.eval(
            task,
            model=inspect_model_name(tp.model),
            model_base_url=tp.model.base_url,
            model_args=dict(tp.model.model_args),
            log_dir=str(run_dir / LOGS / tp.arm),
            log_format="eval",
            display="none",
            log_level="error",
            epochs=1,
            fail_on_error=False,  # a failed sample is that sample's error row, not the task's
            retry_on_error=0,
            max_retries=policy.max_retries,
            timeout=int(policy.timeout),
            max_connections=policy.max_connections,
            score=True,
            **generate,
        )
    except InputError:
        raise
    except Exception as e:  # inspect cannot start: the model, a provider's package, a sandbox
        return [
            _failed(tp, item, f"inspect eval failed: {type(e).__name__}: {e}") for item in order
        ]
    log = _redacted(logs[0])
    by_id = {str(s.id): s for s in (log.samples or [])}
    fallback = f"inspect eval {log.status}: {log.error.message if log.error else 'no sample'}"
    return [
        _record(tp, item, by_id[item]) if item in by_id else _failed(tp, item, fallback)
        for item in order
    ]


def _redacted(log: Any) -> Any:
    """The log with every credential cut out, written back over the file inspect wrote."""
    from inspect_ai.log import EvalLog, write_eval_log

    clean = EvalLog.model_validate(redact(log.model_dump(mode="json")))
    if log.location:
        write_eval_log(clean, log.location)
    return clean


def _record(tp: TaskPlan, item: str, sample: Any) -> Record:
    """One sample of inspect's log as a record: its completion and its first scorer's value."""
    error = sample.error.message if sample.error else None
    value = None
    if error is None:
        if not sample.scores:
            error = "the task's scorer gave this sample no score"
        else:
            score = next(iter(sample.scores.values()))
            value = score_value(score.value)
            if value is None:
                error = f"the task's scorer gave {score.value!r}, not one value per sample"
    usage = (sample.model_usage or {}).get(tp.model.model)
    output = sample.output
    return Record(
        task=tp.name,
        item=item,
        key=sample_key(tp, item),
        output=output.completion if output else "",
        error=error,
        input_tokens=usage.input_tokens if usage else None,
        output_tokens=usage.output_tokens if usage else None,
        latency_s=sample.total_time,
        attempts=1,
        cached=False,
        stop_reason=output.stop_reason if output and output.choices else None,
        score=value if error is None else None,
    )


def _failed(tp: TaskPlan, item: str, message: str) -> Record:
    return Record(tp.name, item, sample_key(tp, item), "", message, None, None, None, 1, False)


def run_inspect_tasks(
    tasks: Iterable[TaskPlan], known: dict[tuple[str, str], Record], policy: Policy, run_dir: Path
) -> dict[tuple[str, str], Record]:
    """Every inspect-task probe's records: from the journal (`known`, a resumed run) where it
    answered the same sample, else from a run of the task, appended to the journal."""
    out: dict[tuple[str, str], Record] = {}
    for tp in tasks:
        pending = []
        for sample in tp.samples:
            rec = known.get((tp.name, sample.id))
            if rec is not None and rec.error is None and rec.key == sample_key(tp, sample.id):
                out[(tp.name, sample.id)] = rec
            else:
                pending.append(sample.id)
        if not pending:
            continue
        journal = Journal(run_dir / "journal.jsonl")
        try:
            for rec in run_inspect_task(tp, pending, policy, run_dir):
                journal.append(rec)
                out[(tp.name, rec.item)] = rec
        finally:
            journal.close()
    return out
