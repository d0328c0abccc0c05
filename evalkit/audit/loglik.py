"""Label probabilities from a base model's log-likelihood of each label: the other source
of out-of-sample probabilities for the label check (`evalkit audit --model`).

The model reads `CONTEXT` for each row and scores every label as its continuation; the
summed log-probabilities, softmaxed over the labels, are the row's class probabilities. The
model never saw the file's labels, so they are out of sample by construction. A label the
model finds likelier for every row alike (a short or common word) shifts every row the same
way; confident learning's per-class thresholds absorb such a prior.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from evalkit.audit.labels import Probabilities
from evalkit.errors import RunFailed
from evalkit.models.clients import AttemptFailed, make_client
from evalkit.run.plan import ModelSpec

if TYPE_CHECKING:
    import numpy as np

CONTEXT = "Message: {text}\nLabel:"
MAX_IN_FLIGHT = 8


def method_of(model: str) -> str:
    return f"cleanlab find_label_issues over {model}'s log-likelihood of each label (softmax)"


def model_probabilities(model: str, model_args: Mapping[str, Any] | None = None) -> Probabilities:
    """A probability source scoring each label's log-likelihood with `model` (a model string
    of evalkit's in-process providers: local/..., evalkit-test/...)."""
    spec = ModelSpec(model, tuple((model_args or {}).items()), None, None, "--model")

    def probabilities(texts: list[str], labels: list[str]) -> np.ndarray:
        import numpy as np

        classes = sorted(set(labels))
        logliks = asyncio.run(_score(spec, texts, tuple(f" {c}" for c in classes)))
        scores = np.array(logliks)
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        return scores / scores.sum(axis=1, keepdims=True)

    return probabilities


async def _score(
    spec: ModelSpec, texts: list[str], choices: tuple[str, ...]
) -> list[tuple[float, ...]]:
    client = make_client(spec, "auto", MAX_IN_FLIGHT)
    limit = asyncio.Semaphore(client.limit or MAX_IN_FLIGHT)

    async def one(text: str) -> tuple[float, ...]:
        async with limit:
            try:
                done = await client.loglik(CONTEXT.format(text=text), choices)
            except AttemptFailed as e:
                raise RunFailed(f"{spec.model} could not score the labels: {e}") from None
        if done.logliks is None or len(done.logliks) != len(choices):
            raise RunFailed(f"{spec.model} returned no log-likelihood for some label")
        return done.logliks

    try:
        return list(await asyncio.gather(*(one(t) for t in texts)))
    finally:
        await client.aclose()
