"""The loopback OpenAI-compatible endpoint (`evalkit.testing.endpoint`) in its own process, for tests.

    with loopback_endpoint("--rate-429", "0.1", answers={"card": '{"intent": "card"}'}) as ep:
        ...  # point base_url or <SVC>_BASE_URL at ep.url, then read ep.stats()

Tests that need one per test use the `loopback` fixture in conftest.py; a module that shares
one across its tests enters `loopback_endpoint` in a module-scoped fixture.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

from evalkit.testing.endpoint import RunningEndpoint, running_endpoint

Loopback = RunningEndpoint


@contextlib.contextmanager
def loopback_endpoint(
    *flags: str, answers: dict[str, str] | None = None, fallback: str = ""
) -> Iterator[Loopback]:
    """Start the endpoint (no latency unless `flags` say so) and stop it on exit.

    `answers` maps a substring of the last message to the reply; other prompts get `fallback`.
    Without `answers` the endpoint's own default reply is used. `flags` are the endpoint's
    command-line options (`--latency 0.2`, `--rate-500 0.1`, ...).
    """
    with tempfile.TemporaryDirectory() as tmp:
        script = None
        if answers is not None:
            script = Path(tmp) / "answers.json"
            script.write_text(json.dumps({"answers": answers, "fallback": fallback}), "utf-8")
        with running_endpoint("--latency", "0", *flags, answers=script) as endpoint:
            yield endpoint
