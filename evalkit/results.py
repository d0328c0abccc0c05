"""A finished run on disk: its results.json and per-item rows, read back for the gate and compare."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.errors import InputError


@dataclass(frozen=True)
class StoredRun:
    """A finished run folder: its results.json and, where present, its per-item rows."""

    path: Path
    results: dict[str, Any]
    samples: pd.DataFrame | None


def load_run(path: Path) -> StoredRun:
    """Read a run folder, a suite folder (its latest run) or a results.json; InputError if absent."""
    try:
        run_dir = resolve_run(path)
        results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise InputError("no results.json here (expected a run folder)", path=path) from e
    except json.JSONDecodeError as e:
        raise InputError(f"results.json is not valid JSON: {e}", path=path) from e
    samples_path = run_dir / "samples.jsonl"
    samples = read_samples(samples_path) if samples_path.is_file() else None
    return StoredRun(path=run_dir, results=results, samples=samples)


def read_samples(path: Path) -> pd.DataFrame:
    rows = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    return pd.DataFrame(rows)


def resolve_run(path: Path) -> Path:
    """A run folder, a suite folder (its latest run) or a results.json → the run folder."""
    if path.is_file() and path.name == "results.json":
        return path.parent
    if (path / "results.json").is_file():
        return path
    latest = path / "latest"
    if latest.is_file():
        return path / latest.read_text(encoding="utf-8").strip()
    if latest.is_dir():
        return latest.resolve()
    raise FileNotFoundError(f"{path}: no results.json here (expected a run folder)")
