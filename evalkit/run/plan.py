"""Plan: a loaded suite → one task per arm × dataset, every prompt rendered, every identity hashed.

The plan is plain data. It decides everything that is sent to a model, so two runs with the
same plan make the same requests, and the cache can be scoped by what the plan says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from evalkit.hashing import sha256_path, sha256_text
from evalkit.names import ARMS, PROBE, TASK, TRAINING_KIND, TRAINING_SAMPLE
from evalkit.prompts import render_text
from evalkit.suite.load import LoadedSuite
from evalkit.suite.schema import Arm, Judge


@dataclass(frozen=True)
class PlannedSample:
    id: str
    input: str
    target: str
    messages: tuple[tuple[str, str], ...]  # (role, content)


@dataclass(frozen=True)
class ModelSpec:
    """What identifies a model endpoint: the cache scope is derived from all of it."""

    model: str
    model_args: tuple[tuple[str, Any], ...]
    base_url: str | None
    adapter_sha256: str | None

    @property
    def identity(self) -> str:
        payload = json.dumps(
            [self.model, [list(kv) for kv in self.model_args], self.base_url, self.adapter_sha256],
            sort_keys=True,
            default=str,
        )
        return sha256_text(payload)[:16]


@dataclass(frozen=True)
class TaskPlan:
    arm: str
    dataset: str
    section: str  # "task" or "probe"
    kind: str  # in_domain | out_of_domain | probe
    model: ModelSpec
    max_tokens: int
    temperature: float
    top_p: float | None
    seed: int | None
    stop: tuple[str, ...] | None
    prompt_sha256: str
    samples: tuple[PlannedSample, ...]

    @property
    def name(self) -> str:
        return f"{self.arm}__{self.section}__{self.dataset}"

    @property
    def cache_scope(self) -> dict[str, str]:
        # inspect's cache key ignores model_args: the arm's full identity must be in the scope,
        # or two adapters behind one model name would share answers.
        return {"evalkit_model": self.model.identity, "evalkit_prompt": self.prompt_sha256}


@dataclass(frozen=True)
class Plan:
    suite_name: str
    tasks: tuple[TaskPlan, ...]

    def for_arm(self, arm: str) -> tuple[TaskPlan, ...]:
        return tuple(t for t in self.tasks if t.arm == arm)


def model_spec(arm: Arm | Judge, adapter_path: str | None) -> ModelSpec:
    """The identity of an arm's (or the judge's) model endpoint, adapter content included."""
    args = dict(arm.model_args)
    if adapter_path:
        args["adapter"] = adapter_path
    return ModelSpec(
        model=arm.model,
        model_args=tuple(sorted(args.items())),
        base_url=arm.base_url,
        adapter_sha256=sha256_path(adapter_path) if adapter_path else None,
    )


def plan_suite(loaded: LoadedSuite) -> Plan:
    """Every (arm, dataset) task, task datasets first, then probes with their neutral prompt."""
    suite = loaded.suite
    tasks: list[TaskPlan] = []
    for arm_name in ARMS:
        arm = suite.arms[arm_name]
        spec = model_spec(arm, loaded.adapters.get(arm_name))
        prompt = loaded.prompts[arm_name]
        common = dict(
            arm=arm_name,
            model=spec,
            temperature=arm.generate.temperature,
            top_p=arm.generate.top_p,
            seed=arm.generate.seed,
        )
        task_sets = [(n, items, suite.dataset_kind(n)) for n, items in loaded.datasets.items()]
        if loaded.training_sample:
            task_sets.append((TRAINING_SAMPLE, loaded.training_sample, TRAINING_KIND))
        for ds_name, items, kind in task_sets:
            samples = tuple(
                PlannedSample(
                    id=it.id,
                    input=it.input,
                    target=it.target,
                    messages=tuple((m["role"], m["content"]) for m in prompt.render(it.input)),
                )
                for it in items
            )
            tasks.append(
                TaskPlan(
                    **common,
                    dataset=ds_name,
                    section=TASK,
                    kind=kind,
                    max_tokens=arm.generate.max_tokens,
                    stop=tuple(arm.generate.stop) if arm.generate.stop else None,
                    prompt_sha256=prompt.sha256,
                    samples=samples,
                )
            )
        for probe in loaded.probes:
            # Both arms get the pack's own neutral prompt, never either arm's task prompt.
            samples = tuple(
                PlannedSample(
                    id=it.id,
                    input=it.input,
                    target=it.target,
                    messages=(("user", render_text(probe.prompt, input=it.input)),),
                )
                for it in probe.items
            )
            tasks.append(
                TaskPlan(
                    **common,
                    dataset=probe.name,
                    section=PROBE,
                    kind=PROBE,
                    max_tokens=probe.max_tokens,
                    stop=None,
                    prompt_sha256=sha256_text(probe.prompt),
                    samples=samples,
                )
            )
    return Plan(suite_name=suite.name, tasks=tuple(tasks))
