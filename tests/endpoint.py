"""Start evalkit's loopback OpenAI-compatible endpoint in its own process, for a test."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass
class RunningEndpoint:
    url: str  # ends in /v1: what a suite's base_url takes
    process: subprocess.Popen

    @property
    def root(self) -> str:
        return self.url.removesuffix("/v1")

    def stats(self) -> dict:
        with urllib.request.urlopen(self.root + "/stats", timeout=10) as r:
            return json.loads(r.read())

    def reset(self) -> None:
        urllib.request.urlopen(
            urllib.request.Request(self.root + "/reset", method="POST"), timeout=10
        ).read()


@contextlib.contextmanager
def endpoint(
    *args: str, answers: dict | None = None, folder: Path | None = None
) -> Iterator[RunningEndpoint]:
    """`python -m evalkit.testing.endpoint ARGS` on a free port, stopped afterwards."""
    extra = list(args)
    if answers is not None:
        assert folder is not None, "answers need a folder to write their file into"
        path = folder / "answers.json"
        path.write_text(json.dumps(answers), encoding="utf-8")
        extra += ["--answers", str(path)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalkit.testing.endpoint", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("listening on "):
            raise RuntimeError(f"the endpoint did not start: {line!r}")
        yield RunningEndpoint(url=line.split()[-1], process=proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
