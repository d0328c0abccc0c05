"""The files of a new suite, from an init file: data splits, labels, prompts, suite.yaml, SPLIT.md.

`init_suite` reads the file and returns every file to write as text, keyed by its path in the
suite folder; it writes nothing. The suite's arms are scripted placeholders that answer
offline, so `evalkit run` completes right after `evalkit init`, before any model is chosen.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2
import pydantic
import yaml

from evalkit.errors import InputError
from evalkit.scaffold.source import Row, Source, read_source
from evalkit.scaffold.split import Split, pick_fewshot, split_rows
from evalkit.suite.schema import Contamination, Suite

FEWSHOT_PER_LABEL = 1  # classification: one example of every label
FEWSHOT_GENERATION = 3  # generation: this many examples
LISTED_OVERLAPS = 50  # SPLIT.md lists the closest this many; every evaluation run lists all

# The candidate is prompted exactly as it was fine-tuned: the raw input is the user message.
CANDIDATE_PROMPT = (
    "{# The fine-tuned model sees what it was trained on: the input alone as the user message.\n"
    "   Change this if your fine-tuning rows wrapped the input in an instruction. -#}\n"
    "{{ input }}\n"
)
BASELINE_USER = "Message: {{ input }}\n"


@dataclass(frozen=True)
class InitOptions:
    task: Literal["classification", "generation"] = "classification"
    input_field: str | None = None  # default: `input` (refused for chat files)
    target_field: str | None = None  # default: `target`; in chat files a key of the JSON reply
    name: str | None = None  # default: from the file name
    seed: int = 0
    heldout_share: float = 0.15


@dataclass(frozen=True)
class Scaffold:
    name: str
    files: dict[str, str]  # path in the suite folder → text
    split: Split
    notes: tuple[str, ...]  # what the user should know, one line each


@dataclass(frozen=True)
class AnswerShape:
    """How a correct answer looks: a JSON object with the label under `field`, or the bare text."""

    field: str | None

    def render(self, target: str) -> str:
        return json.dumps({self.field: target}, ensure_ascii=False) if self.field else target

    @property
    def example(self) -> str:
        """The answer to a few-shot example, as jinja2 over `e.target`."""
        return self.render("{{ e.target }}")


def _meta_env() -> jinja2.Environment:
    # The scaffold templates write jinja2 templates, so their own tags use other delimiters.
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("evalkit.scaffold", "templates"),
        variable_start_string="[[",
        variable_end_string="]]",
        block_start_string="[%",
        block_end_string="%]",
        comment_start_string="[#",
        comment_end_string="#]",
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["q"] = lambda v: json.dumps(v, ensure_ascii=False)  # JSON is valid YAML flow
    env.filters["cell"] = lambda text: " ".join(text.split()).replace("|", "\\|")[:100]
    return env


def _literal(text: str) -> str:
    """`text` as a jinja2 template that renders to itself."""
    return "{% raw %}" + text + "{% endraw %}" if re.search(r"\{[{%#]", text) else text


def _jsonl(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _row(r: Row) -> dict[str, str]:
    return {"id": r.id, "input": r.input, "target": r.target}


def _name(options: InitOptions, path: Path) -> str:
    if options.name is not None:
        return options.name
    return re.sub(r"[^A-Za-z0-9_-]+", "-", path.stem).strip("-_") or "suite"


def _check_labels(source: Source) -> None:
    for r in source.rows:
        if not r.target or "\n" in r.target:
            raise InputError(
                "a classification target must be one non-empty line (it becomes a label)",
                path=source.path,
                line=r.line,
            )


def _is_json_structure(text: str) -> bool:
    """The text is a JSON object or array (a bare number or string says nothing about format)."""
    try:
        return isinstance(json.loads(text), dict | list)
    except json.JSONDecodeError:
        return False


def _shape(source: Source, classification: bool) -> AnswerShape:
    if source.format == "chat" or not classification:
        # answers look like the fine-tuning replies: a key of a JSON reply, or the reply itself
        return AnswerShape(source.reply_field)
    return AnswerShape("label")


def _formats(split: Split, classification: bool, shape: AnswerShape) -> tuple[dict[str, Any], int]:
    """The format checks and the answer length (max_tokens) that fit the training answers."""
    if classification:
        longest = max((r.target for r in split.train), key=len)
        checks: dict[str, Any] = {"json": True} if shape.field else {}
        # a token is at least one character: enough for the longest label's answer, with room
        # for whitespace around it
        return {**checks, "label_in_set": True}, len(shape.render(longest)) + 8
    most_words = max(len(r.target.split()) for r in split.train)
    max_words = max(10, 2 * most_words)
    checks = {"min_words": 1, "max_words": max_words}
    if all(_is_json_structure(r.target) for r in split.train):
        checks = {"json": True, **checks}
    # room for answers past max_words, so an overlong answer fails its check instead of being cut
    return checks, max(64, 2 * max_words)


def _placeholder(split: Split, classification: bool, shape: AnswerShape) -> str:
    """The placeholder arms' one answer: the commonest training label, or a training answer."""
    if not classification:
        return shape.render(split.train[0].target)
    counts = Counter(r.target for r in split.train)
    return shape.render(min(counts, key=lambda label: (-counts[label], label)))


def _finetune_rows(source: Source, split: Split, shape: AnswerShape) -> list[dict[str, Any]]:
    """The training split in OpenAI chat format: the source rows themselves for a chat file."""
    if source.format == "chat":
        return [r.chat for r in split.train if r.chat]
    return [
        {
            "messages": [
                {"role": "user", "content": r.input},
                {"role": "assistant", "content": shape.render(r.target)},
            ]
        }
        for r in split.train
    ]


def _notes(source: Source, split: Split, classification: bool) -> tuple[str, ...]:
    """What the user should know about the new suite; paths are relative to its folder."""
    n_train, n_heldout = len(split.train), len(split.heldout)
    labels = len({r.target for r in source.rows})
    notes = [
        f"split: {n_train} training rows, {n_heldout} held-out "
        f"({n_heldout / len(source.rows):.0%})"
        + (f", stratified over {labels} labels" if classification else ""),
    ]
    exact = sum(m.exact for m in split.overlaps)
    conflicts = split.conflicting_groups
    notes.append(
        f"overlap: {exact} held-out items identical to a training item, "
        f"{len(split.overlaps) - exact} near-duplicates (listed in data/SPLIT.md); "
        f"{split.duplicate_groups} repeated inputs kept on one side"
        + (f", {conflicts} of them with different targets" if conflicts else "")
    )
    if source.system_varies:
        notes.append(
            "the chat rows have different system messages: the candidate prompt has none; "
            "edit prompts/candidate.jinja to match your fine-tuning"
        )
    notes.append(
        "both arms are placeholders that answer offline: put your base and fine-tuned models "
        "in suite.yaml, and fine-tune on data/finetune.jsonl (the training rows only)"
    )
    return tuple(notes)


def _check_name(suite_yaml: str) -> None:
    """The rendered suite passes the schema; of what it holds, only --name is the user's, unchecked."""
    try:
        Suite.model_validate(yaml.safe_load(suite_yaml))
    except pydantic.ValidationError as e:
        first = e.errors()[0]
        if first["loc"] != ("name",):
            raise  # a scaffold bug, not the user's input
        raise InputError(first["msg"].removeprefix("Value error, "), where="--name") from None


def init_suite(path: Path, options: InitOptions) -> Scaffold:
    """Every file of a suite for the init file at `path`, and what the user should know about it."""
    source = read_source(path, input_field=options.input_field, target_field=options.target_field)
    classification = options.task == "classification"
    if classification:
        _check_labels(source)
    split = split_rows(
        source.rows,
        stratify=classification,
        share=options.heldout_share,
        seed=options.seed,
        path=path,
    )
    fewshot = pick_fewshot(
        split,
        per_label=FEWSHOT_PER_LABEL if classification else None,
        n=FEWSHOT_GENERATION,
        seed=options.seed,
    )
    shape = _shape(source, classification)
    checks, max_tokens = _formats(split, classification, shape)
    name = _name(options, path)
    labels = sorted({r.target for r in source.rows}) if classification else []
    env = _meta_env()
    common = {
        "source": str(path),
        "n_rows": len(source.rows),
        "sha256": source.sha256,
        "classification": classification,
    }
    suite_yaml = env.get_template("suite.yaml").render(
        **common,
        name=name,
        description=(
            f"Does the fine-tuned model beat the base model with its best few-shot prompt on "
            f"held-out rows of {path.name}? (written by evalkit init)"
        ),
        task=options.task,
        output={"format": "json", "field": shape.field} if shape.field else {"format": "text"},
        placeholder=_placeholder(split, classification, shape),
        max_tokens=max_tokens,
        candidate_system=source.system is not None,
        format=checks,
    )
    _check_name(suite_yaml)
    contamination = Contamination()
    files = {
        "suite.yaml": suite_yaml,
        "data/train.jsonl": _jsonl(map(_row, split.train)),
        "data/heldout.jsonl": _jsonl(map(_row, split.heldout)),
        "data/fewshot.jsonl": _jsonl(map(_row, fewshot)),
        "data/finetune.jsonl": _jsonl(_finetune_rows(source, split, shape)),
        "data/SPLIT.md": env.get_template("SPLIT.md").render(
            **common,
            format=source.format,
            seed=options.seed,
            share=options.heldout_share,
            n_train=len(split.train),
            n_heldout=len(split.heldout),
            n_fewshot=len(fewshot),
            duplicate_groups=split.duplicate_groups,
            conflicting_groups=split.conflicting_groups,
            per_label=[
                (
                    label,
                    sum(r.target == label for r in source.rows),
                    sum(r.target == label for r in split.train),
                    sum(r.target == label for r in split.heldout),
                )
                for label in labels
            ],
            ngram=contamination.ngram,
            threshold=contamination.threshold,
            n_overlaps=len(split.overlaps),
            overlaps=split.overlaps[:LISTED_OVERLAPS],
        ),
        "prompts/baseline_fewshot.jinja": BASELINE_USER,
        "prompts/baseline_fewshot_system.jinja": env.get_template(
            "baseline_fewshot_system.jinja"
        ).render(
            classification=classification,
            source_system=_literal(source.system) if source.system else None,
            answer_shape=(
                f"a JSON object {shape.render('<label>')}" if shape.field else "the label alone"
            ),
            example_answer=shape.example,
        ),
        "prompts/candidate.jinja": CANDIDATE_PROMPT,
    }
    if labels:
        files["data/labels.txt"] = "".join(f"{label}\n" for label in labels)
    if source.system is not None:
        files["prompts/candidate_system.jinja"] = _literal(source.system) + "\n"
    return Scaffold(
        name=name,
        files=files,
        split=split,
        notes=_notes(source, split, classification),
    )
