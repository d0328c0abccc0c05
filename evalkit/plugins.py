"""A suite's own checks and metrics: plain Python functions named in the suite.

```yaml
scorers:
  custom:
    - python: checks/refund_policy.py:mentions_refund_window   # file:function, relative to the suite
    - entry_point: acme-key-facts                              # an installed entry point
```

Each function gets one per-sample row (a read-only mapping: `input`, `target`, `output`,
`label`, `checks`, ... see docs/plugins.md) and returns a value for it:

- a **check** returns True or False (or `Score(value, explanation)`); its metric
  `custom.<name>` is the share of answers that pass. A failed request, a check that
  raised, or None count as a fail, as for the built-in format checks.
- a **metric** (a function marked `@metric`) returns a number (or a `Score`); its metric
  `custom.<name>` is the mean over the items both arms have a value for. A failed
  request, a metric that raised, or None leave the item out, and the report says how many.

A function that raises on one sample records an error for that sample (counted and shown
beside the metric), never a crashed run. Plug-ins are loaded per suite, into no registry
of evalkit's own: two suites in one process never see each other's functions.
"""

from __future__ import annotations

import ctypes
import importlib.util
import inspect
import math
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any, Literal, overload

from evalkit.errors import InputError
from evalkit.hashing import sha256_text
from evalkit.inputfiles import SuiteFolder
from evalkit.names import CUSTOM_PREFIX, NAME
from evalkit.results import ScorerInfo
from evalkit.suite.schema import Suite

ENTRY_POINT_GROUP = "evalkit.scorers"

# How long a plug-in file's import may take: real ones import in well under a second.
IMPORT_TIMEOUT_S = 30.0

Kind = Literal["check", "score"]
Row = Mapping[str, Any]


@dataclass(frozen=True)
class Score:
    """A value for one sample with the reason for it, shown next to the sample."""

    value: bool | float | None
    explanation: str | None = None


@dataclass(frozen=True)
class PluginSpec:
    """What a decorator says about a function: a check or a metric, and how to read it."""

    kind: Kind
    name: str | None = None
    higher_is_better: bool = True
    headline: bool = True


_SPEC = "__evalkit_scorer__"

F = Callable[[Row], Any]


@overload
def check(fn: F) -> F: ...
@overload
def check(*, name: str | None = None, headline: bool = True) -> Callable[[F], F]: ...
def check(fn: F | None = None, *, name: str | None = None, headline: bool = True) -> Any:
    """Mark a function as a pass/fail check (optional: an undecorated function is a check).

    `name` overrides the metric's name (default: the function's); `headline=False` keeps
    it out of the terminal summary and summary.md.

    >>> @check(name="polite")
    ... def says_please(row):
    ...     return Score("please" in row["output"], "asks nicely")
    >>> says_please({"output": "One moment, please."})
    Score(value=True, explanation='asks nicely')
    """
    spec = PluginSpec(kind="check", name=name, headline=headline)
    return _mark(fn, spec)


@overload
def metric(fn: F) -> F: ...
@overload
def metric(
    *, name: str | None = None, higher_is_better: bool = True, headline: bool = True
) -> Callable[[F], F]: ...
def metric(
    fn: F | None = None,
    *,
    name: str | None = None,
    higher_is_better: bool = True,
    headline: bool = True,
) -> Any:
    """Mark a function as a numeric metric: one number per sample, averaged over samples.

    >>> @metric(higher_is_better=False)
    ... def reply_words(row):
    ...     return len(row["output"].split())
    >>> reply_words({"output": "Refunds take five days."})
    4
    """
    spec = PluginSpec(kind="score", name=name, higher_is_better=higher_is_better, headline=headline)
    return _mark(fn, spec)


def _mark(fn: F | None, spec: PluginSpec) -> Any:
    def mark(f: F) -> F:
        setattr(f, _SPEC, spec)
        return f

    return mark if fn is None else mark(fn)


@dataclass(frozen=True)
class Scorer:
    """A loaded plug-in: its function and how its values become a metric."""

    name: str
    kind: Kind
    fn: F
    source: str  # file:function or entry point, for messages and results.json
    higher_is_better: bool = True
    headline: bool = True

    @property
    def info(self) -> ScorerInfo:
        return ScorerInfo(
            name=self.name,
            kind=self.kind,
            source=self.source,
            higher_is_better=self.higher_is_better,
            headline=self.headline,
        )


# ---- loading ---------------------------------------------------------------------------------


def load_scorers(suite: Suite, folder: SuiteFolder) -> tuple[Scorer, ...]:
    """Every `scorers.custom` entry of a suite, imported for this suite only.

    Args:
        suite: the validated suite; folder: its folder (file paths resolve against it and
            stay inside it), whose suite file errors name.

    Returns:
        One Scorer per entry, in the suite's order. A file that is missing or fails to
        import, a name it does not define, an entry point that is not installed, or two
        scorers of one name is an InputError naming the suite file and the key.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()).resolve()
    >>> _ = (folder / "rules.py").write_text("def short(row):\\n    return len(row['output']) < 20\\n")
    >>> arm = {"model": "evalkit-test/x", "prompt": {"text": "{{ input }}"}}
    >>> suite = Suite.model_validate({
    ...     "name": "s", "task": {"type": "generation"}, "datasets": {"heldout": {"path": "x"}},
    ...     "arms": {"baseline": arm, "candidate": arm},
    ...     "scorers": {"custom": [{"python": "rules.py:short"}]}})
    >>> [(s.name, s.kind, s.info.metric) for s in load_scorers(suite, SuiteFolder(folder / "suite.yaml"))]
    [('short', 'check', 'custom.short')]
    """
    suite_path = folder.suite_path
    scorers: list[Scorer] = []
    for i, entry in enumerate(suite.scorers.custom):
        where = f"scorers.custom.{i}"
        if entry.python is not None:
            fn, default_name, source = _from_file(entry.python, folder, where)
        else:
            assert entry.entry_point is not None  # the schema requires one of the two
            fn, default_name, source = _from_entry_point(entry.entry_point, suite_path, where)
        if not callable(fn):
            raise InputError(f"{source} is not a function", path=suite_path, where=where)
        spec: PluginSpec = getattr(fn, _SPEC, None) or PluginSpec(kind="check")
        name = entry.name or spec.name or default_name
        if not NAME.match(name):
            raise InputError(
                f"scorer name {name!r}: use letters, digits, '-' and '_' (it names the metric "
                f"{CUSTOM_PREFIX}.<name>); set name: to choose one",
                path=suite_path,
                where=f"{where}.name",
            )
        if any(s.name == name for s in scorers):
            raise InputError(
                f"two custom scorers are named {name!r}; give one a name:",
                path=suite_path,
                where=where,
            )
        scorers.append(Scorer(name, spec.kind, fn, source, spec.higher_is_better, spec.headline))
    return tuple(scorers)


def _from_file(ref: str, folder: SuiteFolder, where: str) -> tuple[Any, str, str]:
    suite_path = folder.suite_path
    file, _, function = ref.rpartition(":")
    if not file or not function:
        raise InputError(
            f"python: {ref!r} needs the form path/to/file.py:function",
            path=suite_path,
            where=f"{where}.python",
        )
    path = folder.resolve(file, f"{where}.python")
    module = _import_file(path, suite_path, where)
    if not hasattr(module, function):
        defined = sorted(
            n
            for n, v in vars(module).items()
            if inspect.isfunction(v) and v.__module__ == module.__name__ and n[0] != "_"
        )
        raise InputError(
            f"{file} defines no {function!r} (it defines: {', '.join(defined) or 'nothing'})",
            path=suite_path,
            where=f"{where}.python",
        )
    return getattr(module, function), function, ref


class _Abandoned(BaseException):
    """Raised inside a plug-in's import that ran past its time (not an Exception: a plug-in's
    `except Exception` does not keep it looping)."""


def _stop(worker: threading.Thread) -> None:
    """Ask a runaway import thread to stop: a daemon thread ends with the process, but in one
    that goes on (a notebook, a test session) a loop at import would hold the GIL for good and
    slow everything after it. CPython raises the exception at the thread's next bytecode; a
    plug-in that catches BaseException and loops on is left to the process's end."""
    if worker.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(worker.ident), ctypes.py_object(_Abandoned)
        )


def _import_file(path: Path, suite_path: Path, where: str) -> ModuleType:
    """A fresh module for every load: no two suites, or two loads, share module state."""
    resolved = path.resolve()
    name = f"evalkit_plugin_{sha256_text(str(resolved))[:12]}_{resolved.stem}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise InputError(f"cannot import {path}", path=suite_path, where=f"{where}.python")
    module = importlib.util.module_from_spec(spec)
    # in sys.modules only while it runs: dataclasses and pickling look the module up by name
    sys.modules[name] = module
    failure: list[BaseException] = []

    def run() -> None:
        try:
            spec.loader.exec_module(module)
        except BaseException as e:  # SystemExit too: a plug-in never ends the run
            failure.append(e)

    # A daemon thread bounds the import: a plug-in looping at import is reported, not waited on,
    # and cannot keep the process alive (an alarm signal could be swallowed by the plug-in's own
    # `except BaseException`, and works only on the main thread).
    worker = threading.Thread(target=run, name=f"import {path.name}", daemon=True)
    try:
        worker.start()
        worker.join(IMPORT_TIMEOUT_S)
        if worker.is_alive():
            _stop(worker)
            raise InputError(
                f"importing {path.name} did not finish within {IMPORT_TIMEOUT_S:g} s",
                path=suite_path,
                where=f"{where}.python",
            )
    finally:
        sys.modules.pop(name, None)
    if failure:
        e = failure[0]
        raise InputError(
            f"importing {path.name} failed: {type(e).__name__}: {e}",
            path=suite_path,
            where=f"{where}.python",
        ) from None
    return module


def _from_entry_point(name: str, suite_path: Path, where: str) -> tuple[Any, str, str]:
    import importlib.metadata  # imported on use: scanning installed packages costs start-up

    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not found:
        installed = sorted(
            ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        )
        raise InputError(
            f"no installed entry point {name!r} in the group {ENTRY_POINT_GROUP} "
            f"(installed: {', '.join(installed) or 'none'})",
            path=suite_path,
            where=f"{where}.entry_point",
        )
    entry = next(iter(found))
    try:
        fn = entry.load()
    except (Exception, SystemExit) as e:
        raise InputError(
            f"loading entry point {name!r} ({entry.value}) failed: {type(e).__name__}: {e}",
            path=suite_path,
            where=f"{where}.entry_point",
        ) from None
    return fn, name, f"entry point {name} ({entry.value})"


# ---- scoring ---------------------------------------------------------------------------------


def _read(scorer: Scorer, returned: Any) -> tuple[bool | float | None, str | None]:
    """(value, explanation) from what a plug-in returned; TypeError when it is not usable."""
    value, explanation = (
        (returned.value, returned.explanation) if isinstance(returned, Score) else (returned, None)
    )
    if explanation is not None and not isinstance(explanation, str):
        raise TypeError(f"the explanation is {type(explanation).__name__}, not text")
    if value is None:
        return None, explanation
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()
    if scorer.kind == "check":
        if not isinstance(value, bool):
            raise TypeError(
                f"a check returns True or False, not {value!r}; "
                "mark a function that returns a number with @evalkit.plugins.metric"
            )
        return value, explanation
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError(f"a metric returns a finite number, not {value!r}")
    return float(value), explanation


def score_row(scorers: tuple[Scorer, ...], row: Row) -> dict[str, dict[str, Any]]:
    """Each scorer's value for one row: {name: {value, explanation, error}}.

    A scorer that raises, or returns something it may not, gets an error for this row
    instead of a value; the run goes on.

    >>> passes = Scorer("polite", "check", lambda row: "please" in row["output"], "test")
    >>> broken = Scorer("broken", "check", lambda row: row["missing"], "test")
    >>> score_row((passes, broken), {"output": "Yes, please wait."})
    {'polite': {'value': True, 'explanation': None, 'error': None}, 'broken': {'value': None, 'explanation': None, 'error': "KeyError: 'missing'"}}
    """
    view = MappingProxyType(dict(row))  # read-only: a plug-in cannot change the table
    out: dict[str, dict[str, Any]] = {}
    for scorer in scorers:
        try:
            value, explanation = _read(scorer, scorer.fn(view))
            out[scorer.name] = {"value": value, "explanation": explanation, "error": None}
        except (Exception, SystemExit) as e:  # sys.exit() in a check is this row's error
            error = f"{type(e).__name__}: {e}"[:300]
            out[scorer.name] = {"value": None, "explanation": None, "error": error}
    return out
