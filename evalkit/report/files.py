"""Writers for the per-sample rows (samples.jsonl) and the run folder; results.json is
written by `evalkit.results`, next to its schema."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.jsonutil import json_ready
from evalkit.suite.schema import SECRET_KEY


def redact(value: Any) -> Any:
    """A copy with the text under secret-looking keys replaced, at any depth.

    Only scalar values are secrets: a mapping under such a key (a gate on a metric named
    "...authenticity...", say) is walked, not blanked.
    """
    if isinstance(value, dict):
        return {
            k: "<redacted>"
            if SECRET_KEY.search(str(k)) and isinstance(v, str | int | float)
            else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def write_samples(path: Path, table: pd.DataFrame) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in table.to_dict(orient="records"):
            fh.write(json.dumps(json_ready(row), ensure_ascii=False) + "\n")


def point_latest(suite_dir: Path, run_id: str) -> None:
    """`reports/<suite>/latest` → the newest run (a symlink, or a text file where links fail)."""
    latest = suite_dir / "latest"
    if latest.is_symlink() or latest.is_file():
        latest.unlink()
    try:
        os.symlink(run_id, latest, target_is_directory=True)
    except OSError:
        latest.write_text(run_id + "\n", encoding="utf-8")
