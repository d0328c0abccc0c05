"""An inspect-ai `Task` as a forgetting probe: its samples are the items, its scorer the judge.

A suite names the task by inspect-ai's own specs: a registry name (`inspect_evals/arc_easy`,
from an installed package) or `file.py@name` (a file in the suite's folder). The task is
resolved with inspect-ai's loaders; both arms answer the same seeded draw of its samples with
the task's solver and scorer (evalkit.run.inspect_task), and each sample's score is read back
as a float with inspect's `value_to_float` (C → 1, P → 0.5, I and N → 0).
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from evalkit.errors import InputError
from evalkit.inputfiles import SuiteFolder
from evalkit.names import NAME, RESERVED_NAMES
from evalkit.scoring.probes import INSPECT, ProbeItem, ProbePack, VerdictSpec

KIND = "inspect_task"  # such a pack's kind: no ProbeKind, the task's scorer judges


def is_file_spec(spec: str) -> bool:
    """Whether a task spec names a file (`dir/file.py@name`, `file.py`) rather than a registry
    entry (`inspect_evals/arc_easy`)."""
    return "@" in spec or spec.endswith(".py")


def resolve_spec(spec: str, folder: SuiteFolder, where: str) -> str:
    """The spec with a file part made absolute (and kept inside the suite's folder)."""
    if not is_file_spec(spec):
        return spec
    file, _, name = spec.partition("@")
    path = folder.resolve(file, where)
    return f"{path}@{name}" if name else str(path)


def load_task(spec: str, where: str, suite_path: Path | str | None = None) -> Any:
    """The inspect-ai Task a resolved spec names; a located InputError when there is none.

    Loading a file runs its code, as `inspect eval` does.
    """
    from inspect_ai._eval.loader import load_task_spec
    from inspect_ai._util.registry import registry_lookup

    if not is_file_spec(spec) and registry_lookup("task", spec) is None:
        package = spec.split("/", 1)[0] if "/" in spec else None
        hint = (
            f"; is the package that provides it installed (e.g. pip install {package.replace('_', '-')})?"
            if package
            else "; give a registry name (package/task) or file.py@task"
        )
        raise InputError(f"no inspect-ai task named {spec!r}{hint}", path=suite_path, where=where)
    try:
        tasks = load_task_spec(spec)
    except Exception as e:  # the user's file fails to import, or the task's constructor fails
        raise InputError(
            f"cannot load inspect-ai task {spec!r}: {type(e).__name__}: {e}",
            path=suite_path,
            where=where,
        ) from None
    if len(tasks) != 1:
        found = "no task" if not tasks else f"{len(tasks)} tasks"
        raise InputError(
            f"{spec!r} names {found}; name exactly one as file.py@task",
            path=suite_path,
            where=where,
        )
    return tasks[0]


def probe_name(spec: str) -> str:
    """The name a task's probe goes by in metrics and gate paths: the task's own name.

    >>> probe_name("inspect_evals/arc_easy"), probe_name("/s/tiny_task.py@tiny_qa")
    ('arc_easy', 'tiny_qa')
    """
    name = spec.rpartition("@")[2] if "@" in spec else Path(spec.rpartition("/")[2]).stem
    return re.sub(r"[^A-Za-z0-9_\-]", "-", name).lstrip("-_") or "inspect_task"


def sample_id(sample: Any, position: int) -> str:
    """A sample's id as text; a sample without one gets inspect's auto-id (its position + 1)."""
    return str(position + 1 if sample.id is None else sample.id)


def _text(value: Any) -> str:
    """A sample's input or target as text: a string, the messages' text, or the targets."""
    if isinstance(value, str):
        return value
    return "\n".join(m if isinstance(m, str) else m.text for m in value)


def select_samples(
    task: Any, n: int | None, seed: int, where: str, suite_path: Any
) -> list[tuple[int, Any]]:
    """(position, sample) for `n` of the task's samples drawn with `seed` (all when n is
    None), in the task's order."""
    samples = list(enumerate(task.dataset))
    if not samples:
        raise InputError("the inspect-ai task has no samples", path=suite_path, where=where)
    if n is None:
        return samples
    if n > len(samples):
        raise InputError(
            f"asked for {n} samples but the task has {len(samples)}",
            path=suite_path,
            where=where.rpartition(".")[0] + ".n",
        )
    return [samples[i] for i in sorted(random.Random(seed).sample(range(len(samples)), n))]


def inspect_probe(
    spec: str,
    folder: SuiteFolder,
    *,
    n: int | None,
    seed: int,
    chance: float | None,
    where: str,
) -> tuple[ProbePack, str]:
    """A suite's inspect-ai task as a probe pack of its drawn samples, and the resolved spec
    the executor loads it from; every problem an InputError at `where` (probes.<i>.inspect_task).
    """
    resolved = resolve_spec(spec, folder, where)
    task = load_task(resolved, where, folder.suite_path)
    name = probe_name(spec)
    if not NAME.match(name) or name in RESERVED_NAMES:
        raise InputError(
            f"the task's name {name!r} cannot name a probe (it names gate paths)",
            path=folder.suite_path,
            where=where,
        )
    items = tuple(
        ProbeItem(id=sample_id(s, i), input=_text(s.input), target=_text(s.target))
        for i, s in select_samples(task, n, seed, where, folder.suite_path)
    )
    if len({it.id for it in items}) != len(items):
        raise InputError(
            "the task's samples repeat an id; both arms are paired by sample id",
            path=folder.suite_path,
            where=where,
        )
    pack = ProbePack(
        name=name,
        version=str(getattr(task, "version", 0)),
        kind=KIND,
        method=INSPECT,
        prompt=None,
        max_tokens=None,
        loglik=None,
        verdicts=(VerdictSpec("accuracy", True, 0.0 if chance is None else chance),),
        items=items,
        source=spec,
        path=resolved.partition("@")[0] if is_file_spec(resolved) else resolved,
    )
    return pack, resolved


def score_value(value: Any) -> float | None:
    """A sample's score value as a float, as inspect's `value_to_float` reads it; None for a
    value that is not one number or grade (a dict or list of several).

    >>> score_value("C"), score_value("I"), score_value("P"), score_value(True), score_value(0.25)
    (1.0, 0.0, 0.5, 1.0, 0.25)
    >>> score_value({"a": 1}) is None
    True
    """
    from inspect_ai.scorer import value_to_float

    if isinstance(value, dict | list):
        return None
    return float(value_to_float()(value))
