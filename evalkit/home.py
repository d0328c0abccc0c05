"""Where evalkit keeps its own files: `$EVALKIT_HOME`, else `~/.cache/evalkit`.

It holds the response cache (`responses/`), the converted local models (`models/`) and the
report's compiled templates (`templates/`); CI saves and restores this one folder between jobs.
"""

from __future__ import annotations

import os
from pathlib import Path


def evalkit_home() -> Path:
    """`$EVALKIT_HOME` when set to a non-empty value, else `~/.cache/evalkit`."""
    # an empty EVALKIT_HOME (as `export EVALKIT_HOME=` leaves it) would mean the working folder
    return Path(os.environ.get("EVALKIT_HOME") or Path.home() / ".cache" / "evalkit")


def responses_dir() -> Path:
    """The response cache (evalkit.run.cache), keyed by each arm's whole identity."""
    return evalkit_home() / "responses"


def models_dir() -> Path:
    """Local base models, each converted once into a folder of its own."""
    return evalkit_home() / "models"
