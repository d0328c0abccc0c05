"""Load a suite file: YAML → validated `Suite` → every file it names read and checked.

Errors name the suite file, the key path and (where YAML tells us) the line, and say what
was expected and what was found. Paths in the suite resolve against the suite's folder and
stay inside it unless the suite sets `allow_outside_paths: true`.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import random
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from evalkit.data.items import Item
from evalkit.data.readers import items_sha256, read_items, read_rows, subset
from evalkit.errors import InputError
from evalkit.hashing import sha256_text
from evalkit.inputfiles import SuiteFolder, read_text, text_lines
from evalkit.names import ARMS, JUDGE, RECORDED
from evalkit.plugins import Scorer, load_scorers
from evalkit.prompts import (
    PROMPT_VARIABLES,
    CompiledPrompt,
    Example,
    TemplateRenderError,
    check_template,
    render_template,
)
from evalkit.scoring.extract import match_label, normalise
from evalkit.scoring.fields import target_fields
from evalkit.scoring.inspect_task import inspect_probe
from evalkit.scoring.loglik import loglik_unsupported
from evalkit.scoring.probes import INSPECT, REFUSAL, ProbeItem, ProbePack, load_pack, select_items
from evalkit.scoring.rubric import LoadedRubricUse, load_rubric_uses
from evalkit.suite.schema import Arm, Dataset, FewShot, Judge, Probe, Prompt, Suite
from evalkit.suite.selection import carve, overlaps
from evalkit.yamlfile import parse_yaml_model


@dataclass(frozen=True)
class LoadedProbe:
    """A probe of the suite: its pack, the method both arms answer it by, the items drawn."""

    pack: ProbePack
    method: str
    items: tuple[ProbeItem, ...]
    where: str  # its key path, probes.<i>, for messages
    task_spec: str | None = None  # an inspect-ai task's probe: the spec it is loaded from
    classifier: str = "string_match"  # a refusal pack's: or "judge", the suite's judge model

    @property
    def name(self) -> str:
        return self.pack.name

    @property
    def version(self) -> str:
        return self.pack.version

    @property
    def kind(self) -> str:
        return self.pack.kind

    def item(self, item_id: str) -> ProbeItem:
        """One of the items drawn, by id."""
        return self._by_id[item_id]

    @cached_property
    def _by_id(self) -> dict[str, ProbeItem]:
        return {it.id: it for it in self.items}


@dataclass(frozen=True)
class PromptOption:
    """One entry of an arm's `prompts:` list, compiled."""

    name: str
    prompt: CompiledPrompt
    where: str  # its key path, arms.<arm>.prompts.<i>, for messages


@dataclass(frozen=True)
class LoadedSuite:
    """A suite with everything it refers to read, checked and ready to plan.

    An arm that lists `prompts:` has them in `prompt_options`; until prompt selection chooses
    one (`with_prompts`), the first stands in `prompts` so that the suite can be planned and
    checked like any other.
    """

    suite: Suite
    path: Path
    sha256: str
    labels: tuple[str, ...]
    datasets: dict[str, tuple[Item, ...]]
    dataset_hashes: dict[str, str]
    prompts: dict[str, CompiledPrompt]
    adapters: dict[str, str]  # resolved adapter folders by arm name, and `judge`'s
    probes: tuple[LoadedProbe, ...]
    json_schema: dict[str, Any] | None
    training: tuple[Item, ...]  # every training item (contamination check)
    training_sample: tuple[Item, ...]  # the seeded sample both arms also answer (memorisation)
    rubrics: tuple[LoadedRubricUse, ...] = ()  # scorers.rubrics, each rubric file read and checked
    scorers: tuple[Scorer, ...] = ()  # scorers.custom, each function imported for this suite only
    fields: tuple[str, ...] = ()  # extraction: the field paths of the evaluated targets
    prompt_options: dict[str, tuple[PromptOption, ...]] = field(default_factory=dict)
    selection_items: tuple[Item, ...] = ()  # the split prompt_options are compared on
    # a recorded arm's outputs: dataset → item id → output (an item absent has none)
    recorded: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.path.parent

    def prompt_where(self, arm: str) -> str:
        """The key path of the prompt `arm` is planned with, for messages."""
        for option in self.prompt_options.get(arm, ()):
            if option.prompt == self.prompts[arm]:
                return option.where
        return f"arms.{arm}.prompt"

    def with_prompts(self, chosen: Mapping[str, str]) -> LoadedSuite:
        """This suite with each arm in `chosen` prompted by its option of that name."""
        prompts = dict(self.prompts)
        for arm, name in chosen.items():
            option = next((o for o in self.prompt_options.get(arm, ()) if o.name == name), None)
            if option is None:
                raise InputError(f"arms.{arm}.prompts has no prompt named {name!r}", path=self.path)
            prompts[arm] = option.prompt
        return replace(self, prompts=prompts)


def parse_suite(path: Path) -> tuple[Suite, str]:
    """Read and validate the YAML; returns the suite and the file's sha256."""
    suite, text = parse_yaml_model(path, Suite, "suite", "docs/suite-reference.md")
    return suite, sha256_text(text)


def _labels(suite: Suite, folder: SuiteFolder) -> tuple[str, ...]:
    raw = suite.task.labels
    if raw is None:
        return ()
    path, where = folder.suite_path, "task.labels"
    if isinstance(raw, str):
        path = folder.resolve(raw, where)
        text = read_text(path, "labels file")
        raw = [line.strip() for line in text_lines(text) if line.strip()]
        if not raw:
            raise InputError("labels file is empty", path=path)
    # answers are matched to labels ignoring case and punctuation, so two labels that differ
    # only there could never be told apart
    first: dict[str, str] = {}
    for label in raw:
        key = normalise(label)
        if not key:
            raise InputError(
                f"label {label!r} has no letters or digits, so no answer can name it",
                path=path,
                where=where,
            )
        if (other := first.get(key)) is not None:  # a dict look-up, so 100k labels stay linear
            if other == label:
                raise InputError(f"label {label!r} is listed twice", path=path, where=where)
            raise InputError(
                f"labels {other!r} and {label!r} are the same label once case and punctuation "
                "are ignored (answers are matched that way)",
                path=path,
                where=where,
            )
        first[key] = label
    return tuple(raw)


def dataset_items(
    name: str, ds: Dataset, suite: Suite, folder: SuiteFolder, where: str | None = None
) -> tuple[Item, ...]:
    """Every item of a dataset's file, read with the suite's settings (before limit/sample)."""
    return read_items(
        folder.resolve(ds.path, f"{where or f'datasets.{name}'}.path"),
        fmt=ds.format,
        input_field=ds.input,
        target_field=ds.target,
        id_field=ds.id,
        id_prefix=f"{name}-",
        encoding=ds.encoding,
        json_target=suite.task.type == "extraction",
    )


def _dataset(
    name: str,
    ds: Dataset,
    suite: Suite,
    folder: SuiteFolder,
    labels: tuple[str, ...],
    where: str | None = None,
) -> tuple[Item, ...]:
    where = where or f"datasets.{name}"
    p = folder.resolve(ds.path, f"{where}.path")
    items = dataset_items(name, ds, suite, folder, where)
    if suite.task.type == "classification" and not ds.allow_unknown_labels:
        allowed = set(labels)
        for it in items:
            if it.target not in allowed:
                raise InputError(
                    f"target {it.target!r} of item {it.id!r} is not one of the task's "
                    f"{len(labels)} labels (set allow_unknown_labels: true if that is intended)",
                    path=p,
                    where=where,
                )
    if suite.task.type == "classification" and ds.allow_unknown_labels:
        # a target naming a label in another case or spelling is that label, as an answer is
        items = [replace(it, target=match_label(it.target, labels) or it.target) for it in items]
    try:
        chosen = subset(items, limit=ds.limit, sample=ds.sample, seed=ds.seed)
    except ValueError as e:
        raise InputError(str(e), path=folder.suite_path, where=f"{where}.sample") from None
    return tuple(chosen)


def _fields(
    suite: Suite, datasets: dict[str, tuple[Item, ...]], suite_path: Path
) -> tuple[str, ...]:
    """An extraction task's field paths, from every evaluated target; each rule names one."""
    if suite.task.type != "extraction":
        return ()
    fields = target_fields(json.loads(it.target) for items in datasets.values() for it in items)
    for path in suite.task.fields:
        if path not in fields:
            raise InputError(
                f"a rule for field {path!r}, which no target has (the targets' fields: "
                f"{', '.join(fields) or 'none'}; nested fields are written a.b)",
                path=suite_path,
                where=f"task.fields.{path}",
            )
    return fields


def _fewshot(fs: FewShot | None, where: str, folder: SuiteFolder) -> tuple[Example, ...]:
    if fs is None:
        return ()
    p = folder.resolve(fs.path, f"{where}.path")
    rows = read_items(p, input_field=fs.input, target_field=fs.target, encoding=fs.encoding)
    rng = random.Random(fs.seed)
    if fs.per_label:
        by_label: dict[str, list[Item]] = defaultdict(list)
        for it in rows:
            by_label[it.target].append(it)
        rows = [it for label in sorted(by_label) for it in by_label[label][: fs.per_label]]
        rng.shuffle(rows)
    if fs.n:
        if fs.n > len(rows):
            raise InputError(
                f"n: {fs.n} examples asked, the file has {len(rows)}",
                path=folder.suite_path,
                where=where,
            )
        rows = rng.sample(rows, fs.n)
    return tuple(Example(input=it.input, target=it.target) for it in rows)


def _template_source(
    file: str | None, inline: str | None, where: str, folder: SuiteFolder
) -> tuple[str | None, Path]:
    """A template's text and the file to name in its errors (the template file, or the suite)."""
    if file is None:
        return inline, folder.suite_path
    path = folder.resolve(file, where)
    return read_text(path, "template"), path


def _prompt(p: Prompt, where: str, folder: SuiteFolder, labels: tuple[str, ...]) -> CompiledPrompt:
    """One prompt block compiled and trial-rendered; `where` is its key path in the suite."""
    user, user_origin = _template_source(p.template, p.text, f"{where}.template", folder)
    system, system_origin = _template_source(
        p.system_template, p.system, f"{where}.system_template", folder
    )
    parts = ((user, user_origin, where), (system, system_origin, f"{where}.system"))
    for text, origin, label in parts:
        if text is not None and (problem := check_template(text, PROMPT_VARIABLES)):
            raise InputError(f"template error, {problem}", path=origin, where=label)
    prompt = CompiledPrompt(
        user=user or "",
        system=system,
        labels=labels,
        examples=_fewshot(p.fewshot, f"{where}.fewshot", folder),
    )
    # a trial render catches what only shows at render time ({{ 1/0 }}, huge ranges); every
    # item is rendered again when the suite is planned
    rendered = []
    for text, origin, label in parts:
        if text is None:
            continue
        try:
            one, two = (render_template(text, prompt.context(x)) for x in ("\x00one", "\x00two"))
        except TemplateRenderError as e:
            raise InputError(f"template error, {e}", path=origin, where=label) from None
        if not one.strip():
            raise InputError("the template renders an empty message", path=origin, where=label)
        rendered.append(one != two)
    if not any(rendered):
        raise InputError(
            "the prompt never uses {{ input }}: every item would get the same message",
            path=user_origin,
            where=where,
        )
    return prompt


def _options(
    arm_name: str, arm: Arm, folder: SuiteFolder, labels: tuple[str, ...]
) -> tuple[PromptOption, ...]:
    """An arm's `prompts:` list compiled; two entries that would send the same messages are an
    error (the leaderboard would rank one prompt twice)."""
    options: list[PromptOption] = []
    for i, spec in enumerate(arm.prompts or ()):
        where = f"arms.{arm_name}.prompts.{i}"
        option = PromptOption(spec.name, _prompt(spec, where, folder, labels), where)
        if twin := next((o for o in options if o.prompt.sha256 == option.prompt.sha256), None):
            raise InputError(
                f"prompt {option.name!r} is identical to {twin.name!r} ({twin.where}): the same "
                "template, system message and few-shot examples; list each prompt once",
                path=folder.suite_path,
                where=where,
            )
        options.append(option)
    return tuple(options)


def _examples(options: dict[str, tuple[PromptOption, ...]]) -> dict[str, tuple[Item, ...]]:
    """Each listed prompt's few-shot examples as items (matched by input only)."""
    return {
        f"the few-shot examples of {o.where} ({o.name})": tuple(
            Item(id=f"example {k + 1}", input=e.input, target=e.target)
            for k, e in enumerate(o.prompt.examples)
        )
        for arm_options in options.values()
        for o in arm_options
    }


def _selection_items(
    suite: Suite,
    folder: SuiteFolder,
    labels: tuple[str, ...],
    reported: dict[str, tuple[Item, ...]],
    training: tuple[Item, ...],
    options: dict[str, tuple[PromptOption, ...]],
) -> tuple[Item, ...]:
    """The selection split: a dev dataset, or a seeded split of the training data, sharing no
    item with a reported set (`reported`) or with a listed prompt's few-shot examples."""
    sel = suite.selection
    if sel is None:
        return ()
    examples = _examples(options)
    if sel.from_training is not None:
        split = sel.from_training
        items, eligible = carve(
            training, reported, examples, split.n, split.seed, suite.task.type == "classification"
        )
        if not items:
            raise InputError(
                f"{split.n} selection items asked, but only {eligible} of the "
                f"{len(training)} training items share no input with a reported dataset, the "
                "training sample or a few-shot example: lower n, add training rows or name "
                "a dev dataset (selection.dev)",
                path=folder.suite_path,
                where="selection.from_training.n",
            )
        return items
    assert sel.dev is not None
    items = _dataset("dev", sel.dev, suite, folder, labels, where="selection.dev")
    for found, ids in ((reported, True), (examples, False)):
        if hit := next(overlaps(items, found, ids=ids), None):
            what = f"item {hit.other.id!r} of {hit.where}" if ids else hit.where
            raise InputError(
                f"selection item {hit.item.id!r} has the same {hit.same} as {what} "
                f"({hit.item.input[:60]!r}): the selection split must share no item with a "
                "reported dataset or a prompt's examples, or the choice would be flattered",
                path=folder.suite_path,
                where="selection.dev",
            )
    return items


def _adapter(where: str, model: Arm | Judge, folder: SuiteFolder) -> str | None:
    """The adapter folder of the arm (or judge) at `where`, resolved: an arm's `adapter:` or
    a server's `server.adapter.path`."""
    if model.server is not None and model.server.adapter is not None:
        where = f"{where}.server.adapter.path"
        p = folder.resolve(model.server.adapter.path, where, expect="any")
        if not (p / "adapter_config.json").is_file():
            raise InputError(
                "not a PEFT adapter folder (no adapter_config.json)", path=p, where=where
            )
        return str(p.resolve())
    if not isinstance(model, Arm) or model.adapter is None:
        return None
    p = folder.resolve(model.adapter, f"{where}.adapter", expect="any")
    return str(p.resolve())


def _adapters(suite: Suite, folder: SuiteFolder) -> dict[str, str]:
    """Every adapter folder by who uses it: an arm's name, or `judge`."""
    models: dict[str, Arm | Judge] = {a: suite.arms[a] for a in ARMS}
    if suite.judge is not None:
        models[JUDGE] = suite.judge
    where = {a: f"arms.{a}" for a in ARMS} | {JUDGE: JUDGE}
    return {k: p for k, m in models.items() if (p := _adapter(where[k], m, folder))}


def _probes(suite: Suite, folder: SuiteFolder) -> tuple[LoadedProbe, ...]:
    if not suite.probes:
        return ()
    loaded = []
    for i, probe in enumerate(suite.probes):
        if probe.inspect_task is not None:
            loaded.append(_inspect_probe(probe, i, suite, folder))
            continue
        assert probe.pack is not None  # the schema asks for one of pack or inspect_task
        try:
            pack = load_pack(probe.pack, folder, f"probes.{i}.pack")
        except InputError as e:
            raise InputError(
                e.message,
                path=e.path or folder.suite_path,
                where=e.where or f"probes.{i}",
                line=e.line,
            ) from None
        try:
            items = select_items(pack, probe.n, probe.seed)
        except InputError as e:
            raise InputError(e.message, path=folder.suite_path, where=f"probes.{i}.n") from None
        if pack.name in suite.datasets:
            # the results, the table and gate paths key a set by its name: they would merge
            raise InputError(
                f"dataset name {pack.name!r} is also the name of the probe pack at probes.{i}; "
                "rename the dataset",
                path=folder.suite_path,
                where=f"datasets.{pack.name}",
            )
        method = probe.method or pack.method
        if method not in pack.methods():
            raise InputError(
                f"pack {pack.name!r} cannot be answered by {method}; it offers "
                f"{' or '.join(pack.methods())}",
                path=folder.suite_path,
                where=f"probes.{i}.method",
            )
        if probe.classifier == "judge" and pack.kind != REFUSAL:
            raise InputError(
                f"pack {pack.name!r} is kind {pack.kind}; only a refusal pack's replies are "
                "classified by a judge",
                path=folder.suite_path,
                where=f"probes.{i}.classifier",
            )
        loaded.append(LoadedProbe(pack, method, items, f"probes.{i}", classifier=probe.classifier))
    names = [p.name for p in loaded]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise InputError(
            f"the probe {twice!r} is listed twice (a pack's or an inspect task's name)",
            path=folder.suite_path,
            where="probes",
        )
    return tuple(loaded)


def _inspect_probe(probe: Probe, i: int, suite: Suite, folder: SuiteFolder) -> LoadedProbe:
    """An inspect-ai task as a probe: the task resolved now, so a missing one fails here."""
    where = f"probes.{i}.inspect_task"
    assert probe.inspect_task is not None
    pack, spec = inspect_probe(
        probe.inspect_task, folder, n=probe.n, seed=probe.seed, chance=probe.chance, where=where
    )
    if pack.name in suite.datasets:
        raise InputError(
            f"dataset name {pack.name!r} is also the name of the inspect task at {where}; "
            "rename the dataset",
            path=folder.suite_path,
            where=f"datasets.{pack.name}",
        )
    return LoadedProbe(pack, INSPECT, pack.items, f"probes.{i}", task_spec=spec)


def _json_schema(suite: Suite, folder: SuiteFolder) -> dict[str, Any] | None:
    fmt = suite.scorers.format
    if not fmt or not fmt.schema_path:
        return None
    schema_file = folder.resolve(fmt.schema_path, "scorers.format.schema")
    try:
        schema = json.loads(read_text(schema_file, "JSON schema"))
    except (json.JSONDecodeError, RecursionError) as e:
        msg = e.msg if isinstance(e, json.JSONDecodeError) else "nested too deeply"
        line = e.lineno if isinstance(e, json.JSONDecodeError) else None
        raise InputError(
            f"JSON schema is not valid JSON ({msg})", path=schema_file, line=line
        ) from None
    import jsonschema  # imported on use: most suites have no schema

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        raise InputError(f"not a valid JSON Schema: {e.message}", path=schema_file) from None
    return schema


# evalkit's own providers; inspect-ai's are read from its registry
EVALKIT_PROVIDERS = ("local", "evalkit-test")


@functools.lru_cache(maxsize=1)
def _inspect_builtin_providers() -> frozenset[str]:
    """The providers inspect-ai registers itself, read from its source without importing it.

    Importing inspect-ai costs about a second, most of `evalkit validate`; its built-in
    providers are all declared with `@modelapi(name=...)` in one module.
    """
    spec = importlib.util.find_spec("inspect_ai")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    source = Path(spec.submodule_search_locations[0]) / "model" / "_providers" / "providers.py"
    try:
        return frozenset(re.findall(r'@modelapi\(name="([^"]+)"\)', source.read_text("utf-8")))
    except OSError:
        return frozenset()


def known_provider(name: str) -> bool:
    """Whether `name` is a model provider: evalkit's, inspect-ai's or an installed package's."""
    if name in EVALKIT_PROVIDERS or name in _inspect_builtin_providers():
        return True
    # inspect's providers register on import; their SDKs (openai, anthropic...) load only on use
    import inspect_ai.model  # noqa: F401
    from inspect_ai._util.entrypoints import ensure_entry_points
    from inspect_ai._util.registry import registry_find, registry_unqualified_name

    def named(info: Any) -> bool:
        return info.type == "modelapi" and registry_unqualified_name(info) == name

    if registry_find(named):
        return True
    ensure_entry_points()  # providers from other installed packages, loaded only when needed
    return bool(registry_find(named))


RECORDED_PROMPT = Prompt(text="{{ input }}")


def _recorded(
    arm: str, suite: Suite, folder: SuiteFolder, datasets: Mapping[str, tuple[Item, ...]]
) -> dict[str, dict[str, str]]:
    """A recorded arm's outputs by dataset and item id; every row must answer an item of the
    suite, once (an item with no row is that item's error row, not an error here)."""
    spec = suite.arms[arm].outputs
    assert spec is not None  # the schema asks for outputs with model: recorded
    path = folder.resolve(spec.path, f"arms.{arm}.outputs.path")
    homes: dict[str, list[str]] = defaultdict(list)  # item id → the datasets that hold it
    for name, items in datasets.items():
        for it in items:
            homes[it.id].append(name)
    out: dict[str, dict[str, str]] = {name: {} for name in datasets}
    first: dict[tuple[str, str], int] = {}
    _, rows = read_rows(path, fmt=spec.format, encoding=spec.encoding)
    for line, row in rows:
        keys = [spec.id, spec.output, *([spec.dataset] if spec.dataset else [])]
        if missing := [k for k in keys if row.get(k) is None]:
            raise InputError(
                f"missing {', '.join(map(repr, missing))} (found: {', '.join(map(str, row))})",
                path=path,
                line=line,
            )
        item_id, output = str(row[spec.id]), row[spec.output]
        if not isinstance(output, str):
            raise InputError(f"{spec.output!r} must be text", path=path, line=line)
        if spec.dataset:
            dataset = str(row[spec.dataset])
            if dataset not in datasets:
                raise InputError(
                    f"dataset {dataset!r} is not one of the suite's ({', '.join(datasets)})",
                    path=path,
                    line=line,
                )
            if dataset not in homes[item_id]:
                raise InputError(
                    f"id {item_id!r} is not an item of dataset {dataset!r}", path=path, line=line
                )
        elif len(homes[item_id]) != 1:
            problem = (
                f"is in datasets {' and '.join(homes[item_id])}; name each row's dataset "
                f"(arms.{arm}.outputs.dataset)"
                if homes[item_id]
                else f"is an item of no dataset of the suite ({', '.join(datasets)})"
            )
            raise InputError(f"id {item_id!r} {problem}", path=path, line=line)
        else:
            dataset = homes[item_id][0]
        if (dataset, item_id) in first:
            raise InputError(
                f"a second output for id {item_id!r} (first at line {first[(dataset, item_id)]})",
                path=path,
                line=line,
            )
        first[(dataset, item_id)] = line
        out[dataset][item_id] = output
    return out


def _check_models(suite: Suite, suite_path: Path) -> None:
    """Every model string names a provider inspect-ai or evalkit knows, before any call."""
    models = [
        (f"arms.{a}.model", suite.arms[a].model) for a in ARMS if suite.arms[a].model != RECORDED
    ]
    if suite.judge:
        models.append(("judge.model", suite.judge.model))
    for where, model in models:
        provider = model.split("/", 1)[0]
        if not known_provider(provider):
            raise InputError(
                f"unknown model provider {provider!r} in {model!r} (e.g. openai, anthropic, "
                "openai-api, vllm, local, evalkit-test; see docs/suite-reference.md)",
                path=suite_path,
                where=where,
            )
    refusal, judge = suite.scorers.refusal, suite.judge
    loglik = judge is not None and refusal is not None and refusal.judge_method == "loglik"
    if loglik and (reason := loglik_unsupported(judge.model, judge.base_url)):
        raise InputError(
            f"the judge ({judge.model}) cannot score the refusal classes by "
            f"log-likelihood: {reason}; use judge_method: generate",
            path=suite_path,
            where="scorers.refusal.judge_method",
        )


def load_suite(path: str | Path) -> LoadedSuite:
    """Parse, validate and read everything a suite names; raises `InputError` on any problem."""
    suite_path = Path(path)
    suite, sha = parse_suite(suite_path)
    folder = SuiteFolder(suite_path, allow_outside=suite.allow_outside_paths)
    _check_models(suite, suite_path)
    labels = _labels(suite, folder)
    datasets = {n: _dataset(n, ds, suite, folder, labels) for n, ds in suite.datasets.items()}
    training: tuple[Item, ...] = ()
    training_sample: tuple[Item, ...] = ()
    if suite.training_data:
        td = suite.training_data
        tp = folder.resolve(td.path, "training_data.path")
        training = tuple(
            read_items(
                tp,
                fmt=td.format,
                input_field=td.input,
                target_field=td.target,
                id_prefix="train-",
                encoding=td.encoding,
                json_target=suite.task.type == "extraction",
            )
        )
        if suite.task.type == "classification":
            unknown = next((it for it in training if it.target not in labels), None)
            if unknown:
                raise InputError(
                    f"target {unknown.target!r} of item {unknown.id!r} is not a task label",
                    path=tp,
                    where="training_data",
                )
        training_sample = tuple(
            subset(training, limit=None, sample=min(td.sample, len(training)), seed=td.seed)
        )
    options = {a: _options(a, suite.arms[a], folder, labels) for a in ARMS if suite.arms[a].prompts}
    prompts = {}
    for a in ARMS:
        # a recorded arm's messages are its items' inputs, kept for the record
        spec = RECORDED_PROMPT if suite.arms[a].model == RECORDED else suite.arms[a].prompt
        prompts[a] = (
            options[a][0].prompt
            if spec is None
            else _prompt(spec, f"arms.{a}.prompt", folder, labels)
        )
    probes = _probes(suite, folder)
    # every set the report shows: selection may share no item with any of them
    reported = {
        **datasets,
        "the training sample": training_sample,
        **{f"probe pack {p.name}": p.items for p in probes},
    }
    return LoadedSuite(
        suite=suite,
        path=suite_path,
        sha256=sha,
        labels=labels,
        datasets=datasets,
        dataset_hashes={n: items_sha256(items) for n, items in datasets.items()},
        prompts=prompts,
        adapters=_adapters(suite, folder),
        probes=probes,
        json_schema=_json_schema(suite, folder),
        training=training,
        training_sample=training_sample,
        rubrics=load_rubric_uses(suite, folder),
        scorers=load_scorers(suite, folder),
        recorded={
            a: _recorded(a, suite, folder, datasets)
            for a in ARMS
            if suite.arms[a].model == RECORDED
        },
        fields=_fields(suite, datasets, suite_path),
        prompt_options=options,
        selection_items=_selection_items(suite, folder, labels, reported, training, options),
    )
