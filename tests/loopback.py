"""The loopback OpenAI-compatible endpoint (`evalkit.testing.endpoint`) in its own process, for tests.

    with loopback_endpoint("--rate-429", "0.1", answers={"card": '{"intent": "card"}'}) as ep:
        ...  # point base_url or <SVC>_BASE_URL at ep.url, then read ep.stats()

Tests that need one per test use the `loopback` fixture in conftest.py; a module that shares
one across its tests enters `loopback_endpoint` in a module-scoped fixture.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# the endpoint's own proxy-free opener: an HTTP(S)_PROXY in the environment must not reroute loopback
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Loopback:
    url: str  # http://127.0.0.1:PORT/v1: a base_url for OpenAI-compatible providers

    @property
    def root(self) -> str:
        return self.url.removesuffix("/v1")

    def stats(self) -> dict[str, Any]:
        """What it received: requests, answered, per-fault counts, `models` {model id: requests}."""
        with _OPENER.open(f"{self.root}/stats", timeout=10) as response:
            return json.load(response)

    def reset(self) -> None:
        """Forget the counts, e.g. between two runs against one endpoint."""
        request = urllib.request.Request(f"{self.root}/reset", method="POST")
        with _OPENER.open(request, timeout=10):
            pass


@contextlib.contextmanager
def loopback_endpoint(
    *flags: str, answers: dict[str, str] | None = None, fallback: str = ""
) -> Iterator[Loopback]:
    """Start the endpoint (no latency unless `flags` say so) and stop it on exit.

    `answers` maps a substring of the last message to the reply; other prompts get `fallback`.
    Without `answers` the endpoint's own default reply is used. `flags` are the endpoint's
    command-line options (`--latency 0.2`, `--rate-500 0.1`, ...).
    """
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile("w+") as stderr:
        command = [sys.executable, "-m", "evalkit.testing.endpoint", "--port", "0"]
        command += ["--latency", "0", *flags]
        if answers is not None:
            script = Path(tmp) / "answers.json"
            script.write_text(json.dumps({"answers": answers, "fallback": fallback}), "utf-8")
            command += ["--answers", str(script)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            assert process.stdout is not None
            first = process.stdout.readline()  # "listening on http://127.0.0.1:PORT/v1"
            if not first.startswith("listening on "):
                process.wait(timeout=10)
                stderr.seek(0)
                raise RuntimeError(
                    f"the loopback endpoint did not start: {first!r} {stderr.read()}"
                )
            yield Loopback(url=first.split()[-1])
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout:
                process.stdout.close()
