"""A server process for lifecycle tests: takes `vllm serve`'s command line, serves no model.

    python tests/fake_server.py MODEL --host H --port P [--enable-lora ...] [--fake-* ...]

It prints `pid N` (and `child N` for a child it starts) so a test can check they are gone.
--fake-never-healthy: /health answers 503 forever. --fake-exit CODE: exit at once.
--fake-ignore-term: ignore SIGTERM (only SIGKILL stops it). --fake-child: start a child
process in the same group that also ignores SIGTERM (as an engine worker might).
--fake-reply TEXT: answer /v1/chat/completions and /v1/completions with TEXT, in their two
shapes, and print `request PATH BODY` for each, so a test can read what was sent.
Without it every other request is answered 500, so a run against it fails.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import signal
import subprocess
import sys
import threading

PRINTING = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    healthy = True
    reply: str | None = None

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" and self.healthy else 503)
        self.end_headers()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.reply is None:
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "fake server"}}')
            return
        with PRINTING:  # one line per request, whole, from the server's many threads
            print(f"request {self.path} {body.decode()}", flush=True)
        chat = self.path.endswith("/chat/completions")
        message = {"role": "assistant", "content": self.reply}
        shape = {"message": message} if chat else {"text": self.reply}
        choice = {"index": 0, "finish_reason": "stop", **shape}
        usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        kind = "chat.completion" if chat else "text_completion"
        model = json.loads(body)["model"]
        answer = {"id": "fake", "object": kind, "created": 0, "model": model,
                  "choices": [choice], "usage": usage}  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(answer).encode())

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--fake-never-healthy", action="store_true")
    p.add_argument("--fake-exit", type=int)
    p.add_argument("--fake-ignore-term", action="store_true")
    p.add_argument("--fake-child", action="store_true")
    p.add_argument("--fake-reply")
    args, _ = p.parse_known_args()
    print(f"pid {os.getpid()}", flush=True)
    if args.fake_exit is not None:
        sys.exit(args.fake_exit)
    if args.fake_ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.fake_child:
        code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
        child = subprocess.Popen([sys.executable, "-c", code])
        print(f"child {child.pid}", flush=True)
    Handler.healthy = not args.fake_never_healthy
    Handler.reply = args.fake_reply
    http.server.ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
