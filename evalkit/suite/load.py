"""Load a suite file: YAML → validated `Suite` → every file it names read and checked.

Errors name the suite file, the key path and (where YAML tells us) the line, and say what
was expected and what was found. Paths in the suite resolve against the suite's folder.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jinja2

from evalkit.data.items import Item
from evalkit.data.readers import items_sha256, read_items, subset
from evalkit.errors import InputError
from evalkit.hashing import sha256_text
from evalkit.names import ARMS
from evalkit.plugins import Scorer, load_scorers
from evalkit.prompts import CompiledPrompt, Example, check_template
from evalkit.scoring.extract import match_label
from evalkit.scoring.probes import load_pack, select_items
from evalkit.scoring.rubric import LoadedRubricUse, load_rubric_uses
from evalkit.suite.schema import Arm, Dataset, Suite
from evalkit.yamlfile import parse_yaml_model


@dataclass(frozen=True)
class LoadedProbe:
    name: str
    version: str
    kind: str
    prompt: str
    max_tokens: int
    items: tuple[Item, ...]


@dataclass(frozen=True)
class LoadedSuite:
    """A suite with everything it refers to read, checked and ready to plan."""

    suite: Suite
    path: Path
    sha256: str
    labels: tuple[str, ...]
    datasets: dict[str, tuple[Item, ...]]
    dataset_hashes: dict[str, str]
    prompts: dict[str, CompiledPrompt]
    adapters: dict[str, str]
    probes: tuple[LoadedProbe, ...]
    json_schema: dict[str, Any] | None
    training: tuple[Item, ...]  # every training item (contamination check)
    training_sample: tuple[Item, ...]  # the seeded sample both arms also answer (memorisation)
    rubrics: tuple[LoadedRubricUse, ...] = ()  # scorers.rubrics, each rubric file read and checked
    scorers: tuple[Scorer, ...] = ()  # scorers.custom, each function imported for this suite only

    @property
    def folder(self) -> Path:
        return self.path.parent


def parse_suite(path: Path) -> tuple[Suite, str]:
    """Read and validate the YAML; returns the suite and the file's sha256."""
    suite, text = parse_yaml_model(path, Suite, "suite", "docs/suite-reference.md")
    return suite, sha256_text(text)


def _resolve(base: Path, rel: str, where: str, suite_path: Path) -> Path:
    p = (base / rel).expanduser()
    if not p.exists():
        raise InputError(f"file not found: {p}", path=suite_path, where=where)
    return p


def _labels(suite: Suite, base: Path, suite_path: Path) -> tuple[str, ...]:
    raw = suite.task.labels
    if raw is None:
        return ()
    if isinstance(raw, str):
        p = _resolve(base, raw, "task.labels", suite_path)
        raw = [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not raw:
            raise InputError("labels file is empty", path=p)
    dupes = sorted({x for x in raw if raw.count(x) > 1})
    if dupes:
        raise InputError(
            f"duplicate labels: {', '.join(dupes)}", path=suite_path, where="task.labels"
        )
    return tuple(raw)


def _dataset(
    name: str, ds: Dataset, suite: Suite, base: Path, suite_path: Path, labels: tuple[str, ...]
) -> tuple[Item, ...]:
    p = _resolve(base, ds.path, f"datasets.{name}.path", suite_path)
    items = read_items(
        p,
        fmt=ds.format,
        input_field=ds.input,
        target_field=ds.target,
        id_field=ds.id,
        id_prefix=f"{name}-",
    )
    if suite.task.type == "classification" and not ds.allow_unknown_labels:
        allowed = set(labels)
        for it in items:
            if it.target not in allowed:
                raise InputError(
                    f"target {it.target!r} of item {it.id!r} is not one of the task's "
                    f"{len(labels)} labels (set allow_unknown_labels: true if that is intended)",
                    path=p,
                    where=f"datasets.{name}",
                )
    if suite.task.type == "classification" and ds.allow_unknown_labels:
        # a target naming a label in another case or spelling is that label, as an answer is
        items = [replace(it, target=match_label(it.target, labels) or it.target) for it in items]
    try:
        chosen = subset(items, limit=ds.limit, sample=ds.sample, seed=ds.seed)
    except ValueError as e:
        raise InputError(str(e), path=suite_path, where=f"datasets.{name}.sample") from None
    return tuple(chosen)


def _fewshot(arm_name: str, arm: Arm, base: Path, suite_path: Path) -> tuple[Example, ...]:
    fs = arm.prompt.fewshot
    if fs is None:
        return ()
    where = f"arms.{arm_name}.prompt.fewshot"
    p = _resolve(base, fs.path, f"{where}.path", suite_path)
    rows = read_items(p, input_field=fs.input, target_field=fs.target)
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
                f"n: {fs.n} examples asked, the file has {len(rows)}", path=suite_path, where=where
            )
        rows = rng.sample(rows, fs.n)
    return tuple(Example(input=it.input, target=it.target) for it in rows)


def _template_source(
    file: str | None, inline: str | None, where: str, base: Path, suite_path: Path
) -> tuple[str | None, Path]:
    """A template's text and the file to name in its errors (the template file, or the suite)."""
    if file is None:
        return inline, suite_path
    path = _resolve(base, file, where, suite_path)
    return path.read_text(encoding="utf-8"), path


def _prompt(
    arm_name: str, arm: Arm, base: Path, suite_path: Path, labels: tuple[str, ...]
) -> CompiledPrompt:
    where = f"arms.{arm_name}.prompt"
    p = arm.prompt
    user, user_origin = _template_source(p.template, p.text, f"{where}.template", base, suite_path)
    system, system_origin = _template_source(
        p.system_template, p.system, f"{where}.system_template", base, suite_path
    )
    parts = ((user, user_origin, where), (system, system_origin, f"{where}.system"))
    for text, origin, label in parts:
        if text and (problem := check_template(text)):
            raise InputError(f"template error, {problem}", path=origin, where=label)
    prompt = CompiledPrompt(
        user=user or "",
        system=system,
        labels=labels,
        examples=_fewshot(arm_name, arm, base, suite_path),
    )
    try:
        prompt.render("example input")
    except jinja2.UndefinedError as e:
        raise InputError(
            f"template uses an unknown name ({e.message}); available: input, labels, examples",
            path=user_origin,
            where=where,
        ) from None
    return prompt


def _adapter(arm_name: str, arm: Arm, base: Path, suite_path: Path) -> str | None:
    if arm.adapter is None:
        return None
    p = _resolve(base, arm.adapter, f"arms.{arm_name}.adapter", suite_path)
    return str(p.resolve())


def _probes(suite: Suite, base: Path, suite_path: Path) -> tuple[LoadedProbe, ...]:
    if not suite.probes:
        return ()
    loaded = []
    for i, probe in enumerate(suite.probes):
        try:
            pack = load_pack(probe.pack, base)
        except InputError as e:
            raise InputError(
                e.message, path=e.path or suite_path, where=e.where or f"probes.{i}", line=e.line
            ) from None
        try:
            items = select_items(pack, probe.n, probe.seed)
        except InputError as e:
            raise InputError(e.message, path=suite_path, where=f"probes.{i}.n") from None
        if pack.name in suite.datasets:
            # the results, the table and gate paths key a set by its name: they would merge
            raise InputError(
                f"dataset name {pack.name!r} is also the name of the probe pack at probes.{i}; "
                "rename the dataset",
                path=suite_path,
                where=f"datasets.{pack.name}",
            )
        loaded.append(
            LoadedProbe(pack.name, pack.version, pack.kind, pack.prompt, pack.max_tokens, items)
        )
    names = [p.name for p in loaded]
    if len(set(names)) != len(names):
        raise InputError("the same probe pack is listed twice", path=suite_path, where="probes")
    return tuple(loaded)


def load_suite(path: str | Path) -> LoadedSuite:
    """Parse, validate and read everything a suite names; raises `InputError` on any problem."""
    suite_path = Path(path)
    suite, sha = parse_suite(suite_path)
    base = suite_path.parent
    labels = _labels(suite, base, suite_path)
    datasets = {
        n: _dataset(n, ds, suite, base, suite_path, labels) for n, ds in suite.datasets.items()
    }
    schema = None
    fmt = suite.scorers.format
    if fmt and fmt.schema_path:
        schema_file = _resolve(base, fmt.schema_path, "scorers.format.schema", suite_path)
        try:
            schema = json.loads(schema_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InputError(
                f"JSON schema is not valid JSON ({e.msg})", path=schema_file, line=e.lineno
            ) from None
    training: tuple[Item, ...] = ()
    training_sample: tuple[Item, ...] = ()
    if suite.training_data:
        td = suite.training_data
        tp = _resolve(base, td.path, "training_data.path", suite_path)
        training = tuple(
            read_items(
                tp, fmt=td.format, input_field=td.input, target_field=td.target, id_prefix="train-"
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
    return LoadedSuite(
        suite=suite,
        path=suite_path,
        sha256=sha,
        labels=labels,
        datasets=datasets,
        dataset_hashes={n: items_sha256(items) for n, items in datasets.items()},
        prompts={a: _prompt(a, suite.arms[a], base, suite_path, labels) for a in ARMS},
        adapters={a: p for a in ARMS if (p := _adapter(a, suite.arms[a], base, suite_path))},
        probes=_probes(suite, base, suite_path),
        json_schema=schema,
        training=training,
        training_sample=training_sample,
        rubrics=load_rubric_uses(suite, base, suite_path),
        scorers=load_scorers(suite, base, suite_path),
    )
