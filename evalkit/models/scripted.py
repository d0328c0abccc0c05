"""`evalkit-test/<name>`: a scripted model for tests and offline examples. No network, no keys.

It answers from a table: the first key (longest first) found in the last user message picks
the answer. Keys in `fail_on` raise instead, so tests can exercise the error path; with
`fail_times` a key fails only that many times and then answers (to exercise retries).
Token usage is counted in words, so the economics stage has real numbers to work with.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    modelapi,
)
from inspect_ai.tool import ToolChoice, ToolInfo


class ScriptedFailure(RuntimeError):
    """The failure a scripted model raises for inputs listed in `fail_on`."""


@modelapi(name="evalkit-test")
class ScriptedModel(ModelAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        answers: dict[str, str] | None = None,
        fallback: str = "",
        fail_on: list[str] | None = None,
        fail_times: int | None = None,
        script: str | None = None,
        delay: float = 0.0,
        prefer: dict[str, str] | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        if script:
            loaded = json.loads(Path(script).read_text())
            answers = {**loaded.get("answers", {}), **(answers or {})}
            fallback = loaded.get("fallback", fallback)
            fail_on = [*loaded.get("fail_on", []), *(fail_on or [])]
        # longest key first, so a specific key wins over a key it contains
        self._answers = sorted((answers or {}).items(), key=lambda kv: -len(kv[0]))
        self._fallback = fallback
        self._fail_on = fail_on or []
        self._fail_times = fail_times
        self._failures: dict[str, int] = {}
        self._delay = delay
        self._prefer = sorted((prefer or {}).items(), key=lambda kv: -len(kv[0]))

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        started = time.perf_counter()
        prompt = input[-1].text if input else ""
        for key in self._fail_on:
            if key in prompt:
                seen = self._failures.get(key, 0)
                if self._fail_times is None or seen < self._fail_times:
                    self._failures[key] = seen + 1
                    raise ScriptedFailure(f"scripted failure for input containing {key!r}")
        answer = next((a for k, a in self._answers if k in prompt), self._fallback)
        if self._delay:
            await asyncio.sleep(self._delay)
        words_in = sum(len(m.text.split()) for m in input)
        output = ModelOutput.from_content(model=self.model_name, content=answer)
        output.usage = ModelUsage(
            input_tokens=words_in,
            output_tokens=len(answer.split()),
            total_tokens=words_in + len(answer.split()),
        )
        output.time = time.perf_counter() - started
        return output

    async def loglik(self, context: str, continuations: tuple[str, ...]) -> Any:
        """Scripted log-likelihoods: the choice `prefer` names for a key found in the context
        scores -1; every other continuation -2 less a hundredth per character."""
        from evalkit.models.clients import Completion

        for key in self._fail_on:
            if key in context:
                raise ScriptedFailure(f"scripted failure for input containing {key!r}")
        chosen = next((c for k, c in self._prefer if k in context), None)
        logliks = tuple(
            -1.0 if chosen is not None and c.strip() == chosen else -2.0 - 0.01 * len(c)
            for c in continuations
        )
        words = len(context.split()) + sum(len(c.split()) for c in continuations)
        return Completion("", words, 0, "loglik", 0.0, logliks)

    def should_retry(self, ex: BaseException) -> bool:
        return isinstance(ex, ScriptedFailure)
