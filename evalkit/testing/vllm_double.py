"""A test double of vLLM's OpenAI-compatible server, backed by the `local/` provider's engine.

    python -m evalkit.testing.vllm_double MODEL [--enable-lora --lora-modules name=path ...]
        [--port P] [--host H] [--served-model-name NAME] [--max-num-seqs N] [--dtype D]

It takes `vllm serve`'s command line (MODEL positional or `--model`; a built-in alias such as
`smollm2-135m-instruct` or a Hugging Face model folder), so evalkit can start it exactly as it
starts vLLM, and it answers what evalkit (and lm-eval's `local-completions`) ask of vLLM:

- `GET /health`: 200 once the models are loaded (the port opens only then, as vLLM's does).
- `GET /v1/models`: the base model under its served name, and each LoRA adapter by its name
  (`parent`: the base).
- `POST /v1/chat/completions`: greedy or sampled generation through the same `Engine` and
  `Batcher` as `local/` (chat template, batching, stop strings), so its answers are the
  in-process provider's answers.
- `POST /v1/completions` with `echo: true, logprobs: N, max_tokens: 0 or 1`: the prompt's
  own tokens with their log-probabilities in vLLM's shape (`choices[i].logprobs.tokens`,
  `token_logprobs` with None for the first token, `text_offset`, `top_logprobs`), plus the
  greedy next token when `max_tokens` is 1.
- `POST /v1/completions` without `echo`: text generated from each plain prompt (no chat
  template; the tokenizer's special tokens added, as vLLM adds them), through the same
  batcher, honouring `max_tokens` (default 16), `temperature`, `top_p`, `seed` and `stop`.

An unknown model name is a 404, a malformed body a 400, as vLLM answers them. The first line
on stdout is `listening on http://HOST:PORT/v1`. It needs the `local` extra (torch).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from evalkit.errors import EvalkitError
from evalkit.models import fetch, local

DTYPES = {"auto": "float32", **{d: d for d in local.DTYPES}}
COMPLETIONS_MAX_TOKENS = 16  # OpenAI's /v1/completions default, which vLLM keeps


@dataclass(frozen=True)
class Served:
    """One model name the server answers: the base model or a LoRA adapter on it."""

    name: str
    root: str  # the model folder or the adapter's path
    parent: str | None  # an adapter's base model name
    engine: local.Engine
    batcher: local.Batcher


def _error(status: int, message: str, kind: str) -> web.Response:
    return web.json_response(
        {"object": "error", "message": message, "type": kind, "code": status,
         "error": {"message": message, "type": kind, "code": status}},
        status=status,
    )  # fmt: skip


class Double:
    """The server's state: every served model, loaded before the port opens."""

    def __init__(self, served: dict[str, Served]) -> None:
        self.served = served

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def models(self, request: web.Request) -> web.Response:
        now = int(time.time())
        data = [
            {"id": s.name, "object": "model", "created": now, "owned_by": "vllm",
             "root": s.root, "parent": s.parent}
            for s in self.served.values()
        ]  # fmt: skip
        return web.json_response({"object": "list", "data": data})

    async def _body(self, request: web.Request) -> tuple[dict[str, Any], Served]:
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(reason="the body is not JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(reason="the body is not a JSON object")
        served = self.served.get(str(body.get("model")))
        if served is None:
            raise _NotFound(f"The model `{body.get('model')}` does not exist.")
        return body, served

    async def chat(self, request: web.Request) -> web.Response:
        try:
            body, served = await self._body(request)
            messages = tuple((str(m["role"]), _text(m.get("content"))) for m in body["messages"])
            settings = _settings(body, local.DEFAULT_MAX_TOKENS, plain=False)
        except _NotFound as e:
            return _error(404, str(e), "NotFoundError")
        except web.HTTPBadRequest as e:
            return _error(400, e.reason, "BadRequestError")
        except (KeyError, TypeError, ValueError) as e:
            return _error(400, f"malformed chat request: {e!r}", "BadRequestError")
        future = served.batcher.submit(local.Request(messages, settings))
        result = await asyncio.wrap_future(future)
        finish = "length" if result.stop_reason == "max_tokens" else "stop"
        return web.json_response(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": served.name,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": result.text},
                     "logprobs": None, "finish_reason": finish}
                ],
                "usage": {"prompt_tokens": result.input_tokens,
                          "completion_tokens": result.output_tokens,
                          "total_tokens": result.input_tokens + result.output_tokens},
            }
        )  # fmt: skip

    async def completions(self, request: web.Request) -> web.Response:
        """Echoed prompt log-probabilities, or text generated from each plain prompt."""
        try:
            body, served = await self._body(request)
            prompts = body.get("prompt")
            prompts = [prompts] if isinstance(prompts, str) else prompts
            if not prompts or not all(isinstance(p, str) for p in prompts):
                raise web.HTTPBadRequest(reason="'prompt' must be a string or a list of strings")
            n = body.get("logprobs")
            echo = bool(body.get("echo"))
            settings = _settings(body, COMPLETIONS_MAX_TOKENS, plain=True)
            if echo and (settings.max_tokens not in (0, 1) or n is None):
                raise web.HTTPBadRequest(
                    reason="this double echoes a prompt for its log-probabilities only "
                    "(echo: true, logprobs: N, max_tokens: 0 or 1)"
                )
            if not echo and (n is not None or settings.max_tokens < 1):
                raise web.HTTPBadRequest(
                    reason="this double generates without logprobs, with max_tokens ≥ 1"
                )
        except _NotFound as e:
            return _error(404, str(e), "NotFoundError")
        except web.HTTPBadRequest as e:
            return _error(400, e.reason, "BadRequestError")
        except (TypeError, ValueError) as e:
            return _error(400, f"malformed completions request: {e!r}", "BadRequestError")
        if echo:
            choices, used, made = await _echoed(served, prompts, max(1, int(n)), settings)
        else:
            choices, used, made = await _generated(served, prompts, settings)
        return web.json_response(
            {
                "id": f"cmpl-{uuid.uuid4().hex}",
                "object": "text_completion",
                "created": int(time.time()),
                "model": served.name,
                "choices": choices,
                "usage": {"prompt_tokens": used, "completion_tokens": made,
                          "total_tokens": used + made},
            }
        )  # fmt: skip


Choices = tuple[list[dict[str, Any]], int, int]  # the choices, prompt and completion tokens


async def _echoed(served: Served, prompts: list[str], n: int, settings: local.Settings) -> Choices:
    choices = []
    used = 0
    for index, prompt in enumerate(prompts):
        scored = await asyncio.to_thread(local.on_device, served.engine.prompt_logprobs, prompt, n)
        choices.append(_echo_choice(index, prompt, scored, settings.max_tokens))
        used += len(scored.tokens)
    return choices, used, settings.max_tokens * len(prompts)


async def _generated(served: Served, prompts: list[str], settings: local.Settings) -> Choices:
    """Each prompt as it is (no chat template) through the `local/` batcher, concurrently."""
    futures = [served.batcher.submit(local.Request((("user", p),), settings)) for p in prompts]
    results = [await asyncio.wrap_future(f) for f in futures]
    choices = [
        {"index": i, "text": r.text, "logprobs": None,
         "finish_reason": "length" if r.stop_reason == "max_tokens" else "stop"}
        for i, r in enumerate(results)
    ]  # fmt: skip
    return (
        choices,
        sum(r.input_tokens for r in results),
        sum(r.output_tokens for r in results),
    )


class _NotFound(Exception):
    pass


def _settings(body: dict[str, Any], default_max_tokens: int, *, plain: bool) -> local.Settings:
    """A request's generation settings, with vLLM's defaults."""
    stop = body.get("stop") or ()
    max_tokens = body.get("max_tokens")
    return local.Settings(
        max_tokens=default_max_tokens if max_tokens is None else int(max_tokens),
        temperature=float(body.get("temperature", 1.0)),  # OpenAI's default, as vLLM's
        top_p=body.get("top_p"),
        seed=body.get("seed"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop),
        plain=plain,
    )


def _text(content: Any) -> str:
    """A message's text: a string, or the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    raise TypeError(f"message content {type(content).__name__}")


def _echo_choice(
    index: int, prompt: str, scored: local.PromptLogprobs, max_tokens: int
) -> dict[str, Any]:
    """One echoed prompt in vLLM's legacy-completions logprobs shape."""
    tokens, logprobs = list(scored.tokens), list(scored.logprobs)
    offsets, top = list(scored.offsets), list(scored.top)
    text = prompt
    if max_tokens == 1:  # the generated token follows the prompt's tokens
        offsets.append(offsets[-1] + len(tokens[-1]))
        tokens.append(scored.next_token)
        logprobs.append(scored.next_logprob)
        top.append(scored.next_top)
        text += scored.next_token
    return {
        "index": index,
        "text": text,
        "logprobs": {
            "tokens": tokens,
            "token_logprobs": logprobs,
            "text_offset": offsets,
            "top_logprobs": top,
        },
        "finish_reason": "length",
    }


def app(double: Double) -> web.Application:
    application = web.Application()
    application.router.add_get("/health", double.health)
    application.router.add_get("/v1/models", double.models)
    application.router.add_post("/v1/chat/completions", double.chat)
    application.router.add_post("/v1/completions", double.completions)
    return application


def load(args: argparse.Namespace) -> Double:
    """Every served model loaded on the torch thread, base first; adapters merged into copies."""
    model = args.model_flag or args.model
    if not model:
        raise SystemExit("give the model: vllm_double MODEL (or --model MODEL)")
    if args.lora_modules and not args.enable_lora:
        raise SystemExit("--lora-modules needs --enable-lora (as vLLM's does)")
    dtype = DTYPES[args.dtype]
    model_dir = str(local.on_device(fetch.ensure_model, model))
    base = args.served_model_name or model
    adapters = [(None, None, base)]
    for spec in args.lora_modules:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--lora-modules {spec!r}: expected name=path")
        adapters.append((name, path, name))
    served = {}
    for adapter_name, path, name in adapters:
        engine = local.on_device(local.load_engine, model_dir, path, dtype)
        served[name] = Served(
            name=name,
            root=path or model_dir,
            parent=base if adapter_name else None,
            engine=engine,
            batcher=local.Batcher(engine, args.max_num_seqs),
        )
    return Double(served)


async def serve(double: Double, host: str, port: int) -> None:
    runner = web.AppRunner(app(double), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    print(f"listening on http://{host}:{runner.addresses[0][1]}/v1", flush=True)
    await asyncio.Event().wait()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model", nargs="?", help="a built-in alias or a Hugging Face model folder")
    p.add_argument("--model", dest="model_flag", help="the model, as a flag")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed)")
    p.add_argument("--served-model-name", help="the base model's name in requests")
    p.add_argument("--enable-lora", action="store_true")
    p.add_argument("--lora-modules", nargs="+", default=[], metavar="NAME=PATH")
    p.add_argument("--max-num-seqs", type=int, default=8, help="the batch size")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="auto", help="auto: float32")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        double = load(args)
    except EvalkitError as e:
        raise SystemExit(f"vllm_double: {e}") from None
    try:
        asyncio.run(serve(double, args.host, args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
