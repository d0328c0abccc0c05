"""API-bound throughput: evalkit against an OpenAI-compatible endpoint that answers in fixed time.

Starts a stub chat-completions server on 127.0.0.1 (bounded: it serves only this run and
stops with it), then times, in the same process and run:
  1. a plain asyncio client doing the same requests at the same concurrency (the floor);
  2. `evalkit run` on a 2-arm suite pointed at the stub (all stages, cache off).
Prints seconds, the ideal N·latency/concurrency, and each as a ratio of the ideal.

    python bench/api_throughput.py                 # 2 arms × 2000 items, 200 ms, concurrency 64
    python bench/api_throughput.py --items 200     # quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

from aiohttp import ClientSession, TCPConnector, web

ANSWER = '{"intent": "card_arrival"}'


def _stub_app(latency: float) -> web.Application:
    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(latency)
        prompt_words = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        return web.json_response(
            {
                "id": "stub",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": ANSWER},
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_words,
                    "completion_tokens": 4,
                    "total_tokens": prompt_words + 4,
                },
            }
        )

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


def start_stub(latency: float, port: int) -> threading.Event:
    """Serve the stub in a daemon thread until the returned event is set."""
    stop = threading.Event()
    ready = threading.Event()

    def serve() -> None:
        async def main() -> None:
            runner = web.AppRunner(_stub_app(latency), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.1)
            await runner.cleanup()

        asyncio.run(main())

    threading.Thread(target=serve, daemon=True).start()
    ready.wait(10)
    return stop


async def plain_client(url: str, n: int, concurrency: int) -> float:
    """The same requests from a bare asyncio client: the floor any harness is measured against."""
    sem = asyncio.Semaphore(concurrency)
    async with ClientSession(connector=TCPConnector(limit=concurrency)) as session:

        async def one(i: int) -> None:
            async with (
                sem,
                session.post(
                    url, json={"model": "m", "messages": [{"role": "user", "content": f"q {i}"}]}
                ) as r,
            ):
                await r.json()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - started


SUITE = """
name: throughput
task: {{type: classification, labels: [card_arrival, exchange_rate], output: {{format: json, field: intent}}}}
arms:
  baseline: {{model: openai-api/stub/base, base_url: "http://127.0.0.1:{port}/v1", prompt: {{text: "Labels: {{{{ labels | join(', ') }}}}. Query: {{{{ input }}}}"}}}}
  candidate: {{model: openai-api/stub/tuned, base_url: "http://127.0.0.1:{port}/v1", prompt: {{text: "Q: {{{{ input }}}}"}}}}
datasets:
  heldout: {{path: items.jsonl}}
run: {{max_connections: {concurrency}, max_retries: 0, cache: false}}
stats: {{bootstrap: 1000}}
"""


def evalkit_run(folder: Path, items: int, port: int, concurrency: int) -> float:
    import os

    from evalkit.pipeline import RunOptions, run_suite

    os.environ.setdefault("STUB_API_KEY", "not-a-real-key")
    rows = [
        {"input": f"where is my card number {i}", "target": "card_arrival"} for i in range(items)
    ]
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "suite.yaml").write_text(SUITE.format(port=port, concurrency=concurrency))
    started = time.perf_counter()
    outcome = run_suite(
        folder / "suite.yaml", RunOptions(out_dir=folder / "reports", cache_dir=folder / "cache")
    )
    elapsed = time.perf_counter() - started
    counts = outcome.results.datasets["heldout"].errors
    errors = counts.baseline + counts.candidate
    if errors:
        raise SystemExit(f"{errors} requests failed; the figure would be meaningless")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--items", type=int, default=2000, help="items per arm")
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--port", type=int, default=18731)
    args = ap.parse_args()
    stop = start_stub(args.latency, args.port)
    requests = 2 * args.items
    ideal = requests * args.latency / args.concurrency
    url = f"http://127.0.0.1:{args.port}/v1/chat/completions"
    try:
        plain = [
            asyncio.run(plain_client(url, requests, args.concurrency)) for _ in range(args.repeats)
        ]
        ours = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                ours.append(evalkit_run(Path(tmp), args.items, args.port, args.concurrency))
    finally:
        stop.set()
    p, e = statistics.median(plain), statistics.median(ours)
    print(
        f"requests: {requests} (2 arms × {args.items}), latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}"
    )
    print(f"ideal N·latency/concurrency: {ideal:.1f} s")
    print(
        f"plain asyncio client:  median {p:.1f} s  ({p / ideal:.2f}× ideal)  runs {[round(x, 1) for x in plain]}"
    )
    print(
        f"evalkit run (all stages): median {e:.1f} s  ({e / ideal:.2f}× ideal, {e / p:.2f}× plain)  runs {[round(x, 1) for x in ours]}"
    )


if __name__ == "__main__":
    main()
