"""The layers point one way: a module imports only from its own layer or the ones below it.

The flow is suite → plan → run → per-sample table → analysis → gate → report, with the
orchestrator (`evalkit.pipeline`) and the CLI on top. Every import counts, also one inside a
function or under `TYPE_CHECKING`: a lazy import upward is still a dependency upward.
"""

from __future__ import annotations

import ast
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "evalkit"

# Lowest first. A module matches the first pattern that names it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("evalkit", "evalkit.names", "evalkit.errors", "evalkit.hashing",
                    "evalkit.jsonutil", "evalkit.home", "evalkit.registry", "evalkit.credentials",
                    "evalkit.inputfiles", "evalkit.runfolder", "evalkit.yamlfile")),
    ("inputs", ("evalkit.suite", "evalkit.suite.schema", "evalkit.data", "evalkit.data.*",
                "evalkit.prompts", "evalkit.probes", "evalkit.history.schema", "evalkit.results")),
    ("scoring", ("evalkit.scoring", "evalkit.scoring.*", "evalkit.plugins")),
    ("suite loading", ("evalkit.suite.selection", "evalkit.suite.load")),
    ("plan", ("evalkit.run", "evalkit.run.plan")),
    ("execution", ("evalkit.models", "evalkit.models.*", "evalkit.run.journal",
                   "evalkit.run.cache", "evalkit.run.engine", "evalkit.run.progress",
                   "evalkit.run.execute", "evalkit.run.inspect_task", "evalkit.run.servers",
                   "evalkit.testing",
                   "evalkit.testing.*")),
    ("per-sample table", ("evalkit.analysis.table",)),
    ("judge pass", ("evalkit.run.judge",)),
    ("analysis", ("evalkit.analysis", "evalkit.analysis.*")),
    # the data audit reads a suite's files and reuses the contamination check
    ("audit", ("evalkit.audit", "evalkit.audit.*")),
    ("prompt selection", ("evalkit.selection",)),
    ("scaffold", ("evalkit.scaffold", "evalkit.scaffold.*")),
    ("gate", ("evalkit.gate",)),
    # release history: the run store, drift and roll-back decisions read finished runs
    ("history", ("evalkit.history", "evalkit.history.*")),
    ("report", ("evalkit.report", "evalkit.report.*")),
    ("orchestrator", ("evalkit.pipeline",)),
    # runs the orchestrator's shard runs as Ray tasks, then its merge
    ("ray executor", ("evalkit.ray_executor",)),
    ("cli", ("evalkit.cli",)),
]  # fmt: skip


def layer_of(module: str) -> int:
    for index, (_, patterns) in enumerate(LAYERS):
        if any(fnmatchcase(module, p) for p in patterns):
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, module) for every evalkit module `path` imports, relative imports resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from evalkit.models import local` imports the module evalkit.models.local
            names = [f"{base}.{a.name}" for a in node.names]
            found += [(node.lineno, n if _is_module(n) else base) for n in names]
    return sorted({(line, name) for line, name in found if name.split(".")[0] == "evalkit"})


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    for path in MODULES:
        layer_of(module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    module = module_name(path)
    own = layer_of(module)
    upward = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name} "
        f"({LAYERS[layer_of(name)][0]}, above {LAYERS[own][0]})"
        for line, name in imported(path, module)
        if layer_of(name) > own
    ]
    assert not upward, "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The check itself works: a scoring module importing the gate is caught."""
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from evalkit.gate import evaluate_gates\n", encoding="utf-8")
    [(line, name)] = imported(source, "evalkit.scoring.probe")
    assert (line, name) == (2, "evalkit.gate")
    assert layer_of(name) > layer_of("evalkit.scoring.probe")
