"""Model clients: one attempt at one chat request, and what kind of failure a failure was.

The engine (`evalkit.run.engine`) owns timeouts, retries, hedging and concurrency; a client
only makes a single attempt and classifies what went wrong. Two kinds:

- `OpenAICompatClient` speaks the chat-completions protocol itself over aiohttp, for
  `openai/<model>` and `openai-api/<service>/<model>` (OpenAI, vLLM, Ollama, llama.cpp and
  any other OpenAI-compatible server). It costs about 0.2 ms of CPU per request, against
  3 ms or more through the openai SDK and inspect's model layer (docs/benchmarks.md).
- `InspectClient` wraps an inspect-ai provider (`get_model`): Anthropic, Google, local
  transformers models, the scripted test provider, and every OpenAI option the native client
  does not implement. inspect's own retries are switched off; the engine retries instead,
  using the provider's `should_retry` to tell transient failures from permanent ones.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from evalkit.errors import InputError, RunFailed

if TYPE_CHECKING:
    import aiohttp

    from evalkit.run.plan import ModelSpec

# Providers inspect runs in this process: no network to hang, and a second (hedged) attempt
# would only compete for the same CPU.
IN_PROCESS_PROVIDERS = frozenset(
    {"local", "evalkit-test", "hf", "llama-cpp-python", "nnterp", "mockllm", "none", "vllm",
     "sglang", "transformer_lens"}
)  # fmt: skip
# model_args the native client understands; any other sends the arm to inspect's provider.
NATIVE_MODEL_ARGS = frozenset({"default_headers", "organization", "project", "extra_body"})
# OpenAI reasoning models reject temperature and max_tokens; inspect's provider knows them.
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_ERROR_CHARS = 300
INSPECT_UNLIMITED = 100_000  # inspect's concurrency limit: the engine's is the one that counts


@dataclass(frozen=True)
class GenConfig:
    """Generation settings sent with a request (part of the cache key)."""

    max_tokens: int
    temperature: float = 0.0
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int | None
    output_tokens: int | None
    stop_reason: str | None
    seconds: float | None = None  # the provider's own timing (a local batch's share), if any
    logliks: tuple[float, ...] | None = None  # a loglik request: one per continuation


class AttemptFailed(Exception):
    """One attempt failed; `transient` failures are retried, after `retry_after` if given."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None):
        super().__init__(message[:MAX_ERROR_CHARS])
        self.transient = transient
        self.retry_after = retry_after


class Client(Protocol):
    endpoint: str  # requests to one endpoint share its max_connections
    limit: int | None  # the provider's own cap on concurrent requests, if any
    in_process: bool  # the model runs in this process: never hedged, never in workers
    cpu_ms: float  # CPU one request costs this process, about (docs/benchmarks.md)

    async def generate(
        self, messages: tuple[tuple[str, str], ...], config: GenConfig
    ) -> Completion: ...

    async def loglik(self, context: str, continuations: tuple[str, ...]) -> Completion:
        """Each continuation's summed log-probability given the plain-text context."""
        ...

    async def aclose(self) -> None: ...


def uses_native_client(spec: ModelSpec, choice: str) -> bool:
    """Whether the arm's model goes through `OpenAICompatClient` (`choice`: auto|native|inspect)."""
    provider, _, name = spec.model.partition("/")
    compatible = provider == "openai-api" or (
        provider == "openai"
        and not name.startswith(("azure/", "bedrock/"))
        and not name.startswith(_REASONING_PREFIXES)
    )
    if choice == "inspect" or not compatible:
        return False
    unsupported = sorted(k for k, _ in spec.model_args if k not in NATIVE_MODEL_ARGS)
    if choice == "native" and unsupported:
        raise InputError(
            f"model_args {', '.join(unsupported)} need inspect's provider; set run.client: auto",
            where=f"{spec.where}.model_args",
        )
    return not unsupported


def inspect_model_name(spec: ModelSpec) -> str:
    """The model string inspect-ai is given: an `api: completions` arm's `openai-api/...` is
    inspect's `openai-api-completions/...` provider (a plain prompt to /v1/completions)."""
    if spec.api == "completions":
        return "openai-api-completions/" + spec.model.partition("/")[2]
    return spec.model


def plain_prompt(messages: tuple[tuple[str, str], ...]) -> str:
    """An `api: completions` request's prompt: its one message's text, sent as it is."""
    if len(messages) != 1:
        # the suite's check refuses system messages with api: completions; nothing else adds one
        raise AttemptFailed(
            f"api: completions sends one plain-text prompt; this request has {len(messages)} "
            "messages",
            transient=False,
        )
    return messages[0][1]


def make_client(spec: ModelSpec, choice: str, max_connections: int) -> Client:
    """The client for one model identity; raises InputError for a bad model or missing key."""
    if uses_native_client(spec, choice):
        return OpenAICompatClient(spec, max_connections)
    return InspectClient(spec)


# ---- the native OpenAI-compatible client ---------------------------------------------------


def _env_name(service: str) -> str:
    return service.upper().replace("-", "_")


@dataclass(frozen=True)
class _Target:
    url: str  # chat completions
    completions_url: str  # legacy completions: loglik probes, and `api: completions` arms
    model: str  # the id the server sees, passed through unchanged (ft:gpt-4o-mini:org::id)
    api_key: str | None


def _target(spec: ModelSpec) -> _Target:
    provider, _, rest = spec.model.partition("/")
    where = f"{spec.where}.model" if spec.where else "model"
    if provider == "openai":
        base = spec.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            raise InputError(f"{spec.model}: set OPENAI_API_KEY in the environment", where=where)
        model = rest
    else:
        service, _, model = rest.partition("/")
        if not service or not model:
            raise InputError(f"{spec.model!r}: expected openai-api/<service>/<model>", where=where)
        env = _env_name(service)
        base = spec.base_url or os.environ.get(f"{env}_BASE_URL")
        if not base:
            raise InputError(
                f"{spec.model}: give base_url in the suite or set {env}_BASE_URL", where=where
            )
        # local servers (Ollama, llama.cpp) need no key; send one when it is set
        key = os.environ.get(f"{env}_API_KEY")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"base_url is not an http(s) URL: {_safe_url(base)}", where=where)
    base = base.rstrip("/")
    return _Target(base + "/chat/completions", base + "/completions", model, key)


def _safe_url(url: str) -> str:
    """The URL without user-info, for messages (a password can hide there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (seconds or an HTTP date); None if absent.

    >>> retry_after({"Retry-After": "2"})
    2.0
    >>> retry_after({"retry-after-ms": "1500"})
    1.5
    >>> retry_after({}) is None
    True
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        value = lowered.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _error_message(status: int, body: bytes) -> str:
    try:
        detail = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        detail = body[:200].decode("utf-8", "replace")
    return f"HTTP {status}: {detail}".strip()


def parse_completion(body: bytes, chat: bool = True) -> Completion:
    """A chat-completions (or, not `chat`, a completions) response body → Completion;
    AttemptFailed (transient) if malformed."""
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        text = (choice["message"].get("content") if chat else choice["text"]) or ""
        usage = data.get("usage") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        # a body cut short by a proxy or a dropped connection: worth another attempt
        raise AttemptFailed(
            f"unparsable response body ({len(body)} bytes)", transient=True
        ) from None
    return Completion(
        text=text if isinstance(text, str) else str(text),
        input_tokens=usage.get("prompt_tokens"),
        output_tokens=usage.get("completion_tokens"),
        stop_reason=choice.get("finish_reason"),
    )


def parse_echo_logprobs(body: bytes, context: str, continuations: tuple[str, ...]) -> Completion:
    """An echoed /completions body → each continuation's summed log-probability.

    A continuation's tokens are the prompt tokens that start at or after the end of the
    context (by `text_offset`); the context's trailing whitespace belongs to the
    continuation, as in lm-eval's pair encoding. AttemptFailed (transient) if malformed.
    """
    start = len(context.rstrip())
    try:
        data = json.loads(body)
        choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        logliks = []
        for choice, continuation in zip(choices, continuations, strict=True):
            lp = choice["logprobs"]
            end = len(context) + len(continuation)
            total = 0.0
            for offset, value in zip(lp["text_offset"], lp["token_logprobs"], strict=True):
                # tokens past the prompt are the one generated token
                if start <= offset < end:
                    total += float(value)
            logliks.append(total)
        usage = data.get("usage") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise AttemptFailed(
            f"the completions server sent no echoed prompt log-probabilities ({len(body)} bytes)",
            transient=False,
        ) from None
    return Completion(
        text="",
        input_tokens=usage.get("prompt_tokens"),
        output_tokens=0,
        stop_reason="loglik",
        logliks=tuple(logliks),
    )


class OpenAICompatClient:
    """Chat completions over aiohttp; one session per client, created inside the running loop."""

    in_process = False
    limit = None
    cpu_ms = 0.3

    def __init__(self, spec: ModelSpec, max_connections: int) -> None:
        self._target = _target(spec)
        args = dict(spec.model_args)
        headers = {"Content-Type": "application/json", **dict(args.get("default_headers") or {})}
        if self._target.api_key:
            headers["Authorization"] = f"Bearer {self._target.api_key}"
        if args.get("organization"):
            headers["OpenAI-Organization"] = str(args["organization"])
        if args.get("project"):
            headers["OpenAI-Project"] = str(args["project"])
        self._headers = headers
        self._extra = dict(args.get("extra_body") or {})
        self._completions = spec.api == "completions"
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        # requests to the same server share its connection limit, whatever the model
        self.endpoint = _safe_url(self._target.url)

    def _body(self, messages: tuple[tuple[str, str], ...], config: GenConfig) -> bytes:
        prompt: dict[str, Any] = (
            {"prompt": plain_prompt(messages)}
            if self._completions
            else {"messages": [{"role": r, "content": c} for r, c in messages]}
        )
        body: dict[str, Any] = {
            "model": self._target.model,
            **prompt,
            # what every compatible server reads (OpenAI's reasoning models, which want
            # max_completion_tokens, go to inspect's provider)
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
        }
        if config.top_p is not None:
            body["top_p"] = config.top_p
        if config.seed is not None:
            body["seed"] = config.seed
        if config.stop:
            body["stop"] = list(config.stop)
        return json.dumps({**body, **self._extra}).encode()

    async def generate(
        self, messages: tuple[tuple[str, str], ...], config: GenConfig
    ) -> Completion:
        url = self._target.completions_url if self._completions else self._target.url
        body = await self._post(url, self._body(messages, config))
        return parse_completion(body, chat=not self._completions)

    async def loglik(self, context: str, continuations: tuple[str, ...]) -> Completion:
        """One /completions request for all of an item's choices, with `echo` and `logprobs`
        (the convention of lm-eval's `local-completions`): the prompt's own tokens come back
        with their log-probabilities, and each continuation's are those past the context."""
        body = {
            "model": self._target.model,
            "prompt": [context + c for c in continuations],
            "max_tokens": 1,  # vLLM wants at least one; the generated token is not counted
            "temperature": 0,
            "logprobs": 1,
            "echo": True,
        }
        raw = await self._post(self._target.completions_url, json.dumps(body).encode())
        return parse_echo_logprobs(raw, context, continuations)

    async def _post(self, url: str, data: bytes) -> bytes:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300),
                # the engine bounds each attempt; aiohttp's own 5-minute default must not
                timeout=aiohttp.ClientTimeout(total=None),
            )
        try:
            async with self._session.post(url, data=data, headers=self._headers) as response:
                body = await response.read()
                if response.status != 200:
                    raise AttemptFailed(
                        _error_message(response.status, body),
                        transient=response.status in TRANSIENT_STATUS or response.status >= 500,
                        retry_after=retry_after(response.headers),
                    )
        except aiohttp.ClientError as e:  # refused, reset, dropped mid-body
            raise AttemptFailed(
                f"{type(e).__name__}: {e}".replace(url, _safe_url(url)),
                transient=True,
            ) from None
        return body

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


# ---- inspect-ai providers ------------------------------------------------------------------


class InspectClient:
    """An inspect-ai `Model` with its retries off; the engine decides about retrying."""

    cpu_ms = 5.0  # inspect's model layer and the provider's SDK

    def __init__(self, spec: ModelSpec) -> None:
        from inspect_ai.model import GenerateConfig, get_model

        import evalkit.models.registry  # noqa: F401  (registers local/ and evalkit-test/)

        # The engine limits requests in flight per endpoint. inspect's own limiter must not
        # limit again: it is process-wide per connection key and keeps the first limit it
        # saw, so a second client of the same model with another limit would be held to it.

        where = f"{spec.where}.model" if spec.where else "model"
        try:
            self._model = get_model(
                inspect_model_name(spec),
                base_url=spec.base_url,
                config=GenerateConfig(max_retries=0, max_connections=INSPECT_UNLIMITED),
                memoize=False,
                **dict(spec.model_args),
            )
        except InputError as e:  # a provider of evalkit's own: its key, under the arm's
            inner = f"{spec.where}.{e.where}" if spec.where and e.where else e.where or where
            raise InputError(e.message, path=e.path, where=inner) from None
        except (ValueError, TypeError, ImportError) as e:
            # inspect raises ValueError for an unknown provider, TypeError for bad model_args,
            # PrerequisiteError (a ValueError... or not) for a missing key or package
            raise InputError(f"cannot create model {spec.model!r}: {e}", where=where) from None
        except Exception as e:
            if type(e).__name__ == "PrerequisiteError":
                raise InputError(f"{spec.model}: {e}", where=where) from None
            raise RunFailed(f"cannot start model {spec.model!r}: {type(e).__name__}: {e}") from None
        api = self._model.api
        provider = spec.model.partition("/")[0]
        self.in_process = provider in IN_PROCESS_PROVIDERS
        self.limit = api.max_connections() if self.in_process else None
        self.endpoint = f"{provider}:{api.connection_key()}"

    async def generate(
        self, messages: tuple[tuple[str, str], ...], config: GenConfig
    ) -> Completion:
        from inspect_ai.model import (
            ChatMessageAssistant,
            ChatMessageSystem,
            ChatMessageUser,
            GenerateConfig,
        )

        kinds = {"system": ChatMessageSystem, "user": ChatMessageUser,
                 "assistant": ChatMessageAssistant}  # fmt: skip
        try:
            output = await self._model.generate(
                [kinds[role](content=content) for role, content in messages],
                config=GenerateConfig(
                    max_tokens=config.max_tokens,
                    temperature=config.temperature,
                    top_p=config.top_p,
                    seed=config.seed,
                    stop_seqs=list(config.stop) or None,
                    max_retries=0,
                ),
            )
        except InputError:
            raise
        except Exception as e:
            raise self._classify(e) from None
        usage = output.usage
        return Completion(
            text=output.completion,
            input_tokens=usage.input_tokens if usage else None,
            output_tokens=usage.output_tokens if usage else None,
            stop_reason=output.stop_reason,
            seconds=output.time,
        )

    def _classify(self, e: Exception) -> AttemptFailed:
        # tenacity wraps the provider's exception when inspect gives up; unwrap it
        inner = e
        last = getattr(e, "last_attempt", None)
        if last is not None and last.exception() is not None:
            inner = last.exception()
        decision = self._model.api.should_retry(inner)
        wait = getattr(decision, "retry_after", None)
        return AttemptFailed(
            f"{type(inner).__name__}: {inner}", transient=bool(decision), retry_after=wait
        )

    async def loglik(self, context: str, continuations: tuple[str, ...]) -> Completion:
        # evalkit's own in-process providers (local/, evalkit-test/) score log-likelihoods
        score = getattr(self._model.api, "loglik", None)
        if score is None:
            raise InputError(
                f"{self._model.api.model_name}: this provider returns no prompt log-probabilities"
                "; answer the probe with method: generate"
            )
        try:
            return await score(context, continuations)
        except InputError:
            raise
        except Exception as e:
            raise self._classify(e) from None

    async def aclose(self) -> None:
        return None
