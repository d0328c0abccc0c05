"""Plan: a loaded suite → one task per arm × dataset, every prompt rendered, every identity hashed.

The plan is plain data. It decides everything that is sent to a model, so two runs with the
same plan make the same requests, and the cache can be scoped by what the plan says.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from evalkit.data.items import Item
from evalkit.errors import InputError
from evalkit.hashing import sha256_path, sha256_text
from evalkit.names import (
    ARMS,
    JUDGE,
    PROBE,
    RECORDED,
    SELECTION,
    TASK,
    TRAINING_KIND,
    TRAINING_SAMPLE,
)
from evalkit.prompts import CompiledPrompt, TemplateRenderError
from evalkit.scoring.loglik import continuations, loglik_unsupported
from evalkit.scoring.probes import INSPECT, render_probe_prompt
from evalkit.suite.load import LoadedProbe, LoadedSuite
from evalkit.suite.schema import Arm, Judge, Server

T = TypeVar("T")


@dataclass(frozen=True)
class PlannedSample:
    id: str
    input: str
    target: str
    messages: tuple[tuple[str, str], ...]  # (role, content); a loglik context: ("context", text)
    continuations: tuple[str, ...] = ()  # loglik: the text each choice adds to the context
    recorded: str | None = None  # a recorded arm's output for this item; None: it has none


DEFAULT_SERVER_COMMANDS = {"vllm": ("vllm", "serve")}


@dataclass(frozen=True)
class ServerSpec:
    """A model server an arm is answered by, which the run starts (evalkit.run.servers)."""

    engine: str
    model: str
    adapter: tuple[str, str] | None  # (name, resolved folder)
    args: tuple[str, ...]
    port: int | None
    startup_timeout_s: float
    shutdown_timeout_s: float
    command: tuple[str, ...]
    where: str  # arms.<arm>.server or judge.server, for messages

    @property
    def launch_key(self) -> tuple[object, ...]:
        """Arms whose servers share this are served by one process, with every arm's adapter."""
        return (self.engine, self.model, self.args, self.port, self.command)

    @property
    def identity(self) -> list[object]:
        # what decides the answers: not the port, the program's path or the timeouts (the
        # adapter counts by its content, in ModelSpec.adapter_sha256)
        return [self.engine, self.model, list(self.args)]


@dataclass(frozen=True)
class ModelSpec:
    """What identifies a model endpoint: the cache scope is derived from all of it."""

    model: str
    model_args: tuple[tuple[str, Any], ...]
    base_url: str | None
    adapter_sha256: str | None
    where: str = ""  # the suite key that configures it ("arms.baseline"), for messages
    server: ServerSpec | None = None  # the server the run starts; base_url is set once it is up
    api: str = "chat"  # or "completions": the prompt as plain text to /v1/completions

    @cached_property
    def identity(self) -> str:
        # the adapter counts by its content, not by where it lies: a clone elsewhere, or CI's
        # checkout, keeps the identity (and the cached answers) of the same weights
        args = [
            list(kv) for kv in self.model_args if not (kv[0] == "adapter" and self.adapter_sha256)
        ]
        identity: list[object] = [self.model, args, self.base_url, self.adapter_sha256]
        if self.server is not None:  # a started server's URL (its port) changes run to run
            identity = [self.model, args, None, self.adapter_sha256, self.server.identity]
        if self.api != "chat":  # the chat default adds nothing: earlier runs keep their caches
            identity.append(self.api)
        return sha256_text(json.dumps(identity, sort_keys=True, default=str))[:16]


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
    samples: tuple[PlannedSample, ...]
    method: str = "generate"  # loglik: every sample is scored by its continuations' logliks
    inspect_task: str | None = None  # method inspect: the task spec both arms run in inspect

    @property
    def name(self) -> str:
        return f"{self.arm}__{self.section}__{self.dataset}"


@dataclass(frozen=True)
class Plan:
    suite_name: str
    tasks: tuple[TaskPlan, ...]

    def for_arm(self, arm: str) -> tuple[TaskPlan, ...]:
        return tuple(t for t in self.tasks if t.arm == arm)


def model_spec(arm: Arm | Judge, adapter_path: str | None, where: str) -> ModelSpec:
    """The identity of an arm's (or the judge's) model endpoint, adapter content included.

    `adapter_path` is the arm's resolved adapter: `adapter:` (given to an in-process model as
    a model_arg) or `server.adapter.path` (given to the server it starts; the judge's too).
    """
    args = dict(arm.model_args)
    server = arm.server
    if adapter_path and server is None:
        args["adapter"] = adapter_path
    return ModelSpec(
        model=arm.model,
        model_args=tuple(sorted(args.items())),
        base_url=arm.base_url,
        adapter_sha256=sha256_path(adapter_path) if adapter_path else None,
        where=where,
        server=None if server is None else _server_spec(server, adapter_path, f"{where}.server"),
        api=arm.api if isinstance(arm, Arm) else "chat",
    )


def judge_spec(loaded: LoadedSuite) -> ModelSpec | None:
    """The judge's model endpoint (and the server it is answered by), if the suite has one."""
    judge = loaded.suite.judge
    return None if judge is None else model_spec(judge, loaded.adapters.get(JUDGE), JUDGE)


def _server_spec(server: Server, adapter_path: str | None, where: str) -> ServerSpec:
    return ServerSpec(
        engine=server.engine,
        model=server.model,
        adapter=(server.adapter.name, adapter_path) if server.adapter and adapter_path else None,
        args=tuple(server.args),
        port=server.port,
        startup_timeout_s=server.startup_timeout_s,
        shutdown_timeout_s=server.shutdown_timeout_s,
        command=tuple(server.command or DEFAULT_SERVER_COMMANDS[server.engine]),
        where=where,
    )


def _messages(
    render: Any, item_input: str, where: str, what: str, loaded: LoadedSuite
) -> tuple[tuple[str, str], ...]:
    """One item's (role, content) messages; a template failing on this item is located."""
    try:
        return tuple((m["role"], m["content"]) for m in render(item_input))
    except TemplateRenderError as e:
        raise InputError(
            f"the prompt fails on {what}: {e}", path=loaded.path, where=where
        ) from None


@dataclass(frozen=True)
class Shard:
    """Part `index` of `count` (1-based): every count-th item of every arm × dataset."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`"2/4"` → Shard(2, 4); a located InputError for anything else."""
        index, _, count = text.partition("/")
        if not (index.isdigit() and count.isdigit()) or not 1 <= int(index) <= int(count):
            raise InputError(
                f"expected I/N with 1 ≤ I ≤ N (e.g. 2/4), found {text!r}", where="--shard"
            )
        return cls(int(index), int(count))

    def keeps(self, position: int) -> bool:
        """Whether the item at `position` (0-based, in its dataset) belongs to this shard."""
        return position % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def _take(items: Sequence[T], shard: Shard | None) -> list[T]:
    return [it for i, it in enumerate(items) if shard is None or shard.keeps(i)]


def _task(
    loaded: LoadedSuite,
    arm_name: str,
    spec: ModelSpec,
    prompt: CompiledPrompt,
    name: str,
    items: Sequence[Item],
    *,
    section: str,
    kind: str,
    where: str,
) -> TaskPlan:
    """One arm's task on one set of items with one prompt, every item rendered; a recorded
    arm's task carries each item's recorded output instead of asking for one."""
    arm = loaded.suite.arms[arm_name]
    recorded = loaded.recorded.get(arm_name, {}).get(name) if arm.model == RECORDED else None
    samples = tuple(
        PlannedSample(
            id=it.id,
            input=it.input,
            target=it.target,
            messages=_messages(prompt.render, it.input, where, f"item {it.id!r} of {name}", loaded),
            recorded=None if recorded is None else recorded.get(it.id),
        )
        for it in items
    )
    return TaskPlan(
        arm=arm_name,
        dataset=name,
        section=section,
        kind=kind,
        model=spec,
        max_tokens=arm.generate.max_tokens,
        temperature=arm.generate.temperature,
        top_p=arm.generate.top_p,
        seed=arm.generate.seed,
        stop=tuple(arm.generate.stop) if arm.generate.stop else None,
        samples=samples,
        method=RECORDED if arm.model == RECORDED else "generate",
    )


def _arm_spec(loaded: LoadedSuite, arm_name: str) -> ModelSpec:
    return model_spec(
        loaded.suite.arms[arm_name], loaded.adapters.get(arm_name), f"arms.{arm_name}"
    )


def plan_suite(loaded: LoadedSuite, shard: Shard | None = None) -> Plan:
    """Every (arm, dataset) task, task datasets first, then probes with their neutral prompt.

    With a shard, each task keeps the shard's items only; both arms keep the same ones.
    """
    suite = loaded.suite
    tasks: list[TaskPlan] = []
    for arm_name in ARMS:
        spec = _arm_spec(loaded, arm_name)
        task_sets = [(n, items, suite.dataset_kind(n)) for n, items in loaded.datasets.items()]
        if loaded.training_sample:
            task_sets.append((TRAINING_SAMPLE, loaded.training_sample, TRAINING_KIND))
        where = loaded.prompt_where(arm_name)
        for ds_name, items, kind in task_sets:
            tasks.append(
                _task(
                    loaded,
                    arm_name,
                    spec,
                    loaded.prompts[arm_name],
                    ds_name,
                    _take(items, shard),
                    section=TASK,
                    kind=kind,
                    where=where,
                )
            )
        for probe in loaded.probes:
            tasks.append(_probe_task(loaded, arm_name, spec, probe, shard))
    return Plan(suite_name=suite.name, tasks=tuple(tasks))


def _probe_task(
    loaded: LoadedSuite, arm_name: str, spec: ModelSpec, probe: LoadedProbe, shard: Shard | None
) -> TaskPlan:
    """One arm's task on a probe: the pack's own neutral text, never the arm's task prompt."""
    arm = loaded.suite.arms[arm_name]
    if probe.method == INSPECT:
        return _inspect_task(loaded, arm_name, spec, probe, shard)
    pack, loglik = probe.pack, probe.method == "loglik"
    if loglik and (reason := loglik_unsupported(spec.model, spec.base_url)):
        raise InputError(
            f"arm {arm_name!r} ({arm.model}) cannot score the log-likelihood probe "
            f"{pack.name!r}: {reason}; answer it by generation instead with method: generate",
            path=loaded.path,
            where=f"{probe.where}.method",
        )
    role = "context" if loglik else "user"
    samples = tuple(
        PlannedSample(
            id=it.id,
            input=it.input,
            # a loglik item's target is its correct choice's index
            target=str(it.gold) if loglik else it.target,
            messages=_messages(
                lambda text, it=it: [
                    {"role": role, "content": render_probe_prompt(pack, it, probe.method)}
                ],
                it.input,
                probe.where,
                f"item {it.id!r} of probe pack {pack.name}",
                loaded,
            ),
            continuations=(
                tuple(continuations(pack.item_choices(it), pack.loglik.target_delimiter))
                if loglik and pack.loglik
                else ()
            ),
        )
        for it in _take(probe.items, shard)
    )
    return TaskPlan(
        arm=arm_name,
        model=spec,
        temperature=arm.generate.temperature,
        top_p=arm.generate.top_p,
        seed=arm.generate.seed,
        dataset=pack.name,
        section=PROBE,
        kind=PROBE,
        max_tokens=pack.max_tokens or 1,
        stop=None,
        samples=samples,
        method=probe.method,
    )


def _inspect_task(
    loaded: LoadedSuite, arm_name: str, spec: ModelSpec, probe: LoadedProbe, shard: Shard | None
) -> TaskPlan:
    """One arm's run of an inspect-ai task on the probe's samples: the task's own solver sends
    the messages, so a sample's messages here are its input, for the record."""
    generate = loaded.suite.arms[arm_name].generate
    return TaskPlan(
        arm=arm_name,
        dataset=probe.name,
        section=PROBE,
        kind=PROBE,
        model=spec,
        # the task's own generate config decides the answer's length and stop sequences
        max_tokens=0,
        temperature=generate.temperature,
        top_p=generate.top_p,
        seed=generate.seed,
        stop=None,
        samples=tuple(
            PlannedSample(
                id=it.id, input=it.input, target=it.target, messages=(("user", it.input),)
            )
            for it in _take(probe.items, shard)
        ),
        method=INSPECT,
        inspect_task=probe.task_spec,
    )


def plan_selection(loaded: LoadedSuite) -> Plan:
    """The prompt-selection pass: each listed prompt of an arm on the whole selection split.

    A task per (arm, prompt), named `<arm>__selection__<prompt>`, so the journal and the cache
    know its requests apart from the reported ones. It is never sharded: every shard of a run
    must choose the same prompt.
    """
    tasks = [
        _task(
            loaded,
            arm_name,
            _arm_spec(loaded, arm_name),
            option.prompt,
            option.name,
            loaded.selection_items,
            section=SELECTION,
            kind=SELECTION,
            where=option.where,
        )
        for arm_name, options in loaded.prompt_options.items()
        for option in options
    ]
    return Plan(suite_name=loaded.suite.name, tasks=tuple(tasks))
