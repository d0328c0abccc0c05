"""Start evalkit's loopback OpenAI-compatible endpoint in its own process, for a test."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from evalkit.testing.endpoint import RunningEndpoint, running_endpoint


@contextlib.contextmanager
def endpoint(
    *args: str, answers: dict | None = None, folder: Path | None = None
) -> Iterator[RunningEndpoint]:
    """The endpoint with ARGS; `answers` ({"answers": {substring: reply}, "fallback": ...})
    is written into `folder` for it."""
    path = None
    if answers is not None:
        assert folder is not None, "answers need a folder to write their file into"
        path = folder / "answers.json"
        path.write_text(json.dumps(answers), encoding="utf-8")
    with running_endpoint(*args, answers=path) as ep:
        yield ep
