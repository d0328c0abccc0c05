"""The examples in the docstrings run: the statistics, scoring and helper modules teach by them."""

from __future__ import annotations

import doctest
import importlib
import inspect

import pytest

MODULES = [
    "evalkit.analysis.collapse",
    "evalkit.analysis.fields",
    "evalkit.analysis.metrics",
    "evalkit.analysis.reference",
    "evalkit.analysis.stats",
    "evalkit.audit.agreement",
    "evalkit.audit.sensitive",
    "evalkit.analysis.style",
    "evalkit.hashing",
    "evalkit.jsonutil",
    "evalkit.plugins",
    "evalkit.registry",
    "evalkit.report.beyond",
    "evalkit.report.numbers",
    "evalkit.run.servers",
    "evalkit.scoring.extract",
    "evalkit.scoring.fields",
    "evalkit.scoring.format",
    "evalkit.scoring.memorisation",
    "evalkit.scoring.probes",
    "evalkit.scoring.reference",
    "evalkit.scoring.refusal",
    "evalkit.scoring.rubric",
]


# Functions whose example would be a whole suite on disk: documented with arguments and
# returns, and exercised end to end by the tests of the suite loader.
ARGUMENTS_ONLY = {"load_rubric_uses", "format_check"}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0


@pytest.mark.parametrize(
    "name", [m for m in MODULES if m.startswith(("evalkit.analysis.stats", "evalkit.scoring."))]
)
def test_every_public_function_of_the_statistics_and_scoring_modules_has_an_example(
    name: str,
) -> None:
    """Arguments, returns and an example: a public function without one fails here."""
    module = importlib.import_module(name)
    bare = [
        f
        for f, obj in vars(module).items()
        if inspect.isfunction(obj)
        and obj.__module__ == name
        and not f.startswith("_")
        and ">>>" not in (obj.__doc__ or "")
        and f not in ARGUMENTS_ONLY
    ]
    assert not bare, f"{name}: public functions without a docstring example: {bare}"
