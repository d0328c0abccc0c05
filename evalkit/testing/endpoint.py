"""A loopback OpenAI-compatible chat endpoint with fault injection, for tests and benchmarks.

    python -m evalkit.testing.endpoint --port 0 --latency 0.2 --rate-429 0.2 --rate-hang 0.02

It answers `POST /v1/chat/completions` after `--latency` seconds with an answer that depends
only on the request (so a retried or resumed request gets the same answer), and injects
faults at the given rates: 429 with `Retry-After`, 500, connections that hang for
`--hang-s`, and 200 responses whose JSON body is cut short. `--echo-auth STATUS` answers
every chat request with that error status and a body repeating its Authorization header, as
careless servers do. `GET /stats` returns what it has
received (requests, per model, per fault, per distinct prompt), so a test can count how
many calls a run made. The first line on stdout is `listening on http://127.0.0.1:PORT/v1`.

It runs in its own process: in the measuring process it would compete for the GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import subprocess
import sys
import tempfile
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from evalkit.hashing import sha256_text

FAULTS = ("rate_limit", "server_error", "hang", "truncated")


@dataclass(frozen=True)
class Faults:
    """Probability of each fault per request, checked in this order."""

    rate_limit: float = 0.0
    retry_after: float = 1.0
    server_error: float = 0.0
    hang: float = 0.0
    hang_s: float = 60.0
    truncated: float = 0.0
    echo_auth: int | None = None  # answer every chat request with this status, echoing the key


@dataclass
class Endpoint:
    latency: float
    faults: Faults
    answers: list[tuple[str, str]]  # (key, answer), longest key first
    fallback: str
    rng: random.Random
    stats: Counter[str] = field(default_factory=Counter)
    models: Counter[str] = field(default_factory=Counter)
    prompts: Counter[str] = field(default_factory=Counter)

    def answer(self, prompt: str) -> str:
        """The first key found in the prompt picks the answer; the same prompt, the same answer."""
        return next((a for k, a in self.answers if k in prompt), self.fallback)

    def fault(self) -> str | None:
        x = self.rng.random()
        f = self.faults
        for name, rate in zip(
            FAULTS, (f.rate_limit, f.server_error, f.hang, f.truncated), strict=True
        ):
            if x < rate:
                return name
            x -= rate
        return None

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        messages = body.get("messages") or []
        prompt = str(messages[-1].get("content", "")) if messages else ""
        self.stats["requests"] += 1
        self.models[str(body.get("model"))] += 1
        self.prompts[sha256_text(prompt)[:16]] += 1
        fault = self.fault()
        if fault:
            self.stats[fault] += 1
        await asyncio.sleep(self.latency)
        if self.faults.echo_auth:
            self.stats["echoed_auth"] += 1
            auth = request.headers.get("Authorization", "")
            message = f"invalid credentials: {auth} (headers: {dict(request.headers)})"
            return web.json_response({"error": {"message": message}}, status=self.faults.echo_auth)
        if fault == "rate_limit":
            return web.json_response(
                {"error": {"message": "rate limited", "type": "rate_limit_error"}},
                status=429,
                headers={"Retry-After": f"{self.faults.retry_after:g}"},
            )
        if fault == "server_error":
            return web.json_response({"error": {"message": "internal error"}}, status=500)
        if fault == "hang":
            await asyncio.sleep(self.faults.hang_s)
        text = self.answer(prompt)
        words_in = sum(len(str(m.get("content", "")).split()) for m in messages)
        payload = json.dumps(
            {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": text},
                    }
                ],
                "usage": {
                    "prompt_tokens": words_in,
                    "completion_tokens": len(text.split()),
                    "total_tokens": words_in + len(text.split()),
                },
            }
        )
        if fault == "truncated":
            payload = payload[: len(payload) // 2]
        self.stats["answered"] += 1
        return web.Response(text=payload, content_type="application/json")

    async def completions(self, request: web.Request) -> web.Response:
        """Legacy completions with `echo` and `logprobs`, as vLLM serves them for loglik probes.

        The prompt is cut into tokens of one word with its leading whitespace; each token's
        log-probability is −0.1 per character of its word (the first token has none, as in
        vLLM), so a test can compute every expected log-likelihood by hand.
        """
        body = await request.json()
        prompts = body.get("prompt")
        prompts = [prompts] if isinstance(prompts, str) else list(prompts or [])
        self.stats["requests"] += 1
        self.models[str(body.get("model"))] += 1
        if not body.get("echo") or body.get("logprobs") is None:
            return web.json_response(
                {"error": {"message": "this stub only echoes prompt logprobs"}}, status=400
            )
        choices = []
        for index, prompt in enumerate(prompts):
            tokens = [m for m in re.finditer(r"\s*\S+", prompt)]
            choices.append(
                {
                    "index": index,
                    "text": prompt + " x",
                    "finish_reason": "length",
                    "logprobs": {
                        "tokens": [m.group() for m in tokens] + [" x"],
                        "text_offset": [m.start() for m in tokens] + [len(prompt)],
                        "token_logprobs": [
                            None if i == 0 else -0.1 * len(m.group().strip())
                            for i, m in enumerate(tokens)
                        ]
                        + [-1.0],
                    },
                }
            )
        used = sum(len(re.findall(r"\S+", p)) for p in prompts)
        self.stats["answered"] += 1
        return web.json_response(
            {
                "object": "text_completion",
                "model": body.get("model"),
                "choices": choices,
                "usage": {"prompt_tokens": used, "completion_tokens": len(prompts)},
            }
        )

    async def report(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                **self.stats,
                "models": dict(self.models),
                "distinct_prompts": len(self.prompts),
                "max_calls_per_prompt": max(self.prompts.values(), default=0),
            }
        )

    async def reset(self, request: web.Request) -> web.Response:
        self.stats.clear()
        self.models.clear()
        self.prompts.clear()
        return web.json_response({"ok": True})


def app(endpoint: Endpoint) -> web.Application:
    application = web.Application()
    for prefix in ("", "/v1"):
        application.router.add_post(f"{prefix}/chat/completions", endpoint.chat)
        application.router.add_post(f"{prefix}/completions", endpoint.completions)
    application.router.add_get("/stats", endpoint.report)
    application.router.add_post("/reset", endpoint.reset)
    return application


def _answers(path: str | None) -> tuple[list[tuple[str, str]], str]:
    if not path:
        return [], '{"intent": "card_arrival"}'
    script: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    answers = sorted(script.get("answers", {}).items(), key=lambda kv: -len(kv[0]))
    return answers, script.get("fallback", "")


async def serve(endpoint: Endpoint, host: str, port: int) -> None:
    runner = web.AppRunner(app(endpoint), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=2048)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"listening on http://{host}:{bound}/v1", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    p.add_argument("--latency", type=float, default=0.2, help="seconds before every answer")
    p.add_argument("--answers", help='JSON file {"answers": {key: answer}, "fallback": text}')
    p.add_argument("--seed", type=int, default=0, help="seeds which requests get a fault")
    p.add_argument("--rate-429", type=float, default=0.0)
    p.add_argument("--retry-after", type=float, default=1.0, help="seconds, sent with each 429")
    p.add_argument("--rate-500", type=float, default=0.0)
    p.add_argument("--rate-hang", type=float, default=0.0)
    p.add_argument("--hang-s", type=float, default=60.0)
    p.add_argument("--rate-truncated", type=float, default=0.0)
    p.add_argument(
        "--echo-auth",
        type=int,
        metavar="STATUS",
        help="fail every chat request with STATUS and a body that repeats the Authorization header",
    )
    args = p.parse_args(argv)
    answers, fallback = _answers(args.answers)
    endpoint = Endpoint(
        latency=args.latency,
        faults=Faults(
            rate_limit=args.rate_429,
            retry_after=args.retry_after,
            server_error=args.rate_500,
            hang=args.rate_hang,
            hang_s=args.hang_s,
            truncated=args.rate_truncated,
            echo_auth=args.echo_auth,
        ),
        answers=answers,
        fallback=fallback,
        rng=random.Random(args.seed),
    )
    try:
        asyncio.run(serve(endpoint, args.host, args.port))
    except KeyboardInterrupt:
        sys.exit(0)


# loopback needs no proxy: an HTTP(S)_PROXY in the environment must not reroute the counters
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class RunningEndpoint:
    """An endpoint started by `running_endpoint`: its URL and its counters."""

    url: str  # http://127.0.0.1:PORT/v1: what a suite's base_url (or <SVC>_BASE_URL) takes

    @property
    def root(self) -> str:
        return self.url.removesuffix("/v1")

    def stats(self) -> dict[str, Any]:
        """What it received: requests, answered, per-fault counts, `models` {model id: requests}."""
        with _OPENER.open(self.root + "/stats", timeout=10) as response:
            return json.load(response)

    def reset(self) -> None:
        """Forget the counts, e.g. between two runs against one endpoint."""
        request = urllib.request.Request(self.root + "/reset", method="POST")
        with _OPENER.open(request, timeout=10):
            pass


@contextlib.contextmanager
def running_endpoint(*args: str, answers: Path | None = None) -> Iterator[RunningEndpoint]:
    """This endpoint in a process of its own on a free port (ARGS as on the command line)."""
    extra = [*args, *(["--answers", str(answers)] if answers else [])]
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "evalkit.testing.endpoint", "--port", "0", *extra],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            first = process.stdout.readline() if process.stdout else ""
            if not first.startswith("listening on "):
                process.wait(timeout=10)
                stderr.seek(0)
                raise RuntimeError(f"the endpoint did not start: {first!r} {stderr.read()}")
            yield RunningEndpoint(url=first.split()[-1])
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout:
                process.stdout.close()


if __name__ == "__main__":
    main()
