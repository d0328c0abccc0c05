"""Fuzz `evalkit validate`: hundreds of malformed suites and data files, as a new user would
write them, each one exit 2 with exactly one line naming the file (and the key or row), and
never a traceback. Every case runs `evalkit.cli.main` in this one process.

Two valid suites (a classification suite using every file kind, and a generation suite with
a rubric) are mutated one way per case; `expect` lists what the one error line must name.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from evalkit.cli import main


class _Loop:
    """Marks a file to be replaced by a symlink to itself."""


class _Dir:
    """Marks a file to be replaced by an empty folder."""


LOOP, DIR = _Loop(), _Dir()
File = str | bytes | _Loop | _Dir | None  # None: the file is removed

ROWS = [
    {"id": "h1", "input": "where is my new card", "target": "card_arrival"},
    {"id": "h2", "input": "what exchange rate do you use", "target": "exchange_rate"},
    {"id": "h3", "input": "card still has not arrived", "target": "card_arrival"},
    {"id": "h4", "input": "is the exchange fee fair", "target": "exchange_rate"},
]
PACK = """name: mini
version: 1
kind: multiple_choice
prompt: "{{ input }}\\nAnswer:"
max_tokens: 4
items: items.jsonl
source: written for the tests
licence: CC0
"""
PACK_ITEMS = [
    {"id": f"p{i}", "input": f"Q{i}?\nA. a\nB. b\nC. c\nD. d", "target": "ABCD"[i % 4]}
    for i in range(3)
]
RUBRIC = """name: tone
description: Is the reply polite?
criteria:
  - name: polite
    description: The reply is polite.
    anchors: {1: rude, 5: warm}
pass_threshold: 3
judge_template: judge.jinja
"""
JUDGE = (
    "Rubric {{ rubric.name }}: {% for c in criteria %}{{ c.name }} {% endfor %}\n"
    "{{ question.block }}\n{{ answer.block }}\nReply as {{ json_example }}"
)


def jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


CLASSIFY_FILES: dict[str, File] = {
    "labels.txt": "card_arrival\nexchange_rate\n",
    "prompts/user.jinja": (
        "{% for e in examples %}{{ e.input }} -> {{ e.target }}\n{% endfor %}"
        "Labels: {{ labels | join(', ') }}\nQuery: {{ input }}"
    ),
    "prompts/system.jinja": "You sort banking queries.",
    "fewshot.jsonl": jsonl([{"input": r["input"], "target": r["target"]} for r in ROWS[:3]]),
    "data/heldout.jsonl": jsonl(ROWS),
    "data/ood.csv": "input,target\nfx rate please,exchange_rate\nhello there,other\n",
    "data/train.jsonl": jsonl([{"input": "card lost", "target": "card_arrival"}] * 1),
    "schema.json": '{"type": "object", "required": ["intent"]}',
    "packs/mini/pack.yaml": PACK,
    "packs/mini/items.jsonl": jsonl(PACK_ITEMS),
}
CLASSIFY: dict[str, Any] = {
    "name": "fuzz",
    "description": "every file kind a suite can name",
    "task": {
        "type": "classification",
        "labels": "labels.txt",
        "output": {"format": "json", "field": "intent"},
    },
    "arms": {
        "baseline": {
            "model": "evalkit-test/base",
            "model_args": {"fallback": '{"intent": "card_arrival"}'},
            "prompt": {
                "template": "prompts/user.jinja",
                "system_template": "prompts/system.jinja",
                "fewshot": {"path": "fewshot.jsonl", "n": 2, "seed": 0},
            },
            "generate": {"max_tokens": 16, "temperature": 0.0, "seed": 0},
            "price": {"input_per_mtok": 0.1, "output_per_mtok": 0.2},
        },
        "candidate": {"model": "evalkit-test/tuned", "prompt": {"text": "Q: {{ input }}"}},
    },
    "datasets": {
        "heldout": {"path": "data/heldout.jsonl", "id": "id", "limit": 4},
        "ood": {"path": "data/ood.csv", "allow_unknown_labels": True, "kind": "out_of_domain"},
    },
    "scorers": {"format": {"json": True, "schema": "schema.json", "max_words": 20}},
    "probes": [{"pack": "packs/mini", "n": 2, "seed": 0}],
    "probe_margin": {"margin": 0.05, "confidence": 0.95},
    "training_data": {"path": "data/train.jsonl", "sample": 1},
    "contamination": {"ngram": 3, "threshold": 0.8},
    "stats": {"confidence": 0.95, "bootstrap": 200, "seed": 0},
    "run": {"max_connections": 2, "max_retries": 0, "timeout": 30.0, "cache": True},
    "gates": [
        {"heldout.macro_f1": {"candidate_minus_baseline": ">= 0.0"}},
        {"probes.*.accuracy": {"non_inferior": {"margin": 0.05}}},
    ],
}
GENERATE_FILES: dict[str, File] = {
    "data/gen.jsonl": jsonl(
        [{"id": f"g{i}", "question": f"question {i}?", "reference": "an answer"} for i in range(3)]
    ),
    "rubric.yaml": RUBRIC,
    "judge.jinja": JUDGE,
    "human.jsonl": jsonl([{"id": "g0", "arm": "baseline", "scores": {"polite": 4}}]),
}
GENERATE: dict[str, Any] = {
    "name": "fuzz-gen",
    "task": {"type": "generation"},
    "arms": {
        "baseline": {"model": "evalkit-test/base", "prompt": {"text": "{{ input }}"}},
        "candidate": {"model": "evalkit-test/tuned", "prompt": {"text": "Customer: {{ input }}"}},
    },
    "datasets": {
        "heldout": {
            "path": "data/gen.jsonl",
            "id": "id",
            "input": "question",
            "target": "reference",
        }
    },
    "scorers": {
        "classification": False,
        "rubrics": [{"rubric": "rubric.yaml", "human_labels": "human.jsonl"}],
    },
    "judge": {"model": "evalkit-test/judge", "max_tokens": 64},
}


@dataclass
class Case:
    name: str
    suite: dict[str, Any] | str | bytes | File  # a mapping is dumped as YAML
    files: dict[str, File]
    expect: tuple[str, ...]  # fragments the error line must contain (file, key, row)
    secret: str | None = None  # must not appear in the error line


def classify(name: str, expect: tuple[str, ...], edit: Callable[[dict], Any] | None = None,
             **files: File) -> Case:  # fmt: skip
    suite = copy.deepcopy(CLASSIFY)
    if edit:
        edit(suite)
    return Case(name, suite, {**CLASSIFY_FILES, **_paths(files)}, expect)


def generate(name: str, expect: tuple[str, ...], edit: Callable[[dict], Any] | None = None,
             **files: File) -> Case:  # fmt: skip
    suite = copy.deepcopy(GENERATE)
    if edit:
        edit(suite)
    return Case(name, suite, {**GENERATE_FILES, **_paths(files)}, expect)


def _paths(files: dict[str, File]) -> dict[str, File]:
    # keyword arguments name files with '__' for '/' and '_dot_' for '.'
    return {k.replace("__", "/").replace("_dot_", "."): v for k, v in files.items()}


def at(path: str) -> Callable[[dict], Any]:
    """The parent mapping and key of a dotted path in a suite mapping."""

    def get(suite: dict) -> tuple[Any, Any]:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node = suite
        for p in parents:
            node = node[p]
        return node, last

    return get


def setting(path: str, value: Any) -> Callable[[dict], None]:
    def edit(suite: dict) -> None:
        node, key = at(path)(suite)
        node[key] = value

    return edit


def removing(path: str) -> Callable[[dict], None]:
    def edit(suite: dict) -> None:
        node, key = at(path)(suite)
        del node[key]

    return edit


# ---- the generator -------------------------------------------------------------------------

# subtrees of free-form values (provider arguments), where any key or type is allowed
_FREE = {"model_args"}


def _mappings(node: Any, path: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        yield path
        for k, v in node.items():
            if k not in _FREE and path != "gates.0":  # a gate's keys are metric paths
                yield from _mappings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _mappings(v, f"{path}.{i}")


def _leaves(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k not in _FREE:
                yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, f"{path}.{i}")
    else:
        yield path, node


def _wrong_values(value: Any) -> list[Any]:
    if isinstance(value, bool):
        return ["yes", 1]
    if isinstance(value, int):
        return ["many", True, 1.5]
    if isinstance(value, float):
        return ["high", True]
    return [{"x": 1}, 7]


def structural_cases() -> Iterator[Case]:
    """Unknown keys at every level, wrong types at every leaf, required keys removed."""
    for base, make in ((CLASSIFY, classify), (GENERATE, generate)):
        for path in _mappings(base):
            if path.startswith("gates.") and path != "gates.0":
                continue
            key = f"{path}.bogus_key" if path else "bogus_key"
            yield make(f"{base['name']}: unknown key {key}", ("suite.yaml", key), setting(key, 1))
        for path, value in _leaves(base):
            if path.startswith("gates."):
                continue  # a gate's keys are metric paths: covered by gate_cases
            for wrong in _wrong_values(value):
                yield make(f"{base['name']}: {path}: {wrong!r}", ("suite.yaml", path),
                           setting(path, wrong))  # fmt: skip
    for path, where in (
        ("name", "name"), ("task", "task"), ("arms", "arms"), ("arms.baseline", "arms"),
        ("arms.candidate", "arms"), ("arms.baseline.model", "arms.baseline.model"),
        # an arm has `prompt` or a `prompts` list: the arm is located, the message names both
        ("arms.baseline.prompt", "[arms.baseline]: give exactly one of 'prompt'"),
        ("datasets", "datasets"),
        ("datasets.heldout", "datasets"), ("datasets.heldout.path", "datasets.heldout.path"),
        ("arms.baseline.prompt.fewshot.path", "arms.baseline.prompt.fewshot.path"),
        ("training_data.path", "training_data.path"),
        # a probe has a `pack` or an `inspect_task`: the probe is located, the message names both
        ("probes.0.pack", "[probes.0]: give exactly one of 'pack' or 'inspect_task'"),
        ("arms.baseline.price.input_per_mtok", "arms.baseline.price.input_per_mtok"),
        ("probe_margin.margin", "probe_margin.margin"), ("task.labels", "task"),
        ("task.output.field", "task.output"),
    ):  # fmt: skip
        yield classify(f"missing {path}", ("suite.yaml", where), removing(path))
    yield generate("missing judge", ("suite.yaml", "judge"), removing("judge"))
    yield generate("missing judge.model", ("suite.yaml", "judge.model"), removing("judge.model"))


SYNTAX = {
    "unclosed bracket": "name: [fuzz\n",
    "unterminated quote": 'name: "fuzz\n',
    "bad indentation": "name: fuzz\n  task: x\n bad: 1\n",
    "tab indentation": "task:\n\ttype: classification\n",
    "value after mapping": "name: fuzz: x\n",
    "undefined alias": "name: *nope\n",
    "two documents": "name: a\n---\nname: b\n",
    "control character": "name: fu\x07zz\n",
    "unclosed flow mapping": "task: {type: classification\n",
    "stray dash": "name: fuzz\n- item\n",
}
NOT_A_MAPPING = {
    "empty file": "",
    "only a comment": "# nothing here\n",
    "only whitespace": "  \n\n ",
    "a list": "- name: fuzz\n",
    "a string": "just words\n",
    "a number": "42\n",
}


def yaml_cases() -> Iterator[Case]:
    """YAML syntax errors, tabs, duplicate keys, empty, binary and non-UTF-8 suite files."""
    for name, text in SYNTAX.items():
        yield Case(f"suite: {name}", text, dict(CLASSIFY_FILES), ("suite.yaml", "not valid YAML"))
    for name, text in NOT_A_MAPPING.items():
        yield Case(f"suite: {name}", text, dict(CLASSIFY_FILES), ("suite.yaml", "mapping"))
    text = yaml.safe_dump(CLASSIFY, sort_keys=False)
    for dup, after in (
        ("name: again\n", "name: fuzz\n"),
        ("  labels: again.txt\n", "  labels: labels.txt\n"),
        ("    limit: 3\n", "    limit: 4\n"),
        ("  bootstrap: 300\n", "  bootstrap: 200\n"),
        ("  baseline:\n    model: evalkit-test/x\n    prompt: '{{ input }}'\n", "  candidate:\n"),
    ):
        dup_text = text.replace(after, after + dup, 1)
        assert dup_text != text, dup
        yield Case(f"duplicate key {dup.split(':')[0].strip()}", dup_text, dict(CLASSIFY_FILES),
                   ("suite.yaml:", "duplicate key"))  # fmt: skip
    yield Case("suite: binary", b"\x00\x01\x02name", dict(CLASSIFY_FILES), ("suite.yaml", "binary"))
    yield Case("suite: latin-1", text.replace("every file kind", "caf\xe9").encode("latin-1"),
               dict(CLASSIFY_FILES), ("suite.yaml", "UTF-8"))  # fmt: skip
    yield Case("suite: a folder", DIR, dict(CLASSIFY_FILES), ("suite.yaml", "folder"))
    yield Case("suite: missing", None, dict(CLASSIFY_FILES), ("suite.yaml", "not found"))
    yield Case("suite: symlink loop", LOOP, dict(CLASSIFY_FILES), ("suite.yaml", "loop"))


# file → (the file whose key names it, that key)
REFERENCED = {
    "labels.txt": ("suite.yaml", "task.labels"),
    "prompts/user.jinja": ("suite.yaml", "arms.baseline.prompt.template"),
    "prompts/system.jinja": ("suite.yaml", "arms.baseline.prompt.system_template"),
    "fewshot.jsonl": ("suite.yaml", "arms.baseline.prompt.fewshot.path"),
    "data/heldout.jsonl": ("suite.yaml", "datasets.heldout.path"),
    "data/ood.csv": ("suite.yaml", "datasets.ood.path"),
    "data/train.jsonl": ("suite.yaml", "training_data.path"),
    "schema.json": ("suite.yaml", "scorers.format.schema"),
    "packs/mini/items.jsonl": ("pack.yaml", "items"),
}
GEN_REFERENCED = {
    "data/gen.jsonl": ("suite.yaml", "datasets.heldout.path"),
    "rubric.yaml": ("suite.yaml", "scorers.rubrics.0.rubric"),
    "judge.jinja": ("rubric.yaml", "judge_template"),
    "human.jsonl": ("suite.yaml", "scorers.rubrics.0.human_labels"),
}


def file_cases() -> Iterator[Case]:
    """Every file a suite names: missing, a folder, a symlink loop, empty, binary, not UTF-8."""
    every = [(f, ref, CLASSIFY, CLASSIFY_FILES) for f, ref in REFERENCED.items()]
    every += [(f, ref, GENERATE, GENERATE_FILES) for f, ref in GEN_REFERENCED.items()]
    every += [("packs/mini/pack.yaml", ("mini", "pack.yaml"), CLASSIFY, CLASSIFY_FILES)]
    for path, (named_in, key), suite, files in every:
        base = os.path.basename(path)
        missing = ("mini", "no pack.yaml") if base == "pack.yaml" else (named_in, key, "not found")
        for what, content, expect in (
            ("missing", None, missing),
            ("a folder", DIR, (named_in, key, "folder")),
            ("a symlink loop", LOOP, (named_in, key, "loop")),
            ("empty", "", (base,)),
            ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff", (base, "binary")),
            ("not UTF-8", "caf\xe9 latte\n".encode("latin-1"), (base, "UTF-8")),
        ):
            if path == "packs/mini/pack.yaml" and what != "missing":
                expect = (base, *expect[2:])  # a manifest names itself
            if what == "empty" and base == "system.jinja":
                expect = (base, "empty")
            if what == "empty" and base == "judge.jinja":  # named by the key that names it
                expect = ("rubric.yaml", "judge_template")
            yield Case(f"{path}: {what}", copy.deepcopy(suite), {**files, path: content}, expect)


def _rows(path: str, lines: list[str]) -> dict[str, File]:
    return {path: "".join(line + "\n" for line in lines)}


def row_cases() -> Iterator[Case]:
    """Broken rows in every data file: not JSON, not an object, fields missing or wrong."""
    ok = json.dumps(ROWS[0])
    held = "data/heldout.jsonl"
    for name, lines, expect in (
        ("not JSON", [ok, "{not json}"], ":2"),
        ("an array", ["[1, 2]"], ":1"),
        ("a string", ['"where is my card"'], ":1"),
        ("a number", ["42"], ":1"),
        ("missing target", [json.dumps({"id": "a", "input": "x"})], ":1"),
        ("missing input", [json.dumps({"id": "a", "target": "card_arrival"})], ":1"),
        ("null target", [json.dumps({"id": "a", "input": "x", "target": None})], ":1"),
        ("object target", [json.dumps({"id": "a", "input": "x", "target": {"a": 1}})], ":1"),
        ("list target", [json.dumps({"id": "a", "input": "x", "target": [1]})], ":1"),
        ("bool target", [json.dumps({"id": "a", "input": "x", "target": True})], ":1"),
        ("empty input", [json.dumps({"id": "a", "input": " ", "target": "card_arrival"})], ":1"),
        ("number input", [json.dumps({"id": "a", "input": 5, "target": "card_arrival"})], ":1"),
        ("missing id", [json.dumps({"input": "x", "target": "card_arrival"})], ":1"),
        ("duplicate id", [ok, ok], ":2"),
        ("unknown label", [json.dumps({**ROWS[0], "target": "refund"})], "refund"),
        ("nested too deeply", ["[" * 100_000 + "]" * 100_000], ":1"),
        ("blank lines only", ["", "  ", ""], "empty"),
        ("truncated row", [ok, ok[:20]], ":2"),
    ):
        yield classify(
            f"heldout row: {name}", ("heldout.jsonl", expect), **_flat(_rows(held, lines))
        )
    for name, text, expect in (
        ("extra cells", "input,target\nhello,exchange_rate,extra\n", "ood.csv:2"),
        ("no target column", "input,label\nhello,exchange_rate\n", "ood.csv:2"),
        ("header only", "input,target\n", "empty"),
        ("empty input cell", "input,target\n,exchange_rate\n", "ood.csv:2"),
        ("huge field", "input,target\n" + "x" * 200_000 + ",exchange_rate\n", "ood.csv"),
    ):
        yield classify(f"ood.csv: {name}", (expect,), **_flat({"data/ood.csv": text}))
    for name, path, lines, expect in (
        ("not JSON", "fewshot.jsonl", ["{broken"], "fewshot.jsonl:1"),
        ("no target", "fewshot.jsonl", [json.dumps({"input": "x"})], "fewshot.jsonl:1"),
        ("unknown label", "data/train.jsonl", [json.dumps({"input": "x", "target": "refund"})],
         "train.jsonl"),
        ("a list", "data/train.jsonl", ["[]"], "train.jsonl:1"),
        ("no target", "packs/mini/items.jsonl", [json.dumps({"id": "p", "input": "q?"})],
         "items.jsonl:1"),
        ("target E", "packs/mini/items.jsonl", [json.dumps({**PACK_ITEMS[0], "target": "E"})],
         "items.jsonl:1"),
        ("duplicate id", "packs/mini/items.jsonl", [json.dumps(PACK_ITEMS[0])] * 2,
         "items.jsonl:2"),
    ):  # fmt: skip
        yield classify(f"{path} row: {name}", (expect,), **_flat(_rows(path, lines)))
    for name, row in (
        ("unknown arm", {"id": "g0", "arm": "other", "scores": {"polite": 4}}),
        ("score off the scale", {"id": "g0", "arm": "baseline", "scores": {"polite": 9}}),
        ("unknown criterion", {"id": "g0", "arm": "baseline", "scores": {"rude": 1}}),
        ("no scores", {"id": "g0", "arm": "baseline"}),
        ("boolean score", {"id": "g0", "arm": "baseline", "scores": {"polite": True}}),
    ):
        yield generate(f"human labels: {name}", ("human.jsonl:1",),
                       **_flat(_rows("human.jsonl", [json.dumps(row)])))  # fmt: skip
    yield generate("human labels: not JSON", ("human.jsonl:1",),
                   **_flat(_rows("human.jsonl", ["nope"])))  # fmt: skip
    yield generate("gen row: missing reference", ("gen.jsonl:1",),
                   **_flat(_rows("data/gen.jsonl", [json.dumps({"id": "g", "question": "q"})])))  # fmt: skip


def _flat(files: dict[str, File]) -> dict[str, File]:
    return {k.replace("/", "__").replace(".", "_dot_"): v for k, v in files.items()}


def gate_cases() -> Iterator[Case]:
    """Gates naming unknown datasets, probes or metrics, and malformed checks."""
    for gate, expect in (
        ({"nosuch.macro_f1": {"candidate": ">= 0.5"}}, "gates"),
        ({"heldout.f2": {"candidate": ">= 0.5"}}, "gates"),
        ({"heldout": {"candidate": ">= 0.5"}}, "gates"),
        ({"heldout.format.regex": {"candidate": ">= 0.5"}}, "gates"),
        ({"heldout.rubric.x": {"candidate": ">= 0.5"}}, "gates"),
        ({"probes.nosuch.accuracy": {"candidate": ">= 0.5"}}, "gates"),
        ({"probes.*.macro_f1": {"candidate": ">= 0.5"}}, "gates"),
        ({"heldout.macro_f1": {"candidate": "at least 0.5"}}, "gates.2"),
        ({"heldout.macro_f1": {"candidate": ">= 0.5", "baseline": ">= 0.1"}}, "gates.2"),
        ({"heldout.macro_f1": {}}, "gates.2"),
        ({"heldout.macro_f1": {"non_inferior": {"margin": -1}}}, "gates.2"),
        ({"heldout.macro_f1": {"non_inferior": {"margin": 0.1, "confidence": 0.5}}}, "gates.2"),
        ({"heldout.macro_f1": {"no_regression": {"arm": "both"}}}, "gates.2"),
        ({"heldout.macro_f1": {"candidate": ">= 0", "bogus": 1}}, "gates.2"),
        ({"heldout.macro_f1": {"non_inferior": {"margin": 0.1, "bogus": 1}}}, "gates.2"),
        ({}, "gates"),
        ({"a.accuracy": {"candidate": ">= 0"}, "b.accuracy": {"candidate": ">= 0"}}, "gates"),
    ):
        yield classify(f"gate {gate}", ("suite.yaml", expect),
                       lambda s, g=gate: s["gates"].append(g))  # fmt: skip
    yield classify("gates not a list", ("suite.yaml", "gates"), setting("gates", {"a": 1}))


def limit_cases() -> Iterator[Case]:
    """Bad limits and sizes: zero, negative, too large, or larger than the data."""
    for path, value in (
        ("datasets.heldout.limit", 0), ("datasets.heldout.limit", -1),
        ("datasets.heldout.sample", 0), ("datasets.heldout.sample", 50),
        ("arms.baseline.prompt.fewshot.n", 9), ("arms.baseline.prompt.fewshot.n", -2),
        ("arms.baseline.prompt.fewshot.per_label", 0), ("probes.0.n", 0), ("probes.0.n", 99),
        ("stats.bootstrap", 10**12), ("stats.bootstrap", 10), ("stats.confidence", 1.5),
        ("arms.baseline.generate.max_tokens", 10**9), ("arms.baseline.generate.max_tokens", 0),
        ("run.timeout", 10**7), ("run.max_connections", 10**6), ("run.max_retries", 10**4),
        ("run.max_errors", -1), ("training_data.sample", 0), ("contamination.threshold", 2.0),
        ("probe_margin.confidence", 0.42), ("arms.baseline.generate.temperature", -1.0),
        ("scorers.format.max_words", 0), ("scorers.format.regex", "(unclosed"),
        ("datasets.heldout.encoding", "no-such-codec"), ("datasets.heldout.format", "xml"),
    ):  # fmt: skip
        yield classify(f"{path}: {value}", ("suite.yaml", path.rsplit(".", 1)[0]),
                       setting(path, value))  # fmt: skip


TEMPLATES = {
    "syntax": "{{ input }",
    "unknown filter": "{{ input | nofilter }}",
    "unknown filter in a branch": "{% if input %}{{ input | nofilter }}{% endif %}{{ input }}",
    "unknown test in a branch": "{% if input is nottest %}x{% endif %}{{ input }}",
    "include": "{% include 'other.jinja' %}{{ input }}",
    "import": "{% import 'other.jinja' as o %}{{ input }}",
    "extends": "{% extends 'other.jinja' %}",
    "division by zero": "{{ 1/0 }}{{ input }}",
    "sandbox attribute": "{{ ''.__class__ }}{{ input }}",
    "sandbox item": "{{ input['__class__'] }}",
    "sandbox method": "{{ labels.append('x') }}{{ input }}",
    "huge range": "{% for i in range(10**7) %}{% endfor %}{{ input }}",
    "nested ranges": "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}{{ input }}",
    "huge repetition": "{{ 'x' * 10**9 }}{{ input }}",
    "huge power": "{{ 2**10000000 }}{{ input }}",
    "undefined name in an untaken branch": "{% if false %}{{ nope }}{% endif %}{{ input }}",
    "type error": "{{ input + 1 }}",
    "recursive macro": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}{{ input }}",
    "whitespace only": "  \n  ",
    "never uses input": "Classify the query.",
}


def template_cases() -> Iterator[Case]:
    """Template failures in a template file, inline text, a system template, a probe prompt
    and a judge template."""
    for name, source in TEMPLATES.items():
        yield classify(f"user template: {name}", ("user.jinja",),
                       **_flat({"prompts/user.jinja": source}))  # fmt: skip
        yield classify(f"inline prompt: {name}", ("suite.yaml", "arms.candidate.prompt"),
                       setting("arms.candidate.prompt.text", source))  # fmt: skip
        if name != "never uses input":  # the user template uses it
            yield classify(f"system template: {name}", ("system.jinja",),
                           **_flat({"prompts/system.jinja": source}))  # fmt: skip
    yield classify("empty inline prompt", ("suite.yaml", "arms.candidate.prompt"),
                   setting("arms.candidate.prompt.text", ""))  # fmt: skip
    yield classify("out-of-range example", ("user.jinja",),
                   **_flat({"prompts/user.jinja": "{{ examples[9].input }} {{ input }}"}))  # fmt: skip
    for name in ("syntax", "unknown filter in a branch", "division by zero", "include",
                 "undefined name in an untaken branch", "never uses input", "huge range"):  # fmt: skip
        prompt = TEMPLATES[name].replace("\\", "\\\\").replace('"', '\\"')
        manifest = PACK.replace('"{{ input }}\\nAnswer:"', f'"{prompt}"')
        yield classify(f"probe prompt: {name}", ("pack.yaml", "prompt"),
                       **_flat({"packs/mini/pack.yaml": manifest}))  # fmt: skip
    for name in ("syntax", "unknown filter", "include", "division by zero", "sandbox attribute",
                 "undefined name in an untaken branch"):  # fmt: skip
        yield generate(f"judge template: {name}", ("judge",),
                       **_flat({"judge.jinja": TEMPLATES[name]}))  # fmt: skip


def reference_cases() -> Iterator[Case]:
    """Probe packs, paths outside the suite's folder, symlink loops, secrets, model strings,
    labels and rubric files."""
    yield classify("unknown built-in pack", ("suite.yaml", "probes.0.pack", "mmlu-geography"),
                   setting("probes.0.pack", "mmlu-geografy"))  # fmt: skip
    yield classify("pack path missing", ("suite.yaml", "probes.0.pack"),
                   setting("probes.0.pack", "packs/nope/"))  # fmt: skip
    yield classify("pack folder without manifest", ("packs", "pack.yaml"),
                   setting("probes.0.pack", "packs"))  # fmt: skip
    yield classify("pack listed twice", ("suite.yaml", "probes"),
                   lambda s: s["probes"].append({"pack": "packs/mini"}))  # fmt: skip
    for name, manifest, key in (
        ("duplicate key", PACK + "name: again\n", "duplicate key"),
        ("unknown key", PACK + "shots: 5\n", "shots"),
        ("missing key", PACK.replace("licence: CC0\n", ""), "licence"),
        ("unknown kind", PACK.replace("multiple_choice", "essay"), "kind"),
        ("boolean max_tokens", PACK.replace("max_tokens: 4", "max_tokens: true"), "max_tokens"),
        ("items outside", PACK.replace("items: items.jsonl", "items: ../../../x.jsonl"), "items"),
        ("a list", "- name: mini\n", "mapping"),
        ("tabs", PACK.replace("version: 1", "version:\t1\n\tx: 2"), "YAML"),
    ):
        yield classify(f"pack manifest: {name}", ("pack.yaml", key),
                       **_flat({"packs/mini/pack.yaml": manifest}))  # fmt: skip
    outside = ("suite.yaml", "outside the suite's folder")
    yield classify("dataset outside", (*outside, "datasets.heldout.path"),
                   setting("datasets.heldout.path", "../outside.jsonl"))  # fmt: skip
    yield classify("absolute path outside", (*outside, "task.labels"),
                   setting("task.labels", "/etc/hostname"))  # fmt: skip
    yield classify("template outside", (*outside, "arms.baseline.prompt.template"),
                   setting("arms.baseline.prompt.template", "../outside.jsonl"))  # fmt: skip
    yield Case("symlink out of the folder", copy.deepcopy(CLASSIFY),
               {**CLASSIFY_FILES, "data/heldout.jsonl": "@../../outside.jsonl"},
               (*outside, "datasets.heldout.path"))  # fmt: skip
    yield generate("judge template outside", ("rubric.yaml", "judge_template", "outside"),
                   **_flat({"rubric.yaml": RUBRIC.replace("judge.jinja", "../outside.jsonl")}))  # fmt: skip
    yield classify("a dataset under a looping folder", ("suite.yaml", "datasets.heldout.path", "loop"),
                   setting("datasets.heldout.path", "loop/heldout.jsonl"), loop=LOOP)  # fmt: skip
    for where, value, secret in (
        ("arms.baseline.model_args.api_key", "sk-live-0123456789abcdef", "sk-live-0123456789abcdef"),
        ("arms.baseline.model_args.default_headers", {"X-Api-Key": "k3y-planted-98765"}, "k3y-planted-98765"),
        ("arms.baseline.model_args.default_headers", {"Authorization": "Bearer tok-planted-12345"}, "tok-planted-12345"),
        ("arms.baseline.model_args.default_headers", {"X-Trace": "Bearer abcdef0123456789"}, "abcdef0123456789"),
        ("arms.baseline.base_url", "http://user:pw-planted-4242@host:8000/v1", "pw-planted-4242"),
        ("judge.base_url", "https://key-planted-777@judge.example/v1", "key-planted-777"),
    ):  # fmt: skip
        make = generate if where.startswith("judge") else classify
        case = make(f"secret in {where}: {value}", ("suite.yaml", where.rsplit(".", 1)[0]),
                    setting(where, value))  # fmt: skip
        case.secret = secret
        yield case
    for model in ("", "gpt-4o-mini", "nosuchprovider/model", "openai-api/only-service",
                  " openai/gpt-4o", "OpenAI/gpt-4o", "openai/", "open ai/x", "evalkit-test/a\x1bb", "evalkit-test/../../x"):  # fmt: skip
        yield classify(f"model {model!r}", ("suite.yaml", "arms.baseline.model"),
                       setting("arms.baseline.model", model))  # fmt: skip
    for labels, expect in (
        ("card_arrival\nCard-Arrival\nexchange_rate\n", "Card-Arrival"),
        ("card_arrival\ncard_arrival\nexchange_rate\n", "twice"),
        ("card_arrival\n!!!\nexchange_rate\n", "'!!!'"),
        ("\n\n", "empty"),
    ):
        yield classify(f"labels file {labels!r}", ("labels.txt", expect), labels_dot_txt=labels)
    for labels in ([], ["card arrival", "Card_Arrival"], ["a", 1], "  "):
        yield classify(f"inline labels {labels!r}", ("suite.yaml", "task"),
                       setting("task.labels", labels))  # fmt: skip
    for name, rubric, key in (
        ("duplicate key", RUBRIC + "name: again\n", "duplicate key"),
        ("unknown key", RUBRIC + "scale: 5\n", "scale"),
        ("no criteria", RUBRIC.split("criteria:")[0] + "criteria: []\npass_threshold: 3\n", "criteria"),
        ("anchor off the scale", RUBRIC.replace("5: warm", "9: warm"), "criteria"),
        ("threshold off the scale", RUBRIC.replace("pass_threshold: 3", "pass_threshold: 7"), "rubric.yaml"),
        ("template missing", RUBRIC.replace("judge.jinja", "nope.jinja"), "judge_template"),
        ("template a folder", RUBRIC.replace("judge.jinja", "."), "judge_template"),
    ):  # fmt: skip
        yield generate(f"rubric: {name}", ("rubric.yaml", key), rubric_dot_yaml=rubric)
    yield generate("rubric names an unknown dataset", ("suite.yaml", "scorers.rubrics.0.datasets"),
                   setting("scorers.rubrics.0.datasets", ["nope"]))  # fmt: skip
    yield generate("judge is an arm's model", ("suite.yaml", "judge.model"),
                   setting("judge.model", "evalkit-test/base"))  # fmt: skip
    yield classify("name with a slash", ("suite.yaml", "name"), setting("name", "../escape"))
    yield classify("dataset name reserved", ("suite.yaml", "datasets"),
                   lambda s: s["datasets"].update(probes={"path": "data/ood.csv"}))  # fmt: skip
    yield classify("csv with no suffix", ("heldout.data",),
                   setting("datasets.heldout.path", "data/heldout.data"),
                   **_flat({"data/heldout.data": jsonl(ROWS)}))  # fmt: skip


def all_cases() -> list[Case]:
    return [
        *structural_cases(), *yaml_cases(), *file_cases(), *row_cases(), *gate_cases(),
        *limit_cases(), *template_cases(), *reference_cases(),
    ]  # fmt: skip


# ---- running -------------------------------------------------------------------------------


def _write(path: Path, content: File) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if content is None:
        return
    if isinstance(content, _Loop):
        path.symlink_to(path.name)
    elif isinstance(content, _Dir):
        path.mkdir()
    elif isinstance(content, str) and content.startswith("@"):
        path.symlink_to(content[1:])  # "@target": a symlink
    else:
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))


def build(folder: Path, case: Case) -> Path:
    for rel, content in case.files.items():
        _write(folder / rel, content)
    suite = folder / "suite.yaml"
    text = case.suite
    if isinstance(text, dict):
        text = yaml.dump(text, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True)
    _write(suite, text)
    return suite


def test_at_least_200_malformed_cases_each_give_one_located_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = all_cases()
    assert len(cases) >= 200
    assert len({c.name for c in cases}) == len(cases), "case names must be unique"
    (tmp_path / "cases").mkdir()
    # '../outside.jsonl' from a case's folder: a real file, outside the suite's folder
    (tmp_path / "cases" / "outside.jsonl").write_text(jsonl(ROWS), encoding="utf-8")
    problems = []
    for i, case in enumerate(cases):
        suite = build(tmp_path / "cases" / f"{i:03d}", case)
        try:
            code = main(["validate", str(suite)])
        except BaseException as e:  # a traceback is exactly what this test hunts
            problems.append(f"{case.name}: raised {type(e).__name__}: {e}")
            continue
        captured = capsys.readouterr()
        lines = [line for line in (captured.err + captured.out).splitlines() if line.strip()]
        line = lines[0] if lines else ""
        if code != 2:
            problems.append(f"{case.name}: exit {code}: {lines}")
        elif len(lines) != 1 or not line.startswith("error: "):
            problems.append(f"{case.name}: not one error line: {lines}")
        elif missing := [f for f in case.expect if f not in line]:
            problems.append(f"{case.name}: {missing} not in {line!r}")
        elif case.secret and case.secret in line:
            problems.append(f"{case.name}: the error line shows the secret: {line!r}")
    assert problems == [], f"{len(problems)} of {len(cases)} cases:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("base", "files"),
    [(CLASSIFY, CLASSIFY_FILES), (GENERATE, GENERATE_FILES)],
    ids=["classify", "generate"],
)
def test_the_unmutated_suites_are_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], base: dict, files: dict
) -> None:
    """The cases above fail because of their one mutation, not because the base is broken."""
    suite = build(tmp_path, Case("base", copy.deepcopy(base), dict(files), ()))
    assert main(["validate", str(suite)]) == 0, capsys.readouterr().err


def test_declared_encoding_and_allowed_outside_paths_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = copy.deepcopy(CLASSIFY)
    suite["datasets"]["heldout"]["encoding"] = "latin-1"
    suite["datasets"]["heldout"]["path"] = "../outside.jsonl"
    suite["allow_outside_paths"] = True
    (tmp_path / "outside.jsonl").write_bytes(
        jsonl([{**r, "input": r["input"] + " café"} for r in ROWS]).encode("latin-1")
    )
    path = build(tmp_path / "suite", Case("ok", suite, dict(CLASSIFY_FILES), ()))
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
