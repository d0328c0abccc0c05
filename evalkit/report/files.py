"""Writers for the machine-readable outputs: results.json, samples.jsonl, and the run folder."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.credentials import REDACTED, env_secrets, scrub, scrubber, secret_key

RESULTS_SCHEMA_VERSION = 1
# A lone surrogate (from a "\ud800" escape in data, a suite or a model's reply) cannot be
# encoded: every writer writes it as the escape it came from (valid inside a JSON string)
WRITE_ERRORS = "backslashreplace"


def redact(value: Any, secrets: Sequence[str] | None = None) -> Any:
    """A copy safe to write: every writer passes what it writes through here.

    Scalars under secret-looking keys are blanked at any depth (a mapping under such a key,
    a gate on a metric named "...authenticity..." say, is walked, not blanked), and in every
    string a URL's user-info, a credential-shaped token and the value of any secret-looking
    environment variable (`secrets`, default: read now) are cut out.
    """
    pattern = scrubber(env_secrets() if secrets is None else secrets)

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            return {
                k: REDACTED
                if secret_key(k) and isinstance(x, str | int | float) and not isinstance(x, bool)
                else walk(x)
                for k, x in v.items()
            }
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        return scrub(v, pattern) if isinstance(v, str) else v

    return walk(value)


def _clean(value: Any) -> Any:
    """JSON-ready: NaN → null, numpy scalars → Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    text = json.dumps(_clean(redact(data)), indent=2, ensure_ascii=False)
    tmp.write_text(text, encoding="utf-8", errors=WRITE_ERRORS)
    tmp.replace(path)


def write_samples(path: Path, table: pd.DataFrame) -> None:
    with path.open("w", encoding="utf-8", errors=WRITE_ERRORS) as fh:
        for row in redact(table.to_dict(orient="records")):
            fh.write(json.dumps(_clean(row), ensure_ascii=False) + "\n")


def read_samples(path: Path) -> pd.DataFrame:
    rows = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    return pd.DataFrame(rows)


def point_latest(suite_dir: Path, run_id: str) -> None:
    """`reports/<suite>/latest` → the newest run (a symlink, or a text file where links fail)."""
    latest = suite_dir / "latest"
    if latest.is_symlink() or latest.is_file():
        latest.unlink()
    try:
        os.symlink(run_id, latest, target_is_directory=True)
    except OSError:
        latest.write_text(run_id + "\n", encoding="utf-8")


def resolve_run(path: Path) -> Path:
    """A run folder, a suite folder (its latest run) or a results.json → the run folder."""
    if path.is_file() and path.name == "results.json":
        return path.parent
    if (path / "results.json").is_file() or (path / "run.json").is_file():
        return path
    latest = path / "latest"
    if latest.is_file():
        return path / latest.read_text(encoding="utf-8").strip()
    if latest.is_dir():
        return latest.resolve()
    raise FileNotFoundError(f"{path}: no results.json here (expected a run folder)")
