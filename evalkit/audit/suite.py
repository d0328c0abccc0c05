"""What the audit needs from a suite: every row of its evaluation sets with each set's kind
(in_domain or out_of_domain), the field names of its training data, and for a suite's
`audit:` block, the file it names."""

from __future__ import annotations

from pathlib import Path

from evalkit.audit.core import Audit, audit_rows
from evalkit.audit.rows import Fields, read_audit_rows
from evalkit.data.items import Item
from evalkit.inputfiles import SuiteFolder
from evalkit.suite.load import dataset_items, parse_suite
from evalkit.suite.schema import AuditSpec, Suite


def suite_datasets(path: Path) -> tuple[dict[str, tuple[str, list[Item]]], Fields]:
    """Each evaluation set (name → (kind, all its items)) and the training data's fields.

    Whole files, not the `limit`/`sample` a run evaluates: a leak anywhere in a held-out
    file is a leak, and the held-out share is of the data held out.
    """
    suite, _ = parse_suite(path)
    folder = SuiteFolder(path, allow_outside=suite.allow_outside_paths)
    datasets = {}
    for name, ds in suite.datasets.items():
        items = list(dataset_items(name, ds, suite, folder))
        datasets[name] = (suite.dataset_kind(name), items)
    td = suite.training_data
    return datasets, Fields(input=td.input, target=td.target) if td else Fields()


def audit_suite(path: Path, suite: Suite, spec: AuditSpec) -> Audit:
    """The audit a suite's `audit:` block asks for: its file (default: the training data's)
    against the suite's evaluation sets."""
    if spec.path is not None:
        rel, where = spec.path, "audit.path"
    else:
        assert suite.training_data is not None  # the schema refuses an audit with neither
        rel, where = suite.training_data.path, "training_data.path"
    data = SuiteFolder(path, allow_outside=suite.allow_outside_paths).resolve(rel, where)
    datasets, fields = suite_datasets(path)
    return audit_rows(read_audit_rows(data, fields), data=rel, suite=str(path), datasets=datasets)
