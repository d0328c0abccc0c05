"""Execute a plan with inspect-ai: one `eval()` call for every arm × dataset task.

Every inspect setting is passed explicitly, and the call runs in an environment with no
ambient `INSPECT_*` variables and no `.env` loading, so nothing outside the suite and the
command line can change a run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai._eval import context as _inspect_context
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.log import EvalLog
from inspect_ai.model import (
    CachePolicy,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    Model,
    get_model,
)
from inspect_ai.solver import generate

import evalkit.models.registry  # noqa: F401  (registers evalkit's providers before get_model)
from evalkit.errors import InputError, RunFailed
from evalkit.run.plan import ModelSpec, Plan, TaskPlan

_MESSAGE = {"system": ChatMessageSystem, "user": ChatMessageUser, "assistant": ChatMessageAssistant}


@dataclass(frozen=True)
class ExecSettings:
    """What the CLI and the suite decide about how (not what) to run."""

    log_dir: Path
    cache_dir: Path
    max_connections: int = 8
    max_retries: int = 2
    timeout: int = 120
    cache: bool = True
    display: str = "none"


@contextlib.contextmanager
def isolated_inspect_env(cache_dir: Path) -> Iterator[None]:
    """Hide ambient INSPECT_* variables and `.env` files from inspect for the duration of a run."""
    saved = dict(os.environ)
    original_dotenv = _inspect_context.init_dotenv
    try:
        for key in [k for k in os.environ if k.startswith("INSPECT_")]:
            del os.environ[key]
        # inspect reads its cache folder only from this variable; set it, don't inherit it
        os.environ["INSPECT_CACHE_DIR"] = str(cache_dir)
        # eval() looks upward from the cwd for a .env and loads it into os.environ
        _inspect_context.init_dotenv = lambda: None
        yield
    finally:
        _inspect_context.init_dotenv = original_dotenv
        os.environ.clear()
        os.environ.update(saved)


def _model(spec: ModelSpec, settings: ExecSettings) -> Model:
    config = GenerateConfig(
        max_connections=settings.max_connections,
        max_retries=settings.max_retries,
        timeout=settings.timeout,
    )
    try:
        return get_model(
            spec.model,
            base_url=spec.base_url,
            config=config,
            memoize=False,
            **dict(spec.model_args),
        )
    except (ValueError, TypeError, ImportError) as e:
        # inspect raises ValueError for an unknown provider and TypeError for bad model_args
        raise InputError(f"cannot create model {spec.model!r}: {e}") from None
    except Exception as e:
        raise RunFailed(f"cannot start model {spec.model!r}: {type(e).__name__}: {e}") from None


def _task(tp: TaskPlan, model: Model, settings: ExecSettings) -> Task:
    samples = [
        Sample(
            id=s.id,
            input=[_MESSAGE[role](content=content) for role, content in s.messages],
            target=s.target,
        )
        for s in tp.samples
    ]
    cache = (
        CachePolicy(expiry=None, per_epoch=False, scopes=tp.cache_scope)
        if settings.cache
        else False
    )
    config = GenerateConfig(
        max_tokens=tp.max_tokens,
        temperature=tp.temperature,
        top_p=tp.top_p,
        seed=tp.seed,
        stop_seqs=list(tp.stop) if tp.stop else None,
    )
    return Task(
        dataset=MemoryDataset(samples, name=tp.dataset),
        solver=generate(cache=cache),
        model=model,
        config=config,
        name=tp.name,
        metadata={
            "evalkit_arm": tp.arm,
            "evalkit_dataset": tp.dataset,
            "evalkit_section": tp.section,
        },
    )


def execute(plan: Plan, settings: ExecSettings) -> dict[str, EvalLog]:
    """Run every task of the plan in one eval call; returns logs keyed by task name."""
    if not plan.tasks:
        return {}
    # one Model per identity, so a local model loads once and batches across datasets
    models: dict[str, Model] = {}
    for tp in plan.tasks:
        if tp.model.identity not in models:
            models[tp.model.identity] = _model(tp.model, settings)
    tasks = [_task(tp, models[tp.model.identity], settings) for tp in plan.tasks]
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    with isolated_inspect_env(settings.cache_dir):
        logs = inspect_eval(
            tasks,
            log_dir=str(settings.log_dir),
            log_format="eval",
            log_level="warning",
            log_level_transcript="warning",
            display=settings.display,  # type: ignore[arg-type]
            max_tasks=len(tasks),  # every arm × dataset side by side
            max_samples=settings.max_connections,
            fail_on_error=False,  # one failing sample must not stop the run; evalkit counts it
            retry_on_error=0,  # model calls already retry (max_retries) inside the provider
            continue_on_fail=True,
            score=False,
            epochs=1,
            sandbox=None,
            approval=None,
            trace=False,
            log_samples=True,
            log_realtime=False,
            log_images=False,
            log_model_api=False,
            log_refusals=False,
            log_buffer=None,
            log_shared=False,
            debug_errors=False,
            model_args={},
            task_args={},
            model_roles=None,
            tags=None,
            metadata=None,
        )
    by_name = {log.eval.task: log for log in logs}
    missing = [tp.name for tp in plan.tasks if tp.name not in by_name]
    if missing:
        raise RunFailed(f"inspect returned no log for {', '.join(missing)}")
    return by_name
