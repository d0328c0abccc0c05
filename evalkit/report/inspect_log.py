"""inspect-ai logs of a run (`logs/<task>.eval`), for `inspect view`; written on request.

evalkit's engine does not run inside inspect's `eval()`, so it writes inspect's log format
itself: one log per arm × dataset, one sample per item with the messages sent, the answer,
token usage and any error. Writing them costs 1.5–3 ms per sample in inspect's writer, more
than the whole rest of a fast run, so `evalkit run --inspect-logs` or `evalkit logs RUN`
asks for them. Model arguments are not written (they can hold credentials), and the text
written (messages, answers, errors) is redacted like every other file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalkit.credentials import Scrubber, env_secrets, scrub, scrubber
from evalkit.run.journal import Record
from evalkit.run.plan import Plan, TaskPlan

_ROLES = ("system", "user", "assistant")


def _messages(pairs: tuple[tuple[str, str], ...]) -> list[Any]:
    from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser

    kinds = dict(
        zip(_ROLES, (ChatMessageSystem, ChatMessageUser, ChatMessageAssistant), strict=True)
    )
    return [kinds[role](content=content) for role, content in pairs]


def _sample(tp: TaskPlan, index: int, record: Record | None, secrets: Scrubber) -> Any:
    from inspect_ai.log import EvalError, EvalSample
    from inspect_ai.model import ModelOutput, ModelUsage

    planned = tp.samples[index]
    messages = _messages(tuple((role, scrub(text, secrets)) for role, text in planned.messages))
    answer = scrub(record.output, secrets) if record else ""
    output = ModelOutput.from_content(model=tp.model.model, content=answer)
    if record is not None and record.input_tokens is not None:
        out_tokens = record.output_tokens or 0
        output.usage = ModelUsage(
            input_tokens=record.input_tokens,
            output_tokens=out_tokens,
            total_tokens=record.input_tokens + out_tokens,
        )
    output.time = record.latency_s if record else None
    if record is None:
        error = "no result recorded for this sample"
    else:
        error = scrub(record.error, secrets) if record.error else None
    return EvalSample(
        id=planned.id,
        epoch=1,
        input=messages,
        target=planned.target,
        messages=[*messages, *_messages((("assistant", output.completion),))],
        output=output,
        error=EvalError(message=error, traceback=error, traceback_ansi=error) if error else None,
        total_time=output.time,
        metadata={
            "cached": record.cached if record else False,
            "attempts": record.attempts if record else 0,
        },
    )


def write_inspect_logs(
    folder: Path, plan: Plan, records: dict[tuple[str, str], Record], created: str | None = None
) -> list[Path]:
    """One `.eval` log per task of the plan; returns the files written."""
    from inspect_ai.log import EvalConfig, EvalDataset, EvalLog, EvalSpec, EvalStats, write_eval_log

    folder.mkdir(parents=True, exist_ok=True)
    now = created or datetime.now(UTC).isoformat(timespec="seconds")
    written = []
    secrets = scrubber(env_secrets())
    for tp in plan.tasks:
        samples = [
            _sample(tp, i, records.get((tp.name, s.id)), secrets) for i, s in enumerate(tp.samples)
        ]
        log = EvalLog(
            eval=EvalSpec(
                created=now,
                task=tp.name,
                dataset=EvalDataset(name=tp.dataset, samples=len(samples)),
                model=tp.model.model,
                config=EvalConfig(),
                metadata={
                    "evalkit_arm": tp.arm,
                    "evalkit_dataset": tp.dataset,
                    "evalkit_section": tp.section,
                },
            ),
            status="success",
            samples=samples,
            stats=EvalStats(started_at=now, completed_at=now),
        )
        path = folder / f"{tp.name}.eval"
        write_eval_log(log, str(path))
        written.append(path)
    return written
