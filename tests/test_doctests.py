"""The examples in the docstrings run: the statistics, scoring and helper modules teach by them."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "evalkit.hashing",
    "evalkit.jsonutil",
    "evalkit.registry",
    "evalkit.report.numbers",
    "evalkit.analysis.stats",
    "evalkit.scoring.extract",
    "evalkit.scoring.format",
    "evalkit.scoring.probes",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0
